"""Request bodies as ``BodyReader``s (gateway layer, between aiohttp and the ObjectService).

Contract (see ``wormfs.gateway.service.BodyReader``): ``read()`` returns the next piece of
*payload* (at most ``PIECE`` = 1 MiB), ``b""`` at the end, and raises as soon as the body is
known to be bad: the piece that completes the body is returned only after every check on the
whole body passed, so a service that stops reading at the announced size still never commits
a bad body.

* ``PlainBody``: exactly ``length`` bytes (or, with no length, up to the end) read with
  ``readany()`` (the fast path under uvloop); too few -> ``IncompleteBodyError``; with
  ``expected_sha256`` (a hex ``x-amz-content-sha256``) the bytes must hash to it ->
  ``XAmzContentSHA256Mismatch``.
* ``AwsChunkedBody``: ``Content-Encoding: aws-chunked`` framing
  (``hex-size[;chunk-signature=sig]\\r\\n data \\r\\n ... 0[;chunk-signature=sig]\\r\\n
  [name:value\\r\\n ... x-amz-trailer-signature:sig\\r\\n] \\r\\n``): framing, chunk signatures
  (chained from the seed signature) and the trailer signature are checked and never reach the
  service as data; ``x-amz-checksum-*`` trailers are exposed by ``trailing_checksums()``.
  Chunk header lines are bounded to 4 KiB and the trailer section to 16 KiB.

SHA-256 of large pieces runs in the default executor (hashlib releases the GIL), batched to
about 1 MiB and overlapped with network reads, so hashing never blocks the event loop.
``before_first_read`` lets the app send ``100 Continue`` only when the body is wanted.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Protocol

from aiohttp.http_exceptions import HttpProcessingError
from aiohttp.web_protocol import RequestPayloadError

from wormfs.errors import IncompleteBodyError
from wormfs.gateway.errors import (
    InvalidRequest,
    MalformedTrailerError,
    MaxMessageLengthExceeded,
    SignatureDoesNotMatch,
    XAmzContentSHA256Mismatch,
)
from wormfs.gateway.service import BodyReader
from wormfs.gateway.sigv4 import EMPTY_SHA256, ChunkSigning, PayloadMode

PIECE = 1024 * 1024
HASH_BATCH = 1024 * 1024  # bytes handed to one executor job
INLINE_HASH_LIMIT = 64 * 1024  # below this, hashing on the loop costs less than a thread hop
MAX_CHUNK_HEADER = 4 * 1024
MAX_TRAILER_SECTION = 16 * 1024
_READ_ERRORS = (
    ConnectionError,
    asyncio.IncompleteReadError,
    HttpProcessingError,
    RequestPayloadError,
)

BeforeRead = Callable[[], Awaitable[None]]


class ByteSource(Protocol):
    """What bodies are read from: ``aiohttp.StreamReader`` in the app, fakes in tests."""

    async def readany(self) -> bytes: ...


def _update(hasher: hashlib._Hash, pieces: Sequence[bytes]) -> None:
    for piece in pieces:
        hasher.update(piece)


class BackgroundSha256:
    """SHA-256 over pieces fed in order; batches of ~1 MiB are hashed in the executor while
    the caller goes on reading, one job at a time (a hash object is never shared by threads)."""

    def __init__(self) -> None:
        self._hash = hashlib.sha256()
        self._pending: list[bytes] = []
        self._pending_size = 0
        self._job: asyncio.Future[None] | None = None

    async def feed(self, data: bytes) -> None:
        self._pending.append(data)
        self._pending_size += len(data)
        if self._pending_size >= HASH_BATCH:
            await self._submit()

    async def _submit(self) -> None:
        if self._job is not None:
            await self._job
            self._job = None
        batch, self._pending, self._pending_size = self._pending, [], 0
        self._job = asyncio.get_running_loop().run_in_executor(None, _update, self._hash, batch)

    async def hexdigest(self) -> str:
        if self._job is not None:
            await self._job
            self._job = None
        if self._pending_size > INLINE_HASH_LIMIT:
            await self._submit()
            await self.hexdigest()
        else:
            _update(self._hash, self._pending)
            self._pending, self._pending_size = [], 0
        return self._hash.hexdigest()


async def _readany(source: ByteSource) -> bytes:
    try:
        return await source.readany()
    except _READ_ERRORS:
        raise IncompleteBodyError("the connection ended inside the request body") from None


class PlainBody:
    """A body sent as is, ``length`` bytes long."""

    def __init__(
        self,
        source: ByteSource,
        length: int | None,
        expected_sha256: str | None = None,
        before_first_read: BeforeRead | None = None,
    ) -> None:
        self._source = source
        # None: HTTP chunked transfer without a declared length; read to the end.
        self._remaining = length if length is not None else -1
        self._expected = expected_sha256
        self._hash = BackgroundSha256() if expected_sha256 is not None else None
        self._before = before_first_read
        self._leftover = b""
        self._done = False

    async def read(self) -> bytes:
        if self._done:
            return b""
        if self._before is not None:
            before, self._before = self._before, None
            await before()
        if self._remaining == 0:
            await self._finish()
            return b""
        data, self._leftover = self._leftover, b""
        if not data:
            data = await _readany(self._source)
            if not data:
                if self._remaining < 0:
                    await self._finish()
                    return b""
                raise IncompleteBodyError(
                    "You did not provide the number of bytes specified by the Content-Length "
                    "HTTP header"
                )
        if 0 <= self._remaining < len(data):
            data = data[: self._remaining]
        if len(data) > PIECE:
            data, self._leftover = data[:PIECE], data[PIECE:]
        if self._remaining > 0:
            self._remaining -= len(data)
        if self._hash is not None:
            await self._hash.feed(data)
        if self._remaining == 0:
            await self._finish()
        return data

    async def _finish(self) -> None:
        self._done = True
        if self._hash is not None and self._expected is not None:
            computed = await self._hash.hexdigest()
            if not hmac.compare_digest(computed, self._expected):
                raise XAmzContentSHA256Mismatch(
                    ClientComputedContentSHA256=self._expected,
                    S3ComputedContentSHA256=computed,
                )

    def trailing_checksums(self) -> Mapping[str, str]:
        return {}


class AwsChunkedBody:
    """An ``aws-chunked`` body carrying ``decoded_length`` payload bytes."""

    def __init__(
        self,
        source: ByteSource,
        decoded_length: int,
        mode: PayloadMode,
        signing: ChunkSigning | None = None,
        announced_trailers: Sequence[str] = (),
        before_first_read: BeforeRead | None = None,
    ) -> None:
        if mode.signed_chunks and signing is None:
            raise ValueError("signed aws-chunked bodies need the signing context")
        self._source = source
        self._expected = decoded_length
        self._mode = mode
        self._signing = signing
        self._previous = signing.seed_signature if signing else ""
        self._announced = [t.strip().lower() for t in announced_trailers if t.strip()]
        self._before = before_first_read
        self._buf = b""
        self._pos = 0
        self._eof = False
        self._decoded = 0
        self._chunk_left = 0
        self._chunk_signature = ""
        self._chunk_hash: BackgroundSha256 | None = None
        self._trailers: dict[str, str] = {}
        self._done = False

    # ---- buffered reading ----------------------------------------------------------------
    async def _fill(self) -> bool:
        if self._eof:
            return False
        data = await _readany(self._source)
        if not data:
            self._eof = True
            return False
        rest = self._buf[self._pos :] if self._pos < len(self._buf) else b""
        self._buf = rest + data if rest else data
        self._pos = 0
        return True

    async def _line(self, limit: int) -> bytes:
        while True:
            end = self._buf.find(b"\n", self._pos)
            if end >= 0:
                if end - self._pos > limit:
                    break
                line = self._buf[self._pos : end]
                self._pos = end + 1
                return line[:-1] if line.endswith(b"\r") else line
            if len(self._buf) - self._pos > limit:
                break
            if not await self._fill():
                raise IncompleteBodyError("the aws-chunked body ended inside a chunk header")
        raise InvalidRequest("aws-chunked chunk header line is too long")

    async def _take(self, most: int) -> bytes:
        if self._pos >= len(self._buf) and not await self._fill():
            raise IncompleteBodyError("the aws-chunked body ended inside a chunk")
        end = min(len(self._buf), self._pos + most)
        # The whole buffer is handed over without a copy.
        whole = self._pos == 0 and end == len(self._buf)
        piece = self._buf if whole else self._buf[self._pos : end]
        self._pos = end
        return piece

    async def _rest(self, limit: int) -> bytes:
        """Everything up to the end of the body (the trailer section), at most ``limit``."""
        while not self._eof:
            if len(self._buf) - self._pos > limit:
                raise MalformedTrailerError("The trailer section is too large.")
            await self._fill()
        rest = self._buf[self._pos :]
        self._pos = len(self._buf)
        if len(rest) > limit:
            raise MalformedTrailerError("The trailer section is too large.")
        return rest

    # ---- framing -------------------------------------------------------------------------
    async def read(self) -> bytes:
        if self._done:
            return b""
        if self._before is not None:
            before, self._before = self._before, None
            await before()
        while self._chunk_left == 0:
            await self._start_chunk()
            if self._done:
                return b""
        data = await self._take(min(self._chunk_left, PIECE))
        self._chunk_left -= len(data)
        self._decoded += len(data)
        if self._chunk_hash is not None:
            await self._chunk_hash.feed(data)
        if self._chunk_left == 0:
            await self._end_chunk()
            if self._decoded == self._expected:
                # Check the final chunk and the trailers before handing over the last piece.
                await self._start_chunk()
                if not self._done:
                    raise IncompleteBodyError("the aws-chunked body is longer than announced")
        return data

    async def _start_chunk(self) -> None:
        line = await self._line(MAX_CHUNK_HEADER)
        size_text, _, extensions = line.partition(b";")
        try:
            size = int(size_text.strip(), 16) if 0 < len(size_text.strip()) <= 16 else -1
        except ValueError:
            size = -1
        if size < 0:
            raise InvalidRequest("malformed aws-chunked chunk header")
        signature = ""
        for ext in extensions.split(b";"):
            name, _, value = ext.strip().partition(b"=")
            if name == b"chunk-signature":
                signature = value.decode("ascii", "replace")
        if self._mode.signed_chunks and not signature:
            raise InvalidRequest("aws-chunked chunk header lacks its chunk-signature")
        if self._decoded + size > self._expected:
            raise IncompleteBodyError("the aws-chunked body is longer than announced")
        self._chunk_signature = signature
        if size == 0:
            await self._check_signature(EMPTY_SHA256)
            await self._finish()
            return
        self._chunk_left = size
        self._chunk_hash = BackgroundSha256() if self._mode.signed_chunks else None

    async def _end_chunk(self) -> None:
        if self._chunk_hash is not None:
            digest = await self._chunk_hash.hexdigest()
            self._chunk_hash = None
            await self._check_signature(digest)
        # The chunk's data ends with CRLF.
        while len(self._buf) - self._pos < 2:
            if not await self._fill():
                raise IncompleteBodyError("the aws-chunked body ended inside a chunk")
        if self._buf[self._pos : self._pos + 2] != b"\r\n":
            raise InvalidRequest("aws-chunked chunk data is not followed by CRLF")
        self._pos += 2

    async def _check_signature(self, chunk_sha256: str) -> None:
        if self._signing is None:
            return
        expected = self._signing.chunk_signature(self._previous, chunk_sha256)
        if not hmac.compare_digest(expected, self._chunk_signature):
            raise SignatureDoesNotMatch(
                "The chunk signature we calculated does not match the signature you provided."
            )
        self._previous = expected

    async def _finish(self) -> None:
        """After the zero-length chunk: the trailer section, then the end of the body."""
        section = await self._rest(MAX_TRAILER_SECTION)
        # The section ends with an empty line; without it the body was cut short (a client
        # with nothing to trail may also end right after the final chunk).
        if section and not (section in (b"\r\n", b"\n") or section.endswith((b"\n\r\n", b"\n\n"))):
            raise IncompleteBodyError("the aws-chunked body ended inside its trailer section")
        trailers: list[tuple[str, str]] = []
        trailer_signature = None
        # Lines end in CRLF; some signers end trailer lines with a bare LF. Blank lines are
        # separators only.
        for raw in section.split(b"\n"):
            line = raw.rstrip(b"\r").strip()
            if not line:
                continue
            name, colon, value = line.partition(b":")
            if not colon:
                raise MalformedTrailerError()
            key = name.strip().decode("ascii", "replace").lower()
            text = value.strip().decode("utf-8", "replace")
            if key == "x-amz-trailer-signature":
                trailer_signature = text
            else:
                trailers.append((key, text))
        if trailers and self._mode is PayloadMode.STREAMING_SIGNED:
            raise MalformedTrailerError("Trailers were sent without x-amz-trailer.")
        if self._mode is PayloadMode.STREAMING_SIGNED_TRAILER:
            assert self._signing is not None
            if trailer_signature is None:
                raise MalformedTrailerError("The trailer signature is missing.")
            canonical = "".join(f"{k}:{v}\n" for k, v in trailers).encode()
            expected = self._signing.trailer_signature(
                self._previous, hashlib.sha256(canonical).hexdigest()
            )
            if not hmac.compare_digest(expected, trailer_signature):
                raise SignatureDoesNotMatch(
                    "The trailer signature we calculated does not match the signature you provided."
                )
        received = {k for k, _ in trailers}
        missing = [t for t in self._announced if t not in received]
        if missing:
            raise MalformedTrailerError(f"The announced trailer {missing[0]} was not sent.")
        if self._decoded != self._expected:
            raise IncompleteBodyError(
                f"the aws-chunked body carried {self._decoded} bytes, "
                f"x-amz-decoded-content-length says {self._expected}"
            )
        self._trailers = {
            k.removeprefix("x-amz-checksum-"): v
            for k, v in trailers
            if k.startswith("x-amz-checksum-")
        }
        self._done = True

    def trailing_checksums(self) -> Mapping[str, str]:
        return dict(self._trailers)


async def read_all(body: BodyReader, limit: int) -> bytes:
    """The whole (small) body, e.g. an XML document; ``MaxMessageLengthExceeded`` past ``limit``."""
    pieces: list[bytes] = []
    size = 0
    while True:
        piece = await body.read()
        if not piece:
            return b"".join(pieces)
        size += len(piece)
        if size > limit:
            raise MaxMessageLengthExceeded()
        pieces.append(piece)
