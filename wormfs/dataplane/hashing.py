"""Hashing beside the coding: MD5 (the ETag) and one optional S3 checksum over a byte stream.

Layer: data plane. Updates run in an executor thread (hashlib and the CRC libraries release the
GIL for large buffers), one stripe at a time and strictly in order: each update waits for the
previous one, so hashing of stripe N overlaps the coding and sending of stripe N+1 without ever
reordering the digest input. ``feed_now`` hashes a whole small body (an inline object) at once
on the event loop, where a thread hop would cost more than the hash.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
from collections.abc import Mapping

from wormfs.format.checksums import Checksum


class StreamDigests:
    """MD5 plus the hashers the caller asks for, fed in order from the event loop."""

    def __init__(self, extra: Mapping[str, Checksum] | None = None, md5: bool = True) -> None:
        """``md5`` False: no ETag hash (the writer of a sealed part, whose ETag the sealing
        body computes over the plaintext); with no ``extra`` either, feeding costs nothing."""
        self._md5 = hashlib.md5(usedforsecurity=False)
        self._hash_md5 = md5
        self._extra = dict(extra or {})
        self._pending: asyncio.Future[None] | None = None
        self.size = 0

    def _update(self, data: bytes) -> None:
        if self._hash_md5:
            self._md5.update(data)
        for hasher in self._extra.values():
            hasher.update(data)

    async def feed(self, data: bytes) -> None:
        """Schedule ``data`` after everything fed before; returns once it is scheduled."""
        if self._pending is not None:
            await self._pending
        self.size += len(data)
        if not self._hash_md5 and not self._extra:
            return
        if len(data) < 64 * 1024:
            # Small pieces cost less inline than a thread hop.
            self._update(data)
            self._pending = None
            return
        loop = asyncio.get_running_loop()
        self._pending = loop.run_in_executor(None, self._update, data)

    def feed_now(self, data: bytes) -> None:
        """Hash ``data`` at once on the calling thread (after everything fed before).

        For bodies of at most ``INLINE_LIMIT`` (256 KiB): MD5 of 64 KiB costs ~80 us, less
        than a hop to the executor and back.
        """
        if self._pending is not None:
            raise RuntimeError("feed_now while an executor update is pending: await finish()")
        self.size += len(data)
        self._update(data)

    async def finish(self) -> None:
        if self._pending is not None:
            await self._pending
            self._pending = None

    @property
    def md5_hex(self) -> str:
        return self._md5.hexdigest()

    @property
    def md5_b64(self) -> str:
        return base64.b64encode(self._md5.digest()).decode()

    def extra_b64(self, name: str) -> str:
        return base64.b64encode(self._extra[name].digest()).decode()

    def extra_digest(self, name: str) -> bytes:
        return self._extra[name].digest()
