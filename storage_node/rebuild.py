"""Storage node, durability tier: rebuild a chunk when the coordinator says so.

Contract (route ``POST /v1/repair/rebuild``, schemas in ``wormfs.wire.repair``):

* The node range-reads the task's source chunks block by block through
  ``StorageClient.open_chunk`` (sources on its own disks straight from its chunk store), with
  the data plane's ``SegmentSources``: k streams, data fragments first, failover and hedging
  per block.
* Each stripe's wanted fragment is rebuilt with ``Codec.reconstruct`` (decode, re-encode only
  the missing index) in an executor, while the next block is fetched; a source that holds the
  wanted index itself (a drain or rebalance moving a healthy chunk) is copied verbatim, and
  only if that copy fails is the chunk decoded from the others.
* The new chunk goes through ``ChunkStore.put``: temp file, fsync, link, directory fsync; the
  answer (``ChunkPutResult``) comes only once it is durable, so the coordinator may switch the
  placement to it. The header is the sources' header with the new chunk id and fragment index;
  sources that disagree with each other or with the task are refused (``InvalidInputError``).
* Memory per task is two stripes of fragments; tasks beyond ``MAX_REBUILDS`` wait their turn.

Nothing here is on the client path: a GET never waits for a rebuild.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator

import msgspec

from wormfs.clients.storage import StorageClient
from wormfs.dataplane.reader import BlockReader, SegmentSources
from wormfs.erasure import Codec, get_codec
from wormfs.errors import InvalidInputError, WormError
from wormfs.format.chunkformat import ChunkHeader
from wormfs.format.layout import stripe_count, stripe_length
from wormfs.ids import is_id
from wormfs.storage_node.chunkstore import ChunkReader as StoreReader
from wormfs.storage_node.chunkstore import ChunkStore
from wormfs.wire.coordinator import ChunkPlacement, Segment
from wormfs.wire.repair import RebuildSource, RebuildTask
from wormfs.wire.storage import ChunkPutResult

log = logging.getLogger(__name__)

MAX_REBUILDS = 8


def check_task(task: RebuildTask) -> None:
    problems = []
    if not is_id(task.chunk_id) or not is_id(task.target_disk_id):
        problems.append("chunk_id and target_disk_id must be ids")
    if not 0 <= task.fragment_index < task.profile.n:
        problems.append(f"fragment_index {task.fragment_index} outside 0..{task.profile.n - 1}")
    if task.segment_length < 1:
        problems.append("segment_length must be positive")
    indexes = [s.fragment_index for s in task.sources]
    if len(set(indexes)) != len(indexes) or not task.sources:
        problems.append("sources must name distinct fragment indexes")
    if any(not 0 <= i < task.profile.n for i in indexes):
        problems.append("a source's fragment index is out of range")
    if problems:
        raise InvalidInputError("bad rebuild task: " + "; ".join(problems))


def _new_header(source: ChunkHeader, task: RebuildTask) -> ChunkHeader:
    if source.profile != task.profile or source.segment_length != task.segment_length:
        raise InvalidInputError(
            f"source chunk {source.chunk_id} is of another segment shape than the task's"
        )
    return msgspec.structs.replace(
        source, chunk_id=task.chunk_id, fragment_index=task.fragment_index
    )


class _Pacer:
    """Keeps a byte stream at or under ``rate`` bytes per second (0: unpaced)."""

    def __init__(self, rate: int) -> None:
        self._rate = rate
        self._start = time.monotonic()
        self._bytes = 0

    async def account(self, nbytes: int) -> None:
        if self._rate <= 0:
            return
        self._bytes += nbytes
        ahead = self._bytes / self._rate - (time.monotonic() - self._start)
        if ahead > 0:
            await asyncio.sleep(ahead)


class _LocalBlocks:
    """A chunk on one of this node's own disks, read like a remote stream (verified)."""

    def __init__(self, reader: StoreReader) -> None:
        self._reader = reader
        self.header = reader.header

    async def read_block(self, block: int) -> bytes:
        return bytes(await self._reader.read_block(block))


