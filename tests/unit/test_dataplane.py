"""ObjectWriter and ObjectReader over an in-memory fake of the storage client.

The fake keeps fragments per chunk and can lose or corrupt them, so these tests pin the data
plane's own logic: stripe cutting, fragment routing, range reads, failover to parity, and
refusal when fewer than k fragments remain; and the inline path (bytes served from the
manifest, verified against the ETag, whole bodies read with the writer's length checks). Real
nodes are exercised in integration tests.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
from collections.abc import AsyncIterable, AsyncIterator, Mapping

import pytest

from wormfs.dataplane.hashing import StreamDigests
from wormfs.dataplane.reader import ObjectReader
from wormfs.dataplane.writer import ObjectWriter, read_exact
from wormfs.errors import CorruptChunkError, IncompleteBodyError, NotEnoughFragmentsError
from wormfs.format.checksums import new_hasher
from wormfs.format.chunkformat import ChunkHeader
from wormfs.format.layout import Profile, split_lengths
from wormfs.ids import new_id, new_version_id
from wormfs.wire.coordinator import ChunkPlacement, ObjectManifest, PartRecord, Segment, WriteGrant
from wormfs.wire.storage import ChunkPutResult

PROFILE = Profile(codec="isal_rs_vand", k=4, m=2, stripe_size=64 * 1024)
SEGMENT = 256 * 1024


class FakeReader:
    def __init__(self, store: FakeStorage, key: tuple[str, str], first: int) -> None:
        self.header = store.headers[key]
        self._store = store
        self._key = key
        self._next = first

    async def read_block(self, block: int) -> bytes:
        assert block == self._next, "blocks must be read in order"
        self._next += 1
        if (self._key, block) in self._store.corrupt:
            raise CorruptChunkError(f"block {block}")
        return self._store.blocks[self._key][block]


class FakeStorage:
    def __init__(self) -> None:
        self.blocks: dict[tuple[str, str], list[bytes]] = {}
        self.headers: dict[tuple[str, str], ChunkHeader] = {}
        self.corrupt: set[tuple[tuple[str, str], int]] = set()
        self.opened: list[tuple[str, int]] = []

    async def put_chunk(
        self, address: str, disk_id: str, header: ChunkHeader, body: AsyncIterable[bytes]
    ) -> ChunkPutResult:
        blocks = [piece async for piece in body]
        assert [len(b) for b in blocks] == [header.fragment_size(j) for j in range(len(blocks))]
        self.blocks[(disk_id, header.chunk_id)] = blocks
        self.headers[(disk_id, header.chunk_id)] = header
        return ChunkPutResult(header.chunk_id, disk_id, header.file_size, [0] * len(blocks))

    @contextlib.asynccontextmanager
    async def open_chunk(
        self,
        address: str,
        disk_id: str,
        chunk_id: str,
        first: int | None = None,
        last: int | None = None,
    ) -> AsyncIterator[FakeReader]:
        key = (disk_id, chunk_id)
        if key not in self.blocks:
            from wormfs.errors import NoSuchChunkError

            raise NoSuchChunkError(chunk_id)
        self.opened.append((disk_id, first or 0))
        yield FakeReader(self, key, first or 0)


class Body:
    def __init__(self, data: bytes, piece: int = 10_000) -> None:
        self._pieces = [data[i : i + piece] for i in range(0, len(data), piece)]

    async def read(self) -> bytes:
        return self._pieces.pop(0) if self._pieces else b""

    def trailing_checksums(self) -> Mapping[str, str]:
        return {}


def _grant(size: int) -> WriteGrant:
    segments = []
    offset = 0
    for index, length in enumerate(split_lengths(size, SEGMENT)):
        chunks = [ChunkPlacement(i, new_id(), f"disk{i}", "node1", "http://fake") for i in range(6)]
        segments.append(Segment(index, offset, length, chunks))
        offset += length
    return WriteGrant(new_id(), new_version_id(), PROFILE, SEGMENT, segments)


async def _store(storage: FakeStorage, data: bytes) -> ObjectManifest:
    grant = _grant(len(data))
    digests = StreamDigests()
    result = await ObjectWriter(storage).write(  # type: ignore[arg-type]
        grant, "b", "k", 1, len(data), Body(data), digests
    )
    assert result.digests.size == len(data)
    part = PartRecord(1, len(data), f'"{digests.md5_hex}"', result.segments)
    return ObjectManifest(
        "b", "k", grant.version_id, "owner", len(data), part.etag, 0.0, PROFILE, [part]
    )


async def _read(storage: FakeStorage, manifest: ObjectManifest, start: int, end: int) -> bytes:
    out = bytearray()
    async for piece in ObjectReader(storage).read(manifest, start, end):  # type: ignore[arg-type]
        assert len(piece) <= PROFILE.stripe_size
        out += piece
    return bytes(out)


@pytest.mark.parametrize("size", [1, 1000, 64 * 1024, 256 * 1024, 700 * 1024 + 3])
async def test_round_trip_and_ranges(size: int) -> None:
    storage = FakeStorage()
    data = os.urandom(size)
    manifest = await _store(storage, data)
    assert await _read(storage, manifest, 0, size) == data
    for start, end in [(0, 1), (size - 1, size), (size // 3, 2 * size // 3 + 1)]:
        if start < end:
            assert await _read(storage, manifest, start, end) == data[start:end]


async def test_range_reads_only_needed_blocks() -> None:
    storage = FakeStorage()
    data = os.urandom(SEGMENT * 2)
    manifest = await _store(storage, data)
    storage.opened.clear()
    start = SEGMENT + 3 * PROFILE.stripe_size + 5
    assert await _read(storage, manifest, start, start + 10) == data[start : start + 10]
    # One segment, block 3 of the one data fragment holding the bytes.
    assert storage.opened == [("disk0", 3)]
    storage.opened.clear()
    end = start + PROFILE.stripe_size // 2
    assert await _read(storage, manifest, start, end) == data[start:end]
    # Across fragments: k data fragments, starting at block 3; no parity touched.
    assert sorted(storage.opened) == [(f"disk{i}", 3) for i in range(4)]


async def test_lost_and_corrupt_fragments_are_decoded_around() -> None:
    storage = FakeStorage()
    data = os.urandom(300 * 1024)
    manifest = await _store(storage, data)
    seg0 = manifest.parts[0].segments[0]
    del storage.blocks[("disk0", seg0.chunks[0].chunk_id)]
    storage.corrupt.add((("disk2", seg0.chunks[2].chunk_id), 1))
    assert await _read(storage, manifest, 0, len(data)) == data


async def test_more_than_m_losses_fail_clearly() -> None:
    storage = FakeStorage()
    data = os.urandom(100 * 1024)
    manifest = await _store(storage, data)
    for chunk in manifest.parts[0].segments[0].chunks[:3]:
        del storage.blocks[(chunk.disk_id, chunk.chunk_id)]
    with pytest.raises(NotEnoughFragmentsError):
        await _read(storage, manifest, 0, len(data))


async def test_short_and_long_bodies_are_refused() -> None:
    storage = FakeStorage()
    data = os.urandom(5000)
    with pytest.raises(IncompleteBodyError):
        await ObjectWriter(storage).write(  # type: ignore[arg-type]
            _grant(6000), "b", "k", 1, 6000, Body(data), StreamDigests()
        )
    with pytest.raises(IncompleteBodyError):
        await ObjectWriter(storage).write(  # type: ignore[arg-type]
            _grant(4000), "b", "k", 1, 4000, Body(data), StreamDigests()
        )


async def test_failing_node_aborts_the_write() -> None:
    class Failing(FakeStorage):
        async def put_chunk(self, address, disk_id, header, body):  # type: ignore[no-untyped-def]
            if header.fragment_index == 5:
                from wormfs.errors import UnavailableError

                raise UnavailableError("node down")
            return await super().put_chunk(address, disk_id, header, body)

    with pytest.raises(Exception, match="node down"):
        await ObjectWriter(Failing()).write(  # type: ignore[arg-type]
            _grant(300_000), "b", "k", 1, 300_000, Body(os.urandom(300_000)), StreamDigests()
        )


# ---- inline objects ---------------------------------------------------------------------------
def _inline(data: bytes, etag: str | None = None) -> ObjectManifest:
    etag = etag or f'"{hashlib.md5(data).hexdigest()}"'
    return ObjectManifest(
        "b", "k", new_version_id(), "owner", len(data), etag, 0.0, PROFILE, [], inline=data
    )


async def _pieces(
    storage: FakeStorage, manifest: ObjectManifest, start: int, end: int
) -> list[bytes]:
    reader = ObjectReader(storage)  # type: ignore[arg-type]
    return [piece async for piece in reader.read(manifest, start, end)]


async def test_inline_object_is_served_from_the_manifest() -> None:
    storage = FakeStorage()
    data = os.urandom(4096)
    manifest = _inline(data)
    assert await _pieces(storage, manifest, 0, len(data)) == [data]
    for start, end in [(0, 1), (4095, 4096), (100, 3000)]:
        assert await _pieces(storage, manifest, start, end) == [data[start:end]]
    # An empty range (or an empty object) yields nothing rather than an empty piece.
    assert await _pieces(storage, manifest, 10, 10) == []
    assert await _pieces(storage, _inline(b""), 0, 0) == []
    assert storage.opened == []  # no storage-node traffic at all


async def test_corrupt_inline_bytes_raise_instead_of_being_served() -> None:
    storage = FakeStorage()
    data = bytearray(os.urandom(4096))
    etag = f'"{hashlib.md5(data).hexdigest()}"'
    data[17] ^= 0x01
    with pytest.raises(CorruptChunkError, match="inline"):
        await _pieces(storage, _inline(bytes(data), etag), 0, 10)
    # A truncated copy is caught too (even where the range would fit in it).
    short = _inline(bytes(data[:100]), etag)
    with pytest.raises(CorruptChunkError):
        await _pieces(storage, short, 0, 10)


async def test_read_exact_takes_the_whole_body_or_refuses_it() -> None:
    data = os.urandom(25_000)
    assert await read_exact(Body(data), len(data)) == data
    assert await read_exact(Body(b""), 0) == b""
    with pytest.raises(IncompleteBodyError, match="ended after 25000"):
        await read_exact(Body(data), len(data) + 1)
    with pytest.raises(IncompleteBodyError, match="longer"):
        await read_exact(Body(data), len(data) - 1)


async def test_feed_now_hashes_like_feed() -> None:
    data = os.urandom(200 * 1024)
    fed = StreamDigests({"CRC32": new_hasher("CRC32")})
    await fed.feed(data)
    await fed.finish()
    now = StreamDigests({"CRC32": new_hasher("CRC32")})
    now.feed_now(data)
    assert (now.md5_hex, now.extra_b64("CRC32"), now.size) == (
        fed.md5_hex,
        fed.extra_b64("CRC32"),
        fed.size,
    )
