"""Storage node, chunk-file tier: blocking operations on the chunk files of one disk.

Layout on a disk (nothing is derived from bucket names or object keys)::

    <disk>/chunks/<NNN>/<chunk_id>.chunk    NNN = 000..999 = (first 32 bits of the id * 1000) >> 32
    <disk>/tmp/<chunk_id>.<random>.tmp      writes in progress; removed at start-up

``NNN`` is uniform over random ids and monotonic in the id, so an inventory walks the
subdirectories in order and pages through ids sorted without listing the whole disk.

Durable write (``ChunkWrite``): a temp file gets the header, then each block's fragment bytes
and CRC32C, a few blocks per call (``write_blocks``, one ``writev`` straight from the buffers
the network delivered); the commit, done by the call carrying the last block, fsyncs it,
hard-links it to its final name (a link never replaces an existing file: ``ChunkExistsError``),
and fsyncs the subdirectory. A crash at any point leaves either nothing or the complete chunk
visible.

Every function here blocks and raises storage-tier errors (``OSError``, ``ChunkFormatError``)
besides the few domain errors that only this level can tell (no such chunk, chunk exists, a
file holding another chunk); ``wormfs.storage_node.chunkstore`` runs them in the disk's thread
pool and maps the rest to domain errors.
"""

from __future__ import annotations

import contextlib
import errno
import os
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import NamedTuple

from wormfs.errors import (
    ChunkExistsError,
    CorruptChunkError,
    IncompleteBodyError,
    InvalidInputError,
    NoSuchChunkError,
)
from wormfs.format.chunkformat import (
    BLOCK_CRC_SIZE,
    MAX_HEADER_SIZE,
    ChunkFormatError,
    ChunkHeader,
    TruncatedChunkError,
    block_trailer,
    check_block,
    crc32c_of_parts,
)
from wormfs.ids import is_id, new_id
from wormfs.storage_node.disks import CHUNK_SUFFIX, Disk, fsync_dir
from wormfs.wire.storage import InventoryEntry, InventoryPage, VerifyResult

SUBDIRS = 1000
IOV_MAX = os.sysconf("SC_IOV_MAX") if hasattr(os, "sysconf") else 1024
WRITE_CALL_BYTES = 256 * 1024  # bytes per writev (see write_all)
Buffer = bytes | memoryview
# Hard links never replace an existing name; these errnos mean the file system has none.
_NO_HARD_LINKS = frozenset({errno.EPERM, errno.EOPNOTSUPP, errno.ENOTSUP, errno.EMLINK})


# ---- paths and geometry -----------------------------------------------------------------------
def chunk_subdir(chunk_id: str) -> str:
    """The subdirectory of ``chunks/`` holding a chunk (uniform, and monotonic in the id)."""
    return f"{(int(chunk_id[:8], 16) * SUBDIRS) >> 32:03d}"


def chunk_path(disk: Disk, chunk_id: str) -> Path:
    return disk.chunks_dir / chunk_subdir(chunk_id) / f"{chunk_id}{CHUNK_SUFFIX}"


def write_all(fd: int, parts: Sequence[Buffer], max_call: int = WRITE_CALL_BYTES) -> None:
    """Write every byte of ``parts`` in order, ``writev`` by ``writev`` of ``max_call`` bytes.

    Why not one call for everything: the kernel sizes the page-cache folios it allocates by
    the length of the write, and on the benchmark machine (docs/performance.md) 1 MiB writes
    at times cost four to five times more kernel CPU per byte than 256 KiB ones (it depends on
    the state of free memory; at other times they cost the same). A system call per 256 KiB
    costs next to nothing by comparison.
    """
    calls: list[list[memoryview]] = [[]]
    room = max_call
    for part in parts:
        view = memoryview(part)
        while view:
            if room == 0 or len(calls[-1]) == IOV_MAX:
                calls.append([])
                room = max_call
            piece = view[:room]
            calls[-1].append(piece)
            room -= len(piece)
            view = view[len(piece) :]
    for call in calls:
        _writev_all(fd, call)


