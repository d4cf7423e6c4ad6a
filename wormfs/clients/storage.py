"""Clients layer: the storage-node API client (``wormfs.wire.storage`` is the contract).

One ``StorageClient`` per process, over one shared ``aiohttp.ClientSession``; the node's base
URL is given per call, because every chunk lives on a different node. Every request is signed
with the cluster secret (``wormfs.internal.auth``) over exactly the path and query sent.

Errors: a node that cannot be reached (connect failure, reset, timeout) is ``UnavailableError``;
an error body becomes the domain error it names (``NoSuchChunkError``, ``CorruptChunkError``,
``DiskOfflineError``...). A chunk stream that ends early is ``CorruptChunkError``: a node cuts a
stream short only when a later block fails its checksum, and to a reader either way the
fragment is lost and must be rebuilt from others.

The chunk header travels in ``X-Wormfs-Chunk-Header``; its codec is the wire schema's
(``wormfs.wire.storage.encode_header_value``/``decode_header_value``), shared with the node.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterable, AsyncIterator

import aiohttp
import msgspec

from wormfs.errors import (
    AuthError,
    CorruptChunkError,
    DiskFullError,
    DiskOfflineError,
    ForbiddenError,
    InvalidInputError,
    NoSuchChunkError,
    UnavailableError,
    WormError,
)
from wormfs.format.chunkformat import ChunkHeader, blocks_payload_size
from wormfs.internal.auth import sign
from wormfs.internal.http import InternalClient
from wormfs.wire.common import decode, raise_error_body
from wormfs.wire.storage import (
    CHUNK_HEADER_HEADER,
    ChunkPutResult,
    ChunkRef,
    DeleteChunks,
    DeleteChunksResult,
    DiskList,
    InventoryPage,
    NodeHealth,
    VerifyResult,
    decode_header_value,
    encode_header_value,
)

OCTET_STREAM = "application/octet-stream"
# HEAD answers carry no body, so their error class is known only from the status.
_HEAD_ERRORS: dict[int, type[WormError]] = {
    400: InvalidInputError,
    401: AuthError,
    403: ForbiddenError,
    404: NoSuchChunkError,
    422: CorruptChunkError,
    503: DiskOfflineError,
    507: DiskFullError,
}


def _chunk_path(disk_id: str, chunk_id: str) -> str:
    return f"/v1/disks/{disk_id}/chunks/{chunk_id}"


class ChunkReader:
    """Blocks ``first..last`` of one chunk as a node streams them, read strictly in order."""

    def __init__(
        self, response: aiohttp.ClientResponse, header: ChunkHeader, first: int, last: int
    ) -> None:
        self.header = header
        self.first = first
        self.last = last
        self._response = response
        self._next = first

    async def read_block(self, block: int) -> bytes:
        """Exactly ``header.fragment_size(block)`` bytes of fragment ``block`` (verified by
        the node before sending)."""
        if block != self._next or block > self.last:
            raise ValueError(f"expected block {self._next} (of {self.first}..{self.last})")
        size = self.header.fragment_size(block)
        try:
            data = await self._response.content.readexactly(size)
        except (asyncio.IncompleteReadError, aiohttp.ClientPayloadError) as exc:
            raise CorruptChunkError(
                f"chunk {self.header.chunk_id} stream ended in block {block}"
            ) from exc
        except (aiohttp.ClientError, OSError, TimeoutError) as exc:
            raise UnavailableError(
                f"chunk {self.header.chunk_id} stream failed in block {block}: {exc!r}"
            ) from exc
        self._next = block + 1
        return data


class StorageClient:
    """Signed calls to any storage node's ``/v1`` API (``address`` = the node's base URL)."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        secret: bytes,
        *,
        connect_timeout: float = 10.0,
        read_timeout: float = 60.0,
    ) -> None:
        self._session = session
        self._secret = secret
        # No total timeout on chunk streams (their length varies); a stalled socket still fails.
        self._stream_timeout = aiohttp.ClientTimeout(
            total=None, sock_connect=connect_timeout, sock_read=read_timeout
        )

    def _json(self, address: str) -> InternalClient:
        return InternalClient(self._session, address, self._secret)

    # ---- chunk data ----------------------------------------------------------------------------
    async def put_chunk(
        self,
        address: str,
        disk_id: str,
        header: ChunkHeader,
        body: AsyncIterable[bytes],
    ) -> ChunkPutResult:
        """Stream a chunk's fragment bytes (all blocks back to back, no CRCs) to a node."""
        path = _chunk_path(disk_id, header.chunk_id)
        headers = sign(self._secret, "PUT", path)
        headers[CHUNK_HEADER_HEADER] = encode_header_value(header)
        headers["Content-Type"] = OCTET_STREAM
        # A known length: no chunked encoding, and the node can refuse a bad size up front.
        headers["Content-Length"] = str(blocks_payload_size(header, 0, header.block_count - 1))
        url = address.rstrip("/") + path
        try:
            async with self._session.put(
                url, data=body, headers=headers, timeout=self._stream_timeout
            ) as resp:
                data = await resp.read()
                if resp.status != 201:
                    raise raise_error_body(data, resp.status)
        except (aiohttp.ClientError, OSError, TimeoutError) as exc:
            raise UnavailableError(f"PUT {url}: {exc!r}") from exc
        try:
            return decode(data, ChunkPutResult)
        except (msgspec.ValidationError, msgspec.DecodeError) as exc:
            raise WormError(f"bad ChunkPutResult from {url}: {exc}") from exc

    @contextlib.asynccontextmanager
    async def open_chunk(
        self,
        address: str,
        disk_id: str,
        chunk_id: str,
        first: int | None = None,
        last: int | None = None,
    ) -> AsyncIterator[ChunkReader]:
        """Open a verified stream of blocks ``first..last`` (default: the whole chunk)."""
        path = _chunk_path(disk_id, chunk_id)
        query: dict[str, str] = {}
        if first is not None:
            query["first"] = str(first)
        if last is not None:
            query["last"] = str(last)
        headers = sign(self._secret, "GET", path, query.items())
        url = address.rstrip("/") + path
        try:
            resp = await self._session.get(
                url, params=query, headers=headers, timeout=self._stream_timeout
            )
        except (aiohttp.ClientError, OSError, TimeoutError) as exc:
            raise UnavailableError(f"GET {url}: {exc!r}") from exc
        try:
            if resp.status != 200:
                try:
                    data = await resp.read()
                except (aiohttp.ClientError, OSError, TimeoutError) as exc:
                    raise UnavailableError(f"GET {url}: {exc!r}") from exc
                raise raise_error_body(data, resp.status)
            try:
                header = decode_header_value(resp.headers.get(CHUNK_HEADER_HEADER))
            except InvalidInputError as exc:
                raise WormError(f"GET {url}: {exc.message}") from None
            if header.chunk_id != chunk_id:
                raise CorruptChunkError(f"GET {url} answered with chunk {header.chunk_id}")
            lo = 0 if first is None else first
            hi = header.block_count - 1 if last is None else last
            yield ChunkReader(resp, header, lo, hi)
        finally:
            # A partly read stream cannot be reused: release() closes its connection.
            resp.release()

    async def head_chunk(self, address: str, disk_id: str, chunk_id: str) -> ChunkHeader:
        """The chunk's header (verified by the node); ``NoSuchChunkError`` when absent."""
        path = _chunk_path(disk_id, chunk_id)
        url = address.rstrip("/") + path
        try:
            async with self._session.head(
                url,
                headers=sign(self._secret, "HEAD", path),
                timeout=aiohttp.ClientTimeout(total=30.0),
            ) as resp:
                status = resp.status
                value = resp.headers.get(CHUNK_HEADER_HEADER)
        except (aiohttp.ClientError, OSError, TimeoutError) as exc:
            raise UnavailableError(f"HEAD {url}: {exc!r}") from exc
        if status != 200:
            raise _HEAD_ERRORS.get(status, WormError)(f"HEAD {url} answered {status}")
        try:
            return decode_header_value(value)
        except InvalidInputError as exc:
            raise WormError(f"HEAD {url}: {exc.message}") from None

    # ---- chunk management ----------------------------------------------------------------------
    async def delete_chunk(self, address: str, disk_id: str, chunk_id: str) -> None:
        """Delete one chunk; ``NoSuchChunkError`` when it is not there."""
        await self._json(address).request("DELETE", _chunk_path(disk_id, chunk_id), ok=(204,))

    async def delete_chunks(self, address: str, refs: list[ChunkRef]) -> DeleteChunksResult:
        """Delete many chunks on one node; each ref comes back deleted, missing or failed."""
        return await self._json(address).call(
            "POST", "/v1/chunks/delete", DeleteChunksResult, body=DeleteChunks(chunks=refs)
        )

    async def verify_chunk(self, address: str, disk_id: str, chunk_id: str) -> VerifyResult:
        """Have the node read and check every block of a chunk."""
        return await self._json(address).call(
            "POST", _chunk_path(disk_id, chunk_id) + "/verify", VerifyResult, timeout=300.0
        )

    async def inventory(
        self, address: str, disk_id: str, after: str | None, limit: int
    ) -> InventoryPage:
        """One page of the chunk ids on a disk, sorted, strictly after ``after``."""
        query = {"limit": str(limit)}
        if after is not None:
            query["after"] = after
        return await self._json(address).call(
            "GET", f"/v1/disks/{disk_id}/inventory", InventoryPage, query=query
        )

    # ---- node --------------------------------------------------------------------------------
    async def disks(self, address: str) -> DiskList:
        return await self._json(address).call("GET", "/v1/disks", DiskList)

    async def health(self, address: str) -> NodeHealth:
        return await self._json(address).call("GET", "/v1/health", NodeHealth)
