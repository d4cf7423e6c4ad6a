"""ObjectService: the implementation of ``ObjectServiceProtocol`` over the cluster.

Layer: gateway domain, below the S3 handlers, above the data plane. It asks the coordinator
for bucket facts, placements and commits (``CoordinatorClient``) and moves bytes with the data
plane (``ObjectWriter`` / ``ObjectReader``). Contract: see ``wormfs.gateway.service``. A write
is committed only after every chunk is durable and every checksum the client sent matched; a
failed write leaves only uncommitted chunks, which the coordinator collects as an abandoned
write. Ownership: a bucket belongs to its creator, and every other principal gets
``AccessDeniedError``.

Small objects (at most ``inline_max`` bytes, ``GatewayConfig.inline_max``) are stored inline:
the body is read whole, verified like any other, and sent with its metadata in one
``put_inline`` call; the coordinator checks ownership and conditions in the same transaction,
and no chunk is written. Reads of them are served from the manifest (``ObjectReader``).
Object reads and deletes likewise leave the ownership check to the coordinator (``owner_id``),
so each costs one coordinator round trip.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from typing import cast

from msgspec.structs import replace

from wormfs.clients.coordinator import CoordinatorClient
from wormfs.clients.repair import ChunkReporter
from wormfs.clients.storage import StorageClient
from wormfs.dataplane.hashing import StreamDigests
from wormfs.dataplane.reader import ObjectReader, Piece
from wormfs.dataplane.store import one_part, store_part
from wormfs.dataplane.writer import BodySource, ObjectWriter, WriteResult, read_exact
from wormfs.errors import (
    AccessDeniedError,
    BadDigestError,
    CompletionMismatchError,
    CustomerKeyError,
    DigestAlgorithm,
    KeyUnavailableError,
    NoSuchKeyError,
    NoSuchUploadError,
)
from wormfs.format import checksums
from wormfs.format.checksums import Checksum, new_hasher
from wormfs.format.sealing import SSE_C, SSE_KMS, Encryption, Sealer
from wormfs.gateway.bucket_settings import BucketSettings
from wormfs.gateway.encryption import CustomerKey, KmsKeyNotFound, SseAsk
from wormfs.gateway.service import (
    BodyReader,
    CompletionChecks,
    DataChecks,
    Principal,
    PutConditions,
)
from wormfs.internal.keyring import Keyring, customer_key_check, customer_key_matches
from wormfs.wire.acl import Acl
from wormfs.wire.coordinator import (
    AccessKeyInfo,
    BucketInfo,
    ChecksumAlgorithm,
    ChecksumType,
    CommitObject,
    CommitPart,
    CompletedPart,
    CompleteUpload,
    CreateBucket,
    CreateUpload,
    DeleteConditions,
    DeleteResult,
    ObjectAttributes,
    ObjectChecksum,
    ObjectList,
    ObjectManifest,
    PartList,
    PartRecord,
    PutInline,
    TaggedVersion,
    UploadInfo,
    UploadList,
    VersionList,
    WriteGrant,
)

CREDENTIALS_TTL = 10.0
LIST_PARTS_PAGE = 1000


def _digest_name(algorithm: ChecksumAlgorithm) -> DigestAlgorithm:
    """The domain's name of a checksum algorithm (S3 spells them in capitals)."""
    return cast(DigestAlgorithm, algorithm.lower())


def multipart_checksum(upload: UploadInfo, parts: Sequence[PartRecord]) -> str | None:
    """The object checksum (base64, no ``-N``) a completion of ``parts`` gets, as the
    coordinator computes it (the one rule: ``wormfs.format.checksums.multipart_checksum``):
    None when the upload has no algorithm or a part no checksum."""
    checksum = checksums.multipart_checksum(
        upload.checksum_algorithm,
        upload.checksum_type,
        [(p.checksum.value if p.checksum else None, p.size) for p in parts],
    )
    return None if checksum is None else checksum.value.split("-", 1)[0]


