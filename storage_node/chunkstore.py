"""Storage node, chunk tier: durable chunk writes and verified reads over the node's disks.

Contract:

* ``put`` streams a chunk's body (the fragment bytes of every block back to back, no CRCs)
  into a ``ChunkWrite`` (``wormfs.storage_node.chunkfiles``): temp file, fsync, hard link,
  directory fsync; it returns only once the chunk is durable. A crash at any point leaves
  either nothing or the complete chunk visible. A body shorter or longer than the header
  announces is refused (``IncompleteBodyError`` / ``InvalidInputError``) and leaves nothing.
* Reads verify every block's CRC32C before handing out a byte; a bad header or block is
  ``CorruptChunkError`` for the ranges it affects, while other ranges still read.
* Errors cross this boundary as domain errors only, through one mapping (``_guard``): chunk
  format errors -> ``CorruptChunkError``; ``ENOSPC``/``EDQUOT`` -> ``DiskFullError``; any other
  ``OSError`` takes the disk offline -> ``DiskOfflineError``.
* All file I/O and CRC work runs in the disk's own thread pool, a few blocks per call (a
  thread hop costs two thread switches, and on a busy node each is dearer than the work it
  carries): a PUT of up to ``WRITE_BATCH`` bytes takes one or two hops, a read of up to
  ``READ_BATCH`` bytes one. Memory per write or read is about two batches whatever the
  chunk's size; body bytes are never copied on their way to the kernel.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import os
from collections import defaultdict
from collections.abc import AsyncIterable, AsyncIterator, Callable
from typing import Any, TypeVar

from wormfs.erasure import CODECS
from wormfs.errors import (
    CorruptChunkError,
    DiskFullError,
    IncompleteBodyError,
    InvalidInputError,
    NoSuchChunkError,
    WormError,
)
from wormfs.format.chunkformat import ChunkFormatError, ChunkHeader, blocks_payload_size
from wormfs.ids import is_id
from wormfs.storage_node.chunkfiles import (
    BlockRun,
    Buffer,
    ChunkWrite,
    delete_chunks,
    head_chunk,
    inventory_page,
    open_for_read,
    read_blocks,
    verify_chunk,
)
from wormfs.storage_node.disks import Disk, DiskSet
from wormfs.wire.storage import (
    ChunkPutResult,
    ChunkRef,
    DeleteChunksResult,
    InventoryPage,
    VerifyResult,
)

log = logging.getLogger(__name__)
T = TypeVar("T")

MAX_STRIPE_SIZE = 64 * 1024 * 1024
MAX_SEGMENT_LENGTH = 1 << 40
MAX_BLOCKS = 1 << 18
MAX_INVENTORY_LIMIT = 10_000
WRITE_BATCH = 1024 * 1024  # fragment bytes handed to the disk thread per call, at least
READ_BATCH = 1024 * 1024  # chunk bytes read per disk call (whole blocks, at least one)


def validate_header(header: ChunkHeader) -> None:
    """Refuse a header this store cannot (or must not) write, with ``InvalidInputError``."""
    problems = []
    if not is_id(header.chunk_id):
        problems.append("chunk_id is not an id")
    if not is_id(header.version_id):
        problems.append("version_id is not an id")
    profile = header.profile
    if profile.codec not in CODECS:
        problems.append(f"unknown codec {profile.codec!r}")
    if not (1 <= profile.k <= 32 and 0 <= profile.m <= 32 and profile.k + profile.m <= 32):
        problems.append(f"unsupported geometry k={profile.k} m={profile.m}")
    elif not 0 <= header.fragment_index < profile.k + profile.m:
        problems.append(f"fragment_index {header.fragment_index} outside 0..{profile.n - 1}")
    if not 1 <= profile.stripe_size <= MAX_STRIPE_SIZE:
        problems.append(f"stripe_size {profile.stripe_size} outside 1..{MAX_STRIPE_SIZE}")
    if not 1 <= header.segment_length <= MAX_SEGMENT_LENGTH:
        problems.append(f"segment_length {header.segment_length} out of bounds")
    if not 1 <= header.part_number <= 10_000:
        problems.append(f"part_number {header.part_number} outside 1..10000")
    if header.segment_index < 0 or header.segment_offset < 0:
        problems.append("negative segment index or offset")
    if problems:
        raise InvalidInputError("bad chunk header: " + "; ".join(problems))
    if header.block_count > MAX_BLOCKS:
        raise InvalidInputError(f"chunk has {header.block_count} blocks, at most {MAX_BLOCKS}")
    try:
        header.encode()
        header.fragment_size(header.block_count - 1)
    except Exception as exc:  # struct, codec and UTF-8 errors alike mean a bad header
        raise InvalidInputError(f"bad chunk header: {exc}") from None


# ---- the one OSError/format -> domain mapping ---------------------------------------------------
def _domain_error(disk: Disk, exc: OSError, action: str) -> WormError:
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return DiskFullError(f"disk {disk.disk_id} is full ({action})")
    return disk.fail(exc, action)


def _guard(disk: Disk, action: str, fn: Callable[..., T], *args: Any) -> T:
    """Run ``fn`` (in a disk thread) and turn storage-tier errors into domain errors."""
    try:
        return fn(*args)
    except CorruptChunkError:  # a block failed its CRC, or a header its checks
        disk.count_checksum_error()
        raise
    except WormError:
        raise
    except ChunkFormatError as exc:
        disk.count_checksum_error()
        raise CorruptChunkError(f"{action} on disk {disk.disk_id}: {exc}") from exc
    except OSError as exc:
        raise _domain_error(disk, exc, action) from exc


def _consume(fut: asyncio.Future[Any]) -> None:
    """Done-callback marking a future's outcome as seen (its error is handled elsewhere)."""
    if not fut.cancelled():
        fut.exception()


