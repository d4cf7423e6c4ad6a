"""A model-based file-system test: random operation sequences on a file system under test and
on a reference directory of a local file system, which must agree step by step.

Layer: test support (not installed). ``make_machine(target, reference, s3=None)`` builds a
hypothesis ``RuleBasedStateMachine`` whose rules each apply one operation to both trees —
create, write at an offset, truncate, rename (files and directories, over existing targets),
unlink, mkdir, rmdir, chmod, fsync, and, given an ``S3Side``, S3 PUTs and DELETEs of the same
keys (the reference applies them as file writes and unlinks) — and compare the outcome (the
result, or the errno of the failure). After every step an invariant compares the two whole
trees: names and types in every directory, sizes, permission bits and file contents.

Names come from a small alphabet (three directory names, four file names, two levels), so
that operations collide often: renames onto existing entries, rmdir of non-empty directories,
creates over existing names. Hard links are not drawn yet.
"""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

DIRS = ("d0", "d1", "d2")
FILES = ("f0", "f1", "f2", "f3")


@dataclass(frozen=True)
class S3Side:
    """S3 operations on the bucket the target mounts: ``put(key, data)`` and ``delete(key)``,
    and ``settle()``, called after each, which returns once the target shows the change."""

    put: Callable[[str, bytes], None]
    delete: Callable[[str], None]
    settle: Callable[[], None]


def _parents() -> st.SearchStrategy[str]:
    return st.sampled_from(["", *DIRS, *(f"{a}/{b}" for a in DIRS for b in DIRS)])


def paths(kind: str = "any") -> st.SearchStrategy[str]:
    names = {"file": FILES, "dir": DIRS, "any": DIRS + FILES}[kind]
    return st.builds(lambda p, n: f"{p}/{n}" if p else n, _parents(), st.sampled_from(names))


def outcome(fn: Callable[[], Any]) -> tuple[str, Any]:
    """("ok", result) or ("errno", code): what both sides must agree on."""
    try:
        return ("ok", fn())
    except OSError as exc:
        return ("errno", errno.errorcode.get(exc.errno or 0, exc.errno))


def snapshot(root: Path) -> dict[str, tuple[str, int, int, bytes]]:
    """Every entry under ``root``: relative path -> (type, size, permission bits, contents)."""
    out: dict[str, tuple[str, int, int, bytes]] = {}
    for directory, dirnames, filenames in os.walk(root):
        base = Path(directory)
        for name in dirnames:
            st_ = (base / name).lstat()
            out[str((base / name).relative_to(root))] = ("dir", 0, stat.S_IMODE(st_.st_mode), b"")
        for name in filenames:
            path = base / name
            st_ = path.lstat()
            out[str(path.relative_to(root))] = (
                "file",
                st_.st_size,
                stat.S_IMODE(st_.st_mode),
                path.read_bytes(),
            )
    return out


class _Trees:
    """The two roots, and one function per operation that applies it under a root."""

    def __init__(self, target: Path, reference: Path) -> None:
        self.roots = (target, reference)

    def both(self, op: Callable[[Path], Any]) -> None:
        got = [outcome(lambda root=root: op(root)) for root in self.roots]
        assert got[0] == got[1], f"target {got[0]} != reference {got[1]}"


def _create(path: Path, data: bytes) -> int:
    fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
    try:
        return os.write(fd, data)
    finally:
        os.close(fd)


def _write_at(path: Path, offset: int, data: bytes) -> int:
    fd = os.open(path, os.O_WRONLY)
    try:
        return os.pwrite(fd, data, offset)
    finally:
        os.close(fd)


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def make_machine(
    target: Path, reference: Path, s3: S3Side | None = None
) -> type[RuleBasedStateMachine]:
    """A state machine class over these two (existing, empty) directories."""
    trees = _Trees(target, reference)

    class FileSystemModel(RuleBasedStateMachine):
        @rule(path=paths("file"), data=st.binary(max_size=300))
        def create(self, path: str, data: bytes) -> None:
            trees.both(lambda root: _create(root / path, data))

        @rule(
            path=paths("file"), offset=st.integers(0, 400), data=st.binary(min_size=1, max_size=200)
        )
        def write_at(self, path: str, offset: int, data: bytes) -> None:
            trees.both(lambda root: _write_at(root / path, offset, data))

        @rule(path=paths("file"), size=st.integers(0, 600))
        def truncate(self, path: str, size: int) -> None:
            trees.both(lambda root: os.truncate(root / path, size))

        @rule(source=paths(), target_=paths())
        def rename(self, source: str, target_: str) -> None:
            trees.both(lambda root: os.rename(root / source, root / target_))

        @rule(path=paths("file"))
        def unlink(self, path: str) -> None:
            trees.both(lambda root: os.unlink(root / path))

        @rule(path=paths("dir"))
        def mkdir(self, path: str) -> None:
            trees.both(lambda root: os.mkdir(root / path, 0o755))

        @rule(path=paths("dir"))
        def rmdir(self, path: str) -> None:
            trees.both(lambda root: os.rmdir(root / path))

        @rule(path=paths(), mode=st.sampled_from([0o600, 0o640, 0o644, 0o700, 0o755]))
        def chmod(self, path: str, mode: int) -> None:
            trees.both(lambda root: os.chmod(root / path, mode))

        @rule(path=paths("file"))
        def fsync(self, path: str) -> None:
            trees.both(lambda root: _fsync(root / path))

        if s3 is not None:

            @rule(path=paths("file"), data=st.binary(max_size=300))
            def s3_put(self, path: str, data: bytes) -> None:
                # Only where the reference can hold it the same way: the parent exists as a
                # directory and the name is no directory (in the bucket a directory wins).
                ref = reference / path
                if not ref.parent.is_dir() or ref.is_dir():
                    return
                s3.put(path, data)
                ref.write_bytes(data)
                s3.settle()

            @rule(path=paths("file"))
            def s3_delete(self, path: str) -> None:
                ref = reference / path
                # Every directory here was made by mkdir (a marker object), so deleting the
                # last key below one never takes the directory with it.
                if not ref.is_file():
                    return
                s3.delete(path)
                ref.unlink()
                s3.settle()

        @invariant()
        def trees_agree(self) -> None:
            got, expected = snapshot(target), snapshot(reference)
            assert got == expected, _difference(got, expected)

    return FileSystemModel


def _difference(got: dict[str, Any], expected: dict[str, Any]) -> str:
    lines = []
    for name in sorted(set(got) | set(expected)):
        a, b = got.get(name), expected.get(name)
        if a != b:
            lines.append(f"{name}: target {_short(a)} reference {_short(b)}")
    return "trees differ:\n  " + "\n  ".join(lines)


def _short(entry: tuple[str, int, int, bytes] | None) -> str:
    if entry is None:
        return "missing"
    kind, size, mode, data = entry
    return f"{kind} size={size} mode={mode:o} data={data[:16]!r}"
