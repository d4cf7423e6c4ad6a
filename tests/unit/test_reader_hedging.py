"""ObjectReader's hedged reads and its reports of bad fragments (fake storage, no I/O).

A slow source (an open or a block read that does not answer) is hedged with the next index
after ``hedge_after``; the read completes in about that delay, not the slow source's. Missing
and corrupt fragments reach the reporter; slow ones do not (slowness is not damage).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import AsyncIterator, Awaitable

from unit.test_dataplane import PROFILE, FakeReader, FakeStorage, _store
from waiting import within

from wormfs.dataplane.reader import ObjectReader
from wormfs.wire.repair import ReportedChunk

STALL = 3600.0  # how long a slow open or block read of the fakes hangs: "forever"


class SlowStorage(FakeStorage):
    """Opens of ``slow_open`` hang; block ``slow_block`` of ``slow_read`` hangs."""

    def __init__(self) -> None:
        super().__init__()
        self.slow_open: set[str] = set()
        self.slow_read: set[str] = set()
        self.slow_block = 1

    @contextlib.asynccontextmanager
    async def open_chunk(
        self,
        address: str,
        disk_id: str,
        chunk_id: str,
        first: int | None = None,
        last: int | None = None,
    ) -> AsyncIterator[FakeReader]:
        if chunk_id in self.slow_open:
            await asyncio.sleep(STALL)
        async with super().open_chunk(address, disk_id, chunk_id, first, last) as reader:
            if chunk_id in self.slow_read:
                inner = reader.read_block
                slow_block = self.slow_block

                async def read_block(block: int) -> bytes:
                    if block == slow_block:
                        await asyncio.sleep(STALL)
                    return await inner(block)

                reader.read_block = read_block  # type: ignore[method-assign]
            yield reader


async def finishes(read: Awaitable[bytes]) -> bytes:
    """The read's result; it must not wait for a stalled call (each stalls for STALL seconds).

    A bound far above any hedge delay and far below STALL tells "hedged" from "waited",
    without asserting how long hedging took on a busy machine.
    """
    return await within(read, STALL / 60)


async def read_all(reader: ObjectReader, manifest: object, size: int) -> bytes:
    return await ranged(reader, manifest, 0, size)


async def test_a_hanging_open_is_hedged_with_parity() -> None:
    storage = SlowStorage()
    data = os.urandom(3 * PROFILE.stripe_size + 10)
    manifest = await _store(storage, data)
    storage.slow_open.add(manifest.parts[0].segments[0].chunks[1].chunk_id)
    reader = ObjectReader(storage, hedge_after=0.1)  # type: ignore[arg-type]
    assert await finishes(read_all(reader, manifest, len(data))) == data


async def test_a_block_read_that_stalls_midway_is_hedged() -> None:
    storage = SlowStorage()
    data = os.urandom(3 * PROFILE.stripe_size + 10)
    manifest = await _store(storage, data)
    storage.slow_read.add(manifest.parts[0].segments[0].chunks[0].chunk_id)
    reports: list[ReportedChunk] = []
    reader = ObjectReader(storage, reporter=reports.extend, hedge_after=0.1)  # type: ignore[arg-type]
    assert await finishes(read_all(reader, manifest, len(data))) == data
    assert reports == []  # slow is not broken


async def test_missing_and_corrupt_fragments_are_reported() -> None:
    storage = FakeStorage()
    data = os.urandom(300 * 1024)
    manifest = await _store(storage, data)
    seg0 = manifest.parts[0].segments[0]
    del storage.blocks[("disk0", seg0.chunks[0].chunk_id)]
    storage.corrupt.add((("disk2", seg0.chunks[2].chunk_id), 1))
    reports: list[ReportedChunk] = []
    reader = ObjectReader(storage, reporter=reports.extend)  # type: ignore[arg-type]
    assert await read_all(reader, manifest, len(data)) == data
    assert {(r.chunk_id, r.problem) for r in reports} == {
        (seg0.chunks[0].chunk_id, "missing"),
        (seg0.chunks[2].chunk_id, "corrupt"),
    }


async def test_a_hedge_that_hangs_too_is_hedged_again() -> None:
    storage = SlowStorage()
    data = os.urandom(3 * PROFILE.stripe_size + 10)
    manifest = await _store(storage, data)
    chunks = manifest.parts[0].segments[0].chunks
    storage.slow_open |= {chunks[2].chunk_id, chunks[4].chunk_id}  # a data and the 1st parity
    reader = ObjectReader(storage, hedge_after=0.1)  # type: ignore[arg-type]
    assert await finishes(read_all(reader, manifest, len(data))) == data


async def ranged(reader: ObjectReader, manifest: object, start: int, end: int) -> bytes:
    out = bytearray()
    async for piece in reader.read(manifest, start, end):  # type: ignore[arg-type]
        out += piece
    return bytes(out)


async def test_a_read_within_one_data_fragment_asks_that_fragment_alone() -> None:
    storage = FakeStorage()
    data = os.urandom(3 * PROFILE.stripe_size + 10)
    manifest = await _store(storage, data)
    reader = ObjectReader(storage)  # type: ignore[arg-type]
    payload = PROFILE.stripe_size // PROFILE.k
    # 4 KiB inside fragment 2 of stripe 1: one open, of that fragment's disk, at block 1.
    start = PROFILE.stripe_size + 2 * payload + 100
    storage.opened.clear()
    assert await ranged(reader, manifest, start, start + 4096) == data[start : start + 4096]
    chunk = manifest.parts[0].segments[0].chunks[2]
    assert storage.opened == [(chunk.disk_id, 1)]
    # Across two fragments, or the short last stripe read whole: k opens as before.
    for lo, hi in ((payload - 10, payload + 10), (len(data) - 5, len(data))):
        storage.opened.clear()
        assert await ranged(reader, manifest, lo, hi) == data[lo:hi]
        assert len(storage.opened) == PROFILE.k


async def test_a_small_read_whose_fragment_is_gone_or_slow_reads_k_others() -> None:
    storage = SlowStorage()
    data = os.urandom(2 * PROFILE.stripe_size)
    manifest = await _store(storage, data)
    chunks = manifest.parts[0].segments[0].chunks
    del storage.blocks[(chunks[1].disk_id, chunks[1].chunk_id)]
    storage.slow_open.add(chunks[3].chunk_id)
    reports: list[ReportedChunk] = []
    reader = ObjectReader(storage, reporter=reports.extend, hedge_after=0.1)  # type: ignore[arg-type]
    payload = PROFILE.stripe_size // PROFILE.k
    for index in (1, 3):
        start = index * payload + 7
        got = await finishes(ranged(reader, manifest, start, start + 100))
        assert got == data[start : start + 100]
    assert (chunks[1].chunk_id, "missing") in {(r.chunk_id, r.problem) for r in reports}
