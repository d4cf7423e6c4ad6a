"""The model-based test's machinery (tests/fsmodel.py) over two local directories: two copies
of one file system must agree on every sequence, and a target that drifts must be caught."""

from __future__ import annotations

import os
from pathlib import Path

import fsmodel
import pytest
from hypothesis import HealthCheck, Phase, settings
from hypothesis.stateful import run_state_machine_as_test


def _fresh(tmp_path: Path) -> tuple[Path, Path]:
    target, reference = tmp_path / "target", tmp_path / "reference"
    for root in (target, reference):
        if root.exists():
            for directory, dirnames, filenames in os.walk(root, topdown=False):
                for name in filenames:
                    os.unlink(os.path.join(directory, name))
                for name in dirnames:
                    os.rmdir(os.path.join(directory, name))
        else:
            root.mkdir()
    return target, reference


SETTINGS = settings(
    max_examples=40,
    stateful_step_count=30,
    deadline=None,
    # No shrinking: the failing sequence is printed as found, and shrinking one over real
    # processes would outlast the test's timeout.
    phases=(Phase.explicit, Phase.generate),
    database=None,  # the same sequences here and on a fresh checkout (CI)
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


def test_two_copies_of_one_file_system_agree(tmp_path: Path) -> None:
    target, reference = tmp_path / "target", tmp_path / "reference"
    trees = fsmodel.Trees(target, reference)
    machine = fsmodel.make_machine(target, reference, trees=trees)

    class Fresh(machine):  # type: ignore[misc, valid-type]
        def __init__(self) -> None:
            _fresh(tmp_path)
            super().__init__()

    run_state_machine_as_test(Fresh, settings=SETTINGS)
    wanted = {"create", "write_at", "truncate", "rename", "unlink", "mkdir", "rmdir", "chmod"}
    assert wanted <= set(trees.succeeded), trees.succeeded


def test_a_target_that_loses_writes_is_caught(tmp_path: Path) -> None:
    target, reference = tmp_path / "target", tmp_path / "reference"
    calls: list[str] = []

    # An "S3 side" that stores and deletes nothing: the target never shows the change.
    side = fsmodel.S3Side(
        put=lambda key, data: calls.append(f"put {key}"),
        delete=lambda key: calls.append(f"delete {key}"),
        settle=lambda key: None,
    )
    machine = fsmodel.make_machine(target, reference, side)

    class Fresh(machine):  # type: ignore[misc, valid-type]
        def __init__(self) -> None:
            _fresh(tmp_path)
            super().__init__()

    with pytest.raises(AssertionError, match=r"trees differ|target .* != reference"):
        run_state_machine_as_test(Fresh, settings=SETTINGS)
    assert calls  # caught because of the lost S3 change, not anything else


def test_snapshot_reads_types_sizes_modes_and_bytes(tmp_path: Path) -> None:
    (tmp_path / "d").mkdir(mode=0o750)
    (tmp_path / "d" / "f").write_bytes(b"abc")
    os.chmod(tmp_path / "d", 0o750)
    os.chmod(tmp_path / "d" / "f", 0o600)
    assert fsmodel.snapshot(tmp_path) == {
        "d": ("dir", 0, 0o750, b""),
        "d/f": ("file", 3, 0o600, b"abc"),
    }
