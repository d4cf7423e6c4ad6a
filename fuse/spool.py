"""The write-back spool: a sparse local file holding an open-for-write file's bytes.

Layer: fuse. Contract: one ``Spool`` per inode open for writing, a file under
``<cache-dir>/spool/`` (unlinked from the directory at once, so a crash leaves nothing behind;
held by its descriptor). Writes and truncates change it; holes read as zeros (the kernel's
sparse file). Every call touches the disk in an executor thread, never the event loop
(invariant 5). ``pieces`` reads it back in order for the writer;
``save_copy`` writes its bytes to a path (the conflicts directory) without disturbing it.
"""

from __future__ import annotations

import asyncio
import os
import tempfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

PIECE = 1024 * 1024  # bytes read per executor hop when the spool is read back


def _chunks(fd: int, size: int) -> Iterator[bytes]:
    """The first ``size`` bytes of ``fd`` in pieces; holes and a short file read as zeros."""
    offset = 0
    while offset < size:
        want = min(PIECE, size - offset)
        piece = os.pread(fd, want, offset)
        piece += bytes(want - len(piece))
        yield piece
        offset += want


def _read_all(fd: int, size: int) -> bytes:
    return b"".join(_chunks(fd, size))


def _copy(fd: int, size: int, target: Path) -> None:
    """Durably, and whole or not at all: written beside ``target``, fsynced, renamed."""
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f".{target.name}.partial")
    with partial.open("wb") as out:
        for piece in _chunks(fd, size):
            out.write(piece)
        out.flush()
        os.fsync(out.fileno())
    os.replace(partial, target)


class Spool:
    def __init__(self, fd: int) -> None:
        self._fd = fd
        self.size = 0

    @classmethod
    async def create(cls, directory: Path) -> Spool:
        def make() -> int:
            directory.mkdir(parents=True, exist_ok=True)
            fd, name = tempfile.mkstemp(prefix="spool-", dir=directory)
            os.unlink(name)
            return fd

        return cls(await asyncio.to_thread(make))

    async def write(self, offset: int, data: bytes) -> None:
        await asyncio.to_thread(os.pwrite, self._fd, data, offset)
        self.size = max(self.size, offset + len(data))

    async def read(self, offset: int, length: int) -> bytes:
        """Up to ``length`` bytes at ``offset`` (fewer at the end; holes are zeros)."""
        length = max(0, min(length, self.size - offset))
        if length == 0:
            return b""
        data = await asyncio.to_thread(os.pread, self._fd, length, offset)
        return data + bytes(length - len(data))

    async def truncate(self, size: int) -> None:
        await asyncio.to_thread(os.ftruncate, self._fd, size)
        self.size = size

    async def read_all(self) -> bytes:
        """The whole spool (only for small files: inline objects and symlink targets)."""
        return await asyncio.to_thread(_read_all, self._fd, self.size)

    async def save_copy(self, target: Path) -> None:
        await asyncio.to_thread(_copy, self._fd, self.size, target)

    async def pieces(self) -> AsyncIterator[bytes]:
        offset = 0
        while offset < self.size:
            piece = await self.read(offset, PIECE)
            yield piece
            offset += len(piece)

    async def close(self) -> None:
        await asyncio.to_thread(os.close, self._fd)


class SpoolBody:
    """The spool as the ``BodySource`` ``ObjectWriter`` reads (pieces of up to 1 MiB)."""

    def __init__(self, spool: Spool) -> None:
        self._pieces = spool.pieces()

    async def read(self) -> bytes:
        return await anext(self._pieces, b"")