def _writev_all(fd: int, views: list[memoryview]) -> None:
    start = 0
    while start < len(views):
        written = os.writev(fd, views[start:])
        if written <= 0:
            raise OSError(errno.EIO, "write made no progress")
        # Regular files rarely write short (a signal, a nearly full disk): resume after it.
        while written:
            if written >= len(views[start]):
                written -= len(views[start])
                start += 1
            else:
                views[start] = views[start][written:]
                written = 0


def chunk_missing(disk: Disk, chunk_id: str) -> NoSuchChunkError:
    # ENOENT may mean the disk itself vanished (unmounted, removed): then it goes offline.
    disk.check_alive()
    return NoSuchChunkError(f"chunk {chunk_id} is not on disk {disk.disk_id}")


# ---- writes (thread side) ---------------------------------------------------------------------
class ChunkWrite:
    """One chunk being written to a temp file; the last ``write_blocks`` commits it.

    ``write_blocks`` (which creates the temp file on its first call) and ``abort`` take one
    lock so that an abort issued while a write is still running waits for it instead of
    closing the file under it. Calls are sequential: the file is written at its offset.
    """

    def __init__(self, disk: Disk, header: ChunkHeader) -> None:
        self.disk = disk
        self.header = header
        self.final = chunk_path(disk, header.chunk_id)
        self.tmp = disk.tmp_dir / f"{header.chunk_id}.{new_id()[:12]}.tmp"
        self.size = header.file_size
        self.fd: int | None = None
        self.reserved = False
        self.created = False  # the temp file exists (until committed or aborted)
        self.done = False
        self.aborted = False
        self._lock = threading.Lock()

    def write_blocks(self, blocks: Sequence[Sequence[Buffer]], commit: bool = False) -> list[int]:
        """Append whole blocks, each given as the pieces of its fragment, with their CRCs.

        The first call refuses an existing chunk and a full disk, then creates the temp file
        with the header; ``commit`` makes the chunk durable and visible once the blocks are
        written (the caller passes the chunk's last block with it). One ``writev`` carries
        header, fragments and CRCs alike: nothing is copied on the way to the kernel.
        Returns the blocks' CRC32Cs.
        """
        crcs: list[int] = []
        parts: list[Buffer] = []
        for pieces in blocks:
            crc = crc32c_of_parts(pieces)
            crcs.append(crc)
            parts.extend(pieces)
            parts.append(block_trailer(crc))
        with self._lock:
            if self.aborted or self.done:
                raise IncompleteBodyError("chunk write was aborted")
            self.disk.check_online()  # a disk that failed meanwhile takes no more writes
            if not self.created:
                self._begin()
                parts.insert(0, self.header.encode())
            assert self.fd is not None
            write_all(self.fd, parts)
            if commit:
                self._commit()
        return crcs

    def _begin(self) -> None:
        if os.path.lexists(self.final):
            raise ChunkExistsError(f"chunk {self.header.chunk_id} exists on {self.disk.disk_id}")
        self.disk.reserve(self.size)
        self.reserved = True
        self.fd = os.open(self.tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o644)
        self.created = True

    def _commit(self) -> None:
        assert self.fd is not None
        # Data first: the final name must never point at bytes that are not on disk.
        os.fsync(self.fd)
        os.close(self.fd)
        self.fd = None
        self._ensure_subdir()
        self._link()
        self.done = True
        with contextlib.suppress(OSError):
            os.unlink(self.tmp)  # a leftover is harmless: start-up removes it
        # The new name itself must survive a crash before the write is acknowledged.
        fsync_dir(self.final.parent)
        self._release()
        self.disk.chunk_added(self.size)

    def _ensure_subdir(self) -> None:
        name = self.final.parent.name
        if name in self.disk.durable_subdirs:
            return
        with contextlib.suppress(FileExistsError):
            os.mkdir(self.final.parent)
        # Whoever created it, its entry in chunks/ must be durable before a chunk in it is.
        fsync_dir(self.disk.chunks_dir)
        self.disk.durable_subdirs.add(name)

    def _link(self) -> None:
        try:
            os.link(self.tmp, self.final)
        except FileExistsError:
            raise ChunkExistsError(
                f"chunk {self.header.chunk_id} exists on {self.disk.disk_id}"
            ) from None
        except OSError as exc:
            if exc.errno not in _NO_HARD_LINKS:
                raise
            # No hard links here: check-then-rename, made safe by the namespace lock (this
            # process alone writes the disk, enforced by the disk's flock).
            with self.disk.namespace_lock:
                if os.path.lexists(self.final):
                    raise ChunkExistsError(
                        f"chunk {self.header.chunk_id} exists on {self.disk.disk_id}"
                    ) from None
                os.rename(self.tmp, self.final)

    def abort(self) -> None:
        with self._lock:
            self.aborted = True
            if self.fd is not None:
                with contextlib.suppress(OSError):
                    os.close(self.fd)
                self.fd = None
            if self.created and not self.done:
                with contextlib.suppress(OSError):
                    os.unlink(self.tmp)
            self._release()

    def _release(self) -> None:
        if self.reserved:
            self.reserved = False
            self.disk.release(self.size)


