"""The mount's read cache: windows keyed by version, bounded eviction, read-ahead, errors."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from unit.fuse_fakes import PROFILE

from wormfs.errors import NotEnoughFragmentsError
from wormfs.fuse.readcache import ReadCache, Stream
from wormfs.wire.coordinator import ObjectManifest

W = 16  # window size in the tests


def manifest(size: int, version: str = "v1", key: str = "f") -> ObjectManifest:
    return ObjectManifest(
        bucket="b",
        key=key,
        version_id=version,
        owner_id="o",
        size=size,
        etag='"x"',
        last_modified=0.0,
        profile=PROFILE,
        parts=[],
    )


class Store:
    """A fetch over made-up bytes (byte i of version v is (i + len(v)) % 251), recording calls,
    yielding pieces of ``piece`` bytes (not aligned to windows)."""

    def __init__(self, piece: int = 7) -> None:
        self.calls: list[tuple[str, int, int]] = []
        self.piece = piece
        self.fail: Exception | None = None
        self.gate: asyncio.Event | None = None

    @staticmethod
    def data(m: ObjectManifest, start: int, end: int) -> bytes:
        return bytes((i + len(m.version_id)) % 251 for i in range(start, end))

    async def fetch(self, m: ObjectManifest, start: int, end: int) -> AsyncIterator[bytes]:
        self.calls.append((m.version_id, start, end))
        if self.gate is not None:
            await self.gate.wait()
        if self.fail is not None:
            raise self.fail
        for lo in range(start, end, self.piece):
            await asyncio.sleep(0)
            yield self.data(m, lo, min(lo + self.piece, end))


async def settle() -> None:
    for _ in range(50):
        await asyncio.sleep(0)


async def test_reads_come_from_windows_fetched_once() -> None:
    store = Store()
    cache = ReadCache(store.fetch, window=W, capacity=8 * W, read_ahead=0 * W)
    m = manifest(100)
    stream = Stream()
    assert bytes(await cache.read(m, stream, 3, 10)) == Store.data(m, 3, 13)
    assert store.calls == [("v1", 0, 16)]
    assert bytes(await cache.read(m, Stream(), 5, 4)) == Store.data(m, 5, 9)  # cached
    # Across windows: one fetch of the missing run; the end is clamped to the size.
    assert bytes(await cache.read(m, Stream(), 10, 200)) == Store.data(m, 10, 100)
    assert store.calls == [("v1", 0, 16), ("v1", 16, 100)]
    assert await cache.read(m, Stream(), 100, 5) == b""


async def test_versions_are_kept_apart() -> None:
    store = Store()
    cache = ReadCache(store.fetch, window=W, capacity=8 * W, read_ahead=0 * W)
    old, new = manifest(40, "v1"), manifest(40, "v22")
    assert bytes(await cache.read(old, Stream(), 0, 8)) == Store.data(old, 0, 8)
    assert bytes(await cache.read(new, Stream(), 0, 8)) == Store.data(new, 0, 8)
    assert Store.data(old, 0, 8) != Store.data(new, 0, 8)
    assert len(store.calls) == 2


async def test_least_recently_used_windows_are_evicted_at_capacity() -> None:
    store = Store()
    cache = ReadCache(store.fetch, window=W, capacity=3 * W, read_ahead=0 * W)
    m = manifest(W * 10)
    for index in (0, 1, 2):
        await cache.read(m, Stream(), index * W, 1)
    await cache.read(m, Stream(), 0, 1)  # 0 is now the most recent
    await cache.read(m, Stream(), 3 * W, 1)  # evicts 1
    assert len(cache) == 3
    assert [cache.cached(m, i) for i in range(4)] == [True, False, True, True]


async def test_sequential_reads_fetch_ahead_within_bounds() -> None:
    store = Store()
    cache = ReadCache(store.fetch, window=W, capacity=6 * W, read_ahead=4 * W)
    m = manifest(W * 20)
    stream = Stream()
    offset = 0
    for _ in range(3 * 4):  # reads of a quarter window, in order
        assert bytes(await cache.read(m, stream, offset, W // 4)) == Store.data(
            m, offset, offset + W // 4
        )
        offset += W // 4
        await settle()
        assert len(cache) <= 6
    # Three windows read; read-ahead reached at most 4 windows past the current one.
    assert cache.cached(m, 3) and cache.cached(m, 4)
    assert not any(cache.cached(m, i) for i in range(7, 20))
    assert max(end for _, _, end in store.calls) <= 7 * W
    # Far fewer fetches than windows: read-ahead fetches runs.
    assert cache.fetches < 6


async def test_read_ahead_stops_at_the_end_and_random_reads_fetch_only_theirs() -> None:
    store = Store()
    cache = ReadCache(store.fetch, window=W, capacity=16 * W, read_ahead=8 * W)
    m = manifest(W * 3 - 5)
    stream = Stream()
    await cache.read(m, stream, 0, W)
    await cache.read(m, stream, W, W)
    await settle()
    assert max(end for _, _, end in store.calls) == m.size
    big = manifest(W * 50, "v2")
    random = Stream()
    for offset in (30 * W, 5 * W, 40 * W + 3, 12 * W):
        await cache.read(big, random, offset, 4)
    await settle()
    assert [c[1:] for c in store.calls if c[0] == "v2"] == [
        (30 * W, 31 * W),
        (5 * W, 6 * W),
        (40 * W, 41 * W),
        (12 * W, 13 * W),
    ]


async def test_a_failed_fetch_reaches_the_reader_and_is_not_kept() -> None:
    store = Store()
    cache = ReadCache(store.fetch, window=W, capacity=8 * W, read_ahead=2 * W)
    m = manifest(W * 8)
    store.fail = NotEnoughFragmentsError("too few")
    with pytest.raises(NotEnoughFragmentsError):
        await cache.read(m, Stream(), 0, 4)
    await settle()
    assert len(cache) == 0
    store.fail = None
    assert bytes(await cache.read(m, Stream(), 0, 4)) == Store.data(m, 0, 4)


async def test_failed_read_ahead_is_fetched_again_by_the_read_that_needs_it() -> None:
    store = Store()
    cache = ReadCache(store.fetch, window=W, capacity=8 * W, read_ahead=2 * W)
    m = manifest(W * 8)
    stream = Stream()
    await cache.read(m, stream, 0, W)  # sequential from 0: fetches 1..2 ahead
    store.fail = OSError("node down")
    await cache.read(m, stream, W, W)  # read-ahead of 3 fails in the background
    await settle()
    store.fail = None
    assert not cache.cached(m, 3)
    assert bytes(await cache.read(m, stream, 3 * W, W)) == Store.data(m, 3 * W, 4 * W)


async def test_concurrent_readers_share_one_fetch_and_reads_larger_than_the_cache() -> None:
    store = Store()
    store.gate = asyncio.Event()
    cache = ReadCache(store.fetch, window=W, capacity=2 * W, read_ahead=0 * W)
    m = manifest(W * 8)
    readers = [asyncio.ensure_future(cache.read(m, Stream(), 2, 5)) for _ in range(3)]
    await settle()
    store.gate.set()
    results = await asyncio.gather(*readers)
    assert all(bytes(r) == Store.data(m, 2, 7) for r in results)
    assert len(store.calls) == 1
    # Wider than the whole cache: read straight through, nothing kept.
    assert bytes(await cache.read(m, Stream(), 0, 5 * W)) == Store.data(m, 0, 5 * W)
    assert len(cache) == 1


async def test_close_cancels_background_fetches() -> None:
    store = Store()
    store.gate = asyncio.Event()
    cache = ReadCache(store.fetch, window=W, capacity=8 * W, read_ahead=4 * W)
    m = manifest(W * 8)
    reader = asyncio.ensure_future(cache.read(m, Stream(), 0, 4))
    await settle()
    await cache.close()
    with pytest.raises(asyncio.CancelledError):
        await reader
    assert len(cache) == 0