class ChunkReader:
    """Verified reads of blocks ``first..last`` of one open chunk, a run of blocks at a time.

    Blocks come from the disk thread in runs of about ``READ_BATCH`` bytes (one ``pread``
    each), and the next run is read while the current one is being sent: memory per reader is
    about two runs. Reads are cheapest in order; any block in range may be asked for.
    """

    def __init__(
        self,
        disk: Disk,
        chunk_id: str,
        fd: int,
        header: ChunkHeader,
        first: int,
        last: int,
        run: BlockRun | None = None,
    ) -> None:
        self.disk = disk
        self.chunk_id = chunk_id
        self.header = header
        self.first = first
        self.last = last
        self._fd = fd
        self._run = run
        self._ahead: asyncio.Future[BlockRun] | None = None
        self._ahead_block = -1
        if run is not None:
            self._read_ahead(run)

    @property
    def payload_size(self) -> int:
        """Fragment bytes of blocks ``first..last``."""
        return blocks_payload_size(self.header, self.first, self.last)

    def _start(self, block: int) -> asyncio.Future[BlockRun]:
        loop = asyncio.get_running_loop()
        action = f"read chunk {self.chunk_id} block {block}"
        return loop.run_in_executor(
            self.disk.executor,
            _guard,
            self.disk,
            action,
            read_blocks,
            self._fd,
            self.header,
            block,
            self.last,
            READ_BATCH,
        )

    def _read_ahead(self, run: BlockRun) -> None:
        following = run.first + len(run.fragments)
        if run.error is None and following <= self.last:
            self._ahead, self._ahead_block = self._start(following), following

    async def read_block(self, block: int) -> memoryview:
        """The verified fragment bytes of ``block`` (no CRC); ``CorruptChunkError`` if bad."""
        if self._fd < 0:
            raise RuntimeError("chunk reader is closed")
        if not self.first <= block <= self.last:
            raise IndexError(f"block {block} outside {self.first}..{self.last}")
        run = self._run
        if run is None or not run.first <= block <= run.first + len(run.fragments):
            fut, self._ahead = self._ahead, None
            if fut is None or self._ahead_block != block:
                if fut is not None:
                    fut.add_done_callback(_consume)
                fut = self._start(block)
            self._run = run = await fut
            self._read_ahead(run)
        index = block - run.first
        if index < len(run.fragments):
            return run.fragments[index]
        if run.error is None:  # the block after a complete run: read it
            self._run = None
            return await self.read_block(block)
        self.disk.count_checksum_error()
        raise CorruptChunkError(
            f"read chunk {self.chunk_id} block {block} on disk {self.disk.disk_id}: {run.error}"
        ) from run.error

    def close(self) -> None:
        """Release the file once any read ahead has finished (never blocks the loop)."""
        fd, self._fd = self._fd, -1
        self._run = None
        if fd < 0:
            return
        ahead, self._ahead = self._ahead, None
        executor = self.disk.executor

        def close_fd(_: object = None) -> None:
            try:
                executor.submit(os.close, fd)
            except RuntimeError:  # executor already shut down (process stopping)
                with contextlib.suppress(OSError):
                    os.close(fd)

        if ahead is None:
            close_fd()
        else:
            ahead.add_done_callback(_consume)
            ahead.add_done_callback(close_fd)


