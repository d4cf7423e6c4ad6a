"""The fsx-style verifier (tests/fsx.py) on a local file system: it must pass where the file
system is right and catch a byte changed behind its back, or the mount's fsx runs prove nothing."""

from __future__ import annotations

import os
from pathlib import Path

import fsx
import pytest


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_a_correct_file_system_passes_every_operation(tmp_path: Path, seed: int) -> None:
    stats, shadow = fsx.run(tmp_path / "f", seed, 3000, max_size=256 * 1024, max_io=16 * 1024)
    assert set(stats.operations) == {
        "write",
        "read",
        "truncate",
        "fsync",
        "reopen",
        "mapread",
        "mapwrite",
    }
    assert (tmp_path / "f").read_bytes() == bytes(shadow)


def test_a_run_resumes_from_the_shadow_of_the_last(tmp_path: Path) -> None:
    _, shadow = fsx.run(tmp_path / "f", 7, 500, max_size=64 * 1024, max_io=4096)
    _, again = fsx.run(tmp_path / "f", 8, 500, max_size=64 * 1024, max_io=4096, shadow=shadow)
    assert (tmp_path / "f").read_bytes() == bytes(again)


def test_a_changed_byte_is_caught_with_the_operation_log(tmp_path: Path) -> None:
    path = tmp_path / "f"
    exerciser = fsx.Exerciser(path, 5, 64 * 1024, 4096, use_mmap=False)
    try:
        while len(exerciser.shadow) < 100:
            exerciser.write()
        flipped = bytes([exerciser.shadow[10] ^ 0xFF])
        fd = os.open(path, os.O_WRONLY)
        try:
            os.pwrite(fd, flipped, 10)
        finally:
            os.close(fd)
        with pytest.raises(fsx.Miscompare, match=r"first difference at \+10 .*seed 5"):
            exerciser.check("read", 0, os.pread(exerciser.fd, 100, 0))
    finally:
        exerciser.close()
    with pytest.raises(fsx.Miscompare, match="first difference at 10"):
        fsx.verify_whole(path, exerciser.shadow)


def test_a_short_file_is_a_miscompare(tmp_path: Path) -> None:
    path = tmp_path / "f"
    exerciser = fsx.Exerciser(path, 9, 64 * 1024, 4096, use_mmap=False)
    try:
        while len(exerciser.shadow) < 100:
            exerciser.write()
        os.truncate(path, 50)
        with pytest.raises(fsx.Miscompare, match="size 50 after reopen"):
            exerciser.reopen()
    finally:
        exerciser.close()


def test_first_difference() -> None:
    assert fsx.first_difference(b"abc", b"abc") is None
    assert fsx.first_difference(b"abd", b"abc") == 2
    assert fsx.first_difference(b"ab", b"abc") == 2
