"""Coordinator multipart uploads over HTTP with the real client: the happy path, checksums,
part replacement, listings, and every completion error."""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import zlib
from collections.abc import AsyncIterator

import msgspec
import pytest
from awscrt import checksums as crt
from component.coordinator_harness import (
    Running,
    chunk_ids,
    make_bucket,
    make_config,
    md5_etag,
    part_from_grant,
    put,
    put_part,
    register,
    running,
)

from wormfs.config import CodingConfig
from wormfs.errors import (
    ConflictError,
    EntityTooSmallError,
    InvalidInputError,
    InvalidPartError,
    InvalidPartOrderError,
    NoSuchUploadError,
    PreconditionFailedError,
)
from wormfs.wire.coordinator import (
    BeginWrite,
    CommitPart,
    CompletedPart,
    CompleteUpload,
    CreateUpload,
    ObjectAttributes,
    ObjectChecksum,
    UploadInfo,
)

pytestmark = pytest.mark.timeout(60)

MIB = 1024 * 1024
PART = 5 * MIB


@pytest.fixture
async def coord(database_url: str) -> AsyncIterator[Running]:
    # Big segments keep 5 MiB parts at two segments each.
    coding = CodingConfig(k=4, m=2, stripe_size=64 * 1024, segment_size=4 * MIB)
    config = make_config(database_url, coding=coding, node_offline_after=3600.0)
    async with running(config) as r:
        await register(r.client, "node-1", 6)
        await make_bucket(r.client, "mpu")
        yield r


async def start(coord: Running, key: str = "big", **kwargs: object) -> UploadInfo:
    return await coord.client.create_upload(
        CreateUpload(bucket="mpu", key=key, owner_id="owner-a", **kwargs)  # type: ignore[arg-type]
    )


def done(*parts: tuple[int, str]) -> CompleteUpload:
    return CompleteUpload(parts=[CompletedPart(part_number=n, etag=e) for n, e in parts])


async def test_happy_path(coord: Running) -> None:
    c = coord.client
    upload = await start(
        coord, attributes=ObjectAttributes(content_type="video/mp4", user_metadata={"a": "1"})
    )
    assert upload.profile == CodingConfig(k=4, m=2, stripe_size=64 * 1024).profile
    assert (await c.get_upload(upload.upload_id)) == upload
    p1 = await put_part(c, "mpu", "big", upload.upload_id, 1, PART)
    p2 = await put_part(c, "mpu", "big", upload.upload_id, 2, PART)
    p3 = await put_part(c, "mpu", "big", upload.upload_id, 3, 100)
    assert [s.length for s in p1.segments] == [4 * MIB, MIB]

    listed = await c.list_parts(upload.upload_id)
    assert [p.part_number for p in listed.parts] == [1, 2, 3] and not listed.is_truncated
    page = await c.list_parts(upload.upload_id, max_parts=2)
    assert [p.part_number for p in page.parts] == [1, 2]
    assert page.is_truncated and page.next_marker == 2
    page = await c.list_parts(upload.upload_id, marker=2, max_parts=2)
    assert [p.part_number for p in page.parts] == [3] and not page.is_truncated

    manifest = await c.complete_upload(
        upload.upload_id,
        done((1, p1.etag), (2, p2.etag.strip('"')), (3, p3.etag)),  # quotes do not matter
    )
    digests = b"".join(binascii.unhexlify(p.etag.strip('"')) for p in (p1, p2, p3))
    assert manifest.etag == f'"{hashlib.md5(digests).hexdigest()}-3"'
    assert manifest.size == 2 * PART + 100
    assert [p.part_number for p in manifest.parts] == [1, 2, 3]
    assert [p.segments for p in manifest.parts] == [p1.segments, p2.segments, p3.segments]
    assert (
        manifest.attributes.content_type == "video/mp4"
        and manifest.attributes.user_metadata == {"a": "1"}
    )
    assert manifest.profile == upload.profile
    assert await c.get_object("mpu", "big") == manifest
    with pytest.raises(NoSuchUploadError):
        await c.get_upload(upload.upload_id)
    assert await coord.gc_entries() == []


