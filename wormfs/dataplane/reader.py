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

A range that lies within one data fragment of one stripe (a small read: 4 KiB of a 1 MiB
stripe lies in one of its k 256 KiB payloads) is read from that fragment alone: one block from
one node instead of k. When that fragment does not answer at once (an error, or nothing within
the hedge delay) the range is read as any other, from k fragments, which reports a missing or
corrupt fragment for repair.

An inline object (``manifest.inline``, at most 256 KiB kept in the metadata) is served from the
manifest without any storage-node traffic, after its bytes are verified against the ETag (their
MD5, invariant 3): a mismatch raises ``CorruptChunkError`` rather than yield wrong bytes.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any, Literal, Protocol

from wormfs.clients.storage import StorageClient
from wormfs.dataplane.sealing import opened
from wormfs.erasure import Codec, get_codec
from wormfs.errors import (
    CorruptChunkError,
    CustomerKeyError,
    NoSuchChunkError,
    NotEnoughFragmentsError,
    WormError,
)
from wormfs.format.chunkformat import ChunkHeader
from wormfs.format.layout import Profile, stripe_length, stripes_for_range
from wormfs.format.sealing import Sealer, SealError, package_span, sealed_size
from wormfs.wire.coordinator import ChunkPlacement, ObjectManifest, PartRecord, Segment
from wormfs.wire.repair import ReportedChunk

log = logging.getLogger(__name__)


# A fragment read slower than this is hedged: another fragment index is fetched alongside and
# whichever k arrive first are decoded. Local disks and loopback answer in milliseconds, so a
# second means a hung node or disk, not a busy one.
HEDGE_AFTER = 1.0
# Failures that mean "this fragment is gone": reported for repair (a node answered so).
_REPORTABLE: dict[type[WormError], Literal["missing", "corrupt"]] = {
    NoSuchChunkError: "missing",
    CorruptChunkError: "corrupt",
}
_SOURCE_ERRORS = (WormError, OSError, asyncio.TimeoutError)

BadChunkCallback = Callable[[Sequence[ReportedChunk]], None]


class BlockReader(Protocol):
    """One open chunk stream (``wormfs.clients.storage.ChunkReader`` is one)."""

    header: ChunkHeader

    async def read_block(self, block: int) -> bytes: ...


class ChunkOpener(Protocol):
    """Opens chunk streams (``StorageClient``; a storage node adds its local disks)."""

    def open_chunk(
        self,
        address: str,
        disk_id: str,
        chunk_id: str,
        first: int | None = None,
        last: int | None = None,
    ) -> contextlib.AbstractAsyncContextManager[BlockReader]: ...


_Open = tuple[contextlib.AbstractAsyncContextManager[BlockReader], BlockReader]


