"""The mount's inode table: numbers, lookup counts, and paths through renames and unlinks."""

from __future__ import annotations

import random

from wormfs.fuse.inodes import IMPLICIT_BASE, ROOT, InodeTable


def test_numbers_root_coordinator_and_implicit() -> None:
    table = InodeTable()
    assert table.number(0, "") == ROOT
    assert table.number(42, "a/f") == 42
    first = table.number(0, "a")
    assert first >= IMPLICIT_BASE and table.number(0, "a") == first
    assert table.number(0, "b") != first


def test_state_goes_only_at_zero_lookups() -> None:
    table = InodeTable()
    table.learn(5, "f")
    table.learn(5, "f")
    table.forget(5, 1)
    assert table.path(5) == "f"
    table.forget(5, 1)
    assert table.get(5) is None
    table.forget(ROOT, 10)
    assert table.path(ROOT) == ""


def test_implicit_number_dropped_with_its_node() -> None:
    table = InodeTable()
    ino = table.number(0, "d")
    table.learn(ino, "d")
    table.forget(ino, 1)
    assert table.number(0, "d") != ino


def test_rename_moves_everything_below_and_detaches_the_target() -> None:
    table = InodeTable()
    for ino, path in ((10, "d"), (11, "d/x"), (12, "d/x/y"), (13, "e"), (14, "dd")):
        table.learn(ino, path)
    table.moved("d", "e")
    assert [table.path(i) for i in (10, 11, 12, 13, 14)] == ["e", "e/x", "e/x/y", None, "dd"]
    assert table.find("e/x") == 11


def test_exchange_swaps_and_unlink_detaches() -> None:
    table = InodeTable()
    table.learn(10, "a")
    table.learn(11, "a/f")
    table.learn(12, "b")
    table.exchanged("a", "b")
    assert (table.path(10), table.path(11), table.path(12)) == ("b", "b/f", "a")
    table.unlinked("b")
    assert table.path(10) is None and table.path(11) is None and table.lookups(10) == 1


class Reference:
    """The table's paths as a plain scan of every node would keep them."""

    def __init__(self) -> None:
        self.paths: dict[int, str | None] = {}

    def unlinked(self, path: str) -> None:
        for ino, p in self.paths.items():
            if p is not None and (p == path or p.startswith(path + "/")):
                self.paths[ino] = None

    def rename(self, source: str, target: str) -> None:
        for ino, p in self.paths.items():
            if p is not None and (p == source or p.startswith(source + "/")):
                self.paths[ino] = target + p[len(source) :]


def test_the_path_index_agrees_with_a_scan_of_every_node() -> None:
    rng = random.Random(7)
    names = ["a", "b", "a/x", "a/x/y", "b/x", "a/y", "c/d/e", "c", "c/d"]
    for _ in range(30):
        table, ref = InodeTable(), Reference()
        for _ in range(120):
            op = rng.choice(["learn", "learn", "forget", "unlinked", "moved", "exchanged"])
            if op == "learn":
                ino, path = rng.randrange(2, 20), rng.choice(names)
                table.learn(ino, path)
                ref.paths[ino] = path
            elif op == "forget":
                ino = rng.randrange(2, 20)
                if table.get(ino) is not None:
                    table.forget(ino, table.lookups(ino))
                    del ref.paths[ino]
            elif op == "unlinked":
                path = rng.choice(names)
                table.unlinked(path)
                ref.unlinked(path)
            elif op == "moved":
                source, target = rng.sample(names, 2)
                if target.startswith(source + "/"):
                    continue  # a move into itself is refused before the table hears of it
                table.moved(source, target)
                ref.unlinked(target)
                ref.rename(source, target)
            else:
                a, b = rng.sample(names, 2)
                if a.startswith(b + "/") or b.startswith(a + "/"):
                    continue
                table.exchanged(a, b)
                ref.rename(a, "\0x")
                ref.rename(b, a)
                ref.rename("\0x", b)
            assert {i: table.path(i) for i in ref.paths} == ref.paths
            for path in names:
                holders = [i for i, p in ref.paths.items() if p == path]
                found = table.find(path)
                assert found in holders if holders else found == ROOT
        for path in names:
            table.unlinked(path)
        for ino in list(ref.paths):
            table.forget(ino, table.lookups(ino))
        assert table._at == {} and table._kids == {}
