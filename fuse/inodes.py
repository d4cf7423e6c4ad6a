"""The mount's inode table: fuse inode numbers, the paths they name, and lookup counts.

Layer: fuse (pure bookkeeping, no I/O). Contract:

* The root of the mount is ino 1 (``ROOT``). A file or explicit directory has the
  coordinator's ino (>= 2, stable across mounts and renames). An implicit directory (a prefix
  with no marker, ino 0 from the coordinator) gets a mount-local number from ``IMPLICIT_BASE``
  up, keyed by its path: the same path keeps its number while the kernel knows it.
* ``learn(ino, path)`` records that the kernel was handed ``ino`` for ``path`` once more (a
  lookup, create, mkdir, mknod, symlink or a READDIRPLUS entry the kernel accepted);
  ``forget(ino, n)`` takes ``n`` away; a node's state goes only when its count reaches 0.
* Paths follow the namespace: ``moved`` rewrites a renamed entry and everything below it,
  ``exchanged`` swaps two, ``unlinked`` detaches a removed one (its node lives on, pathless,
  until forgotten: open files keep working on it).
"""

from __future__ import annotations

from dataclasses import dataclass

ROOT = 1
# Mount-local numbers of implicit directories: far above any coordinator ino.
IMPLICIT_BASE = 1 << 62


@dataclass
class Node:
    ino: int
    path: str | None  # None once unlinked (or replaced by a rename)
    lookups: int = 0
    implicit: bool = False


def child_path(parent: str, name: str) -> str:
    return f"{parent}/{name}" if parent else name


def parent_path(path: str) -> str:
    return path.rpartition("/")[0]


def _below(path: str, root: str) -> bool:
    return path == root or path.startswith(root + "/")


class InodeTable:
    """Nodes by ino, and indexed by path: ``find`` is a dict lookup, and ``unlinked``,
    ``moved`` and ``exchanged`` visit only the nodes at or below the path they change (a
    tree of the known paths, ``_kids``), not every node."""

    def __init__(self) -> None:
        self._nodes: dict[int, Node] = {ROOT: Node(ROOT, "", lookups=1)}
        self._implicit: dict[str, int] = {}  # path -> local ino of an implicit directory
        self._next_implicit = IMPLICIT_BASE
        # path -> the inos of the nodes named so (insertion-ordered; usually one)
        self._at: dict[str, dict[int, None]] = {}
        # path -> the known paths one level below it (of nodes, or leading to nodes)
        self._kids: dict[str, set[str]] = {}

    def __len__(self) -> int:
        return len(self._nodes)

    def get(self, ino: int) -> Node | None:
        return self._nodes.get(ino)

    def path(self, ino: int) -> str | None:
        node = self._nodes.get(ino)
        return node.path if node is not None else None

    def lookups(self, ino: int) -> int:
        node = self._nodes.get(ino)
        return node.lookups if node is not None else 0

    def find(self, path: str) -> int:
        """The ino the kernel knows ``path`` by (the root's when none)."""
        if path == "":
            return ROOT
        inos = self._at.get(path)
        if inos:
            return next(iter(inos))
        return self._implicit.get(path, ROOT)

    def number(self, coordinator_ino: int, path: str) -> int:
        """The fuse ino for an entry: the coordinator's, or a local one for an implicit dir."""
        if path == "":
            return ROOT
        if coordinator_ino >= 2:
            return coordinator_ino
        ino = self._implicit.get(path)
        if ino is None:
            ino = self._implicit[path] = self._next_implicit
            self._next_implicit += 1
        return ino

    def learn(self, ino: int, path: str) -> None:
        """The kernel now holds one more reference to ``ino`` (named ``path``)."""
        node = self._nodes.get(ino)
        if node is None:
            node = self._nodes[ino] = Node(ino, None, implicit=ino >= IMPLICIT_BASE)
        if ino != ROOT:
            self._set_path(node, path)
        node.lookups += 1

    def forget(self, ino: int, count: int) -> None:
        node = self._nodes.get(ino)
        if node is None or ino == ROOT:
            return
        node.lookups -= count
        if node.lookups <= 0:
            del self._nodes[ino]
            path = node.path
            self._set_path(node, None)
            if node.implicit and path is not None and self._implicit.get(path) == ino:
                del self._implicit[path]

    def unlinked(self, path: str) -> None:
        """The entry at ``path`` (and for a directory, everything below) is gone."""
        for node, _ in self._below(path):
            self._set_path(node, None)
        for key in [p for p in self._implicit if _below(p, path)]:
            del self._implicit[key]

    def moved(self, source: str, target: str) -> None:
        """``source`` was renamed to ``target`` (whatever was at ``target`` is gone)."""
        self.unlinked(target)
        self._rename_paths(source, target)

    def exchanged(self, a: str, b: str) -> None:
        """``a`` and ``b`` swapped places (RENAME_EXCHANGE)."""
        marker = "\0exchange"
        self._rename_paths(a, marker)
        self._rename_paths(b, a)
        self._rename_paths(marker, b)

    def _rename_paths(self, source: str, target: str) -> None:
        nodes = self._below(source)
        for node, _ in nodes:
            self._set_path(node, None)
        for node, old in nodes:
            self._set_path(node, target + old[len(source) :])
        for key in [p for p in self._implicit if _below(p, source)]:
            self._implicit[target + key[len(source) :]] = self._implicit.pop(key)

    # ---- the path index -----------------------------------------------------------------------
    def _below(self, root: str) -> list[tuple[Node, str]]:
        """The nodes at ``root`` or below it (never the mount's root), with their paths."""
        found: list[tuple[Node, str]] = []
        stack = [root]
        while stack:
            path = stack.pop()
            found.extend((self._nodes[ino], path) for ino in self._at.get(path, ()))
            stack.extend(self._kids.get(path, ()))
        return found

    def _set_path(self, node: Node, path: str | None) -> None:
        old = node.path
        if old == path:
            return
        if old is not None:
            inos = self._at.get(old)
            if inos is not None:
                inos.pop(node.ino, None)
                if not inos:
                    del self._at[old]
                    self._prune(old)
        node.path = path
        if path is not None:
            self._at.setdefault(path, {})[node.ino] = None
            self._link(path)

    def _link(self, path: str) -> None:
        while path:
            parent = parent_path(path)
            kids = self._kids.setdefault(parent, set())
            if path in kids:
                return
            kids.add(path)
            path = parent

    def _prune(self, path: str) -> None:
        """Drop ``path`` from the tree when nothing is at or below it any more."""
        while path not in self._at and not self._kids.get(path):
            self._kids.pop(path, None)
            if not path:
                return
            parent = parent_path(path)
            kids = self._kids.get(parent)
            if kids is None:
                return
            kids.discard(path)
            path = parent
