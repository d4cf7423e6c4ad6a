"""Coordinator API, in-process over HTTP with the real client: buckets, objects, listing,
users and keys, authentication."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import msgspec
import pytest
from component.coordinator_harness import (
    SECRET,
    Running,
    chunk_ids,
    make_bucket,
    make_config,
    md5_etag,
    part_from_grant,
    put,
    register,
    running,
)

from wormfs.coordinator.db.tx import Tx
from wormfs.errors import (
    BucketAlreadyExistsError,
    BucketAlreadyOwnedByYouError,
    BucketNotEmptyError,
    ConflictError,
    ForbiddenError,
    InsufficientDisksError,
    InvalidBucketNameError,
    InvalidInputError,
    InvalidKeyError,
    NoSuchAccessKeyError,
    NoSuchBucketError,
    NoSuchKeyError,
    NotFoundError,
    PreconditionFailedError,
)
from wormfs.internal.http import InternalClient
from wormfs.wire.coordinator import (
    BeginWrite,
    CommitObject,
    CreateBucket,
    CreateUpload,
    CreateUser,
    ObjectAttributes,
    ObjectChecksum,
)

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
async def coord(database_url: str) -> AsyncIterator[Running]:
    async with running(make_config(database_url, node_offline_after=3600.0)) as r:
        await register(r.client, "node-1", 6)
        yield r


# ---- buckets ----------------------------------------------------------------------------------
async def test_bucket_crud_and_ownership(coord: Running) -> None:
    c = coord.client
    user = await c.create_user(CreateUser(display_name="alice"))
    info = await c.create_bucket("photos", CreateBucket(owner_id=user.user_id, region="eu-1"))
    assert (info.name, info.owner_id, info.owner_display_name, info.region) == (
        "photos",
        user.user_id,
        "alice",
        "eu-1",
    )
    assert await c.get_bucket("photos") == info
    await make_bucket(c, "other", owner="someone-else")
    assert [b.name for b in (await c.list_buckets()).buckets] == ["other", "photos"]
    assert [b.name for b in (await c.list_buckets(user.user_id)).buckets] == ["photos"]

    with pytest.raises(BucketAlreadyOwnedByYouError):
        await c.create_bucket("photos", CreateBucket(owner_id=user.user_id))
    with pytest.raises(BucketAlreadyExistsError):
        await c.create_bucket("photos", CreateBucket(owner_id="intruder"))

    await c.delete_bucket("photos")
    with pytest.raises(NoSuchBucketError):
        await c.get_bucket("photos")
    with pytest.raises(NoSuchBucketError):
        await c.delete_bucket("photos")


@pytest.mark.parametrize(
    "name",
    [
        "ab",
        "a" * 64,
        "Upper",
        "under_score",
        "-start",
        "end-",
        ".dot",
        "two..dots",
        "192.168.1.1",
        "xn--punycode",
        "name-s3alias",
        "white space",
    ],
)
async def test_invalid_bucket_names(coord: Running, name: str) -> None:
    with pytest.raises(InvalidBucketNameError):
        await coord.client.create_bucket(name, CreateBucket(owner_id="o"))


@pytest.mark.parametrize("name", ["abc", "a" * 63, "my.bucket-1", "1.2.3", "0-a"])
async def test_valid_bucket_names(coord: Running, name: str) -> None:
    assert (await coord.client.create_bucket(name, CreateBucket(owner_id="o"))).name == name


async def test_delete_non_empty_bucket(coord: Running) -> None:
    c = coord.client
    await make_bucket(c, "full")
    await put(c, "full", "k")
    with pytest.raises(BucketNotEmptyError):
        await c.delete_bucket("full")
    await c.delete_object("full", "k")
    upload = await c.create_upload(CreateUpload(bucket="full", key="k", owner_id="owner-a"))
    with pytest.raises(BucketNotEmptyError):
        await c.delete_bucket("full")
    await c.abort_upload(upload.upload_id)
    await c.delete_bucket("full")


# ---- objects ----------------------------------------------------------------------------------
async def test_begin_write_commit_get_delete(coord: Running) -> None:
    c = coord.client
    await make_bucket(c, "bkt")
    size = 3 * 16384 + 5  # three full segments and a short one (segment_size 16 KiB)
    grant = await c.begin_write(BeginWrite(bucket="bkt", key="dir/obj", size=size))
    assert grant.profile.n == 6 and grant.segment_size == 16384
    assert [s.length for s in grant.segments] == [16384, 16384, 16384, 5]
    assert [s.offset for s in grant.segments] == [0, 16384, 32768, 49152]
    for seg in grant.segments:
        assert [ch.fragment_index for ch in seg.chunks] == list(range(6))
        assert len({ch.disk_id for ch in seg.chunks}) == 6
        assert {ch.node_id for ch in seg.chunks} == {"node-1"}
        assert all(ch.node_address == "http://127.0.0.1:9" for ch in seg.chunks)

    # Not visible before the commit.
    with pytest.raises(NoSuchKeyError):
        await c.get_object("bkt", "dir/obj")

    etag = md5_etag("x")
    checksum = ObjectChecksum(algorithm="CRC32C", value="AAAAAA==")
    commit = CommitObject(
        write_id=grant.write_id,
        bucket="bkt",
        key="dir/obj",
        version_id=grant.version_id,
        owner_id="owner-a",
        size=size,
        etag=etag,
        profile=grant.profile,
        parts=[part_from_grant(grant, 1, size, etag)],
        attributes=ObjectAttributes(
            content_type="text/plain",
            user_metadata={"color": "blue"},
            system_metadata={"cache-control": "no-cache"},
        ),
        checksum=checksum,
    )
    manifest = await c.commit_object(commit)
    assert manifest.version_id == grant.version_id
    assert manifest.parts[0].segments == grant.segments
    got = await c.get_object("bkt", "dir/obj")
    assert got == manifest
    assert got.attributes == commit.attributes
    assert got.checksum == checksum
    assert got.owner_id == "owner-a"
    assert await c.get_object("bkt", "dir/obj", version_id=grant.version_id) == manifest
    with pytest.raises(NoSuchKeyError):
        await c.get_object("bkt", "dir/obj", version_id="0" * 32)

    # The same commit again (a retry after a lost answer) answers the version it made;
    # the spent write id with anything else is a conflict.
    assert await c.commit_object(commit) == manifest
    with pytest.raises(ConflictError):
        await c.commit_object(msgspec.structs.replace(commit, etag=md5_etag("other")))
    assert len((await c.list_objects("bkt")).objects) == 1

    result = await c.delete_object("bkt", "dir/obj")
    assert result.version_id is None and not result.delete_marker
    with pytest.raises(NoSuchKeyError):
        await c.get_object("bkt", "dir/obj")
    # Deleting a missing key succeeds (S3).
    await c.delete_object("bkt", "dir/obj")
    assert set(chunk_ids(manifest)) <= {e[0] for e in await coord.gc_entries()}


async def test_zero_byte_object(coord: Running) -> None:
    await make_bucket(coord.client, "bkt")
    manifest = await put(coord.client, "bkt", "empty", size=0)
    assert manifest.size == 0 and manifest.parts[0].segments == []
    assert (await coord.client.get_object("bkt", "empty")).size == 0


async def test_write_errors(coord: Running) -> None:
    c = coord.client
    with pytest.raises(NoSuchBucketError):
        await c.begin_write(BeginWrite(bucket="nope", key="k", size=1))
    await make_bucket(c, "bkt")
    with pytest.raises(InvalidInputError):
        await c.begin_write(BeginWrite(bucket="bkt", key="k", size=-1))
    with pytest.raises(InvalidKeyError):
        await c.begin_write(BeginWrite(bucket="bkt", key="", size=1))
    with pytest.raises(InvalidKeyError):
        await c.begin_write(BeginWrite(bucket="bkt", key="x" * 5121, size=1))
    with pytest.raises(NoSuchBucketError):
        await c.get_object("nope", "k")

    # A commit must use exactly the granted chunks and sizes.
    grant = await c.begin_write(BeginWrite(bucket="bkt", key="k", size=10))
    etag = md5_etag("k")
    good = CommitObject(
        write_id=grant.write_id,
        bucket="bkt",
        key="k",
        version_id=grant.version_id,
        owner_id="o",
        size=10,
        etag=etag,
        profile=grant.profile,
        parts=[part_from_grant(grant, 1, 10, etag)],
    )
    with pytest.raises(InvalidInputError):
        await c.commit_object(msgspec.structs.replace(good, key="other"))
    with pytest.raises(InvalidInputError):
        await c.commit_object(
            msgspec.structs.replace(good, size=11, parts=[part_from_grant(grant, 1, 11, etag)])
        )
    seg = grant.segments[0]
    forged_chunk = msgspec.structs.replace(seg.chunks[0], chunk_id="f" * 32)
    forged = msgspec.structs.replace(seg, chunks=[forged_chunk, *seg.chunks[1:]])
    with pytest.raises(InvalidInputError):
        await c.commit_object(
            msgspec.structs.replace(
                good, parts=[msgspec.structs.replace(good.parts[0], segments=[forged])]
            )
        )
    with pytest.raises(ConflictError):
        await c.commit_object(msgspec.structs.replace(good, write_id="0" * 32))
    assert (await c.commit_object(good)).size == 10


async def test_insufficient_disks(database_url: str) -> None:
    async with running(make_config(database_url)) as r:
        await make_bucket(r.client, "bkt")
        await register(r.client, "small", 5)
        with pytest.raises(InsufficientDisksError):
            await r.client.begin_write(BeginWrite(bucket="bkt", key="k", size=1))
        await register(r.client, "another", 1)
        assert (await r.client.begin_write(BeginWrite(bucket="bkt", key="k", size=1))).segments


async def test_overwrite_queues_old_chunks(coord: Running) -> None:
    c = coord.client
    await make_bucket(c, "bkt")
    first = await put(c, "bkt", "k", size=40000)
    assert await coord.gc_entries() == []
    second = await put(c, "bkt", "k", size=20000)
    assert (await c.get_object("bkt", "k")) == second
    queued = {chunk for chunk, _, _ in await coord.gc_entries()}
    assert queued == chunk_ids(first)
    assert not queued & chunk_ids(second)
    listing = await c.list_objects("bkt")
    assert [(o.key, o.size) for o in listing.objects] == [("k", 20000)]


async def test_conditional_commits(coord: Running) -> None:
    c = coord.client
    await make_bucket(c, "bkt")
    # If-Match on a missing key: 404, as S3 answers.
    with pytest.raises(NoSuchKeyError):
        await put(c, "bkt", "k", if_match='"abc"')
    created = await put(c, "bkt", "k", if_none_match="*")
    with pytest.raises(PreconditionFailedError):
        await put(c, "bkt", "k", if_none_match="*")
    with pytest.raises(PreconditionFailedError):
        await put(c, "bkt", "k", if_match='"00000000000000000000000000000000"')
    assert (await c.get_object("bkt", "k")) == created
    # Matching ETag, with or without quotes.
    second = await put(c, "bkt", "k", if_match=created.etag.strip('"'))
    third = await put(c, "bkt", "k", if_match=second.etag)
    assert (await c.get_object("bkt", "k")).version_id == third.version_id
    # Failed conditional writes collected their chunks at once (no wait for expiry).
    assert len(await coord.pending_writes()) == 0


# ---- listing ----------------------------------------------------------------------------------
async def _put_keys(coord: Running, bucket: str, keys: list[str]) -> None:
    await make_bucket(coord.client, bucket)
    for key in keys:
        await put(coord.client, bucket, key, size=1)


async def _all_pages(
    coord: Running, bucket: str, page: int, **kwargs: str
) -> tuple[list[str], list[str], int]:
    keys: list[str] = []
    prefixes: list[str] = []
    marker = ""
    pages = 0
    while True:
        result = await coord.client.list_objects(
            bucket, start_after=marker, max_keys=page, **kwargs
        )
        pages += 1
        assert len(result.objects) + len(result.common_prefixes) <= page
        keys += [o.key for o in result.objects]
        prefixes += result.common_prefixes
        if not result.is_truncated:
            assert result.next_marker is None
            return keys, prefixes, pages
        assert result.next_marker is not None
        marker = result.next_marker


KEYS = [
    "a",
    "a/1",
    "a/2",
    "a/b/3",
    "a%b",
    "a_b",
    "a_c/x",
    "ab",
    "b/1",
    "b/2",
    "c",
    "d/e/f",
    "é/1",
    "日本/語",
    "z~",
]


async def test_listing_prefix_delimiter_paging(coord: Running) -> None:
    await _put_keys(coord, "lst", KEYS)
    c = coord.client
    everything = await c.list_objects("lst")
    assert [o.key for o in everything.objects] == sorted(KEYS, key=lambda k: k.encode())
    assert not everything.is_truncated

    # % and _ are plain characters in a prefix.
    assert [o.key for o in (await c.list_objects("lst", prefix="a%")).objects] == ["a%b"]
    assert [o.key for o in (await c.list_objects("lst", prefix="a_")).objects] == ["a_b", "a_c/x"]
    assert [o.key for o in (await c.list_objects("lst", prefix="日")).objects] == ["日本/語"]

    top = await c.list_objects("lst", delimiter="/")
    assert [o.key for o in top.objects] == ["a", "a%b", "a_b", "ab", "c", "z~"]
    assert top.common_prefixes == ["a/", "a_c/", "b/", "d/", "é/", "日本/"]

    under_a = await c.list_objects("lst", prefix="a/", delimiter="/")
    assert [o.key for o in under_a.objects] == ["a/1", "a/2"]
    assert under_a.common_prefixes == ["a/b/"]

    # Paging with every page size gives the same listing, with or without a delimiter.
    for page in (1, 2, 3, 7):
        keys, prefixes, pages = await _all_pages(coord, "lst", page, delimiter="/")
        assert keys == [o.key for o in top.objects]
        assert prefixes == top.common_prefixes
        assert pages >= (len(keys) + len(prefixes)) // page
        keys, prefixes, _ = await _all_pages(coord, "lst", page)
        assert keys == [o.key for o in everything.objects] and prefixes == []

    # start_after equal to a common prefix continues after every key under it.
    after = await c.list_objects("lst", delimiter="/", start_after="a/")
    assert after.common_prefixes[0] == "a_c/"
    assert after.objects[0].key == "a_b"  # "a%b" sorts before "a/"
    # start_after inside a common prefix (not equal to it) lists the prefix again.
    inside = await c.list_objects("lst", delimiter="/", start_after="b/1")
    assert inside.common_prefixes[0] == "b/"
    # start_after before the prefix is ignored; after it, nothing.
    assert len((await c.list_objects("lst", prefix="b/", start_after="a")).objects) == 2
    assert (await c.list_objects("lst", prefix="b/", start_after="c")).objects == []

    # max_keys 0 and a bad value.
    zero = await c.list_objects("lst", max_keys=0)
    assert zero.objects == [] and not zero.is_truncated
    with pytest.raises(InvalidInputError):
        await c.list_objects("lst", max_keys=-1)
    truncated = await c.list_objects("lst", max_keys=3, delimiter="/")
    assert truncated.is_truncated and truncated.next_marker == "a/"
    with pytest.raises(NoSuchBucketError):
        await c.list_objects("missing")


async def test_listing_rolls_up_big_prefix_in_few_queries(coord: Running) -> None:
    # 120 keys under one prefix are one common prefix, found with a handful of statements.
    await make_bucket(coord.client, "big")
    for i in range(120):
        await put(coord.client, "big", f"logs/{i:05d}", size=1)
    await put(coord.client, "big", "z", size=1)
    statements: list[str] = []

    original = Tx.all

    def counting(self: Tx, statement: Any, params: Any = None) -> Any:
        statements.append(str(statement))
        return original(self, statement, params)

    # Every statement goes through a Tx (db/tx.py): count the listing's queries there.
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(Tx, "all", counting)
        result = await coord.client.list_objects("big", delimiter="/")
    assert result.common_prefixes == ["logs/"]
    assert [o.key for o in result.objects] == ["z"]
    assert 1 <= len([s for s in statements if "FROM objects" in s]) <= 3

    first = await coord.client.list_objects("big", delimiter="/", max_keys=1)
    assert first.common_prefixes == ["logs/"] and first.is_truncated
    assert first.next_marker == "logs/"
    rest = await coord.client.list_objects("big", delimiter="/", start_after="logs/")
    assert [o.key for o in rest.objects] == ["z"] and not rest.is_truncated
    page = await coord.client.list_objects("big", prefix="logs/", max_keys=100)
    assert len(page.objects) == 100 and page.next_marker == "logs/00099"


# ---- users and keys ---------------------------------------------------------------------------
async def test_users_and_access_keys(coord: Running) -> None:
    c = coord.client
    bob = await c.create_user(CreateUser(display_name="bob"))
    assert len(bob.user_id) == 64 and int(bob.user_id, 16) >= 0
    [key] = bob.access_keys
    assert len(key.access_key) == 20 and key.access_key.isalnum() and key.access_key.isupper()
    assert len(key.secret_key) == 40
    assert await c.get_access_key(key.access_key) == key

    given = await c.create_user(
        CreateUser(display_name="carol", access_key="CAROLKEY", secret_key="s3cr3t")
    )
    assert given.access_keys[0].access_key == "CAROLKEY"
    assert (await c.get_access_key("CAROLKEY")).secret_key == "s3cr3t"
    with pytest.raises(ConflictError):
        await c.create_user(CreateUser(display_name="dup", access_key="CAROLKEY"))

    users = {u.display_name: u for u in (await c.list_users()).users}
    assert {"root", "bob", "carol"} <= set(users)
    assert users["bob"].access_keys == [key]

    with pytest.raises(NoSuchAccessKeyError):
        await c.get_access_key("NOPE")
    await make_bucket(c, "bobs", owner=bob.user_id)
    with pytest.raises(ConflictError):
        await c.delete_user(bob.user_id)
    await c.delete_bucket("bobs")
    await c.delete_user(bob.user_id)
    with pytest.raises(NoSuchAccessKeyError):
        await c.get_access_key(key.access_key)
    with pytest.raises(NotFoundError):
        await c.delete_user(bob.user_id)


async def test_root_user_from_config(database_url: str) -> None:
    config = make_config(database_url, root_access_key="ROOTKEY", root_secret_key="rootsecret")
    async with running(config) as r:
        root = await r.client.get_access_key("ROOTKEY")
        assert root.display_name == "root" and root.secret_key == "rootsecret"
    async with running(config) as r:  # a restart keeps the same root user and key
        again = await r.client.get_access_key("ROOTKEY")
        assert again == root
        assert [u.display_name for u in (await r.client.list_users()).users].count("root") == 1


# ---- authentication and health ----------------------------------------------------------------
async def test_unauthenticated_requests_rejected(coord: Running) -> None:
    async with coord.session.get(coord.address + "/v1/buckets") as resp:
        assert resp.status == 401
    async with coord.session.get(
        coord.address + "/v1/buckets", headers={"X-Wormfs-Auth": "v1 garbage"}
    ) as resp:
        assert resp.status == 401
    wrong = InternalClient(coord.session, coord.address, b"wrong secret")
    with pytest.raises(ForbiddenError):
        await wrong.request("GET", "/v1/health")
    async with coord.session.get(coord.address + "/healthz") as resp:
        assert resp.status == 200


async def test_health(coord: Running) -> None:
    health = await coord.client.health()
    assert health.status == "ok" and health.leader
    assert (health.nodes_online, health.disks_online) == (1, 6)


async def test_unreachable_coordinator_is_unavailable(database_url: str) -> None:
    from wormfs.clients.coordinator import CoordinatorClient
    from wormfs.errors import UnavailableError

    async with aiohttp.ClientSession() as session:
        client = CoordinatorClient(session, "http://127.0.0.1:9", SECRET)
        with pytest.raises(UnavailableError):
            await client.health()


async def test_null_version_is_the_current_one(coord: Running) -> None:
    # Without versioning every object is S3's "null" version.
    await make_bucket(coord.client, "bkt")
    manifest = await put(coord.client, "bkt", "k")
    assert await coord.client.get_object("bkt", "k", version_id="null") == manifest
    assert (await coord.client.delete_object("bkt", "k", version_id="null")).version_id == "null"
    with pytest.raises(NoSuchKeyError):
        await coord.client.get_object("bkt", "k")


async def test_concurrent_overwrites_leave_one_version(coord: Running) -> None:
    await make_bucket(coord.client, "bkt")
    results = await asyncio.gather(*(put(coord.client, "bkt", "hot", size=10) for _ in range(12)))
    current = await coord.client.get_object("bkt", "hot")
    assert current.version_id in {m.version_id for m in results}
    queued = {chunk for chunk, _, _ in await coord.gc_entries()}
    expected = set().union(*(chunk_ids(m) for m in results if m != current))
    assert queued == expected
    assert len((await coord.client.list_objects("bkt")).objects) == 1
