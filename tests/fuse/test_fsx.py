"""The fsx-style verifier (tests/fsx.py) on the mount: random pwrite/pread/truncate/mmap/fsync
and reopen on one file, checked against a shadow copy, with remounts between rounds and the
final bytes checked through S3 GET as well."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import fsx
import pytest
from mounting import BUCKET, Mounted

pytestmark = pytest.mark.fuse

ROUNDS = 3
OPERATIONS = 400
MAX_SIZE = 3 * 1024 * 1024  # several stripes (1 MiB) and far above the inline limit
MAX_IO = 128 * 1024


@pytest.mark.parametrize("use_mmap", [False, True], ids=["plain", "mmap"])
def test_random_io_matches_a_shadow_across_remounts(
    root: Path, mount: Mounted, s3: Any, use_mmap: bool
) -> None:
    _exercise(root, mount, s3, use_mmap, ROUNDS, OPERATIONS)


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_many_thousands_of_operations_per_seed(root: Path, mount: Mounted, s3: Any) -> None:
    # 10,000 operations on one seed's file; every commit rewrites the whole file today, so
    # this takes about two minutes on two cores.
    _exercise(root, mount, s3, True, rounds=5, operations=2000)


def _exercise(
    root: Path, mount: Mounted, s3: Any, use_mmap: bool, rounds: int, operations: int
) -> None:
    path = root / "fsx.bin"
    shadow: bytearray | None = None
    counts: dict[str, int] = {}
    for round_ in range(rounds):
        stats, shadow = fsx.run(
            path,
            seed=1000 * round_ + int(use_mmap),
            operations=operations,
            max_size=MAX_SIZE,
            max_io=MAX_IO,
            use_mmap=use_mmap,
            shadow=shadow,
        )
        for name, n in stats.operations.items():
            counts[name] = counts.get(name, 0) + n
        # A new mount process: nothing is served from the last one's memory or page cache.
        mount.stop()
        mount.start()
        fsx.verify_whole(path, shadow)
    assert shadow is not None
    assert counts["write"] > 0 and counts["truncate"] > 0 and counts["reopen"] > 0
    if use_mmap:
        assert counts["mapwrite"] > 0 and counts["mapread"] > 0
    key = str(path.relative_to(mount.mountpoint))
    got = s3.get_object(Bucket=BUCKET, Key=key)["Body"].read()
    assert got == bytes(shadow), "S3 GET returns other bytes than the mount wrote"
    assert os.stat(path).st_size == len(shadow)
