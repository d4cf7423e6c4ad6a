"""The write-back spool: an open-for-write file's bytes, in memory while small, else a sparse
local file.

Layer: fuse. Contract: one ``Spool`` per inode open for writing. It starts in memory and stays
there while it holds at most ``MEMORY_MAX`` bytes (a small file costs no file and no thread
hop); the first write or truncate beyond that moves it to a file under
``<cache-dir>/spool/`` (unlinked from the directory at once, so a crash leaves nothing behind;
held by its descriptor), where it stays. Writes and truncates change it; holes read as zeros
(in memory: zero bytes; in the file: the kernel's sparse file). Every call that touches the
disk does so in an executor thread, never the event loop (invariant 5). ``pieces`` reads it
back in order for the writer; ``save_copy`` writes its bytes to a path (the conflicts
directory) without disturbing it.
"""

from __future__ import annotations

import asyncio
import os
import tempfile
from collections.abc import AsyncIterator, Iterable, Iterator
from pathlib import Path

PIECE = 1024 * 1024  # bytes read per executor hop when the spool is read back
MEMORY_MAX = 64 * 1024  # bytes a spool holds in memory before it moves to its file


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


def _copy(pieces: Iterable[bytes], target: Path) -> None:
    """Durably, and whole or not at all: written beside ``target``, fsynced, renamed."""
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f".{target.name}.partial")
    with partial.open("wb") as out:
        for piece in pieces:
            out.write(piece)
        out.flush()
        os.fsync(out.fileno())
    os.replace(partial, target)


def _make_file(directory: Path, data: bytes) -> int:
    directory.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix="spool-", dir=directory)
    os.unlink(name)
    try:
        if data:
            os.pwrite(fd, data, 0)
    except BaseException:
        os.close(fd)
        raise
    return fd


class Spool:
    def __init__(self, directory: Path) -> None:
        self._directory = directory
        self._memory: bytearray | None = bytearray()  # the bytes, until they move to a file
        self._fd = -1
        self.size = 0

    @classmethod
    async def create(cls, directory: Path) -> Spool:
        """A spool whose file, when it needs one, goes in ``directory``."""
        return cls(directory)

    @property
    def in_memory(self) -> bool:
        return self._memory is not None

    async def _to_file(self) -> None:
        if self._memory is not None:
            self._fd = await asyncio.to_thread(_make_file, self._directory, bytes(self._memory))
            self._memory = None

    async def write(self, offset: int, data: bytes) -> None:
        end = offset + len(data)
        memory = self._memory
        if memory is not None and end <= MEMORY_MAX:
            if offset > len(memory):
                memory.extend(bytes(offset - len(memory)))
            memory[offset:end] = data
            self.size = len(memory)
            return
        await self._to_file()
        await asyncio.to_thread(os.pwrite, self._fd, data, offset)
        self.size = max(self.size, end)

    async def read(self, offset: int, length: int) -> bytes:
        """Up to ``length`` bytes at ``offset`` (fewer at the end; holes are zeros)."""
        length = max(0, min(length, self.size - offset))
        if length == 0:
            return b""
        if self._memory is not None:
            return bytes(self._memory[offset : offset + length])
        data = await asyncio.to_thread(os.pread, self._fd, length, offset)
        return data + bytes(length - len(data))

    async def truncate(self, size: int) -> None:
        memory = self._memory
        if memory is not None and size <= MEMORY_MAX:
            if size < len(memory):
                del memory[size:]
            else:
                memory.extend(bytes(size - len(memory)))
            self.size = size
            return
        await self._to_file()
        await asyncio.to_thread(os.ftruncate, self._fd, size)
        self.size = size

    async def read_all(self) -> bytes:
        """The whole spool (only for small files: inline objects and symlink targets)."""
        if self._memory is not None:
            return bytes(self._memory)
        return await asyncio.to_thread(_read_all, self._fd, self.size)

    async def save_copy(self, target: Path) -> None:
        if self._memory is not None:
            await asyncio.to_thread(_copy, [bytes(self._memory)], target)
        else:
            await asyncio.to_thread(_copy, _chunks(self._fd, self.size), target)

    async def pieces(self) -> AsyncIterator[bytes]:
        offset = 0
        while offset < self.size:
            piece = await self.read(offset, PIECE)
            yield piece
            offset += len(piece)

    async def close(self) -> None:
        self._memory = None
        if self._fd >= 0:
            fd, self._fd = self._fd, -1
            await asyncio.to_thread(os.close, fd)


class SpoolBody:
    """The spool as the ``BodySource`` ``ObjectWriter`` reads (pieces of up to 1 MiB)."""

    def __init__(self, spool: Spool) -> None:
        self._pieces = spool.pieces()

    async def read(self) -> bytes:
        return await anext(self._pieces, b"")