# ---- reads ------------------------------------------------------------------------------------
def open_chunk_file(disk: Disk, chunk_id: str) -> tuple[int, ChunkHeader]:
    """An open descriptor of the chunk and its verified header (the caller closes the fd)."""
    try:
        fd = os.open(chunk_path(disk, chunk_id), os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError:
        raise chunk_missing(disk, chunk_id) from None
    try:
        header = ChunkHeader.decode(os.pread(fd, MAX_HEADER_SIZE, 0))
        if header.chunk_id != chunk_id:
            raise CorruptChunkError(f"file of chunk {chunk_id} holds chunk {header.chunk_id}")
    except BaseException:
        os.close(fd)
        raise
    return fd, header


class BlockRun(NamedTuple):
    """Verified blocks ``first .. first + len(fragments) - 1`` of a chunk, read with one pread.

    ``error`` is set when the block right after them failed (bad CRC, truncated): the run ends
    there and that block's reader gets the error, while the blocks before it are still served.
    """

    first: int
    fragments: list[memoryview]  # fragment bytes of each block (no CRC)
    error: ChunkFormatError | None


def read_blocks(fd: int, header: ChunkHeader, first: int, last: int, max_bytes: int) -> BlockRun:
    """Blocks ``first..last`` (as many as make about ``max_bytes``, at least one), verified.

    One ``pread`` for the whole run (blocks lie back to back), so that a chunk streams in few
    calls. A bad first block raises its ``ChunkFormatError``; a bad later block ends the run.
    The buffer is fresh on purpose: the HTTP transport keeps references to what it was given
    until the socket takes it, so a reused buffer could be overwritten while still queued.
    """
    stride = header.fragment_size(0) + BLOCK_CRC_SIZE
    end = min(last, first + max(1, -(-max_bytes // stride)) - 1)
    start = header.block_offset(first)
    length = header.block_offset(end) + header.fragment_size(end) + BLOCK_CRC_SIZE - start
    data = os.pread(fd, length, start)
    view = memoryview(data)
    fragments: list[memoryview] = []
    pos = 0
    for block in range(first, end + 1):
        size = header.fragment_size(block)
        crc_end = pos + size + BLOCK_CRC_SIZE
        try:
            if crc_end > len(data):
                raise TruncatedChunkError(f"block {block} runs past the end of the file")
            check_block(block, view[pos : pos + size], view[pos + size : crc_end])
        except ChunkFormatError as exc:
            if not fragments:
                raise
            return BlockRun(first, fragments, exc)
        fragments.append(view[pos : pos + size])
        pos = crc_end
    return BlockRun(first, fragments, None)


def open_for_read(
    disk: Disk, chunk_id: str, first: int | None, last: int | None, max_bytes: int
) -> tuple[int, ChunkHeader, int, int, BlockRun]:
    """Open a chunk for reads of blocks ``first..last`` (default: all) and read the first run.

    Returns the descriptor (the caller closes it), the verified header, the resolved block
    range and the first run: one call, so that a small chunk is served in one thread hop. A
    bad first block does not fail the open: the run is empty and carries its error, which the
    reader of that block gets.
    """
    fd, header = open_chunk_file(disk, chunk_id)
    try:
        lo = 0 if first is None else first
        hi = header.block_count - 1 if last is None else last
        if not 0 <= lo <= hi < header.block_count:
            raise InvalidInputError(
                f"blocks {lo}..{hi} outside the chunk's 0..{header.block_count - 1}"
            )
        try:
            run = read_blocks(fd, header, lo, hi, max_bytes)
        except ChunkFormatError as exc:
            run = BlockRun(lo, [], exc)
    except BaseException:
        os.close(fd)
        raise
    return fd, header, lo, hi, run


# ---- head, verify, inventory, delete ---------------------------------------------------------
def head_chunk(disk: Disk, chunk_id: str) -> ChunkHeader:
    fd, header = open_chunk_file(disk, chunk_id)
    try:
        size = os.fstat(fd).st_size
    finally:
        os.close(fd)
    if size != header.file_size:
        raise CorruptChunkError(
            f"chunk {chunk_id} file is {size} bytes, its header says {header.file_size}"
        )
    return header


def verify_chunk(disk: Disk, chunk_id: str) -> VerifyResult:
    def result(bad: list[int], error: str) -> VerifyResult:
        ok = not bad and not error
        return VerifyResult(
            disk_id=disk.disk_id, chunk_id=chunk_id, ok=ok, bad_blocks=bad, error=error
        )

    try:
        fd, header = open_chunk_file(disk, chunk_id)
    except (ChunkFormatError, CorruptChunkError) as exc:
        return result([], f"bad header: {exc}")
    try:
        bad: list[int] = []
        buf = bytearray(header.fragment_size(0) + BLOCK_CRC_SIZE)  # only this thread uses it
        view = memoryview(buf)
        for block in range(header.block_count):
            size = header.fragment_size(block)
            got = os.preadv(fd, [view[: size + BLOCK_CRC_SIZE]], header.block_offset(block))
            try:
                if got < size + BLOCK_CRC_SIZE:
                    raise TruncatedChunkError(f"block {block} is truncated")
                check_block(block, view[:size], view[size : size + BLOCK_CRC_SIZE])
            except ChunkFormatError:
                bad.append(block)
        extra = os.fstat(fd).st_size - header.file_size
    finally:
        os.close(fd)
    error = f"{len(bad)} bad blocks" if bad else ""
    if extra > 0:
        error = (error + "; " if error else "") + f"{extra} trailing bytes after the last block"
    return result(bad, error)


def inventory_page(disk: Disk, after: str | None, limit: int) -> InventoryPage:
    entries: list[InventoryEntry] = []
    start = int(chunk_subdir(after)) if after else 0
    for index in range(start, SUBDIRS):
        subdir = disk.chunks_dir / f"{index:03d}"
        try:
            names = os.listdir(subdir)
        except FileNotFoundError:
            continue
        ids = sorted(
            n[: -len(CHUNK_SUFFIX)]
            for n in names
            if n.endswith(CHUNK_SUFFIX) and is_id(n[: -len(CHUNK_SUFFIX)])
        )
        for chunk_id in ids:
            if after is not None and chunk_id <= after:
                continue
            try:
                st = os.stat(subdir / f"{chunk_id}{CHUNK_SUFFIX}")
            except FileNotFoundError:
                continue  # deleted while we listed
            entries.append(
                InventoryEntry(chunk_id=chunk_id, file_size=st.st_size, mtime=st.st_mtime)
            )
            if len(entries) == limit:
                return InventoryPage(disk_id=disk.disk_id, chunks=entries, next_after=chunk_id)
    return InventoryPage(disk_id=disk.disk_id, chunks=entries, next_after=None)


def delete_chunks(disk: Disk, chunk_ids: list[str]) -> tuple[list[str], list[str]]:
    """Unlink chunks, then fsync each touched subdirectory once. Returns (deleted, missing).

    A delete lost to a crash before the fsync only brings back a chunk that the coordinator
    no longer references; garbage collection finds it again through the inventory.
    """
    deleted: list[str] = []
    missing: list[str] = []
    touched: set[Path] = set()
    for chunk_id in chunk_ids:
        path = chunk_path(disk, chunk_id)
        try:
            size = os.stat(path).st_size
            os.unlink(path)
        except FileNotFoundError:
            chunk_missing(disk, chunk_id)  # raises OSError if the disk itself is gone
            missing.append(chunk_id)
            continue
        disk.chunk_removed(size)
        deleted.append(chunk_id)
        touched.add(path.parent)
    for subdir in touched:
        fsync_dir(subdir)
    return deleted, missing
