"""Decoded windows of pinned versions, shared by the mount's readers, with sequential read-ahead.

Layer: fuse (over a fetch function, no I/O of its own). Contract (``ReadCache``):

* A version's bytes are cut into windows (``fragment_window``: a data fragment's share of a
  stripe, 256 KiB at 4+2 and 1 MiB stripes, so a small read costs one block from one node):
  window ``i`` is ``[i * window, (i + 1) * window)`` clamped to the size. Versions are
  immutable, so a window is keyed by ``(key, version_id, i)`` and shared by every handle
  reading that version.
* ``read(manifest, stream, offset, size)`` answers bytes ``[offset, offset + size)`` (clamped
  to the size; a view of a window when it lies in one) from cached windows, fetching the
  missing ones with ``fetch(manifest, start, end)``: one call per contiguous run of missing
  windows, so a run is one streamed read of its stripes.
* Read-ahead: a ``Stream`` (one per open handle) remembers where its last read ended. A read
  that starts there is sequential; after ``n`` sequential reads the next ``2 ** n`` windows,
  at most ``read_ahead`` bytes, are fetched in the background (in one run, once at least half
  of them are missing), so the store works while the kernel consumes the current window. A
  read elsewhere resets the streak: random reads fetch only the windows they touch.
* Memory is bounded: at most ``capacity`` bytes of windows (fetched or in flight) are held,
  the least recently used dropped first, and before them the windows sequential readers have
  left behind. A failed fetch is not kept: its error reaches the
  reads that wait for it (a background fetch's error is heard only by a later read that needs
  it, which fetches again).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

from wormfs.wire.coordinator import ObjectManifest

log = logging.getLogger(__name__)

MiB = 1024 * 1024
READ_AHEAD = 8 * MiB  # bytes fetched ahead of a sequential reader at most
CAPACITY = 64 * MiB  # bytes of windows held across every handle

Fetch = Callable[[ObjectManifest, int, int], AsyncIterator[bytes | memoryview]]
WindowKey = tuple[str, str, int]


def fragment_window(manifest: ObjectManifest) -> int:
    """A version's window: one data fragment's share of a stripe (256 KiB of a 1 MiB stripe
    at k = 4), which the reader fetches from one node alone; the stripe when k does not
    divide it."""
    profile = manifest.profile
    if profile.k > 0 and profile.stripe_size % profile.k == 0:
        return profile.stripe_size // profile.k
    return profile.stripe_size


@dataclass
class Stream:
    """One reader's position, for telling sequential reads from random ones."""

    next_offset: int = 0
    streak: int = 0  # sequential reads in a row


