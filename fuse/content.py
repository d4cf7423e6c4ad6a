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

Encryption: a version sealed with SSE-S3 or SSE-KMS is read with its data key, unwrapped by
the keyring (the data dir's, or ``WORMFS_MASTER_KEY``); an SSE-C one cannot be read without
its customer's key, which a mount never has (``CustomerKeyError``: EACCES). A commit is sealed
when the bucket has a default encryption (as a PUT without encryption headers would be), read
from the coordinator at most every ``ENCRYPTION_TTL`` seconds.

Unit tests put a fake of this interface under the mount's operations.
"""

from __future__ import annotations

import hashlib
import time
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
from wormfs.errors import CustomerKeyError, KeyUnavailableError
from wormfs.format.sealing import SSE_C, SSE_KMS, Encryption, Sealer
from wormfs.fuse.spool import Spool, SpoolBody
from wormfs.internal.keyring import DEFAULT_KMS_KEY, Keyring
from wormfs.wire.coordinator import CommitObject, ObjectAttributes, ObjectManifest, PutInline
from wormfs.wire.encryption import BucketEncryption
from wormfs.wire.fs import FsWrite

ENCRYPTION_TTL = 1.0  # seconds a bucket's default encryption is taken as read


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
        keyring: Keyring | None = None,
    ) -> None:
        self._coordinator = coordinator
        self._keyring = keyring
        self._default: tuple[float, BucketEncryption | None] | None = None
        self._bucket = bucket
        self._owner_id = owner_id
        self._inline_max = inline_max
        self._writer = ObjectWriter(storage)
        self._reader = ObjectReader(storage, reporter=ChunkReporter(coordinator.http))

    async def manifest(self, key: str, version_id: str | None) -> ObjectManifest:
        return await self._coordinator.get_object(
            self._bucket, key, version_id=version_id, owner_id=self._owner_id
        )

    def _keys(self) -> Keyring:
        if self._keyring is None:
            raise KeyUnavailableError(
                "no master key for this mount (WORMFS_MASTER_KEY, or --data-dir of the cluster)"
            )
        return self._keyring

    def _data_key(self, manifest: ObjectManifest) -> bytes | None:
        enc = manifest.attributes.encryption
        if enc is None:
            return None
        if enc.algorithm == SSE_C:
            raise CustomerKeyError(
                f"{manifest.key} is encrypted with a customer's key (SSE-C): only S3 reads it"
            )
        return self._keys().data_key(enc)

    async def read(self, manifest: ObjectManifest, start: int, end: int) -> bytes:
        pieces = self._reader.read(manifest, start, end, self._data_key(manifest))
        return b"".join([piece async for piece in pieces])

    def stream(
        self, manifest: ObjectManifest, start: int, end: int
    ) -> AsyncIterator[bytes | memoryview]:
        return self._reader.read(manifest, start, end, self._data_key(manifest))

    async def _sealing(self) -> tuple[bytes, Encryption] | None:
        """A fresh data key if the bucket's default encryption asks for one."""
        now = time.monotonic()
        if self._default is None or now - self._default[0] > ENCRYPTION_TTL:
            access = await self._coordinator.bucket_access(self._bucket)
            self._default = (now, access.encryption)
        default = self._default[1]
        if default is None:
            return None
        kms_key = (
            (default.kms_key_id or DEFAULT_KMS_KEY) if default.sse_algorithm == SSE_KMS else ""
        )
        return self._keys().new_data_key(
            default.sse_algorithm, kms_key, bucket_key=default.bucket_key
        )

    async def commit(
        self, key: str, spool: Spool, fs: FsWrite, attributes: ObjectAttributes
    ) -> ObjectManifest:
        size = spool.size
        # Files written through the mount take the bucket's default storage class (and its
        # profile), whatever class the version they replace had.
        sealing = await self._sealing()
        attributes = replace(
            attributes, storage_class="", encryption=sealing[1] if sealing else None
        )
        if self._inline_max > 0 and size <= self._inline_max:
            data = await spool.read_all()
            # At most 256 KiB: hashed in the loop, cheaper than a thread hop (as the gateway).
            etag = f'"{hashlib.md5(data, usedforsecurity=False).hexdigest()}"'
            if sealing is not None:
                data = bytes(Sealer(sealing[0], 1).seal_run(0, data))
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
            data_key=sealing[0] if sealing else None,
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
