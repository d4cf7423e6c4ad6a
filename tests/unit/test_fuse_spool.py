"""The write-back spool: in memory while small, then a file, with the same bytes either way."""

from __future__ import annotations

import os
from pathlib import Path

from wormfs.fuse.spool import MEMORY_MAX, Spool


async def contents(spool: Spool) -> bytes:
    return b"".join([piece async for piece in spool.pieces()])


async def test_a_small_spool_stays_in_memory_and_makes_no_file(tmp_path: Path) -> None:
    spool = await Spool.create(tmp_path / "spool")
    await spool.write(0, b"hello")
    await spool.write(10, b"world")  # a hole of zeros between
    await spool.truncate(12)
    assert spool.in_memory and spool.size == 12
    assert await spool.read_all() == b"hello\0\0\0\0\0wo"
    assert await spool.read(3, 100) == b"lo\0\0\0\0\0wo"
    assert await spool.read(12, 5) == b""
    await spool.truncate(MEMORY_MAX)  # up to the bound: still in memory
    assert spool.in_memory and len(await spool.read_all()) == MEMORY_MAX
    assert not (tmp_path / "spool").exists()
    await spool.save_copy(tmp_path / "kept" / "f")
    assert (tmp_path / "kept" / "f").read_bytes() == await spool.read_all()
    await spool.close()


async def test_growing_past_the_bound_moves_the_bytes_to_a_file(tmp_path: Path) -> None:
    spool = await Spool.create(tmp_path / "spool")
    head = os.urandom(1000)
    await spool.write(0, head)
    tail = os.urandom(5000)
    await spool.write(MEMORY_MAX - 10, tail)  # crosses the bound
    assert not spool.in_memory
    assert spool.size == MEMORY_MAX - 10 + len(tail)
    expected = head + bytes(MEMORY_MAX - 10 - len(head)) + tail
    assert await contents(spool) == expected
    assert [p for p in (tmp_path / "spool").iterdir()] == []  # unlinked at once
    await spool.truncate(500)  # stays a file
    assert not spool.in_memory and await spool.read_all() == head[:500]
    await spool.truncate(3 * MEMORY_MAX)
    assert await spool.read(400, 200) == head[400:500] + bytes(100)
    await spool.save_copy(tmp_path / "kept")
    assert (tmp_path / "kept").read_bytes() == head[:500] + bytes(3 * MEMORY_MAX - 500)
    await spool.close()


async def test_a_truncate_past_the_bound_moves_to_a_file(tmp_path: Path) -> None:
    spool = await Spool.create(tmp_path)
    await spool.write(0, b"abc")
    await spool.truncate(MEMORY_MAX + 1)
    assert not spool.in_memory and spool.size == MEMORY_MAX + 1
    assert await spool.read(0, 5) == b"abc\0\0"
    await spool.close()