async def test_unused_parts_and_replaced_parts_are_collected(coord: Running) -> None:
    c = coord.client
    upload = await start(coord)
    first_try = await put_part(c, "mpu", "big", upload.upload_id, 1, PART, seed="a")
    p1 = await put_part(c, "mpu", "big", upload.upload_id, 1, PART, seed="b")
    assert p1.etag != first_try.etag
    queued = {chunk for chunk, _, _ in await coord.gc_entries()}
    assert queued == chunk_ids(first_try)
    [only] = (await c.list_parts(upload.upload_id)).parts
    assert only.etag == p1.etag

    unused = await put_part(c, "mpu", "big", upload.upload_id, 2, 10)
    p3 = await put_part(c, "mpu", "big", upload.upload_id, 3, 10)
    manifest = await c.complete_upload(upload.upload_id, done((1, p1.etag), (3, p3.etag)))
    assert [p.part_number for p in manifest.parts] == [1, 3]
    queued = {chunk for chunk, _, _ in await coord.gc_entries()}
    assert queued == chunk_ids(first_try) | chunk_ids(unused)
    assert not queued & chunk_ids(manifest)


async def test_completion_errors(coord: Running) -> None:
    c = coord.client
    upload = await start(coord)
    uid = upload.upload_id
    small = await put_part(c, "mpu", "big", uid, 1, 100)
    p2 = await put_part(c, "mpu", "big", uid, 2, 100)
    with pytest.raises(InvalidPartOrderError):
        await c.complete_upload(uid, done((2, p2.etag), (1, small.etag)))
    with pytest.raises(InvalidPartOrderError):
        await c.complete_upload(uid, done((1, small.etag), (1, small.etag)))
    with pytest.raises(InvalidPartError):
        await c.complete_upload(uid, done((1, small.etag), (3, p2.etag)))
    with pytest.raises(InvalidPartError):
        await c.complete_upload(uid, done((1, small.etag), (2, small.etag)))
    with pytest.raises(EntityTooSmallError):
        await c.complete_upload(uid, done((1, small.etag), (2, p2.etag)))
    with pytest.raises(InvalidInputError):
        await c.complete_upload(uid, CompleteUpload(parts=[]))
    # Nothing changed: the upload and its parts are intact, and a last part may be small.
    assert len((await c.list_parts(uid)).parts) == 2
    assert (await c.complete_upload(uid, done((2, p2.etag)))).size == 100


async def test_no_such_upload(coord: Running) -> None:
    c = coord.client
    missing = "0" * 32
    with pytest.raises(NoSuchUploadError):
        await c.get_upload(missing)
    with pytest.raises(NoSuchUploadError):
        await c.list_parts(missing)
    with pytest.raises(NoSuchUploadError):
        await c.complete_upload(missing, done((1, '"x"')))
    with pytest.raises(NoSuchUploadError):
        await c.abort_upload(missing)
    with pytest.raises(NoSuchUploadError):
        await c.begin_write(
            BeginWrite(bucket="mpu", key="big", size=1, upload_id=missing, part_number=1)
        )
    upload = await start(coord)
    with pytest.raises(NoSuchUploadError):  # an upload id is tied to its key
        await c.begin_write(
            BeginWrite(bucket="mpu", key="other", size=1, upload_id=upload.upload_id)
        )


async def test_abort_collects_all_parts(coord: Running) -> None:
    c = coord.client
    upload = await start(coord)
    p1 = await put_part(c, "mpu", "big", upload.upload_id, 1, 100)
    p2 = await put_part(c, "mpu", "big", upload.upload_id, 2, 100)
    await c.abort_upload(upload.upload_id)
    queued = {chunk for chunk, _, _ in await coord.gc_entries()}
    assert queued == chunk_ids(p1) | chunk_ids(p2)
    with pytest.raises(NoSuchUploadError):
        await c.list_parts(upload.upload_id)


async def test_part_committed_after_abort_is_collected(coord: Running) -> None:
    c = coord.client
    upload = await start(coord)
    grant = await c.begin_write(
        BeginWrite(bucket="mpu", key="big", size=10, upload_id=upload.upload_id, part_number=1)
    )
    await c.abort_upload(upload.upload_id)
    part = part_from_grant(grant, 1, 10, md5_etag("late"))
    with pytest.raises(NoSuchUploadError):
        await c.commit_part(upload.upload_id, CommitPart(write_id=grant.write_id, part=part))
    assert await coord.pending_writes() == []
    queued = {chunk for chunk, _, _ in await coord.gc_entries()}
    assert queued == chunk_ids(part)