def verify_completion(
    upload: UploadInfo, parts: Sequence[PartRecord], checks: CompletionChecks
) -> None:
    """Raise if the object that ``parts`` make is not what ``checks`` says (see
    ``CompletionChecks``); nothing has been committed yet."""
    algorithm = upload.checksum_algorithm
    kind = upload.checksum_type or (
        None if algorithm is None else checksums.default_type(algorithm)
    )
    if checks.checksum_type is not None and checks.checksum_type != kind:
        raise CompletionMismatchError(
            mismatch="checksum_type", expected=kind, actual=checks.checksum_type
        )
    if checks.object_size is not None:
        size = sum(p.size for p in parts)
        if size != checks.object_size:
            raise CompletionMismatchError(
                mismatch="object_size", expected=str(size), actual=str(checks.object_size)
            )
    if checks.checksum_algorithm is None:
        return
    if checks.checksum_algorithm != algorithm:
        raise CompletionMismatchError(
            mismatch="checksum_algorithm", expected=algorithm, actual=checks.checksum_algorithm
        )
    computed = multipart_checksum(upload, parts)
    if computed is not None and computed != checks.checksum_value:
        raise BadDigestError(
            algorithm=_digest_name(checks.checksum_algorithm),
            expected=checks.checksum_value,
            computed=computed,
        )


class _RangeBody:
    """A ``BodyReader`` over bytes of another object (CopyObject, UploadPartCopy)."""

    def __init__(self, pieces: AsyncIterator[Piece]) -> None:
        self._pieces = pieces

    async def read(self) -> bytes:
        return bytes(await anext(self._pieces, b""))

    def trailing_checksums(self) -> Mapping[str, str]:
        return {}


def _digests(algorithm: ChecksumAlgorithm | None) -> StreamDigests:
    """MD5 (the ETag) plus the S3 checksum ``algorithm`` when one is asked for."""
    extra: dict[str, Checksum] = {algorithm: new_hasher(algorithm)} if algorithm else {}
    return StreamDigests(extra)


