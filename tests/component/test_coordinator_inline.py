"""Coordinator API, in-process over HTTP with the real client: small objects stored inline
(``PutInline``), the owner check on object reads and deletes, and the group commit of the
direct-SQL write path (``coordinator/db/direct.py``), on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import AsyncIterator

import pytest
from component.coordinator_harness import (
    Running,
    chunk_ids,
    make_bucket,
    make_config,
    put,
    register,
    running,
)

from wormfs.errors import (
    AccessDeniedError,
    InvalidInputError,
    NoSuchBucketError,
    NoSuchKeyError,
    PreconditionFailedError,
    StaleLeaderError,
)
from wormfs.wire.coordinator import INLINE_LIMIT, ObjectAttributes, ObjectChecksum, PutInline

pytestmark = pytest.mark.timeout(60)

OWNER = "owner-a"


@pytest.fixture
async def coord(database_url: str) -> AsyncIterator[Running]:
    async with running(make_config(database_url, node_offline_after=3600.0)) as r:
        await register(r.client, "node-1", 6)
        await make_bucket(r.client, "bkt", owner=OWNER)
        yield r


def inline(key: str, data: bytes, **extra: object) -> PutInline:
    etag = '"' + hashlib.md5(data).hexdigest() + '"'
    fields: dict[str, object] = {"owner_id": OWNER, **extra}
    return PutInline(bucket="bkt", key=key, size=len(data), etag=etag, data=data, **fields)  # type: ignore[arg-type]


async def test_put_inline_reads_back_with_its_bytes(coord: Running) -> None:
    c = coord.client
    data = bytes(range(256)) * 16
    checksum = ObjectChecksum(algorithm="CRC32", value="AAAAAA==", type="FULL_OBJECT")
    put_manifest = await c.put_inline(
        inline(
            "dir/small",
            data,
            attributes=ObjectAttributes(
                content_type="text/plain",
                user_metadata={"colour": "blue"},
                system_metadata={"cache-control": "no-cache"},
            ),
            checksum=checksum,
        )
    )
    assert put_manifest.inline is None  # the answer to a PUT does not echo the bytes
    got = await c.get_object("bkt", "dir/small")
    assert got.inline == data
    assert got.parts == []
    assert (got.size, got.etag, got.attributes.content_type, got.checksum) == (
        len(data),
        put_manifest.etag,
        "text/plain",
        checksum,
    )
    assert got.attributes.user_metadata == {"colour": "blue"}
    assert got.attributes.system_metadata == {"cache-control": "no-cache"}
    assert got.version_id == put_manifest.version_id
    listing = await c.list_objects("bkt")
    assert [(o.key, o.size, o.etag) for o in listing.objects] == [
        ("dir/small", len(data), put_manifest.etag)
    ]
    # An empty object can be inline too.
    await c.put_inline(inline("empty", b""))
    assert (await c.get_object("bkt", "empty")).inline == b""


async def test_inline_overwrites_and_deletes(coord: Running) -> None:
    c = coord.client
    chunked = await put(c, "bkt", "k", size=40000)
    await c.put_inline(inline("k", b"one"))
    # The chunked version it replaced is queued for GC; the inline one has no chunks.
    assert {chunk for chunk, _, _ in await coord.gc_entries()} == chunk_ids(chunked)
    await c.put_inline(inline("k", b"two"))
    assert (await c.get_object("bkt", "k")).inline == b"two"
    assert len(await coord.gc_entries()) == len(chunk_ids(chunked))
    # A chunked write over an inline object drops the inline bytes.
    again = await put(c, "bkt", "k", size=300)
    got = await c.get_object("bkt", "k")
    assert got.inline is None and got == again
    await c.put_inline(inline("k", b"three"))
    assert (await c.delete_object("bkt", "k", owner_id=OWNER)).version_id is None
    with pytest.raises(NoSuchKeyError):
        await c.get_object("bkt", "k")
    assert (await c.list_objects("bkt")).objects == []
    assert (await c.delete_object("bkt", "k")).version_id is None  # missing key: fine


async def test_inline_conditions(coord: Running) -> None:
    c = coord.client
    with pytest.raises(NoSuchKeyError):
        await c.put_inline(inline("k", b"x", if_match='"abc"'))
    first = await c.put_inline(inline("k", b"x", if_none_match="*"))
    with pytest.raises(PreconditionFailedError):
        await c.put_inline(inline("k", b"y", if_none_match="*"))
    with pytest.raises(PreconditionFailedError):
        await c.put_inline(inline("k", b"y", if_match='"0123"'))
    assert (await c.get_object("bkt", "k")).inline == b"x"
    await c.put_inline(inline("k", b"z", if_match=first.etag))
    assert (await c.get_object("bkt", "k")).inline == b"z"


async def test_inline_rejects_bad_input_and_changes_nothing(coord: Running) -> None:
    c = coord.client
    good = inline("k", b"abc")
    with pytest.raises(InvalidInputError):
        await c.put_inline(
            PutInline(bucket="bkt", key="k", owner_id=OWNER, size=4, etag=good.etag, data=b"abc")
        )
    big = b"\0" * (INLINE_LIMIT + 1)
    with pytest.raises(InvalidInputError):
        await c.put_inline(inline("k", big))
    with pytest.raises(NoSuchBucketError):
        await c.put_inline(
            PutInline(bucket="nope", key="k", owner_id=OWNER, size=3, etag=good.etag, data=b"abc")
        )
    with pytest.raises(AccessDeniedError):
        await c.put_inline(inline("k", b"abc", owner_id="someone-else"))
    assert (await c.list_objects("bkt")).objects == []


async def test_owner_check_on_reads_and_deletes(coord: Running) -> None:
    c = coord.client
    await c.put_inline(inline("k", b"mine"))
    assert (await c.get_object("bkt", "k", owner_id=OWNER)).inline == b"mine"
    # A stranger learns nothing about the keys: AccessDenied, also for a missing key.
    for key in ("k", "missing"):
        with pytest.raises(AccessDeniedError):
            await c.get_object("bkt", key, owner_id="stranger")
        with pytest.raises(AccessDeniedError):
            await c.delete_object("bkt", key, owner_id="stranger")
    assert (await c.get_object("bkt", "k")).inline == b"mine"
    with pytest.raises(NoSuchBucketError):
        await c.get_object("nobucket", "k", owner_id=OWNER)


async def test_group_commit_of_concurrent_writes(coord: Running) -> None:
    c = coord.client
    payloads = {f"key-{i:03d}": f"payload {i}".encode() for i in range(60)}
    # Each key twice, concurrently, plus some failing writes in the same batches: every
    # success is durable and visible, every failure rolled back alone.
    jobs = [c.put_inline(inline(k, v)) for k, v in payloads.items()]
    jobs += [c.put_inline(inline(k, v + b"!")) for k, v in payloads.items()]
    jobs += [c.put_inline(inline(f"key-{i:03d}", b"no", if_match='"0"')) for i in range(10)]
    results = await asyncio.gather(*jobs, return_exceptions=True)
    failures = [r for r in results if isinstance(r, BaseException)]
    assert len(failures) == 10
    assert all(isinstance(f, PreconditionFailedError) for f in failures)
    listing = await c.list_objects("bkt")
    assert [o.key for o in listing.objects] == sorted(payloads)
    for key, value in payloads.items():
        assert (await c.get_object("bkt", key)).inline in (value, value + b"!")


async def test_stale_leader_direct_writes_fail(coord: Running) -> None:
    c = coord.client
    await c.put_inline(inline("k", b"before"))
    # Another coordinator takes over: it bumps the epoch in the database.
    repo = coord.repo
    mine = repo.db.epoch
    assert mine is not None
    await repo.db.become_leader("someone-else")
    repo.db.epoch = mine  # this process still believes it leads
    with pytest.raises(StaleLeaderError):
        await c.put_inline(inline("k", b"late"))
    with pytest.raises(StaleLeaderError):
        await c.delete_object("bkt", "k")
    repo.db.epoch = mine + 1
    assert (await c.get_object("bkt", "k")).inline == b"before"
