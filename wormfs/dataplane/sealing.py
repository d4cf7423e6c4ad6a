"""Sealing on the data path: plaintext in, sealed packages out, and back.

Layer: data plane (between a front door's body and ``ObjectWriter``, and inside
``ObjectReader``). Contract: ``SealingBody`` is the ``BodySource`` the writer reads when a part
is sealed: it reads the plaintext body, feeds it to the caller's digests (the ETag and the
checksums are of the plaintext, as S3 computes them) and hands out the sealed packages of
``wormfs.format.sealing``, exactly ``sealed_size(size)`` bytes for ``size`` of plaintext.
``opened`` turns the stored pieces of a package span back into the plaintext of a range.
Runs of ``RUN`` packages are sealed and opened in the executor (``encrypt_into`` releases the
GIL), so the event loop never spends more than a package's worth of crypto at once.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping
from typing import cast

from wormfs.dataplane.hashing import StreamDigests
from wormfs.dataplane.writer import BodySource
from wormfs.errors import CorruptChunkError
from wormfs.format.sealing import PACKAGE, STORED_PACKAGE, PackageSpan, Sealer, SealError

RUN = 16  # packages sealed or opened per executor hop (1 MiB of plaintext)


class _Pieces:
    """Pieces held until a run of whole packages can be cut off them: each piece is kept as
    it came (no copy) and a run is joined once, its leftover (less than a package) copied."""

    def __init__(self) -> None:
        self._pieces: list[bytes | memoryview] = []
        self.size = 0

    def add(self, piece: bytes | memoryview) -> None:
        self._pieces.append(piece)
        self.size += len(piece)

    def cut(self, length: int) -> bytes:
        """The first ``length`` bytes held, in one buffer; the rest stays."""
        joined = self._pieces[0] if len(self._pieces) == 1 else b"".join(self._pieces)
        view = memoryview(joined)
        rest = view[length:]
        self._pieces = [bytes(rest)] if rest else []
        self.size = len(rest)
        return joined if not rest and isinstance(joined, bytes) else bytes(view[:length])


class SealingBody:
    """The sealed packages of ``body`` (plaintext), fed to ``digests`` on the way.

    Pipelined: while run N is sealed in the executor, run N+1 is read from the body."""

    def __init__(self, body: BodySource, sealer: Sealer, digests: StreamDigests) -> None:
        self._body = body
        self._sealer = sealer
        self._digests = digests
        self._held = _Pieces()
        self._next = 0  # index of the next package
        self._ended = False
        self._sealing: asyncio.Future[bytearray] | None = None

    async def _next_run(self) -> asyncio.Future[bytearray] | None:
        """Read the next run of plaintext, hash it, and start sealing it (None at the end)."""
        while not self._ended and self._held.size < RUN * PACKAGE:
            piece = await self._body.read()
            if not piece:
                self._ended = True
                break
            self._held.add(piece)
        size = self._held.size
        take = size if self._ended else size // PACKAGE * PACKAGE
        if take == 0:
            return None
        plain = self._held.cut(take)
        await self._digests.feed(plain)
        first = self._next
        self._next += -(-take // PACKAGE)
        loop = asyncio.get_running_loop()
        if take <= PACKAGE:
            done: asyncio.Future[bytearray] = loop.create_future()
            done.set_result(self._sealer.seal_run(first, plain))
            return done
        return loop.run_in_executor(None, self._sealer.seal_run, first, plain)

    async def read(self) -> bytes:
        if self._sealing is None:
            self._sealing = await self._next_run()
            if self._sealing is None:
                return b""
        current = self._sealing
        try:
            self._sealing = await self._next_run()
        except BaseException:
            current.cancel()
            raise
        # The writer's stripe cutter only copies from it: a bytearray does, without bytes().
        return cast(bytes, await current)

    def trailing_checksums(self) -> Mapping[str, str]:
        """The plaintext body's trailer (aws-chunked uploads), for the caller's checks."""
        trailing = getattr(self._body, "trailing_checksums", None)
        return trailing() if trailing is not None else {}


async def opened(
    stored: AsyncIterator[bytes | memoryview],
    sealer: Sealer,
    part_size: int,
    span: PackageSpan,
    length: int,
) -> AsyncIterator[bytes | memoryview]:
    """The ``length`` plaintext bytes from ``span.skip`` of the first package of ``span``,
    given the stored bytes of its packages in order (``CorruptChunkError`` if one does not
    open: the chunks' CRCs held, so the sealed bytes were changed or the key is wrong).

    Pipelined: while run N is opened in the executor, run N+1 is read from the chunks."""
    loop = asyncio.get_running_loop()
    held = _Pieces()
    index = span.first
    skip, remaining = span.skip, length
    total = span.stored_end - span.stored_start
    seen = 0
    opening: asyncio.Future[bytearray] | None = None

    async def plaintext(future: asyncio.Future[bytearray]) -> memoryview:
        nonlocal skip, remaining
        try:
            plain = await future
        except SealError as exc:
            raise CorruptChunkError(str(exc)) from None
        view = memoryview(plain)[skip : skip + remaining]
        skip = 0
        remaining -= len(view)
        return view

    try:
        ended = False
        while not ended:
            piece = await anext(stored, None)
            if piece is not None:
                held.add(piece)
                seen += len(piece)
            ended = piece is None or seen >= total
            whole = held.size if ended else held.size // STORED_PACKAGE * STORED_PACKAGE
            if whole == 0 or (not ended and whole < RUN * STORED_PACKAGE):
                continue
            run = held.cut(whole)
            started = loop.run_in_executor(None, sealer.open_run, index, run, part_size)
            index += -(-whole // STORED_PACKAGE)
            if opening is not None:
                view = await plaintext(opening)
                if view:
                    yield view
            opening = started
        if opening is not None:
            current, opening = opening, None
            view = await plaintext(current)
            if view:
                yield view
    finally:
        if opening is not None:
            opening.cancel()
    if remaining:
        raise CorruptChunkError(f"the sealed part ended {remaining} bytes short")