class _Blocks:
    """Cuts a chunk body into whole blocks without copying a byte.

    Each complete block is the list of views, into the buffers the body delivered, that hold
    its fragment bytes; ``take`` hands the complete blocks over. Immutable pieces (``bytes``,
    the HTTP body's case) are kept as they are; a writable one is copied first, since its
    producer may reuse it once it has been yielded.
    """

    def __init__(self, header: ChunkHeader) -> None:
        self._header = header
        self.count = header.block_count
        self.ready: list[list[Buffer]] = []
        self.ready_bytes = 0
        self.done_blocks = 0
        self.received = 0
        self._current: list[Buffer] = []
        self._filled = 0
        self._need = header.fragment_size(0)

    @property
    def complete(self) -> bool:
        return self.done_blocks == self.count

    def feed(self, piece: bytes | bytearray | memoryview) -> None:
        view = _frozen_view(piece)
        self.received += len(view)
        while view:
            if self.done_blocks == self.count:
                raise InvalidInputError("body is longer than the chunk header announces")
            take = min(self._need - self._filled, len(view))
            self._current.append(view if take == len(view) else view[:take])
            self._filled += take
            view = view[take:]
            if self._filled < self._need:
                continue
            self.ready.append(self._current)
            self.ready_bytes += self._need
            self._current, self._filled = [], 0
            self.done_blocks += 1
            if self.done_blocks < self.count:
                self._need = self._header.fragment_size(self.done_blocks)

    def take(self) -> list[list[Buffer]]:
        blocks, self.ready, self.ready_bytes = self.ready, [], 0
        return blocks


def _frozen_view(piece: bytes | bytearray | memoryview) -> memoryview:
    """A byte view of ``piece`` that nobody can change under us (copied if writable)."""
    view = memoryview(piece)
    if not view.readonly:
        view = memoryview(bytes(view))
    elif view.ndim != 1 or view.format != "B":
        view = view.cast("B")
    return view