class ReadCache:
    def __init__(
        self,
        fetch: Fetch,
        *,
        window: int | None = None,
        capacity: int = CAPACITY,
        read_ahead: int = READ_AHEAD,
    ) -> None:
        """``window``: bytes per window for every version (default: ``fragment_window``);
        ``capacity`` and ``read_ahead`` in bytes."""
        if capacity < 1 or (window is not None and window < 1) or read_ahead < 0:
            raise ValueError("window and capacity must be positive, read_ahead not negative")
        self._fetch = fetch
        self._fixed_window = window
        self.capacity = capacity
        self.read_ahead = read_ahead
        self._windows: OrderedDict[WindowKey, tuple[asyncio.Future[bytes], int]] = OrderedDict()
        self._held = 0  # bytes of the windows in ``_windows`` (their nominal size)
        self._tasks: set[asyncio.Task[None]] = set()
        self.fetches = 0  # fetch calls made (for tests and logs)

    def __len__(self) -> int:
        return len(self._windows)

    def window(self, manifest: ObjectManifest) -> int:
        return self._fixed_window or fragment_window(manifest)

    def cached(self, manifest: ObjectManifest, index: int) -> bool:
        return (manifest.key, manifest.version_id, index) in self._windows

    async def read(
        self, manifest: ObjectManifest, stream: Stream, offset: int, size: int
    ) -> bytes | memoryview:
        end = min(offset + size, manifest.size)
        if offset >= end:
            return b""
        if offset == stream.next_offset:
            stream.streak += 1
        else:
            stream.streak = 0
        stream.next_offset = end
        window = self.window(manifest)
        room = max(1, self.capacity // window)  # windows the cache holds
        first, last = offset // window, (end - 1) // window
        span = last - first + 1
        if span > room:
            # Larger than the whole cache: straight through, nothing kept.
            return b"".join([bytes(p) async for p in self._fetch(manifest, offset, end)])
        futures = self._want(manifest, window, first, last)
        if stream.streak:
            # A window a sequential reader has left goes first when room is needed.
            behind = (manifest.key, manifest.version_id, first - 1)
            if behind in self._windows:
                self._windows.move_to_end(behind, last=False)
            # Doubling with every sequential read, up to ``read_ahead`` bytes.
            ahead = min(2 ** min(stream.streak, 20), self.read_ahead // window, room - span)
            if ahead > 0:
                self._read_ahead(manifest, window, last + 1, ahead)
        pieces = [await future for future in futures]
        lo = first * window
        if len(pieces) == 1:
            return memoryview(pieces[0])[offset - lo : end - lo]  # no copy: pyfuse3 takes views
        return b"".join(pieces)[offset - lo : end - lo]

    # ---- windows ------------------------------------------------------------------------------
    def _add(self, manifest: ObjectManifest, window: int, index: int) -> asyncio.Future[bytes]:
        future: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()
        self._windows[(manifest.key, manifest.version_id, index)] = (future, window)
        self._held += window
        return future

    def _want(
        self, manifest: ObjectManifest, window: int, first: int, last: int
    ) -> list[asyncio.Future[bytes]]:
        """Futures of windows ``first..last``, fetching the missing runs."""
        futures: list[asyncio.Future[bytes]] = []
        missing: list[int] = []
        for index in range(first, last + 1):
            key = (manifest.key, manifest.version_id, index)
            held = self._windows.get(key)
            if held is None:
                missing.append(index)
                futures.append(self._add(manifest, window, index))
            else:
                self._windows.move_to_end(key)
                futures.append(held[0])
        self._start_runs(manifest, window, missing)
        return futures

    def _read_ahead(self, manifest: ObjectManifest, window: int, start: int, count: int) -> None:
        stop = min(start + count, -(-manifest.size // window))
        missing = [i for i in range(start, stop) if not self.cached(manifest, i)]
        if not missing or len(missing) * 2 < stop - start:
            return  # most of it is on its way already: top up in one larger run later
        for index in missing:
            self._add(manifest, window, index)
        self._start_runs(manifest, window, missing)

    def _start_runs(self, manifest: ObjectManifest, window: int, missing: list[int]) -> None:
        """Fetch ``missing`` (windows whose futures were just added), a run per call."""
        for run in _runs(missing):
            self.fetches += 1
            futures = [self._windows[(manifest.key, manifest.version_id, i)][0] for i in run]
            task = asyncio.ensure_future(self._fill(manifest, window, run, futures))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        self._evict()

    async def _fill(
        self,
        manifest: ObjectManifest,
        window: int,
        run: list[int],
        futures: list[asyncio.Future[bytes]],
    ) -> None:
        """Fetch windows ``run`` (contiguous) in one streamed read, resolving each in turn."""
        keys = [(manifest.key, manifest.version_id, i) for i in run]
        start = run[0] * window
        end = min((run[-1] + 1) * window, manifest.size)
        done = 0
        parts: list[bytes | memoryview] = []  # pieces of window ``run[done]`` so far
        have = 0
        try:
            async for fetched in self._fetch(manifest, start, end):
                piece = memoryview(fetched)
                while piece and done < len(run):
                    length = min(window, end - run[done] * window)
                    take = min(length - have, len(piece))
                    parts.append(piece[:take])
                    have += take
                    piece = piece[take:]
                    if have == length:
                        # One copy: the pieces are views into the fetched fragments.
                        _resolve(futures[done], b"".join(parts))
                        parts, have = [], 0
                        done += 1
            if done < len(run):
                raise RuntimeError(f"short read of {manifest.key}: {start}..{end}")
        except BaseException as exc:
            for key, future in zip(keys[done:], futures[done:], strict=True):
                entry = self._windows.get(key)
                if entry is not None and entry[0] is future:
                    del self._windows[key]
                    self._held -= entry[1]
                if not future.done():
                    future.set_exception(exc)
                    future.add_done_callback(_heard)
            if not isinstance(exc, Exception):
                raise

    def _evict(self) -> None:
        while self._held > self.capacity and self._windows:
            _, (_, size) = self._windows.popitem(last=False)  # a waiter holds its own future
            self._held -= size

    async def close(self) -> None:
        """Stop the background fetches (at unmount)."""
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(BaseException):
                await task
        self._windows.clear()
        self._held = 0


def _resolve(future: asyncio.Future[bytes], data: bytes) -> None:
    if not future.done():
        future.set_result(data)


def _heard(future: asyncio.Future[bytes]) -> None:
    # A background fetch's error nobody awaited: retrieved here (a later read fetches again).
    if not future.cancelled():
        future.exception()


def _runs(indexes: list[int]) -> list[list[int]]:
    runs: list[list[int]] = []
    for index in indexes:
        if runs and runs[-1][-1] == index - 1:
            runs[-1].append(index)
        else:
            runs.append([index])
    return runs
