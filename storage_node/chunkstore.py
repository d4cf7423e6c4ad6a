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
* All file I/O and CRC work runs in the disk's own thread pool, a block at a time; memory per
  write is two blocks whatever the chunk's size.
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

from wormfs.chunkformat import ChunkFormatError, ChunkHeader
from wormfs.clients.storage import payload_size
from wormfs.erasure import CODECS
from wormfs.errors import (
    CorruptChunkError,
    DiskFullError,
    IncompleteBodyError,
    InvalidInputError,
    NoSuchChunkError,
    WormError,
)
from wormfs.ids import is_id
from wormfs.storage_node.chunkfiles import (
    ChunkWrite,
    delete_chunks,
    head_chunk,
    inventory_page,
    open_chunk_file,
    read_block,
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
    except WormError:
        raise
    except ChunkFormatError as exc:
        raise CorruptChunkError(f"{action} on disk {disk.disk_id}: {exc}") from exc
    except OSError as exc:
        raise _domain_error(disk, exc, action) from exc


def _consume(fut: asyncio.Future[Any]) -> None:
    """Done-callback marking a future's outcome as seen (its error is handled elsewhere)."""
    if not fut.cancelled():
        fut.exception()


class ChunkReader:
    """Verified reads of blocks ``first..last`` of one open chunk, reading one block ahead."""

    def __init__(
        self, disk: Disk, chunk_id: str, fd: int, header: ChunkHeader, first: int, last: int
    ) -> None:
        self.disk = disk
        self.chunk_id = chunk_id
        self.header = header
        self.first = first
        self.last = last
        self._fd = fd
        self._ahead: asyncio.Future[bytes] | None = None
        self._ahead_block = -1

    @property
    def payload_size(self) -> int:
        """Fragment bytes of blocks ``first..last``."""
        return payload_size(self.header, self.first, self.last)

    def _start(self, block: int) -> asyncio.Future[bytes]:
        loop = asyncio.get_running_loop()
        action = f"read chunk {self.chunk_id} block {block}"
        fut = loop.run_in_executor(
            self.disk.executor, _guard, self.disk, action, read_block, self._fd, self.header, block
        )
        return fut

    async def read_block(self, block: int) -> memoryview:
        """The verified fragment bytes of ``block`` (no CRC); ``CorruptChunkError`` if bad."""
        if self._fd < 0:
            raise RuntimeError("chunk reader is closed")
        if not self.first <= block <= self.last:
            raise IndexError(f"block {block} outside {self.first}..{self.last}")
        fut, self._ahead = self._ahead, None
        if fut is None or self._ahead_block != block:
            if fut is not None:
                fut.add_done_callback(_consume)
            fut = self._start(block)
        data = await fut
        if block < self.last:
            self._ahead, self._ahead_block = self._start(block + 1), block + 1
        return memoryview(data)[: self.header.fragment_size(block)]

    def close(self) -> None:
        """Release the file once any read ahead has finished (never blocks the loop)."""
        fd, self._fd = self._fd, -1
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
        """Write a chunk from ``body`` (the fragment bytes of all blocks, back to back)."""
        validate_header(header)
        disk = self.disks.online(disk_id)
        write = ChunkWrite(disk, header)
        loop = asyncio.get_running_loop()
        action = f"write chunk {header.chunk_id}"
        pending: asyncio.Future[int] | None = None
        try:
            await self._io(disk, action, write.begin)
            count = header.block_count
            # Two buffers: one fills from the network while the other is written and fsynced.
            capacity = header.fragment_size(0)
            buffers = [bytearray(capacity), bytearray(capacity if count > 1 else 0)]
            crcs: list[int] = []
            block, filled = 0, 0
            need = header.fragment_size(0)
            async for piece in body:
                view = memoryview(piece).cast("B")
                while view:
                    if block >= count:
                        raise InvalidInputError("body is longer than the chunk header announces")
                    take = min(need - filled, len(view))
                    buf = buffers[block % 2]
                    buf[filled : filled + take] = view[:take]
                    filled += take
                    view = view[take:]
                    if filled < need:
                        continue
                    if pending is not None:
                        crcs.append(await pending)
                    pending = loop.run_in_executor(
                        disk.executor,
                        _guard,
                        disk,
                        action,
                        write.write_block,
                        memoryview(buf)[:need],
                    )
                    block, filled = block + 1, 0
                    if block < count:
                        need = header.fragment_size(block)
            if pending is not None:
                fut, pending = pending, None
                crcs.append(await fut)
            if block < count:
                got = payload_size(header, 0, block - 1) + filled if block else filled
                raise IncompleteBodyError(
                    f"body ended after {got} of {payload_size(header, 0, count - 1)} bytes"
                )
            await self._io(disk, action, write.commit)
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
        """Open a chunk for verified block reads of ``first..last`` (default: all blocks)."""
        _check_id(chunk_id)
        disk = self.disks.online(disk_id)
        fd, header = await self._io(disk, f"open chunk {chunk_id}", open_chunk_file, disk, chunk_id)
        lo = 0 if first is None else first
        hi = header.block_count - 1 if last is None else last
        reader = ChunkReader(disk, chunk_id, fd, header, lo, hi)
        try:
            if not 0 <= lo <= hi < header.block_count:
                raise InvalidInputError(
                    f"blocks {lo}..{hi} outside the chunk's 0..{header.block_count - 1}"
                )
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
