"""An fsx-style file verifier: random I/O on one file, checked against a shadow copy in memory.

Layer: test support (not installed). In the manner of xfstests' ``fsx``: every operation is
applied to the file under test and to a ``bytearray`` shadow; every read is compared with the
shadow at once, and the first difference fails with the operation log (the last operations,
with the seed that replays them). Operations, drawn by a seeded ``random.Random``:

* ``write``: ``pwrite`` of random bytes at a random offset (possibly past the end: a hole,
  which must read back as zeros);
* ``read``: ``pread`` of a random range, compared;
* ``truncate``: ``ftruncate`` down or up (the new tail reads zeros);
* ``mapread`` / ``mapwrite``: the same through ``mmap`` (shared mapping; a write is flushed
  with ``msync`` before the next operation), unless ``use_mmap`` is false;
* ``fsync``, and ``reopen``: close and open again (a new handle sees the same bytes).

``run`` returns the ``Stats`` of one run; ``verify_whole`` compares a file's full contents with
the shadow (used after a remount, or against the same bytes read back through S3).
"""

from __future__ import annotations

import mmap
import os
import random
from collections import Counter, deque
from dataclasses import dataclass, field
from pathlib import Path

LOG_TAIL = 40


class Miscompare(AssertionError):
    """The file's bytes differ from the shadow's."""


@dataclass
class Stats:
    seed: int
    operations: Counter[str] = field(default_factory=Counter)
    size: int = 0


def first_difference(actual: bytes, expected: bytes) -> int | None:
    """The first offset at which the two differ (or where one ends), None when equal."""
    if actual == expected:
        return None
    for index, (a, b) in enumerate(zip(actual, expected, strict=False)):
        if a != b:
            return index
    return min(len(actual), len(expected))


class Exerciser:
    """One file under test and its shadow; ``step`` applies one random operation."""

    def __init__(
        self,
        path: Path,
        seed: int,
        max_size: int,
        max_io: int,
        use_mmap: bool = True,
        shadow: bytearray | None = None,
    ) -> None:
        self.path = path
        self.rng = random.Random(seed)
        self.stats = Stats(seed)
        self.max_size = max_size
        self.max_io = max_io
        self.use_mmap = use_mmap
        self.shadow = shadow if shadow is not None else bytearray()
        self.log: deque[str] = deque(maxlen=LOG_TAIL)
        if shadow is None:
            path.write_bytes(b"")
        self.fd = os.open(path, os.O_RDWR)

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1

    # ---- checking ---------------------------------------------------------------------------
    def fail(self, what: str, offset: int, actual: bytes, expected: bytes) -> None:
        at = first_difference(actual, expected)
        detail = "lengths differ" if at is None else f"first difference at +{at}"
        if at is not None and at < min(len(actual), len(expected)):
            detail += f" (got {actual[at]:#04x}, expected {expected[at]:#04x})"
        raise Miscompare(
            f"{what} at offset {offset}, {len(expected)} bytes expected, {len(actual)} read: "
            f"{detail}; seed {self.stats.seed}, last operations:\n  " + "\n  ".join(self.log)
        )

    def check(self, what: str, offset: int, actual: bytes) -> None:
        expected = bytes(self.shadow[offset : offset + len(actual)])
        wanted = max(0, min(len(self.shadow) - offset, len(actual)))
        if len(actual) != wanted or actual != expected:
            self.fail(what, offset, actual, bytes(self.shadow[offset : offset + wanted]))

    # ---- operations -------------------------------------------------------------------------
    def _range(self, within: int) -> tuple[int, int]:
        offset = self.rng.randrange(max(1, within))
        length = self.rng.randrange(1, self.max_io + 1)
        return offset, length

    def write(self) -> None:
        offset, length = self._range(self.max_size - 1)
        length = min(length, self.max_size - offset)
        data = self.rng.randbytes(length)
        self.log.append(f"write {offset} +{length}")
        written = os.pwrite(self.fd, data, offset)
        if written != length:
            raise Miscompare(f"short write: {written} of {length} bytes at {offset}")
        if offset > len(self.shadow):
            self.shadow.extend(bytes(offset - len(self.shadow)))
        self.shadow[offset : offset + length] = data

    def read(self) -> None:
        if not self.shadow:
            return
        offset, length = self._range(len(self.shadow))
        self.log.append(f"read {offset} +{length}")
        self.check("read", offset, os.pread(self.fd, length, offset))

    def truncate(self) -> None:
        size = self.rng.randrange(self.max_size + 1)
        self.log.append(f"truncate {size} (from {len(self.shadow)})")
        os.ftruncate(self.fd, size)
        if size < len(self.shadow):
            del self.shadow[size:]
        else:
            self.shadow.extend(bytes(size - len(self.shadow)))

    def mapread(self) -> None:
        if not self.shadow:
            return
        offset, length = self._range(len(self.shadow))
        length = min(length, len(self.shadow) - offset)
        self.log.append(f"mapread {offset} +{length}")
        with mmap.mmap(self.fd, len(self.shadow), access=mmap.ACCESS_READ) as view:
            self.check("mapread", offset, view[offset : offset + length])

    def mapwrite(self) -> None:
        if not self.shadow:
            return
        offset, length = self._range(len(self.shadow))
        length = min(length, len(self.shadow) - offset)
        data = self.rng.randbytes(length)
        self.log.append(f"mapwrite {offset} +{length}")
        with mmap.mmap(self.fd, len(self.shadow), access=mmap.ACCESS_WRITE) as view:
            view[offset : offset + length] = data
            view.flush()
        self.shadow[offset : offset + length] = data

    def fsync(self) -> None:
        self.log.append("fsync")
        os.fsync(self.fd)

    def reopen(self) -> None:
        self.log.append("reopen")
        os.close(self.fd)
        self.fd = os.open(self.path, os.O_RDWR)
        size = os.fstat(self.fd).st_size
        if size != len(self.shadow):
            raise Miscompare(f"size {size} after reopen, expected {len(self.shadow)}")

    def step(self) -> None:
        weights = {
            "write": 30,
            "read": 30,
            "truncate": 6,
            "fsync": 4,
            "reopen": 3,
            "mapread": 10 if self.use_mmap else 0,
            "mapwrite": 10 if self.use_mmap else 0,
        }
        names = [n for n, w in weights.items() if w]
        name = self.rng.choices(names, [weights[n] for n in names])[0]
        getattr(self, name)()
        self.stats.operations[name] += 1


def verify_whole(path: Path, shadow: bytes | bytearray) -> None:
    """Raise ``Miscompare`` unless ``path`` holds exactly ``shadow``."""
    actual = path.read_bytes()
    if actual != bytes(shadow):
        at = first_difference(actual, bytes(shadow))
        raise Miscompare(
            f"{path}: {len(actual)} bytes, expected {len(shadow)}; first difference at {at}"
        )


def run(
    path: Path,
    seed: int,
    operations: int,
    max_size: int = 4 * 1024 * 1024,
    max_io: int = 256 * 1024,
    use_mmap: bool = True,
    shadow: bytearray | None = None,
) -> tuple[Stats, bytearray]:
    """``operations`` random operations on ``path`` (a new empty file unless ``shadow`` gives
    its current contents), then a whole-file check; the stats and the final shadow."""
    exerciser = Exerciser(path, seed, max_size, max_io, use_mmap, shadow)
    try:
        for _ in range(operations):
            exerciser.step()
        exerciser.fsync()
    finally:
        exerciser.close()
    verify_whole(path, exerciser.shadow)
    exerciser.stats.size = len(exerciser.shadow)
    return exerciser.stats, exerciser.shadow
