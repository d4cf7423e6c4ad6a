"""Benchmark client, transport: the few S3 calls the benchmark makes, over one aiohttp session.

Path-style addressing (``http://host:port/bucket/key``), SigV4 header auth with
``UNSIGNED-PAYLOAD`` (``sigv4.SigV4Signer``). Every call raises ``S3Error`` on a non-2xx answer
(with the status and the S3 error code when the body has one) and returns what the benchmark
counts: bytes sent or received, or keys listed. Response bodies of GETs are read and dropped
piece by piece as they arrive, so a GET of a 1 GiB object holds one socket buffer, not the
object.

Request bodies are never built per request: small objects are one ``bytes`` made once per cell
and sent by every PUT; objects larger than the client's payload block are streamed as
``memoryview`` slices of that block, repeated until the object's size (``stream_body``), with
``Content-Length`` set so that no store sees a chunked upload.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from dataclasses import dataclass

import aiohttp
from yarl import URL

from .sigv4 import SigV4Signer, canonical_query, encode_path

SEND_PIECE = 1 << 20  # bytes per slice of a streamed PUT body
ERROR_CODE = re.compile(rb"<Code>([^<]*)</Code>")
KEY_COUNT = re.compile(rb"<Key>")


class S3Error(Exception):
    """A non-2xx S3 answer (or a transport failure mapped to status 0)."""

    def __init__(self, status: int, code: str, op: str) -> None:
        super().__init__(f"{op}: HTTP {status} {code}".strip())
        self.status = status
        self.code = code


async def stream_body(block: memoryview, size: int) -> AsyncIterator[memoryview]:
    """``size`` bytes made of ``block`` repeated, in slices of at most ``SEND_PIECE``."""
    sent = 0
    while sent < size:
        offset = sent % len(block)
        piece = min(SEND_PIECE, size - sent, len(block) - offset)
        yield block[offset : offset + piece]
        sent += piece


@dataclass
class S3Client:
    """S3 calls against one endpoint (``http://host:port``) with one set of keys."""

    session: aiohttp.ClientSession
    endpoint: str
    signer: SigV4Signer

    def __post_init__(self) -> None:
        url = URL(self.endpoint)
        if url.host is None:
            raise ValueError(f"endpoint {self.endpoint!r} has no host")
        self._base = f"{url.scheme}://{url.host}:{url.port}"
        default_port = 443 if url.scheme == "https" else 80
        self._host: str = url.host if url.port == default_port else f"{url.host}:{url.port}"

    def _request(
        self, method: str, bucket: str, key: str = "", query: dict[str, str] | None = None
    ) -> tuple[URL, dict[str, str]]:
        path = encode_path(f"/{bucket}/{key}" if key else f"/{bucket}")
        q = canonical_query((query or {}).items())
        headers = self.signer.sign(method, self._host, path, q)
        url = URL(f"{self._base}{path}?{q}" if q else f"{self._base}{path}", encoded=True)
        return url, headers

    @staticmethod
    async def _fail(resp: aiohttp.ClientResponse, op: str) -> S3Error:
        body = await resp.read() if resp.method != "HEAD" else b""
        match = ERROR_CODE.search(body)
        return S3Error(resp.status, match.group(1).decode() if match else "", op)

    async def create_bucket(self, bucket: str) -> None:
        """CreateBucket; a bucket this user already owns counts as created."""
        url, headers = self._request("PUT", bucket)
        async with self.session.put(url, headers=headers) as resp:
            if resp.status >= 300:
                error = await self._fail(resp, "CreateBucket")
                if error.code != "BucketAlreadyOwnedByYou":
                    raise error

    async def delete_bucket(self, bucket: str) -> None:
        url, headers = self._request("DELETE", bucket)
        async with self.session.delete(url, headers=headers) as resp:
            if resp.status >= 300:
                raise await self._fail(resp, "DeleteBucket")

    async def list_buckets(self) -> None:
        """ListBuckets (``GET /``): used to wait until an endpoint answers signed requests."""
        path = "/"
        headers = self.signer.sign("GET", self._host, path)
        async with self.session.get(URL(self._base + path, encoded=True), headers=headers) as r:
            if r.status >= 300:
                raise await self._fail(r, "ListBuckets")
            await r.read()

    async def put(self, bucket: str, key: str, body: bytes | memoryview, size: int) -> int:
        """PutObject of ``size`` bytes: ``body`` itself, or ``body`` repeated when shorter."""
        url, headers = self._request("PUT", bucket, key)
        headers["Content-Length"] = str(size)
        data: bytes | memoryview | AsyncIterator[memoryview]
        if len(body) >= size:
            data = body if len(body) == size else memoryview(body)[:size]
        else:
            data = stream_body(memoryview(body), size)
        async with self.session.put(url, data=data, headers=headers) as resp:
            if resp.status >= 300:
                raise await self._fail(resp, "PutObject")
            await resp.read()
        return size

    async def get(self, bucket: str, key: str) -> int:
        """GetObject; the body is read and dropped. Returns the bytes received."""
        url, headers = self._request("GET", bucket, key)
        async with self.session.get(url, headers=headers) as resp:
            if resp.status >= 300:
                raise await self._fail(resp, "GetObject")
            received = 0
            while True:
                # readany() hands over what the socket delivered, as it is: read(n) would join
                # pieces into n-byte buffers, about 3x the client CPU for large bodies.
                piece = await resp.content.readany()
                if not piece:
                    break
                received += len(piece)
            if resp.content_length is not None and received != resp.content_length:
                raise S3Error(resp.status, "ShortBody", "GetObject")
            return received

    async def head(self, bucket: str, key: str) -> int:
        """HeadObject; returns 0 (no body bytes move)."""
        url, headers = self._request("HEAD", bucket, key)
        async with self.session.head(url, headers=headers) as resp:
            if resp.status >= 300:
                raise await self._fail(resp, "HeadObject")
        return 0

    async def delete(self, bucket: str, key: str) -> int:
        """DeleteObject; returns 0."""
        url, headers = self._request("DELETE", bucket, key)
        async with self.session.delete(url, headers=headers) as resp:
            if resp.status >= 300:
                raise await self._fail(resp, "DeleteObject")
            await resp.read()
        return 0

    async def list(self, bucket: str, prefix: str, max_keys: int) -> int:
        """One ListObjectsV2 page under ``prefix``; returns the number of keys in it."""
        query = {"list-type": "2", "prefix": prefix, "max-keys": str(max_keys)}
        url, headers = self._request("GET", bucket, query=query)
        async with self.session.get(url, headers=headers) as resp:
            if resp.status >= 300:
                raise await self._fail(resp, "ListObjectsV2")
            body = await resp.read()
        return len(KEY_COUNT.findall(body))
