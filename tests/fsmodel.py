"""A model-based file-system test: random operation sequences on a file system under test and
on a reference directory of a local file system, which must agree step by step.

Layer: test support (not installed). ``make_machine(target, reference, s3=None)`` builds a
hypothesis ``RuleBasedStateMachine`` whose one rule applies an operation, chosen uniformly, to
both trees —
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
from collections import Counter
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
    and ``settle(key)``, called after each, which returns once the target shows the change
    (by path too, not only in listings: a cached lookup may show the old entry a while)."""

    put: Callable[[str, bytes], None]
    delete: Callable[[str], None]
    settle: Callable[[str], None]
    # An S3 PUT makes a new file with the target's default mode (an overwrite too: the old
    # file's attributes do not carry over), so the reference gets it as well.
    default_mode: int = 0o644


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


def snapshot(root: Path, contents: bool = True) -> dict[str, tuple[str, int, int, bytes]]:
    """Every entry under ``root``: relative path -> (type, size, permission bits, contents;
    ``b""`` without ``contents``)."""
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
                path.read_bytes() if contents else b"",
            )
    return out


class Trees:
    """The two roots; ``both`` applies one operation under each and compares the outcomes.
    ``succeeded`` counts, per operation, the steps that succeeded on both sides (a run whose
    operations all failed alike would prove little)."""

    def __init__(self, target: Path, reference: Path) -> None:
        self.roots = (target, reference)
        self.succeeded: Counter[str] = Counter()

    def both(self, name: str, op: Callable[[Path], Any]) -> None:
        got = [outcome(lambda root=root: op(root)) for root in self.roots]
        assert got[0] == got[1], f"{name}: target {got[0]} != reference {got[1]}"
        if got[0][0] == "ok":
            self.succeeded[name] += 1


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
    target: Path, reference: Path, s3: S3Side | None = None, trees: Trees | None = None
) -> type[RuleBasedStateMachine]:
    """A state machine class over these two (existing, empty) directories; pass ``trees`` to
    read its ``succeeded`` counts afterwards."""
    trees = trees if trees is not None else Trees(target, reference)

    def pick(data: st.DataObject, kind: str, existing_only: bool = False) -> str:
        """A path for the next step: mostly an entry that exists (of ``kind``) or a new name
        in an existing directory, sometimes any path at all (ENOENT, ENOTDIR, EISDIR...);
        with ``existing_only`` an existing entry whenever there is one."""
        entries = {p: e[0] for p, e in snapshot(reference, contents=False).items()}
        choices = ["existing"] if existing_only else ["existing"] * 3 + ["new", "any"]
        how = data.draw(st.sampled_from(choices))
        existing = sorted(p for p, k in entries.items() if kind in ("any", k))
        if how == "existing" and existing:
            return data.draw(st.sampled_from(existing))
        if how == "new":
            parent = data.draw(
                st.sampled_from(["", *sorted(p for p, k in entries.items() if k == "dir")])
            )
            names = {"file": FILES, "dir": DIRS, "any": DIRS + FILES}[kind]
            name = data.draw(st.sampled_from(names))
            return f"{parent}/{name}" if parent else name
        return data.draw(paths(kind))

    # One operation per entry: each draws its own arguments. A single rule picks among them
    # uniformly (hypothesis' choice among many rules is far from uniform, and some operations
    # would hardly ever run).
    def create(data: st.DataObject) -> None:
        path, body = pick(data, "file"), data.draw(st.binary(max_size=300))
        trees.both("create", lambda root: _create(root / path, body))

    def write_at(data: st.DataObject) -> None:
        path = pick(data, "file")
        offset = data.draw(st.integers(0, 400))
        body = data.draw(st.binary(min_size=1, max_size=200))
        trees.both("write_at", lambda root: _write_at(root / path, offset, body))

    def truncate(data: st.DataObject) -> None:
        path, size = pick(data, "file"), data.draw(st.integers(0, 600))
        trees.both("truncate", lambda root: os.truncate(root / path, size))

    def rename(data: st.DataObject) -> None:
        source, target_ = pick(data, "any", existing_only=True), pick(data, "any")
        trees.both("rename", lambda root: os.rename(root / source, root / target_))

    def unlink(data: st.DataObject) -> None:
        path = pick(data, "file")
        trees.both("unlink", lambda root: os.unlink(root / path))

    def mkdir(data: st.DataObject) -> None:
        path = pick(data, "dir")
        trees.both("mkdir", lambda root: os.mkdir(root / path, 0o755))

    def rmdir(data: st.DataObject) -> None:
        path = pick(data, "dir")
        trees.both("rmdir", lambda root: os.rmdir(root / path))

    def chmod(data: st.DataObject) -> None:
        path = pick(data, "any")
        mode = data.draw(st.sampled_from([0o600, 0o640, 0o644, 0o700, 0o755]))
        trees.both("chmod", lambda root: os.chmod(root / path, mode))

    def fsync(data: st.DataObject) -> None:
        path = pick(data, "file")
        trees.both("fsync", lambda root: _fsync(root / path))

    def s3_put(data: st.DataObject) -> None:
        assert s3 is not None
        path, body = pick(data, "file"), data.draw(st.binary(max_size=300))
        # Only where the reference can hold it the same way: the parent exists as a
        # directory and the name is no directory (in the bucket a directory wins).
        ref = reference / path
        if not ref.parent.is_dir() or ref.is_dir():
            return
        s3.put(path, body)
        ref.write_bytes(body)
        ref.chmod(s3.default_mode)
        s3.settle(path)
        trees.succeeded["s3_put"] += 1

    def s3_delete(data: st.DataObject) -> None:
        assert s3 is not None
        path = pick(data, "file")
        ref = reference / path
        # Every directory here was made by mkdir (a marker object), so deleting the last
        # key below one never takes the directory with it.
        if not ref.is_file():
            return
        s3.delete(path)
        ref.unlink()
        s3.settle(path)
        trees.succeeded["s3_delete"] += 1

    operations: dict[str, Callable[[st.DataObject], None]] = {
        "create": create,
        "write_at": write_at,
        "truncate": truncate,
        "rename": rename,
        "unlink": unlink,
        "mkdir": mkdir,
        "rmdir": rmdir,
        "chmod": chmod,
        "fsync": fsync,
    }
    if s3 is not None:
        operations.update(s3_put=s3_put, s3_delete=s3_delete)

    class FileSystemModel(RuleBasedStateMachine):
        @rule(data=st.data(), name=st.sampled_from(sorted(operations)))
        def step(self, data: st.DataObject, name: str) -> None:
            operations[name](data)

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
