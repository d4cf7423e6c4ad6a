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


class SealingBody:
    """The sealed packages of ``body`` (plaintext), fed to ``digests`` on the way."""

    def __init__(self, body: BodySource, sealer: Sealer, digests: StreamDigests) -> None:
        self._body = body
        self._sealer = sealer
        self._digests = digests
        self._held = bytearray()
        self._next = 0  # index of the next package
        self._ended = False

    async def read(self) -> bytes:
        while not self._ended and len(self._held) < RUN * PACKAGE:
            piece = await self._body.read()
            if not piece:
                self._ended = True
                break
            self._held += piece
        take = len(self._held) if self._ended else len(self._held) // PACKAGE * PACKAGE
        if take == 0:
            return b""
        plain = bytes(self._held[:take])
        del self._held[:take]
        await self._digests.feed(plain)
        first = self._next
        self._next += -(-take // PACKAGE)
        if take <= PACKAGE:
            return bytes(self._sealer.seal_run(first, plain))
        loop = asyncio.get_running_loop()
        sealed = await loop.run_in_executor(None, self._sealer.seal_run, first, plain)
        # The writer's stripe cutter only copies from it: a bytearray does, without bytes().
        return cast(bytes, sealed)

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
    open: the chunks' CRCs held, so the sealed bytes were changed or the key is wrong)."""
    loop = asyncio.get_running_loop()
    held = bytearray()
    index = span.first
    skip, remaining = span.skip, length
    total = span.stored_end - span.stored_start
    seen = 0

    async def release(upto: int) -> AsyncIterator[bytes | memoryview]:
        nonlocal index, skip, remaining
        run = bytes(held[:upto])
        del held[:upto]
        try:
            if upto <= STORED_PACKAGE:
                plain = sealer.open_run(index, run, part_size)
            else:
                plain = await loop.run_in_executor(None, sealer.open_run, index, run, part_size)
        except SealError as exc:
            raise CorruptChunkError(str(exc)) from None
        index += -(-upto // STORED_PACKAGE)
        view = memoryview(plain)[skip : skip + remaining]
        skip = 0
        remaining -= len(view)
        if view:
            yield view

    async for piece in stored:
        held += piece
        seen += len(piece)
        whole = len(held) // STORED_PACKAGE * STORED_PACKAGE
        if whole >= RUN * STORED_PACKAGE or (seen == total and held):
            async for out in release(len(held) if seen == total else whole):
                yield out
    if held:
        async for out in release(len(held)):
            yield out
    if remaining:
        raise CorruptChunkError(f"the sealed part ended {remaining} bytes short")