class LocalFirst:
    """Opens sources on this node's disks straight from the chunk store (no HTTP to itself),
    and everything else through the storage client."""

    def __init__(self, store: ChunkStore, remote: StorageClient) -> None:
        self._store = store
        self._remote = remote

    def is_local(self, disk_id: str) -> bool:
        return any(d.disk_id == disk_id for d in self._store.disks.all())

    @contextlib.asynccontextmanager
    async def open_chunk(
        self,
        address: str,
        disk_id: str,
        chunk_id: str,
        first: int | None = None,
        last: int | None = None,
    ) -> AsyncIterator[BlockReader]:
        if self.is_local(disk_id):
            async with self._store.open_reader(disk_id, chunk_id, first, last) as reader:
                yield _LocalBlocks(reader)
        else:
            async with self._remote.open_chunk(address, disk_id, chunk_id, first, last) as r:
                yield r


class Rebuilder:
    """Runs rebuild tasks against the local chunk store (at most ``limit`` at once)."""

    def __init__(self, store: ChunkStore, storage: StorageClient, limit: int = MAX_REBUILDS):
        self._store = store
        self._storage = LocalFirst(store, storage)
        self._slots = asyncio.Semaphore(limit)

    async def rebuild(self, task: RebuildTask) -> ChunkPutResult:
        check_task(task)
        self._store.disks.online(task.target_disk_id)  # refuse early: DiskOffline / NoSuchDisk
        async with self._slots:
            same = [s for s in task.sources if s.fragment_index == task.fragment_index]
            if same:
                try:
                    return await self._copy(task, same[0])
                except WormError as exc:
                    log.warning(
                        "copying chunk %s failed (%s); rebuilding it from the others",
                        same[0].chunk_id,
                        exc,
                    )
            others = [s for s in task.sources if s.fragment_index != task.fragment_index]
            return await self._decode(task, others)

    async def _copy(self, task: RebuildTask, source: RebuildSource) -> ChunkPutResult:
        pacer = _Pacer(task.rate_bytes_per_s)
        async with self._storage.open_chunk(
            source.node_address, source.disk_id, source.chunk_id
        ) as reader:
            header = _new_header(reader.header, task)

            async def body() -> AsyncIterator[bytes]:
                for block in range(header.block_count):
                    data = await reader.read_block(block)
                    await pacer.account(len(data))
                    yield data

            return await self._store.put(task.target_disk_id, header, body())

    async def _decode(self, task: RebuildTask, sources: list[RebuildSource]) -> ChunkPutResult:
        profile = task.profile
        codec = get_codec(profile.codec, profile.k, profile.m)
        if len(sources) < codec.k:
            raise InvalidInputError(f"{len(sources)} sources given, {codec.k} needed")
        count = stripe_count(task.segment_length, profile.stripe_size)
        segment = Segment(
            segment_index=0,
            offset=0,
            length=task.segment_length,
            chunks=[
                ChunkPlacement(
                    fragment_index=s.fragment_index,
                    chunk_id=s.chunk_id,
                    disk_id=s.disk_id,
                    node_id="",
                    node_address=s.node_address,
                )
                for s in sources
            ],
        )
        sources_ = SegmentSources(self._storage, segment, codec, 0, count - 1)
        try:
            first = await sources_.fetch(0)
            header = _new_header(sources_.header, task)
            return await self._store.put(
                task.target_disk_id, header, self._rebuilt(task, codec, sources_, first, count)
            )
        finally:
            await sources_.close()

    async def _rebuilt(
        self,
        task: RebuildTask,
        codec: Codec,
        sources: SegmentSources,
        first: dict[int, bytes],
        count: int,
    ) -> AsyncIterator[bytes]:
        loop = asyncio.get_running_loop()
        pacer = _Pacer(task.rate_bytes_per_s)
        wanted = [task.fragment_index]
        pending: asyncio.Future[dict[int, bytes]] | None = None
        fragments = first
        try:
            for block in range(count):
                if block + 1 < count:
                    pending = asyncio.ensure_future(sources.fetch(block + 1))
                length = stripe_length(task.segment_length, task.profile.stripe_size, block)
                rebuilt = await loop.run_in_executor(
                    None, codec.reconstruct, fragments, length, wanted
                )
                data = rebuilt[task.fragment_index]
                await pacer.account(len(data) * codec.k)
                yield data
                if pending is not None:
                    fragments, pending = await pending, None
        finally:
            if pending is not None:
                pending.cancel()
                with contextlib.suppress(BaseException):
                    await pending