async def test_repeated_part_commit_answers_the_stored_part(coord: Running) -> None:
    c = coord.client
    upload = await start(coord)
    grant = await c.begin_write(
        BeginWrite(bucket="mpu", key="big", size=10, upload_id=upload.upload_id, part_number=3)
    )
    part = part_from_grant(grant, 3, 10, md5_etag("p3"))
    first = await c.commit_part(upload.upload_id, CommitPart(write_id=grant.write_id, part=part))
    # A retry after a lost answer: the same part again answers what is stored.
    again = await c.commit_part(upload.upload_id, CommitPart(write_id=grant.write_id, part=part))
    assert again == first
    # The spent write id with another ETag is a conflict, and changes nothing.
    other = msgspec.structs.replace(part, etag=md5_etag("other"))
    with pytest.raises(ConflictError):
        await c.commit_part(upload.upload_id, CommitPart(write_id=grant.write_id, part=other))
    assert (await c.list_parts(upload.upload_id)).parts == [first]
    assert await coord.gc_entries() == []


async def test_conditional_completion(coord: Running) -> None:
    c = coord.client
    existing = await put(c, "mpu", "big")
    upload = await start(coord)
    p1 = await put_part(c, "mpu", "big", upload.upload_id, 1, 10)
    with pytest.raises(PreconditionFailedError):
        await c.complete_upload(
            upload.upload_id,
            CompleteUpload(parts=done((1, p1.etag)).parts, if_none_match="*"),
        )
    assert (await c.get_upload(upload.upload_id)).upload_id == upload.upload_id
    manifest = await c.complete_upload(
        upload.upload_id, CompleteUpload(parts=done((1, p1.etag)).parts, if_match=existing.etag)
    )
    assert (await c.get_object("mpu", "big")).etag == manifest.etag
    queued = {chunk for chunk, _, _ in await coord.gc_entries()}
    assert queued == chunk_ids(existing)


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


async def test_composite_checksum(coord: Running) -> None:
    c = coord.client
    upload = await start(coord, checksum_algorithm="SHA256")
    assert upload.checksum_type == "COMPOSITE"
    data = [b"a" * PART, b"tail"]
    raw = [hashlib.sha256(d).digest() for d in data]
    parts = []
    for number, d in enumerate(data, start=1):
        checksum = ObjectChecksum(algorithm="SHA256", value=_b64(raw[number - 1]))
        parts.append(
            await put_part(c, "mpu", "big", upload.upload_id, number, len(d), checksum=checksum)
        )
    # A part checksum named in the completion must match the stored one.
    with pytest.raises(InvalidPartError):
        await c.complete_upload(
            upload.upload_id,
            CompleteUpload(
                parts=[
                    CompletedPart(1, parts[0].etag, checksum=_b64(raw[1])),
                    CompletedPart(2, parts[1].etag),
                ]
            ),
        )
    manifest = await c.complete_upload(
        upload.upload_id,
        CompleteUpload(
            parts=[
                CompletedPart(1, parts[0].etag, checksum=_b64(raw[0])),
                CompletedPart(2, parts[1].etag),
            ]
        ),
    )
    expected = _b64(hashlib.sha256(b"".join(raw)).digest()) + "-2"
    assert manifest.checksum == ObjectChecksum(algorithm="SHA256", value=expected, type="COMPOSITE")