class ObjectService(BucketSettings):
    """Objects and buckets over the cluster; the bucket settings calls are ``BucketSettings``'s."""

    def __init__(
        self,
        coordinator: CoordinatorClient,
        storage: StorageClient,
        inline_max: int = 0,
        on_degraded_read: Callable[[], None] | None = None,
        keyring: Keyring | None = None,
    ) -> None:
        """``inline_max``: objects of at most this many bytes are stored inline (0: none);
        ``on_degraded_read`` hears of each segment read that decoded parity (metrics);
        ``keyring`` wraps and unwraps the data keys of SSE-S3 and SSE-KMS (None: those are
        refused, SSE-C still works)."""
        super().__init__(coordinator)
        self._inline_max = inline_max
        self._keyring = keyring
        self._writer = ObjectWriter(storage)
        # Missing and corrupt chunks met on the read path are reported for repair.
        self._reader = ObjectReader(
            storage, reporter=ChunkReporter(coordinator.http), on_degraded=on_degraded_read
        )
        self._credentials: dict[str, tuple[float, AccessKeyInfo]] = {}

    # ---- identity ----------------------------------------------------------------------------
    async def credentials(self, access_key: str) -> AccessKeyInfo:
        now = time.monotonic()
        cached = self._credentials.get(access_key)
        if cached is not None and now - cached[0] < CREDENTIALS_TTL:
            return cached[1]
        info = await self._coordinator.get_access_key(access_key)
        if len(self._credentials) > 10_000:
            self._credentials.clear()
        self._credentials[access_key] = (now, info)
        return info

    # ---- buckets -----------------------------------------------------------------------------
    async def _owned_bucket(self, principal: Principal, bucket: str) -> BucketInfo:
        info = await self._coordinator.get_bucket(bucket)
        if info.owner_id != principal.user_id:
            raise AccessDeniedError(f"bucket {bucket} belongs to another user")
        return info

    async def list_buckets(self, principal: Principal) -> list[BucketInfo]:
        return (await self._coordinator.list_buckets(principal.user_id)).buckets

    async def create_bucket(
        self,
        principal: Principal,
        bucket: str,
        region: str,
        object_lock: bool = False,
        ownership: str = "",
        acl: Acl | None = None,
    ) -> BucketInfo:
        return await self._coordinator.create_bucket(
            bucket,
            CreateBucket(
                owner_id=principal.user_id,
                region=region,
                object_lock=object_lock,
                ownership=ownership,
                acl=acl,
            ),
        )

    async def head_bucket(self, principal: Principal, bucket: str) -> BucketInfo:
        return await self._owned_bucket(principal, bucket)

    async def delete_bucket(self, principal: Principal, bucket: str) -> None:
        await self._owned_bucket(principal, bucket)
        await self._coordinator.delete_bucket(bucket)

    async def list_versions(
        self,
        principal: Principal,
        bucket: str,
        prefix: str,
        delimiter: str,
        key_marker: str,
        version_id_marker: str,
        max_keys: int,
    ) -> VersionList:
        await self._owned_bucket(principal, bucket)
        return await self._coordinator.list_versions(
            bucket, prefix, delimiter, key_marker, version_id_marker, max_keys
        )

    # ---- encryption --------------------------------------------------------------------------
    def _keys(self) -> Keyring:
        if self._keyring is None:
            raise KeyUnavailableError(
                "no master key is configured (WORMFS_MASTER_KEY or a master.keys file)"
            )
        return self._keyring

    def _sealing(self, ask: SseAsk | None) -> tuple[bytes, Encryption] | None:
        """A fresh data key and the record that keeps it, for a write asking ``ask``."""
        if ask is None:
            return None
        if ask.customer is not None:
            key = ask.customer.key
            return key, Encryption(
                algorithm=SSE_C,
                customer_key_md5=ask.customer.key_md5,
                key_check=customer_key_check(key),
            )
        keys = self._keys()
        if ask.algorithm == SSE_KMS and not keys.kms_key_allowed(ask.kms_key_id):
            raise KmsKeyNotFound(f"Invalid keyId {ask.kms_key_id}")
        return keys.new_data_key(ask.algorithm, ask.kms_key_id, ask.kms_context, ask.bucket_key)

    def data_key(self, enc: Encryption | None, customer: CustomerKey | None) -> bytes | None:
        """The data key of a version sealed as ``enc`` (None: plaintext); an SSE-C one needs
        the ``customer`` key it was written with."""
        if enc is None:
            return None
        if enc.algorithm == SSE_C:
            if customer is None or not customer_key_matches(customer.key, enc.key_check):
                raise CustomerKeyError("the object's SSE-C key is missing or another one")
            return customer.key
        return self._keys().data_key(enc)

    # ---- writing -----------------------------------------------------------------------------
    async def _write(
        self,
        bucket: str,
        key: str,
        size: int,
        body: BodySource,
        algorithm: ChecksumAlgorithm | None,
        upload_id: str | None = None,
        part_number: int = 1,
        storage_class: str = "",
        owner_id: str = "",
        attributes: ObjectAttributes | None = None,
        checksum_type: str = "FULL_OBJECT",
        data_key: bytes | None = None,
    ) -> tuple[WriteGrant, WriteResult]:
        """Store ``size`` bytes durably (sealed with ``data_key`` if given); returns the
        coordinator's grant and what was written. Owner, attributes and checksum go into the
        chunks' object record (chunk format v2)."""
        return await store_part(
            self._coordinator,
            self._writer,
            bucket,
            key,
            size,
            body,
            _digests(algorithm),
            upload_id=upload_id,
            part_number=part_number,
            storage_class=storage_class,
            owner_id=owner_id,
            attributes=attributes,
            checksum=(algorithm, checksum_type) if algorithm else ("", ""),
            data_key=data_key,
        )

    @staticmethod
    def _verify(
        checks: DataChecks, body: BodyReader, digests: StreamDigests
    ) -> ObjectChecksum | None:
        """Compare what the client sent with what arrived; the computed checksum to store."""
        if checks.content_md5 is not None and checks.content_md5 != digests.md5_b64:
            raise BadDigestError(
                algorithm="md5", expected=checks.content_md5, computed=digests.md5_b64
            )
        algorithm = checks.checksum_algorithm
        if algorithm is None:
            return None
        computed = digests.extra_b64(algorithm)
        expected = checks.checksum_value or body.trailing_checksums().get(algorithm.lower())
        if expected is not None and expected != computed:
            raise BadDigestError(
                algorithm=_digest_name(algorithm), expected=expected, computed=computed
            )
        return ObjectChecksum(algorithm=algorithm, value=computed, type="FULL_OBJECT")

    async def put_object(
        self,
        principal: Principal,
        bucket: str,
        key: str,
        size: int,
        body: BodyReader,
        attributes: ObjectAttributes,
        checks: DataChecks,
        conditions: PutConditions = PutConditions(),
        sse: SseAsk | None = None,
    ) -> ObjectManifest:
        sealing = self._sealing(sse)
        attributes = replace(attributes, encryption=sealing[1] if sealing else None)
        if self._inlines(size):
            return await self._put_inline(
                principal, bucket, key, size, body, attributes, checks, conditions, sealing
            )
        await self._owned_bucket(principal, bucket)
        grant, result = await self._write(
            bucket,
            key,
            size,
            body,
            checks.checksum_algorithm,
            storage_class=attributes.storage_class,
            owner_id=principal.user_id,
            attributes=attributes,
            data_key=sealing[0] if sealing else None,
        )
        checksum = self._verify(checks, body, result.digests)
        return await self._commit_single(
            principal, grant, result, bucket, key, attributes, checksum, conditions
        )

    def _inlines(self, size: int) -> bool:
        """Whether an object of ``size`` bytes is stored inline (``inline_max`` 0: never)."""
        return self._inline_max > 0 and size <= self._inline_max

    async def _put_inline(
        self,
        principal: Principal,
        bucket: str,
        key: str,
        size: int,
        body: BodyReader,
        attributes: ObjectAttributes,
        checks: DataChecks,
        conditions: PutConditions,
        sealing: tuple[bytes, Encryption] | None = None,
    ) -> ObjectManifest:
        """Store a small object inline: its bytes go to the coordinator with its metadata
        (sealed, when ``sealing`` gives a data key: the metadata never holds plaintext).

        No separate ownership check: the coordinator checks ``owner_id`` in the same
        transaction as the commit. The body is at most ``inline_max`` bytes, so it is held
        whole and hashed on the event loop.
        """
        data = await read_exact(body, size)
        digests = _digests(checks.checksum_algorithm)
        digests.feed_now(data)
        checksum = self._verify(checks, body, digests)
        if sealing is not None:
            data = bytes(Sealer(sealing[0], 1).seal_run(0, data))
        return await self._coordinator.put_inline(
            PutInline(
                bucket=bucket,
                key=key,
                owner_id=principal.user_id,
                size=size,
                etag=f'"{digests.md5_hex}"',
                data=data,
                attributes=attributes,
                checksum=checksum,
                if_match=conditions.if_match,
                if_none_match=conditions.if_none_match,
            )
        )

    async def _commit_single(
        self,
        principal: Principal,
        grant: WriteGrant,
        result: WriteResult,
        bucket: str,
        key: str,
        attributes: ObjectAttributes,
        checksum: ObjectChecksum | None,
        conditions: PutConditions,
    ) -> ObjectManifest:
        """Commit a one-part object written with ``grant``."""
        part = one_part(result, checksum)
        return await self._coordinator.commit_object(
            CommitObject(
                write_id=grant.write_id,
                bucket=bucket,
                key=key,
                version_id=grant.version_id,
                owner_id=principal.user_id,
                size=result.size,
                etag=part.etag,
                profile=grant.profile,
                parts=[part],
                # The class the grant resolved (the one asked for, or the bucket's default).
                attributes=replace(attributes, storage_class=grant.storage_class),
                checksum=checksum,
                if_match=conditions.if_match,
                if_none_match=conditions.if_none_match,
            )
        )

    # ---- reading -----------------------------------------------------------------------------
    async def head_object(
        self, principal: Principal, bucket: str, key: str, version_id: str | None = None
    ) -> ObjectManifest:
        # The coordinator checks ownership first: a non-owner gets AccessDenied, not NoSuchKey.
        manifest = await self._coordinator.get_object(
            bucket, key, version_id, owner_id=principal.user_id
        )
        if manifest.is_delete_marker:
            raise NoSuchKeyError(bucket=bucket, key=key, version_id=version_id)
        return manifest

    def read_object(
        self,
        manifest: ObjectManifest,
        start: int,
        end: int,
        customer: CustomerKey | None = None,
    ) -> AsyncIterator[Piece]:
        key = self.data_key(manifest.attributes.encryption, customer)
        return self._reader.read(manifest, start, end, key)

    async def delete_object(
        self,
        principal: Principal,
        bucket: str,
        key: str,
        version_id: str | None = None,
        conditions: DeleteConditions | None = None,
        bypass_governance: bool = False,
    ) -> DeleteResult:
        return await self._coordinator.delete_object(
            bucket,
            key,
            version_id,
            owner_id=principal.user_id,
            conditions=conditions,
            bypass_governance=bypass_governance,
        )

    async def list_objects(
        self,
        principal: Principal,
        bucket: str,
        prefix: str = "",
        delimiter: str = "",
        start_after: str = "",
        max_keys: int = 1000,
    ) -> ObjectList:
        await self._owned_bucket(principal, bucket)
        return await self._coordinator.list_objects(
            bucket, prefix=prefix, delimiter=delimiter, start_after=start_after, max_keys=max_keys
        )

    async def copy_object(
        self,
        principal: Principal,
        source: ObjectManifest,
        bucket: str,
        key: str,
        attributes: ObjectAttributes,
        checksum_algorithm: ChecksumAlgorithm | None = None,
        conditions: PutConditions = PutConditions(),
        sse: SseAsk | None = None,
        source_key: CustomerKey | None = None,
    ) -> ObjectManifest:
        """Decrypt the source (``source_key``: its SSE-C key) and store it anew, sealed as
        ``sse`` asks: a copy never keeps its source's data key."""
        body = _RangeBody(self.read_object(source, 0, source.size, source_key))
        algorithm = checksum_algorithm or (source.checksum.algorithm if source.checksum else None)
        checks = DataChecks(checksum_algorithm=algorithm)
        sealing = self._sealing(sse)
        attributes = replace(attributes, encryption=sealing[1] if sealing else None)
        if self._inlines(source.size):
            return await self._put_inline(
                principal, bucket, key, source.size, body, attributes, checks, conditions, sealing
            )
        await self._owned_bucket(principal, bucket)
        grant, result = await self._write(
            bucket,
            key,
            source.size,
            body,
            algorithm,
            storage_class=attributes.storage_class,
            owner_id=principal.user_id,
            attributes=attributes,
            data_key=sealing[0] if sealing else None,
        )
        checksum = self._verify(checks, body, result.digests)
        return await self._commit_single(
            principal, grant, result, bucket, key, attributes, checksum, conditions
        )

    # ---- multipart ---------------------------------------------------------------------------
    async def _upload(
        self, principal: Principal, bucket: str, key: str, upload_id: str
    ) -> UploadInfo:
        await self._owned_bucket(principal, bucket)
        upload = await self._coordinator.get_upload(upload_id)
        if upload.bucket != bucket or upload.key != key:
            raise NoSuchUploadError(upload_id=upload_id, bucket=bucket, key=key)
        return upload

    async def create_upload(
        self,
        principal: Principal,
        bucket: str,
        key: str,
        attributes: ObjectAttributes,
        checksum_algorithm: ChecksumAlgorithm | None = None,
        checksum_type: ChecksumType | None = None,
        sse: SseAsk | None = None,
    ) -> UploadInfo:
        """The upload keeps the data key every part is sealed with (wrapped; an SSE-C
        upload keeps only the check of the key each UploadPart must bring again)."""
        await self._owned_bucket(principal, bucket)
        sealing = self._sealing(sse)
        return await self._coordinator.create_upload(
            CreateUpload(
                bucket=bucket,
                key=key,
                owner_id=principal.user_id,
                attributes=replace(attributes, encryption=sealing[1] if sealing else None),
                checksum_algorithm=checksum_algorithm,
                checksum_type=checksum_type,
            )
        )

    async def _store_part(
        self,
        upload: UploadInfo,
        part_number: int,
        size: int,
        body: BodyReader,
        checks: DataChecks,
        customer: CustomerKey | None = None,
    ) -> PartRecord:
        data_key = self.data_key(upload.attributes.encryption, customer)
        algorithm = checks.checksum_algorithm or upload.checksum_algorithm
        checks = DataChecks(checks.content_md5, algorithm, checks.checksum_value)
        grant, result = await self._write(
            upload.bucket,
            upload.key,
            size,
            body,
            algorithm,
            upload.upload_id,
            part_number,
            owner_id=upload.owner_id,
            attributes=upload.attributes,
            checksum_type=upload.checksum_type or "FULL_OBJECT",
            data_key=data_key,
        )
        checksum = self._verify(checks, body, result.digests)
        part = PartRecord(
            part_number=part_number,
            size=size,
            etag=f'"{result.digests.md5_hex}"',
            segments=result.segments,
            checksum=checksum,
        )
        return await self._coordinator.commit_part(
            upload.upload_id, CommitPart(write_id=grant.write_id, part=part)
        )

    async def upload_part(
        self,
        principal: Principal,
        bucket: str,
        key: str,
        upload_id: str,
        part_number: int,
        size: int,
        body: BodyReader,
        checks: DataChecks,
        customer: CustomerKey | None = None,
    ) -> PartRecord:
        upload = await self._upload(principal, bucket, key, upload_id)
        return await self._store_part(upload, part_number, size, body, checks, customer)

    async def upload_part_copy(
        self,
        principal: Principal,
        bucket: str,
        key: str,
        upload_id: str,
        part_number: int,
        source: ObjectManifest,
        start: int,
        end: int,
        customer: CustomerKey | None = None,
        source_key: CustomerKey | None = None,
    ) -> PartRecord:
        upload = await self._upload(principal, bucket, key, upload_id)
        body = _RangeBody(self.read_object(source, start, end, source_key))
        return await self._store_part(
            upload, part_number, end - start, body, DataChecks(), customer
        )

    async def complete_upload(
        self,
        principal: Principal,
        bucket: str,
        key: str,
        upload_id: str,
        parts: list[CompletedPart],
        conditions: PutConditions = PutConditions(),
        checks: CompletionChecks = CompletionChecks(),
    ) -> ObjectManifest:
        try:
            upload = await self._upload(principal, bucket, key, upload_id)
        except NoSuchUploadError:
            done = await self._completed(principal, bucket, key, upload_id)
            if done is None:
                raise
            return done
        if checks != CompletionChecks():
            chosen = await self._chosen_parts(upload_id, parts)
            # Parts missing or with other ETags: the coordinator refuses them (InvalidPart).
            if chosen is not None:
                verify_completion(upload, chosen, checks)
        return await self._coordinator.complete_upload(
            upload_id,
            CompleteUpload(
                parts=parts, if_match=conditions.if_match, if_none_match=conditions.if_none_match
            ),
        )

    async def _completed(
        self, principal: Principal, bucket: str, key: str, upload_id: str
    ) -> ObjectManifest | None:
        """The key's current version if ``upload_id`` made it: a completion repeated after
        it succeeded (an SDK retrying a lost answer) is answered as the first one was, as
        AWS does. None once the upload's object is no longer current."""
        try:
            current = await self._coordinator.get_object(
                bucket, key, None, owner_id=principal.user_id
            )
        except NoSuchKeyError:
            return None
        return current if current.upload_id == upload_id else None

    async def _chosen_parts(
        self, upload_id: str, parts: list[CompletedPart]
    ) -> list[PartRecord] | None:
        """The stored records of the parts a completion names, or None if one is missing.

        The ETags pin each part's bytes: the coordinator commits only parts whose ETags match
        the ones named, so checks made on these records hold for what it commits.
        """
        stored: dict[int, PartRecord] = {}
        marker = 0
        while True:
            page = await self._coordinator.list_parts(
                upload_id, marker=marker, max_parts=LIST_PARTS_PAGE
            )
            stored.update((p.part_number, p) for p in page.parts)
            if not page.is_truncated or not page.parts:
                break
            marker = page.next_marker or page.parts[-1].part_number
        chosen = []
        for wanted in parts:
            record = stored.get(wanted.part_number)
            if record is None or record.etag.strip('"') != wanted.etag.strip('"'):
                return None
            chosen.append(record)
        return chosen

    async def abort_upload(
        self, principal: Principal, bucket: str, key: str, upload_id: str
    ) -> None:
        await self._upload(principal, bucket, key, upload_id)
        await self._coordinator.abort_upload(upload_id)

    async def list_parts(
        self,
        principal: Principal,
        bucket: str,
        key: str,
        upload_id: str,
        part_number_marker: int = 0,
        max_parts: int = 1000,
    ) -> tuple[UploadInfo, PartList]:
        upload = await self._upload(principal, bucket, key, upload_id)
        parts = await self._coordinator.list_parts(
            upload_id, marker=part_number_marker, max_parts=max_parts
        )
        return upload, parts

    async def list_uploads(
        self,
        principal: Principal,
        bucket: str,
        prefix: str = "",
        delimiter: str = "",
        key_marker: str = "",
        upload_id_marker: str = "",
        max_uploads: int = 1000,
    ) -> UploadList:
        await self._owned_bucket(principal, bucket)
        return await self._coordinator.list_uploads(
            bucket,
            prefix=prefix,
            delimiter=delimiter,
            key_marker=key_marker,
            upload_id_marker=upload_id_marker,
            max_uploads=max_uploads,
        )

    async def put_object_tags(
        self,
        principal: Principal,
        bucket: str,
        key: str,
        version_id: str | None,
        tags: dict[str, str],
    ) -> TaggedVersion:
        return await self._coordinator.put_object_tags(
            bucket, key, version_id, principal.user_id, tags
        )