class SegmentSources:
    """The k open chunk streams a segment is being read from, replaced as they fail.

    Opens and block reads are hedged: whatever has not answered after ``hedge_after`` seconds
    gets company from the next fragment index, the first k answers win, and the slow source is
    dropped for the rest of the segment. Missing and corrupt fragments go to ``on_bad``.
    Shared by ``ObjectReader`` and the storage node's rebuild (``wormfs.storage_node.rebuild``).
    """

    def __init__(
        self,
        storage: ChunkOpener,
        segment: Segment,
        codec: Codec,
        first: int,
        last: int,
        *,
        hedge_after: float = HEDGE_AFTER,
        on_bad: BadChunkCallback | None = None,
    ) -> None:
        self._storage = storage
        self._segment = segment
        self._codec = codec
        self._last = last
        self._hedge_after = hedge_after
        self._on_bad = on_bad
        self._by_index: dict[int, ChunkPlacement] = {c.fragment_index: c for c in segment.chunks}
        self._active: dict[int, _Open] = {}
        self._failed: set[int] = set()
        self.hedged = 0  # hedges started (for tests and logs)

    @property
    def header(self) -> ChunkHeader:
        """The header of one open source (after a ``fetch``)."""
        for _, reader in self._active.values():
            return reader.header
        raise RuntimeError("no source is open")

    def _candidates(self) -> list[int]:
        # Data fragments first: with all of them healthy no parity is read at all.
        return [
            i for i in sorted(self._by_index) if i not in self._active and i not in self._failed
        ]

    async def _open(self, index: int, block: int) -> _Open:
        placement = self._by_index[index]
        manager = self._storage.open_chunk(
            placement.node_address, placement.disk_id, placement.chunk_id, block, self._last
        )
        reader = await manager.__aenter__()
        return manager, reader

    async def _open_and_read(self, index: int, block: int) -> tuple[_Open, bytes]:
        opened = await self._open(index, block)
        try:
            return opened, await opened[1].read_block(block)
        except BaseException:
            with contextlib.suppress(Exception):
                await opened[0].__aexit__(None, None, None)
            raise

    def _failure(self, index: int, reason: BaseException, slow: bool = False) -> None:
        placement = self._by_index[index]
        self._failed.add(index)
        log.warning(
            "fragment %d of segment %d (chunk %s on disk %s) %s: %r",
            index,
            self._segment.segment_index,
            placement.chunk_id,
            placement.disk_id,
            "too slow, hedged" if slow else "unavailable",
            reason,
        )
        problem = next((p for cls, p in _REPORTABLE.items() if isinstance(reason, cls)), None)
        if problem is not None and self._on_bad is not None:
            self._on_bad(
                [
                    ReportedChunk(
                        chunk_id=placement.chunk_id, disk_id=placement.disk_id, problem=problem
                    )
                ]
            )

    async def _close(self, index: int) -> None:
        opened = self._active.pop(index, None)
        if opened is not None:
            with contextlib.suppress(Exception):
                await opened[0].__aexit__(None, None, None)

    async def _race(
        self, tasks: dict[int, asyncio.Task[Any]], block: int, opening: bool
    ) -> dict[int, Any]:
        """Run ``tasks`` (one per fragment index) until k sources answered; hedge laggards.

        ``opening``: the tasks open streams positioned at ``block`` and the results are the
        open streams; otherwise they read ``block`` from open streams and the results are
        fragments. A failed source is replaced at once, and whenever nothing has answered for
        ``hedge_after`` seconds every laggard gets a replacement (while unused indexes last); a
        replacement of a read opens its stream at ``block`` and reads it, so it lines up with
        the others.
        """
        need = self._codec.k - (len(self._active) if opening else 0)
        results: dict[int, Any] = {}
        owner: dict[asyncio.Future[Any], int] = {t: i for i, t in tasks.items()}
        replacements: set[asyncio.Future[Any]] = set()
        pending: set[asyncio.Future[Any]] = set(owner)

        def spawn(count: int) -> int:
            tried = set(owner.values())
            spare = [i for i in self._candidates() if i not in tried][:count]
            for index in spare:
                task: asyncio.Future[Any] = asyncio.ensure_future(
                    self._open(index, block) if opening else self._open_and_read(index, block)
                )
                owner[task] = index
                replacements.add(task)
                pending.add(task)
            return len(spare)

        try:
            while pending and len(results) < need:
                done, pending = await asyncio.wait(
                    pending, timeout=self._hedge_after, return_when=asyncio.FIRST_COMPLETED
                )
                for task in done:
                    index = owner[task]
                    try:
                        value = task.result()
                    except _SOURCE_ERRORS as exc:
                        self._failure(index, exc)
                        if not opening and task not in replacements:
                            await self._close(index)
                        spawn(1)
                        continue
                    if task in replacements and not opening:
                        self._active[index], value = value
                    results[index] = value
                if not done and spawn(len(pending)):
                    # Nothing answered for a whole hedge delay: every laggard gets company,
                    # again after each further delay (a hedge may land on a hung node too).
                    self.hedged += 1
        finally:
            for task in pending:
                task.cancel()
            for task in pending:
                index = owner[task]
                try:
                    value = await task
                except BaseException:
                    # Cancelled while slow (or failed meanwhile): not used for this segment.
                    self._failure(index, TimeoutError("no answer in time"), slow=True)
                    if not opening and task not in replacements:
                        await self._close(index)
                    continue
                # Answered after the race was decided: release what it holds.
                if opening:
                    with contextlib.suppress(Exception):
                        await value[0].__aexit__(None, None, None)
                elif task in replacements:
                    with contextlib.suppress(Exception):
                        await value[0][0].__aexit__(None, None, None)
                else:
                    await self._close(index)
        return results

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
            tasks = {i: asyncio.ensure_future(self._open(i, block)) for i in wanted}
            opened = await self._race(tasks, block, opening=True)
            for index, value in opened.items():
                self._active[index] = value

    async def fetch(self, block: int) -> dict[int, bytes]:
        """Fragments of ``block`` from k sources (all streams advance one block)."""
        while True:
            await self._ensure(block)
            tasks = {
                i: asyncio.ensure_future(reader.read_block(block))
                for i, (_, reader) in self._active.items()
            }
            fragments: dict[int, bytes] = await self._race(tasks, block, opening=False)
            if len(fragments) >= self._codec.k:
                # Streams that did not deliver are closed; the rest are all past ``block``.
                for index in [i for i in self._active if i not in fragments]:
                    await self._close(index)
                return fragments
            # Streams that did deliver this block are now past it: a replacement opened at
            # ``block`` could not line up with them, so start this block afresh everywhere.
            for index in list(self._active):
                await self._close(index)

    async def close(self) -> None:
        for index in list(self._active):
            await self._close(index)