@pytest.mark.parametrize(
    ("algorithm", "crc", "width"),
    [
        ("CRC32", zlib.crc32, 4),
        ("CRC32C", lambda d: crt.crc32c(d), 4),
        ("CRC64NVME", lambda d: crt.crc64nvme(d), 8),
    ],
)
async def test_full_object_crc(coord: Running, algorithm: str, crc: object, width: int) -> None:
    c = coord.client
    upload = await start(coord, checksum_algorithm=algorithm, checksum_type="FULL_OBJECT")
    data = [bytes(range(256)) * (PART // 256), b"the last part"]
    fn = crc  # type: ignore[assignment]
    for number, d in enumerate(data, start=1):
        value = _b64(fn(d).to_bytes(width, "big"))  # type: ignore[operator]
        checksum = ObjectChecksum(algorithm=algorithm, value=value)  # type: ignore[arg-type]
        await put_part(c, "mpu", "big", upload.upload_id, number, len(d), checksum=checksum)
    parts = (await c.list_parts(upload.upload_id)).parts
    manifest = await c.complete_upload(
        upload.upload_id, done(*((p.part_number, p.etag) for p in parts))
    )
    whole = _b64(fn(b"".join(data)).to_bytes(width, "big"))  # type: ignore[operator]
    assert manifest.checksum == ObjectChecksum(
        algorithm=algorithm,  # type: ignore[arg-type]
        value=whole,
        type="FULL_OBJECT",
    )


async def test_bad_checksum_settings(coord: Running) -> None:
    with pytest.raises(InvalidInputError):
        await start(coord, checksum_type="COMPOSITE")
    with pytest.raises(InvalidInputError):
        await start(coord, checksum_algorithm="CRC64NVME", checksum_type="COMPOSITE")
    with pytest.raises(InvalidInputError):
        await start(coord, checksum_algorithm="SHA1", checksum_type="FULL_OBJECT")
    assert (await start(coord, checksum_algorithm="CRC64NVME")).checksum_type == "FULL_OBJECT"


async def test_list_uploads(coord: Running) -> None:
    c = coord.client
    ids: dict[str, list[str]] = {}
    for key in ["a/1", "a/2", "b", "b", "c/x/y", "c%d"]:
        ids.setdefault(key, []).append((await start(coord, key=key)).upload_id)
    everything = await c.list_uploads("mpu")
    assert [(u.key, u.upload_id) for u in everything.uploads] == [
        (k, i) for k in sorted(ids) for i in ids[k]
    ]
    # Uploads of one key are in initiation order.
    assert [u.upload_id for u in everything.uploads if u.key == "b"] == ids["b"]

    assert [u.key for u in (await c.list_uploads("mpu", prefix="c%")).uploads] == ["c%d"]
    # Paging one at a time over (key, upload id) markers visits each upload once.
    seen: list[str] = []
    key_marker = upload_marker = ""
    while True:
        page = await c.list_uploads(
            "mpu", key_marker=key_marker, upload_id_marker=upload_marker, max_uploads=1
        )
        seen += [u.upload_id for u in page.uploads]
        if not page.is_truncated:
            break
        key_marker = page.next_key_marker or ""
        upload_marker = page.next_upload_id_marker or ""
    assert seen == [u.upload_id for u in everything.uploads]
    # A key marker alone skips every upload of that key.
    after_b = await c.list_uploads("mpu", key_marker="b")
    assert [u.key for u in after_b.uploads] == ["c%d", "c/x/y"]
    # With a delimiter, uploads under a prefix roll up.
    rolled = await c.list_uploads("mpu", delimiter="/")
    assert rolled.common_prefixes == ["a/", "c/"]
    assert [u.key for u in rolled.uploads] == ["b", "b", "c%d"]


async def test_a_part_uploaded_again_while_completing(coord: Running) -> None:
    """A completion and a new upload of one of its parts, racing: one waits for the other.
    Either the completion takes the part it named (and the late part finds no upload), or
    the new part lands first (and the completion, naming the old ETag, is InvalidPart);
    never an object made of a part it did not name, nor its chunks sent to GC."""
    c = coord.client
    outcomes: set[tuple[bool, bool]] = set()
    for round_ in range(12):
        upload = await start(coord, key=f"race-{round_}")
        first = await put_part(c, "mpu", upload.key, upload.upload_id, 1, 100, seed="a")
        # Grant the second write first, so that both requests race only at the commit.
        grant = await c.begin_write(
            BeginWrite(
                bucket="mpu", key=upload.key, size=100, upload_id=upload.upload_id, part_number=1
            )
        )
        again = part_from_grant(grant, 1, 100, md5_etag(f"{round_}/b"))
        completed, replaced = await asyncio.gather(
            c.complete_upload(upload.upload_id, done((1, first.etag))),
            c.commit_part(upload.upload_id, CommitPart(write_id=grant.write_id, part=again)),
            return_exceptions=True,
        )
        won = not isinstance(completed, BaseException)
        landed = not isinstance(replaced, BaseException)
        assert won != landed, (completed, replaced)
        if won:
            assert isinstance(replaced, NoSuchUploadError)
            manifest = await c.get_object("mpu", upload.key)
            assert [p.etag for p in manifest.parts] == [first.etag]
            queued = {chunk for chunk, _, _ in await coord.gc_entries()}
            assert not chunk_ids(manifest) & queued
        else:
            assert isinstance(completed, InvalidPartError)
            parts = (await c.list_parts(upload.upload_id)).parts
            assert [p.etag for p in parts] == [again.etag]
        outcomes.add((won, landed))
    assert outcomes  # at least one round ran; which side wins is the scheduler's
