"""The mount's inode table: numbers, lookup counts, and paths through renames and unlinks."""

from __future__ import annotations

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
