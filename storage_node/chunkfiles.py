"""Storage node, chunk-file tier: blocking operations on the chunk files of one disk.

Layout on a disk (nothing is derived from bucket names or object keys)::

    <disk>/chunks/<NNN>/<chunk_id>.chunk    NNN = 000..999 = (first 32 bits of the id * 1000) >> 32
    <disk>/tmp/<chunk_id>.<random>.tmp      writes in progress; removed at start-up

``NNN`` is uniform over random ids and monotonic in the id, so an inventory walks the
subdirectories in order and pages through ids sorted without listing the whole disk.

Durable write (``ChunkWrite``): a temp file gets the header, then each block's fragment bytes
and CRC32C; ``commit`` fsyncs it, hard-links it to its final name (a link never replaces an
existing file: ``ChunkExistsError``), and fsyncs the subdirectory. A crash at any point leaves
either nothing or the complete chunk visible.

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
from pathlib import Path

from wormfs.chunkformat import (
    BLOCK_CRC_SIZE,
    MAX_HEADER_SIZE,
    ChunkFormatError,
    ChunkHeader,
    TruncatedChunkError,
    check_block,
    seal_block,
)
from wormfs.errors import (
    ChunkExistsError,
    CorruptChunkError,
    IncompleteBodyError,
    NoSuchChunkError,
)
from wormfs.ids import is_id, new_id
from wormfs.storage_node.disks import CHUNK_SUFFIX, Disk, fsync_dir
from wormfs.wire.storage import InventoryEntry, InventoryPage, VerifyResult

SUBDIRS = 1000
# Hard links never replace an existing name; these errnos mean the file system has none.
_NO_HARD_LINKS = frozenset({errno.EPERM, errno.EOPNOTSUPP, errno.ENOTSUP, errno.EMLINK})


# ---- paths and geometry -----------------------------------------------------------------------
def chunk_subdir(chunk_id: str) -> str:
    """The subdirectory of ``chunks/`` holding a chunk (uniform, and monotonic in the id)."""
    return f"{(int(chunk_id[:8], 16) * SUBDIRS) >> 32:03d}"


def chunk_path(disk: Disk, chunk_id: str) -> Path:
    return disk.chunks_dir / chunk_subdir(chunk_id) / f"{chunk_id}{CHUNK_SUFFIX}"


def write_all(fd: int, parts: list[memoryview]) -> None:
    """Write every byte of ``parts`` (one ``writev`` in the common case)."""
    while parts:
        written = os.writev(fd, parts)
        if written <= 0:
            raise OSError(errno.EIO, "write made no progress")
        # Regular files rarely write short (a signal, a nearly full disk): resume after it.
        while written and parts:
            if written >= len(parts[0]):
                written -= len(parts[0])
                parts.pop(0)
            else:
                parts[0] = parts[0][written:]
                written = 0


def chunk_missing(disk: Disk, chunk_id: str) -> NoSuchChunkError:
    # ENOENT may mean the disk itself vanished (unmounted, removed): then it goes offline.
    disk.check_alive()
    return NoSuchChunkError(f"chunk {chunk_id} is not on disk {disk.disk_id}")


# ---- writes (thread side) ---------------------------------------------------------------------
class ChunkWrite:
    """One chunk being written to a temp file; ``commit`` makes it visible, ``abort`` drops it.

    ``write_block``, ``commit`` and ``abort`` take one lock so that an abort issued while a
    block write is still running waits for it instead of closing the file under it.
    """

    def __init__(self, disk: Disk, header: ChunkHeader) -> None:
        self.disk = disk
        self.header = header
        self.final = chunk_path(disk, header.chunk_id)
        self.tmp = disk.tmp_dir / f"{header.chunk_id}.{new_id()[:12]}.tmp"
        self.size = header.file_size
        self.fd: int | None = None
        self.reserved = False
        self.done = False
        self._lock = threading.Lock()

    def begin(self) -> None:
        if os.path.lexists(self.final):
            raise ChunkExistsError(f"chunk {self.header.chunk_id} exists on {self.disk.disk_id}")
        self.disk.reserve(self.size)
        self.reserved = True
        with self._lock:
            self.fd = os.open(self.tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o644)
            write_all(self.fd, [memoryview(self.header.encode())])

    def write_block(self, fragment: memoryview) -> int:
        trailer = seal_block(fragment)
        with self._lock:
            if self.fd is None:
                raise IncompleteBodyError("chunk write was aborted")
            self.disk.check_online()  # a disk that failed meanwhile takes no more writes
            write_all(self.fd, [fragment, memoryview(trailer)])
        return int.from_bytes(trailer, "big")

    def commit(self) -> None:
        with self._lock:
            if self.fd is None:
                raise IncompleteBodyError("chunk write was aborted")
            self.disk.check_online()
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
            if self.fd is not None:
                with contextlib.suppress(OSError):
                    os.close(self.fd)
                self.fd = None
            if not self.done:
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


def read_block(fd: int, header: ChunkHeader, block: int) -> bytes:
    """Block ``block``'s fragment bytes and CRC, verified.

    A fresh ``bytes`` per block on purpose: the HTTP transport keeps references to what it was
    given until the socket takes it, so a reused buffer could be overwritten while still
    queued; malloc recycles these allocations, so they cost no more than a reused buffer.
    """
    size = header.fragment_size(block)
    data = os.pread(fd, size + BLOCK_CRC_SIZE, header.block_offset(block))
    if len(data) < size + BLOCK_CRC_SIZE:
        raise TruncatedChunkError(f"block {block} runs past the end of the file")
    view = memoryview(data)
    check_block(block, view[:size], view[size:])
    return data


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