# ---- the store --------------------------------------------------------------------------------
class ChunkStore:
    """Chunks on the disks of one node; every method may raise the domain errors above."""

    def __init__(self, disks: DiskSet) -> None:
        self.disks = disks

    async def _io(self, disk: Disk, action: str, fn: Callable[..., T], *args: Any) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(disk.executor, _guard, disk, action, fn, *args)

    # ---- put -------------------------------------------------------------------------------
    async def put(
        self,
        disk_id: str,
        header: ChunkHeader,
        body: AsyncIterable[bytes | bytearray | memoryview],
    ) -> ChunkPutResult:
        """Write a chunk from ``body`` (the fragment bytes of all blocks, back to back).

        The body is cut into blocks without copying (``_Blocks``) and handed to the disk
        thread a batch at a time, so that a chunk costs few thread hops: the first complete
        block goes at once (it creates the file, so a duplicate or a full disk is refused
        early), later blocks in batches of ``WRITE_BATCH`` bytes while the network delivers
        more, and the last batch together with the commit. At most one batch is being
        written while the next one fills: memory per write is about two batches.
        """
        validate_header(header)
        disk = self.disks.online(disk_id)
        write = ChunkWrite(disk, header)
        loop = asyncio.get_running_loop()
        action = f"write chunk {header.chunk_id}"
        blocks = _Blocks(header)
        batch = max(WRITE_BATCH, header.fragment_size(0))
        started = False
        pending: asyncio.Future[list[int]] | None = None
        crcs: list[int] = []
        try:
            async for piece in body:
                blocks.feed(piece)
                if not blocks.ready or blocks.complete:
                    continue  # the chunk's last block goes with the commit
                if pending is not None and (pending.done() or blocks.ready_bytes >= batch):
                    fut, pending = pending, None
                    crcs += await fut
                if pending is None and (not started or blocks.ready_bytes >= batch):
                    started = True
                    pending = loop.run_in_executor(
                        disk.executor, _guard, disk, action, write.write_blocks, blocks.take()
                    )
            if not blocks.complete:
                total = blocks_payload_size(header, 0, header.block_count - 1)
                raise IncompleteBodyError(f"body ended after {blocks.received} of {total} bytes")
            if pending is not None:
                fut, pending = pending, None
                crcs += await fut
            crcs += await self._io(disk, action, write.write_blocks, blocks.take(), True)
        except BaseException:
            if pending is not None:
                pending.add_done_callback(_consume)
            # Shielded: even if this task is cancelled again, the temp file is removed.
            cleanup = loop.run_in_executor(disk.executor, write.abort)
            with contextlib.suppress(Exception):
                await asyncio.shield(cleanup)
            raise
        return ChunkPutResult(
            chunk_id=header.chunk_id, disk_id=disk.disk_id, file_size=write.size, block_crcs=crcs
        )

    # ---- reads -----------------------------------------------------------------------------
    @contextlib.asynccontextmanager
    async def open_reader(
        self, disk_id: str, chunk_id: str, first: int | None = None, last: int | None = None
    ) -> AsyncIterator[ChunkReader]:
        """Open a chunk for verified block reads of ``first..last`` (default: all blocks).

        The file is opened, its header checked and the first run of blocks read in one disk
        call; ``InvalidInputError`` for a range outside the chunk. A bad block is reported by
        ``read_block`` of that block, never by the open.
        """
        _check_id(chunk_id)
        disk = self.disks.online(disk_id)
        fd, header, lo, hi, run = await self._io(
            disk, f"open chunk {chunk_id}", open_for_read, disk, chunk_id, first, last, READ_BATCH
        )
        reader = ChunkReader(disk, chunk_id, fd, header, lo, hi, run)
        try:
            yield reader
        finally:
            reader.close()

    async def head(self, disk_id: str, chunk_id: str) -> ChunkHeader:
        """The chunk's header, verified, and its file size checked against it."""
        _check_id(chunk_id)
        disk = self.disks.online(disk_id)
        return await self._io(disk, f"head chunk {chunk_id}", head_chunk, disk, chunk_id)

    async def verify(self, disk_id: str, chunk_id: str) -> VerifyResult:
        """Read and check every block; report the bad ones (a deep scrub of one chunk)."""
        _check_id(chunk_id)
        disk = self.disks.online(disk_id)
        return await self._io(disk, f"verify chunk {chunk_id}", verify_chunk, disk, chunk_id)

    async def inventory(self, disk_id: str, after: str | None, limit: int) -> InventoryPage:
        """Chunk ids on a disk, sorted, strictly after ``after``, at most ``limit``."""
        if after is not None:
            _check_id(after)
        if not 1 <= limit <= MAX_INVENTORY_LIMIT:
            raise InvalidInputError(f"limit must be within 1..{MAX_INVENTORY_LIMIT}")
        disk = self.disks.online(disk_id)
        return await self._io(disk, "inventory", inventory_page, disk, after, limit)

    # ---- deletes ---------------------------------------------------------------------------
    async def delete(self, disk_id: str, chunk_id: str) -> None:
        _check_id(chunk_id)
        disk = self.disks.online(disk_id)
        _, missing = await self._io(disk, "delete", delete_chunks, disk, [chunk_id])
        if missing:
            raise NoSuchChunkError(f"chunk {chunk_id} is not on disk {disk_id}")

    async def delete_many(self, refs: list[ChunkRef]) -> DeleteChunksResult:
        """Delete chunks on any of the node's disks; each ref is deleted, missing or failed."""
        for ref in refs:
            _check_id(ref.chunk_id)
        by_disk: dict[str, list[str]] = defaultdict(list)
        for ref in refs:
            by_disk[ref.disk_id].append(ref.chunk_id)

        async def one_disk(disk_id: str, ids: list[str]) -> tuple[list[str], list[str]]:
            disk = self.disks.online(disk_id)
            return await self._io(disk, "delete", delete_chunks, disk, ids)

        outcomes = await asyncio.gather(
            *(one_disk(d, ids) for d, ids in by_disk.items()), return_exceptions=True
        )
        deleted: list[ChunkRef] = []
        missing: list[ChunkRef] = []
        failed: list[ChunkRef] = []
        for (disk_id, ids), outcome in zip(by_disk.items(), outcomes, strict=True):
            if isinstance(outcome, BaseException):
                if not isinstance(outcome, WormError):
                    raise outcome
                log.warning("batch delete on disk %s failed: %s", disk_id, outcome)
                failed += [ChunkRef(disk_id=disk_id, chunk_id=c) for c in ids]
                continue
            gone, absent = outcome
            deleted += [ChunkRef(disk_id=disk_id, chunk_id=c) for c in gone]
            missing += [ChunkRef(disk_id=disk_id, chunk_id=c) for c in absent]
        return DeleteChunksResult(deleted=deleted, missing=missing, failed=failed)


def _check_id(value: str) -> None:
    if not is_id(value):
        raise InvalidInputError(f"{value[:64]!r} is not a chunk id")
