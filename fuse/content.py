"""File bytes as the mount moves them: the shared data plane under one small interface.

Layer: fuse, over ``wormfs.dataplane`` and the coordinator client. Contract (``Content``):

* ``manifest(key, version_id)`` is one version's manifest (an inline object's bytes included),
  read as the mount's user (the coordinator checks ownership);
* ``read(manifest, start, end)`` is bytes ``[start, end)`` of it through ``ObjectReader``
  (verified; missing or corrupt chunks are reported for repair as the gateway does);
  ``stream`` yields the same bytes in pieces of at most a stripe, as they are decoded;
* ``commit(key, spool, fs, attributes)`` stores the spool's bytes as a new version and returns
  only once they are durable and committed: ``PutInline`` when they fit ``inline_max``, else
  ``store_part`` (BeginWrite + ObjectWriter) and ``CommitObject``; either carries ``fs``, so the
  coordinator refuses it with ``StaleVersionError`` when ``fs.base_version_id`` is no longer
  current. The ETag is the MD5 of the bytes, as for a plain PUT.

Unit tests put a fake of this interface under the mount's operations.
"""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator
from typing import Protocol

from msgspec.structs import replace

from wormfs.clients.coordinator import CoordinatorClient
from wormfs.clients.repair import ChunkReporter
from wormfs.clients.storage import StorageClient
from wormfs.dataplane.hashing import StreamDigests
from wormfs.dataplane.reader import ObjectReader
from wormfs.dataplane.store import one_part, store_part
from wormfs.dataplane.writer import ObjectWriter
from wormfs.fuse.spool import Spool, SpoolBody
from wormfs.wire.coordinator import CommitObject, ObjectAttributes, ObjectManifest, PutInline
from wormfs.wire.fs import FsWrite


class Content(Protocol):
    async def manifest(self, key: str, version_id: str | None) -> ObjectManifest: ...

    async def read(self, manifest: ObjectManifest, start: int, end: int) -> bytes: ...

    def stream(
        self, manifest: ObjectManifest, start: int, end: int
    ) -> AsyncIterator[bytes | memoryview]: ...

    async def commit(
        self, key: str, spool: Spool, fs: FsWrite, attributes: ObjectAttributes
    ) -> ObjectManifest: ...


class ClusterContent:
    def __init__(
        self,
        coordinator: CoordinatorClient,
        storage: StorageClient,
        bucket: str,
        owner_id: str,
        inline_max: int,
    ) -> None:
        self._coordinator = coordinator
        self._bucket = bucket
        self._owner_id = owner_id
        self._inline_max = inline_max
        self._writer = ObjectWriter(storage)
        self._reader = ObjectReader(storage, reporter=ChunkReporter(coordinator.http))

    async def manifest(self, key: str, version_id: str | None) -> ObjectManifest:
        return await self._coordinator.get_object(
            self._bucket, key, version_id=version_id, owner_id=self._owner_id
        )

    async def read(self, manifest: ObjectManifest, start: int, end: int) -> bytes:
        return b"".join([piece async for piece in self._reader.read(manifest, start, end)])

    def stream(
        self, manifest: ObjectManifest, start: int, end: int
    ) -> AsyncIterator[bytes | memoryview]:
        return self._reader.read(manifest, start, end)

    async def commit(
        self, key: str, spool: Spool, fs: FsWrite, attributes: ObjectAttributes
    ) -> ObjectManifest:
        size = spool.size
        # Files written through the mount take the bucket's default storage class (and its
        # profile), whatever class the version they replace had.
        attributes = replace(attributes, storage_class="")
        if self._inline_max > 0 and size <= self._inline_max:
            data = await spool.read_all()
            # At most 256 KiB: hashed in the loop, cheaper than a thread hop (as the gateway).
            etag = f'"{hashlib.md5(data, usedforsecurity=False).hexdigest()}"'
            return await self._coordinator.put_inline(
                PutInline(
                    bucket=self._bucket,
                    key=key,
                    owner_id=self._owner_id,
                    size=size,
                    etag=etag,
                    data=data,
                    attributes=attributes,
                    fs=fs,
                )
            )
        grant, result = await store_part(
            self._coordinator,
            self._writer,
            self._bucket,
            key,
            size,
            SpoolBody(spool),
            StreamDigests(),
            owner_id=self._owner_id,
            attributes=attributes,
        )
        part = one_part(result)
        return await self._coordinator.commit_object(
            CommitObject(
                write_id=grant.write_id,
                bucket=self._bucket,
                key=key,
                version_id=grant.version_id,
                owner_id=self._owner_id,
                size=size,
                etag=part.etag,
                profile=grant.profile,
                parts=[part],
                attributes=replace(attributes, storage_class=grant.storage_class),
                fs=fs,
            )
        )
