"""ObjectReader: stream a byte range of an object back from its chunks, verified.

Layer: data plane. Contract: ``read(manifest, start, end)`` yields the bytes ``[start, end)`` of
the object in order, in pieces of at most one stripe (``stripe_size``, 1 MiB by default). It
touches only the segments and stripes that overlap the range and asks each node only for the
blocks it needs. Every block is verified by the node (CRC32C) before it is sent; a fragment that
is missing, corrupt, or whose node fails mid-stream is replaced by another fragment index from
the same stripe onward (data fragments first, then parity), and the stripe is decoded from any
k. Fewer than k readable fragments raises ``NotEnoughFragmentsError``.

The next stripe's fragments are fetched while the current one is decoded (executor), so the
network and the codec overlap; at most two stripes of fragments are held per request.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

from wormfs.clients.storage import ChunkReader, StorageClient
from wormfs.erasure import Codec, get_codec
from wormfs.errors import NotEnoughFragmentsError, WormError
from wormfs.layout import Profile, stripe_length, stripes_for_range
from wormfs.wire.coordinator import ChunkPlacement, ObjectManifest, Segment

log = logging.getLogger(__name__)


class _SegmentSources:
    """The k open chunk streams a segment is being read from, replaced as they fail."""

    def __init__(
        self, storage: StorageClient, segment: Segment, codec: Codec, first: int, last: int
    ) -> None:
        self._storage = storage
        self._segment = segment
        self._codec = codec
        self._last = last
        self._by_index: dict[int, ChunkPlacement] = {c.fragment_index: c for c in segment.chunks}
        self._active: dict[
            int, tuple[contextlib.AbstractAsyncContextManager[ChunkReader], ChunkReader]
        ] = {}
        self._failed: set[int] = set()

    def _candidates(self) -> list[int]:
        # Data fragments first: with all of them healthy no parity is read at all.
        return [
            i for i in sorted(self._by_index) if i not in self._active and i not in self._failed
        ]

    async def _open(self, index: int, block: int) -> None:
        placement = self._by_index[index]
        manager = self._storage.open_chunk(
            placement.node_address, placement.disk_id, placement.chunk_id, block, self._last
        )
        reader = await manager.__aenter__()
        self._active[index] = (manager, reader)

    async def _drop(self, index: int, reason: BaseException) -> None:
        placement = self._by_index[index]
        log.warning(
            "fragment %d of segment %d (chunk %s on disk %s) unavailable: %r",
            index,
            self._segment.segment_index,
            placement.chunk_id,
            placement.disk_id,
            reason,
        )
        self._failed.add(index)
        manager, _ = self._active.pop(index, (None, None))
        if manager is not None:
            with contextlib.suppress(Exception):
                await manager.__aexit__(None, None, None)

    async def _ensure(self, block: int) -> None:
        while len(self._active) < self._codec.k:
            candidates = self._candidates()
            if len(candidates) + len(self._active) < self._codec.k:
                raise NotEnoughFragmentsError(
                    f"segment {self._segment.segment_index}: only "
                    f"{len(candidates) + len(self._active)} of {self._codec.k} needed "
                    f"fragments are readable"
                )
            wanted = candidates[: self._codec.k - len(self._active)]
            results = await asyncio.gather(
                *(self._open(i, block) for i in wanted), return_exceptions=True
            )
            for index, result in zip(wanted, results, strict=True):
                if isinstance(result, BaseException):
                    if not isinstance(result, WormError | OSError | asyncio.TimeoutError):
                        raise result
                    self._failed.add(index)
                    log.warning("cannot open fragment %d: %r", index, result)

    async def fetch(self, block: int) -> dict[int, bytes]:
        """Fragments of ``block`` from k sources (all streams advance one block)."""
        while True:
            await self._ensure(block)
            indexes = list(self._active)
            results = await asyncio.gather(
                *(self._active[i][1].read_block(block) for i in indexes), return_exceptions=True
            )
            fragments: dict[int, bytes] = {}
            for index, result in zip(indexes, results, strict=True):
                if isinstance(result, BaseException):
                    if not isinstance(result, WormError | OSError | asyncio.TimeoutError):
                        raise result
                    await self._drop(index, result)
                else:
                    fragments[index] = result
            if len(fragments) == len(indexes):
                return fragments
            # Streams that did deliver this block are now past it: a replacement opened at
            # ``block`` could not line up with them, so start this block afresh everywhere.
            for index in list(self._active):
                manager, _ = self._active.pop(index)
                with contextlib.suppress(Exception):
                    await manager.__aexit__(None, None, None)

    async def close(self) -> None:
        for index in list(self._active):
            manager, _ = self._active.pop(index)
            with contextlib.suppress(Exception):
                await manager.__aexit__(None, None, None)


class ObjectReader:
    def __init__(self, storage: StorageClient) -> None:
        self._storage = storage

    async def read(self, manifest: ObjectManifest, start: int, end: int) -> AsyncIterator[bytes]:
        if not 0 <= start <= end <= manifest.size:
            raise ValueError(f"range [{start}, {end}) outside an object of {manifest.size}")
        part_start = 0
        for part in manifest.parts:
            part_end = part_start + part.size
            if part_start < end and start < part_end:
                for segment in part.segments:
                    seg_start = part_start + segment.offset
                    lo = max(start, seg_start)
                    hi = min(end, seg_start + segment.length)
                    if lo < hi:
                        async for piece in self._read_segment(
                            manifest.profile, segment, lo - seg_start, hi - seg_start
                        ):
                            yield piece
            part_start = part_end
            if part_start >= end:
                break

    async def _read_segment(
        self, profile: Profile, segment: Segment, start: int, end: int
    ) -> AsyncIterator[bytes]:
        codec = get_codec(profile.codec, profile.k, profile.m)
        span = stripes_for_range(segment.length, profile.stripe_size, start, end)
        sources = _SegmentSources(self._storage, segment, codec, span.first, span.last)
        loop = asyncio.get_running_loop()
        skip, remaining = span.skip, span.length
        pending: asyncio.Task[dict[int, bytes]] | None = asyncio.ensure_future(
            sources.fetch(span.first)
        )
        try:
            for block in range(span.first, span.last + 1):
                assert pending is not None
                fragments = await pending
                pending = None
                if block < span.last:
                    pending = asyncio.ensure_future(sources.fetch(block + 1))
                length = stripe_length(segment.length, profile.stripe_size, block)
                stripe = await loop.run_in_executor(None, codec.decode, fragments, length)
                piece = stripe[skip : skip + remaining] if (skip or remaining < length) else stripe
                skip = 0
                remaining -= len(piece)
                yield piece
        finally:
            if pending is not None:
                pending.cancel()
                with contextlib.suppress(BaseException):
                    await pending
            await sources.close()
