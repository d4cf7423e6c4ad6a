"""Model-based: random sequences of file-system operations and S3 PUT/DELETE on the mount and,
in parallel, on a reference directory of a local file system (tests/fsmodel.py); results,
errnos, directory listings, sizes, modes and contents must agree after every step."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

import fsmodel
import pytest
from hypothesis import HealthCheck, Phase, settings
from hypothesis.stateful import run_state_machine_as_test
from mounting import BUCKET, Mounted
from waiting import wait_until

pytestmark = pytest.mark.fuse

SETTINGS = settings(
    max_examples=int(os.environ.get("WORMFS_MODEL_EXAMPLES", "40")),
    stateful_step_count=40,
    deadline=None,
    # No shrinking: the failing sequence is printed as found, and shrinking one over real
    # processes would outlast the test's timeout.
    phases=(Phase.explicit, Phase.generate),
    database=None,  # the same sequences here and on a fresh checkout (CI)
    derandomize=True,  # the same sequences on every run; more with WORMFS_MODEL_EXAMPLES
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


def _empty(path: Path) -> None:
    for entry in list(path.iterdir()):
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry)
        else:
            entry.unlink()


def test_the_mount_behaves_as_a_local_file_system(
    root: Path, mount: Mounted, s3: Any, tmp_path: Path
) -> None:
    reference = tmp_path / "reference"
    reference.mkdir()
    prefix = str(root.relative_to(mount.mountpoint)) + "/"

    def settle(key: str) -> None:
        # An S3 change shows in the mount within the entry/attribute timeouts: wait until the
        # path itself (through the kernel's lookup cache) and the listings match the reference.
        def shown() -> bool:
            ref, got = reference / key, root / key
            if ref.exists() != got.exists():
                return False
            if ref.exists() and ref.read_bytes() != got.read_bytes():
                return False
            return fsmodel.snapshot(root) == fsmodel.snapshot(reference)

        wait_until(shown, timeout=5.0, message=f"the mount shows the S3 change of {key}")

    side = fsmodel.S3Side(
        put=lambda key, data: s3.put_object(Bucket=BUCKET, Key=prefix + key, Body=data),
        delete=lambda key: s3.delete_object(Bucket=BUCKET, Key=prefix + key),
        settle=settle,
    )
    trees = fsmodel.Trees(root, reference)
    machine = fsmodel.make_machine(root, reference, side, trees)

    class Fresh(machine):  # type: ignore[misc, valid-type]
        def __init__(self) -> None:
            _empty(root)
            _empty(reference)
            super().__init__()

    run_state_machine_as_test(Fresh, settings=SETTINGS)
    # Agreement on failures alone would prove little: every kind of step succeeded too.
    wanted = {"create", "write_at", "truncate", "rename", "unlink", "mkdir", "rmdir", "chmod"}
    assert wanted | {"s3_put", "s3_delete"} <= set(trees.succeeded), trees.succeeded
