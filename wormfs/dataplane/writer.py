"""ObjectWriter: stream one object (or one multipart part) of known size into chunks.

Layer: data plane. Contract: ``write`` reads exactly ``size`` bytes from the body, cuts them
into the grant's segments and each segment into stripes, encodes every stripe into k+m
fragments and streams fragment i of every stripe of a segment to the chunk placed for index i,
one streaming PUT per chunk. The headers are chunk format v2: those of the first segment
(segment index 0) carry ``record``, the object record the caller built (chunk format
``wormfs.format.chunkrecord``), so the manifest can be rebuilt from any k of them. It returns
only after every chunk of every segment is durable on its node (the node answers only after
fsync + rename + directory fsync). Anything that goes wrong (a node refuses or dies, the body
is short or long) raises, and the chunks already written are left for the coordinator's
abandoned-write collection — nothing is committed here.
``read_exact`` gathers a whole small body (an inline object, stored without chunks) with the
same length checks and error.

At most ``active_writes`` writes of one ``ObjectWriter`` (one per process) stream at once;
later ones wait in line before reading their first byte.

Pipelining: while stripe N is being encoded (executor) and hashed (executor, ordered), stripe
N+1 is read from the body and stripe N-1's fragments are on their way to the nodes. Each chunk
stream has a queue of at most ``QUEUE_DEPTH`` fragments, so memory per request is a few stripes
and a slow node slows the writer instead of filling memory.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Protocol

from wormfs.clients.storage import StorageClient
from wormfs.dataplane.hashing import StreamDigests
from wormfs.dataplane.tasks import run_together
from wormfs.erasure import Codec, get_codec
from wormfs.errors import IncompleteBodyError
from wormfs.format.chunkformat import ChunkHeader
from wormfs.format.chunkrecord import ObjectRecord
from wormfs.format.layout import Profile
from wormfs.wire.coordinator import Segment, WriteGrant
from wormfs.wire.storage import ChunkPutResult

QUEUE_DEPTH = 2
# Writes streaming at once per process; more wait their turn (their clients are held back by
# TCP flow control), so memory is bounded per process, not only per request: about 8-10 MB
# per active write (a stripe buffer and its copy, two stripes' fragments, the chunk queues,
# aiohttp's buffers). A few writes already keep the codec and the links to the nodes busy.
ACTIVE_WRITES = 6


class BodySource(Protocol):
    """What the writer reads: ``read()`` gives the next piece, ``b""`` at the end."""

    async def read(self) -> bytes: ...


@dataclass(frozen=True)
class WriteResult:
    size: int
    segments: list[Segment]
    digests: StreamDigests


class _StripeCutter:
    """Cuts an incoming stream of pieces into stripes of exact lengths, reusing one buffer."""

    def __init__(self, body: BodySource, stripe_size: int) -> None:
        self._body = body
        self._buf = bytearray(stripe_size)
        self._leftover = memoryview(b"")
        self.received = 0

    async def next_stripe(self, length: int) -> bytes:
        """Exactly ``length`` bytes; ``IncompleteBodyError`` if the body ends first."""
        filled = 0
        view = memoryview(self._buf)
        while filled < length:
            if not self._leftover:
                piece = await self._body.read()
                if not piece:
                    raise IncompleteBodyError(
                        f"the body ended after {self.received + filled} bytes"
                    )
                self._leftover = memoryview(piece)
            take = min(length - filled, len(self._leftover))
            view[filled : filled + take] = self._leftover[:take]
            self._leftover = self._leftover[take:]
            filled += take
        self.received += length
        return bytes(view[:length])

    async def expect_end(self) -> None:
        """The body must hold nothing more (the reader also validates its trailer here)."""
        if self._leftover:
            raise IncompleteBodyError("the body is longer than its declared length")
        extra = await self._body.read()
        if extra:
            raise IncompleteBodyError("the body is longer than its declared length")


async def read_exact(body: BodySource, size: int) -> bytes:
    """The whole body, which must be exactly ``size`` bytes (``IncompleteBodyError`` if not).

    Only for small bodies (inline objects): they are held whole. Reads until ``b""`` so that
    the body reader validates its end (trailer, payload hash), but stops as soon as it runs
    long, so memory stays bounded by ``size`` plus one piece.
    """
    pieces: list[bytes] = []
    received = 0
    while piece := await body.read():
        received += len(piece)
        if received > size:
            raise IncompleteBodyError("the body is longer than its declared length")
        pieces.append(piece)
    if received != size:
        raise IncompleteBodyError(f"the body ended after {received} bytes")
    return pieces[0] if len(pieces) == 1 else b"".join(pieces)


async def _queue_body(queue: asyncio.Queue[bytes | None]) -> AsyncIterator[bytes]:
    while True:
        item = await queue.get()
        if item is None:
            return
        yield item


class ObjectWriter:
    def __init__(self, storage: StorageClient, active_writes: int = ACTIVE_WRITES) -> None:
        self._storage = storage
        self._active = asyncio.Semaphore(active_writes)

    async def write(
        self,
        grant: WriteGrant,
        bucket: str,
        key: str,
        part_number: int,
        size: int,
        body: BodySource,
        digests: StreamDigests,
        record: ObjectRecord | None = None,
    ) -> WriteResult:
        profile = grant.profile
        codec = get_codec(profile.codec, profile.k, profile.m)
        async with self._active:
            cutter = _StripeCutter(body, profile.stripe_size)
            for segment in grant.segments:
                await self._write_segment(
                    codec,
                    profile,
                    grant.version_id,
                    bucket,
                    key,
                    part_number,
                    segment,
                    cutter,
                    digests,
                    record if segment.segment_index == 0 else None,
                )
            await cutter.expect_end()
            await digests.finish()
        if cutter.received != size:
            raise IncompleteBodyError(f"received {cutter.received} bytes, expected {size}")
        return WriteResult(size=size, segments=list(grant.segments), digests=digests)

    async def _write_segment(
        self,
        codec: Codec,
        profile: Profile,
        version_id: str,
        bucket: str,
        key: str,
        part_number: int,
        segment: Segment,
        cutter: _StripeCutter,
        digests: StreamDigests,
        record: ObjectRecord | None,
    ) -> list[ChunkPutResult]:
        queues: list[asyncio.Queue[bytes | None]] = [
            asyncio.Queue(QUEUE_DEPTH) for _ in segment.chunks
        ]
        loop = asyncio.get_running_loop()

        async def feed() -> None:
            pending: asyncio.Future[list[bytes]] | None = None
            remaining = segment.length
            while remaining:
                length = min(profile.stripe_size, remaining)
                stripe = await cutter.next_stripe(length)
                remaining -= length
                await digests.feed(stripe)
                encoded = loop.run_in_executor(None, codec.encode, stripe)
                if pending is not None:
                    await _dispatch(await pending)
                pending = encoded
            if pending is not None:
                await _dispatch(await pending)
            for queue in queues:
                await queue.put(None)

        async def _dispatch(fragments: list[bytes]) -> None:
            for placement, queue in zip(segment.chunks, queues, strict=True):
                await queue.put(fragments[placement.fragment_index])

        async def put(index: int) -> ChunkPutResult:
            placement = segment.chunks[index]
            header = ChunkHeader(
                chunk_id=placement.chunk_id,
                version_id=version_id,
                part_number=part_number,
                segment_index=segment.segment_index,
                fragment_index=placement.fragment_index,
                profile=profile,
                segment_offset=segment.offset,
                segment_length=segment.length,
                bucket=bucket,
                key=key,
                record=record,
            )
            return await self._storage.put_chunk(
                placement.node_address, placement.disk_id, header, _queue_body(queues[index])
            )

        # A failing chunk PUT cancels the feeder and the other PUTs, and vice versa.
        results = await run_together([feed(), *(put(i) for i in range(len(segment.chunks)))])
        return [r for r in results[1:] if isinstance(r, ChunkPutResult)]
