"""Storage node, durability tier: the deep scrub of one disk, one resumable step at a time.

Contract (route ``POST /v1/disks/{disk_id}/scrub``, schemas in ``wormfs.wire.repair``): walk
the disk's chunks in id order strictly after ``after`` and verify each one, its header (CRC,
and the file's size against it) and then every block's CRC32C, block by block through the
chunk store's verified reader (file I/O and CRC in the disk's own threads), up to
``max_chunks`` chunks or ``max_bytes`` bytes; answer with what was checked, the bad chunks,
and where to go on (``next_after``; None once the walk reached the end of the disk). The
coordinator decides when and how often (``wormfs.coordinator.scrub``) and keeps the cursor, so
a node restart costs at most one step.

Two brakes keep foreground traffic fast, as MinIO's healing sleeper does: ``rate_bytes_per_s``
caps the bytes read per second, and ``duty`` caps the share of time spent reading: after a
block that took t seconds the scrub sleeps t * (1 - duty) / duty, so when the disk or the CPU
is busy with client requests, blocks take longer and the scrub backs off by itself.

A chunk deleted while the walk passes is skipped; a disk that fails mid-walk ends the step
with its domain error (``DiskOfflineError``), which the coordinator treats as the disk's.
"""

from __future__ import annotations

import asyncio
import time

from wormfs.errors import CorruptChunkError, InvalidInputError, NoSuchChunkError
from wormfs.storage_node.chunkstore import MAX_INVENTORY_LIMIT, ChunkStore
from wormfs.wire.repair import BadChunk, ScrubBatch, ScrubBatchResult


class _Brake:
    def __init__(self, rate: int, duty: float) -> None:
        self._rate = rate
        self._duty = duty
        self._start = time.monotonic()
        self._bytes = 0

    async def block_done(self, nbytes: int, took: float) -> None:
        self._bytes += nbytes
        wait = 0.0
        if self._duty < 1.0:
            wait = took * (1.0 - self._duty) / self._duty
        if self._rate:
            wait = max(wait, self._bytes / self._rate - (time.monotonic() - self._start))
        if wait > 0:
            await asyncio.sleep(wait)


async def verify_chunk(
    store: ChunkStore, disk_id: str, chunk_id: str, brake: _Brake
) -> tuple[int, BadChunk | None]:
    """(bytes read, the problem if any); ``NoSuchChunkError`` if it is gone."""
    try:
        header = await store.head(disk_id, chunk_id)
    except CorruptChunkError as exc:
        return 0, BadChunk(chunk_id=chunk_id, bad_blocks=[], error=f"bad header: {exc.message}")
    bad: list[int] = []
    nbytes = 0
    async with store.open_reader(disk_id, chunk_id) as reader:
        for block in range(header.block_count):
            started = time.monotonic()
            try:
                data = await reader.read_block(block)
                size = len(data)
            except CorruptChunkError:
                bad.append(block)
                size = header.fragment_size(block)
            nbytes += size
            await brake.block_done(size, time.monotonic() - started)
    if bad:
        return nbytes, BadChunk(chunk_id=chunk_id, bad_blocks=bad, error=f"{len(bad)} bad blocks")
    return nbytes, None


async def scrub_batch(store: ChunkStore, disk_id: str, batch: ScrubBatch) -> ScrubBatchResult:
    if batch.max_chunks < 1 or batch.max_bytes < 1 or batch.rate_bytes_per_s < 0:
        raise InvalidInputError("max_chunks and max_bytes must be positive, the rate not negative")
    if not 0 < batch.duty <= 1:
        raise InvalidInputError("duty must be within (0, 1]")
    page = await store.inventory(disk_id, batch.after, min(batch.max_chunks, MAX_INVENTORY_LIMIT))
    brake = _Brake(batch.rate_bytes_per_s, batch.duty)
    checked = 0
    nbytes = 0
    bad: list[BadChunk] = []
    last: str | None = batch.after
    stopped_early = False
    for entry in page.chunks:
        if nbytes >= batch.max_bytes:
            stopped_early = True
            break
        try:
            size, problem = await verify_chunk(store, disk_id, entry.chunk_id, brake)
        except NoSuchChunkError:
            last = entry.chunk_id  # deleted meanwhile (GC): nothing to verify
            continue
        checked += 1
        nbytes += size
        last = entry.chunk_id
        if problem is not None:
            bad.append(problem)
    more = stopped_early or page.next_after is not None
    return ScrubBatchResult(
        disk_id=disk_id,
        chunks_checked=checked,
        bytes_checked=nbytes,
        bad=bad,
        next_after=last if more else None,
    )