_SegmentSources = SegmentSources  # the former private name


def verified_inline(manifest: ObjectManifest, data_key: bytes | None = None) -> bytes:
    """The bytes of an inline object, checked against its ETag (the MD5 of the bytes); a
    sealed one is opened with ``data_key`` first (its ETag is of the plaintext).

    Hashed on the event loop: at most 256 KiB, cheaper than a thread hop.
    """
    data = manifest.inline
    if data is None:
        raise ValueError("the object is not stored inline")
    if data_key is not None and manifest.attributes.encryption is not None:
        if len(data) != sealed_size(manifest.size):
            raise CorruptChunkError(
                f"inline bytes of {manifest.bucket}/{manifest.key} are not a sealed part of "
                f"{manifest.size} bytes"
            )
        try:
            data = bytes(Sealer(data_key, 1).open_run(0, data, manifest.size))
        except SealError as exc:
            raise CorruptChunkError(
                f"inline bytes of {manifest.bucket}/{manifest.key}: {exc}"
            ) from None
    md5 = hashlib.md5(data, usedforsecurity=False).hexdigest()
    if len(data) != manifest.size or md5 != manifest.etag.strip('"'):
        raise CorruptChunkError(
            f"inline bytes of {manifest.bucket}/{manifest.key} version {manifest.version_id} "
            f"do not match their size or ETag {manifest.etag}: the metadata copy is corrupt"
        )
    return data


# A piece of an object as the reader yields it: a view into a data fragment when the stripe
# needed no decoding (valid as long as the consumer holds it), else bytes.
Piece = bytes | memoryview


class ObjectReader:
    """Reads objects; ``reporter`` hears of missing and corrupt chunks (for repair),
    ``on_degraded`` of each segment read that had to decode parity (for metrics)."""

    def __init__(
        self,
        storage: StorageClient,
        reporter: BadChunkCallback | None = None,
        hedge_after: float = HEDGE_AFTER,
        on_degraded: Callable[[], None] | None = None,
    ) -> None:
        self._storage = storage
        self._reporter = reporter
        self._hedge_after = hedge_after
        self._on_degraded = on_degraded

    async def read(
        self, manifest: ObjectManifest, start: int, end: int, data_key: bytes | None = None
    ) -> AsyncIterator[Piece]:
        """Bytes ``[start, end)`` of the object's plaintext; a sealed object
        (``attributes.encryption``) needs its ``data_key`` and is opened package by package."""
        if not 0 <= start <= end <= manifest.size:
            raise ValueError(f"range [{start}, {end}) outside an object of {manifest.size}")
        sealed = manifest.attributes.encryption is not None
        if sealed and data_key is None:
            raise CustomerKeyError(
                f"{manifest.bucket}/{manifest.key} is encrypted: its key is needed to read it"
            )
        if manifest.inline is not None:
            data = verified_inline(manifest, data_key)
            if start < end:
                yield data[start:end]  # one piece: an inline object is small
            return
        part_start = 0
        for part in manifest.parts:
            part_end = part_start + part.size
            lo, hi = max(start, part_start) - part_start, min(end, part_end) - part_start
            if lo < hi:
                if data_key is None:
                    pieces = self._read_part(manifest.profile, part, lo, hi)
                else:
                    span = package_span(part.size, lo, hi)
                    stored = self._read_part(
                        manifest.profile, part, span.stored_start, span.stored_end
                    )
                    sealer = Sealer(data_key, part.part_number)
                    pieces = opened(stored, sealer, part.size, span, hi - lo)
                async for piece in pieces:
                    yield piece
            part_start = part_end
            if part_start >= end:
                break

    async def _read_part(
        self, profile: Profile, part: PartRecord, start: int, end: int
    ) -> AsyncIterator[Piece]:
        """Stored bytes ``[start, end)`` of one part, from the segments that hold them."""
        for segment in part.segments:
            lo = max(start, segment.offset)
            hi = min(end, segment.offset + segment.length)
            if lo < hi:
                async for piece in self._read_segment(
                    profile, segment, lo - segment.offset, hi - segment.offset
                ):
                    yield piece

    async def _one_fragment(
        self, codec: Codec, segment: Segment, block: int, stripe_len: int, skip: int, length: int
    ) -> Piece | None:
        """Bytes ``[skip, skip + length)`` of stripe ``block`` from the one data fragment that
        holds them, or None when they span fragments or that fragment does not answer."""
        payload = codec.fragment_size(stripe_len) - codec.fragment_header
        index = skip // payload
        if payload <= 0 or index >= codec.k or (skip + length - 1) // payload != index:
            return None
        placement = next((c for c in segment.chunks if c.fragment_index == index), None)
        if placement is None:
            return None
        try:
            async with asyncio.timeout(self._hedge_after):
                async with self._storage.open_chunk(
                    placement.node_address, placement.disk_id, placement.chunk_id, block, block
                ) as reader:
                    fragment = await reader.read_block(block)
        except _SOURCE_ERRORS as exc:
            # The full read tries this fragment again (data fragments first) and reports it.
            log.debug("fragment %d of segment %d: %r", index, segment.segment_index, exc)
            return None
        lo = codec.fragment_header + skip - index * payload
        if len(fragment) < lo + length:
            return None
        return memoryview(fragment)[lo : lo + length]

    async def _read_segment(
        self, profile: Profile, segment: Segment, start: int, end: int
    ) -> AsyncIterator[Piece]:
        codec = get_codec(profile.codec, profile.k, profile.m)
        span = stripes_for_range(segment.length, profile.stripe_size, start, end)
        if span.first == span.last and codec.k > 1:
            stripe_len = stripe_length(segment.length, profile.stripe_size, span.first)
            if span.length < stripe_len:
                piece = await self._one_fragment(
                    codec, segment, span.first, stripe_len, span.skip, span.length
                )
                if piece is not None:
                    yield piece
                    return
        sources = SegmentSources(
            self._storage,
            segment,
            codec,
            span.first,
            span.last,
            hedge_after=self._hedge_after,
            on_bad=self._reporter,
        )
        loop = asyncio.get_running_loop()
        skip, remaining = span.skip, span.length
        degraded = False
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
                # All data fragments in hand (the healthy case): their payloads are the
                # stripe, sent as views without decoding or copying. Otherwise decode.
                pieces: list[memoryview] | list[bytes] | None = codec.data_pieces(fragments, length)
                if pieces is None:
                    if not degraded and self._on_degraded is not None:
                        degraded = True
                        self._on_degraded()
                    pieces = [await loop.run_in_executor(None, codec.decode, fragments, length)]
                for whole in pieces:
                    if skip >= len(whole):
                        skip -= len(whole)
                        continue
                    piece = (
                        whole[skip : skip + remaining] if skip or remaining < len(whole) else whole
                    )
                    skip = 0
                    remaining -= len(piece)
                    if piece:
                        yield piece
                    if remaining <= 0:
                        break
        finally:
            if pending is not None:
                pending.cancel()
                with contextlib.suppress(BaseException):
                    await pending
            await sources.close()
