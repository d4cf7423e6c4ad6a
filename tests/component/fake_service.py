"""An in-memory ``ObjectServiceProtocol`` for component tests of the S3 protocol layer.

It keeps S3's semantics (ownership, ETags, checksums verified before commit, conditional
writes, multipart rules, listing with delimiters and markers) over dicts, so the protocol
layer can be exercised end to end with real clients without a cluster. It is a test double of
our own component, never a stand-in for the real ``ObjectService`` in other tests.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from wormfs.errors import (
    AccessDeniedError,
    BadDigestError,
    BucketAlreadyExistsError,
    BucketAlreadyOwnedByYouError,
    BucketNotEmptyError,
    EntityTooSmallError,
    IncompleteBodyError,
    InvalidBucketNameError,
    InvalidPartError,
    InvalidPartOrderError,
    NoSuchAccessKeyError,
    NoSuchBucketError,
    NoSuchKeyError,
    NoSuchUploadError,
    PreconditionFailedError,
)
from wormfs.format import checksums
from wormfs.format.layout import Profile
from wormfs.gateway.object_service import verify_completion
from wormfs.gateway.service import (
    BodyReader,
    CompletionChecks,
    DataChecks,
    ObjectAttributes,
    Principal,
    PutConditions,
)
from wormfs.wire.coordinator import (
    AccessKeyInfo,
    BucketInfo,
    ChecksumAlgorithm,
    ChecksumType,
    CompletedPart,
    DeleteResult,
    ObjectChecksum,
    ObjectList,
    ObjectManifest,
    ObjectSummary,
    PartList,
    PartRecord,
    UploadInfo,
    UploadList,
)

PROFILE = Profile(codec="fake", k=1, m=0, stripe_size=1024 * 1024)
MIN_PART = 5 * 1024 * 1024
PIECE = 1024 * 1024


@dataclass
class StoredObject:
    manifest: ObjectManifest
    data: bytes


@dataclass
class StoredUpload:
    info: UploadInfo
    parts: dict[int, tuple[PartRecord, bytes]] = field(default_factory=dict)


class FakeObjectService:
    def __init__(self, min_part_size: int = MIN_PART) -> None:
        self.keys: dict[str, AccessKeyInfo] = {}
        self.buckets: dict[str, BucketInfo] = {}
        self.objects: dict[str, dict[str, StoredObject]] = {}
        self.uploads: dict[str, StoredUpload] = {}
        self.min_part_size = min_part_size
        self.read_calls: list[tuple[int, int]] = []
        self.body_errors: list[BaseException] = []

    def add_user(self, access_key: str, secret_key: str, user_id: str, name: str) -> None:
        self.keys[access_key] = AccessKeyInfo(access_key, secret_key, user_id, name)

    # ---- identity ----------------------------------------------------------------------------
    async def credentials(self, access_key: str) -> AccessKeyInfo:
        try:
            return self.keys[access_key]
        except KeyError:
            raise NoSuchAccessKeyError() from None

    # ---- buckets -----------------------------------------------------------------------------
    def _bucket(self, principal: Principal, bucket: str) -> BucketInfo:
        info = self.buckets.get(bucket)
        if info is None:
            raise NoSuchBucketError()
        if info.owner_id != principal.user_id:
            raise AccessDeniedError()
        return info

    async def list_buckets(self, principal: Principal) -> list[BucketInfo]:
        return [b for b in self.buckets.values() if b.owner_id == principal.user_id]

    async def create_bucket(self, principal: Principal, bucket: str, region: str) -> BucketInfo:
        if not 3 <= len(bucket) <= 63 or not bucket.replace("-", "").replace(".", "").isalnum():
            raise InvalidBucketNameError()
        if bucket != bucket.lower():
            raise InvalidBucketNameError()
        existing = self.buckets.get(bucket)
        if existing is not None:
            if existing.owner_id == principal.user_id:
                raise BucketAlreadyOwnedByYouError()
            raise BucketAlreadyExistsError()
        info = BucketInfo(bucket, principal.user_id, principal.display_name, time.time(), region)
        self.buckets[bucket] = info
        self.objects[bucket] = {}
        return info

    async def head_bucket(self, principal: Principal, bucket: str) -> BucketInfo:
        return self._bucket(principal, bucket)

    async def delete_bucket(self, principal: Principal, bucket: str) -> None:
        self._bucket(principal, bucket)
        if self.objects[bucket] or any(u.info.bucket == bucket for u in self.uploads.values()):
            raise BucketNotEmptyError()
        del self.buckets[bucket]
        del self.objects[bucket]

    # ---- objects -----------------------------------------------------------------------------
    async def _read_body(
        self, body: BodyReader, size: int, checks: DataChecks
    ) -> tuple[bytes, str, ObjectChecksum | None]:
        pieces = []
        try:
            while True:
                piece = await body.read()
                if not piece:
                    break
                assert len(piece) <= PIECE
                pieces.append(piece)
        except BaseException as exc:
            self.body_errors.append(exc)
            raise
        data = b"".join(pieces)
        if len(data) != size:
            raise IncompleteBodyError()
        md5 = hashlib.md5(data)
        md5_b64 = base64.b64encode(md5.digest()).decode()
        if checks.content_md5 is not None and md5_b64 != checks.content_md5:
            raise BadDigestError("The Content-MD5 you specified did not match")
        checksum = None
        if checks.checksum_algorithm is not None:
            value = checksums.checksum_b64(checks.checksum_algorithm, data)
            expected = checks.checksum_value or body.trailing_checksums().get(
                checks.checksum_algorithm.lower()
            )
            if expected is not None and expected != value:
                raise BadDigestError(f"The {checks.checksum_algorithm} you specified did not match")
            checksum = ObjectChecksum(checks.checksum_algorithm, value)
        return data, f'"{md5.hexdigest()}"', checksum

    def _check_conditions(self, bucket: str, key: str, conditions: PutConditions) -> None:
        current = self.objects[bucket].get(key)
        if conditions.if_none_match == "*" and current is not None:
            raise PreconditionFailedError()
        if conditions.if_match is not None:
            if current is None:
                raise NoSuchKeyError()
            if conditions.if_match.strip('"') != current.manifest.etag.strip('"'):
                raise PreconditionFailedError()

    def _store(
        self,
        principal: Principal,
        bucket: str,
        key: str,
        data: bytes,
        etag: str,
        attributes: ObjectAttributes,
        parts: list[PartRecord],
        checksum: ObjectChecksum | None,
    ) -> ObjectManifest:
        manifest = ObjectManifest(
            bucket=bucket,
            key=key,
            version_id=uuid.uuid4().hex,
            owner_id=principal.user_id,
            size=len(data),
            etag=etag,
            last_modified=time.time(),
            profile=PROFILE,
            parts=parts,
            content_type=attributes.content_type,
            user_metadata=dict(attributes.user_metadata),
            system_metadata=dict(attributes.system_metadata),
            checksum=checksum,
            storage_class=attributes.storage_class,
        )
        self.objects[bucket][key] = StoredObject(manifest, data)
        return manifest

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
    ) -> ObjectManifest:
        self._bucket(principal, bucket)
        data, etag, checksum = await self._read_body(body, size, checks)
        self._check_conditions(bucket, key, conditions)
        part = PartRecord(1, len(data), etag, [], checksum, time.time())
        return self._store(principal, bucket, key, data, etag, attributes, [part], checksum)

    async def head_object(
        self, principal: Principal, bucket: str, key: str, version_id: str | None = None
    ) -> ObjectManifest:
        self._bucket(principal, bucket)
        stored = self.objects[bucket].get(key)
        if stored is None or (version_id and stored.manifest.version_id != version_id):
            raise NoSuchKeyError()
        return stored.manifest

    async def read_object(
        self, manifest: ObjectManifest, start: int, end: int
    ) -> AsyncIterator[bytes]:
        self.read_calls.append((start, end))
        stored = self.objects[manifest.bucket][manifest.key]
        for offset in range(start, end, PIECE):
            await asyncio.sleep(0)
            yield stored.data[offset : min(end, offset + PIECE)]

    async def delete_object(
        self, principal: Principal, bucket: str, key: str, version_id: str | None = None
    ) -> DeleteResult:
        self._bucket(principal, bucket)
        self.objects[bucket].pop(key, None)
        return DeleteResult(version_id=None)

    async def list_objects(
        self,
        principal: Principal,
        bucket: str,
        prefix: str = "",
        delimiter: str = "",
        start_after: str = "",
        max_keys: int = 1000,
    ) -> ObjectList:
        self._bucket(principal, bucket)
        entries: list[ObjectSummary | str] = []
        seen_prefixes: set[str] = set()
        for key in sorted(self.objects[bucket]):
            if not key.startswith(prefix):
                continue
            rolled = None
            if delimiter:
                cut = key.find(delimiter, len(prefix))
                if cut >= 0:
                    rolled = key[: cut + len(delimiter)]
            if rolled is not None:
                # A marker equal to a common prefix skips everything under it.
                if rolled <= start_after or rolled in seen_prefixes:
                    continue
                seen_prefixes.add(rolled)
                entries.append(rolled)
                continue
            if key <= start_after:
                continue
            m = self.objects[bucket][key].manifest
            entries.append(
                ObjectSummary(
                    key,
                    m.size,
                    m.etag,
                    m.last_modified,
                    m.owner_id,
                    m.storage_class,
                    None,
                    m.checksum.algorithm if m.checksum else None,
                )
            )
        page, rest = entries[:max_keys], entries[max_keys:]
        last = page[-1] if page else None
        return ObjectList(
            objects=[e for e in page if isinstance(e, ObjectSummary)],
            common_prefixes=[e for e in page if isinstance(e, str)],
            is_truncated=bool(rest),
            next_marker=(last if isinstance(last, str) else last.key) if rest and last else None,
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
    ) -> ObjectManifest:
        self._bucket(principal, bucket)
        data = self.objects[source.bucket][source.key].data
        self._check_conditions(bucket, key, conditions)
        etag = f'"{hashlib.md5(data).hexdigest()}"'
        algorithm = checksum_algorithm or (source.checksum.algorithm if source.checksum else None)
        checksum = None
        if algorithm is not None:
            checksum = ObjectChecksum(algorithm, checksums.checksum_b64(algorithm, data))
        part = PartRecord(1, len(data), etag, [], checksum, time.time())
        return self._store(principal, bucket, key, data, etag, attributes, [part], checksum)

    # ---- multipart ---------------------------------------------------------------------------
    def _upload(self, principal: Principal, bucket: str, key: str, upload_id: str) -> StoredUpload:
        self._bucket(principal, bucket)
        upload = self.uploads.get(upload_id)
        if upload is None or (upload.info.bucket, upload.info.key) != (bucket, key):
            raise NoSuchUploadError()
        return upload

    async def create_upload(
        self,
        principal: Principal,
        bucket: str,
        key: str,
        attributes: ObjectAttributes,
        checksum_algorithm: ChecksumAlgorithm | None = None,
        checksum_type: ChecksumType | None = None,
    ) -> UploadInfo:
        self._bucket(principal, bucket)
        if checksum_algorithm is not None and checksum_type is None:
            checksum_type = "FULL_OBJECT" if checksum_algorithm == "CRC64NVME" else "COMPOSITE"
        info = UploadInfo(
            upload_id=uuid.uuid4().hex,
            bucket=bucket,
            key=key,
            owner_id=principal.user_id,
            initiated=time.time(),
            profile=PROFILE,
            content_type=attributes.content_type,
            user_metadata=dict(attributes.user_metadata),
            system_metadata=dict(attributes.system_metadata),
            checksum_algorithm=checksum_algorithm,
            checksum_type=checksum_type,
            storage_class=attributes.storage_class,
        )
        self.uploads[info.upload_id] = StoredUpload(info)
        return info

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
    ) -> PartRecord:
        upload = self._upload(principal, bucket, key, upload_id)
        algorithm = upload.info.checksum_algorithm
        if algorithm is not None and checks.checksum_algorithm is None:
            checks = DataChecks(checks.content_md5, algorithm, None)
        data, etag, checksum = await self._read_body(body, size, checks)
        part = PartRecord(part_number, len(data), etag, [], checksum, time.time())
        upload.parts[part_number] = (part, data)
        return part

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
    ) -> PartRecord:
        upload = self._upload(principal, bucket, key, upload_id)
        data = self.objects[source.bucket][source.key].data[start:end]
        algorithm = upload.info.checksum_algorithm
        checksum = None
        if algorithm is not None:
            checksum = ObjectChecksum(algorithm, checksums.checksum_b64(algorithm, data))
        etag = f'"{hashlib.md5(data).hexdigest()}"'
        part = PartRecord(part_number, len(data), etag, [], checksum, time.time())
        upload.parts[part_number] = (part, data)
        return part

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
        upload = self._upload(principal, bucket, key, upload_id)
        numbers = [p.part_number for p in parts]
        if numbers != sorted(set(numbers)):
            raise InvalidPartOrderError()
        chosen: list[tuple[PartRecord, bytes]] = []
        for index, wanted in enumerate(parts):
            stored = upload.parts.get(wanted.part_number)
            if stored is None or stored[0].etag != wanted.etag:
                raise InvalidPartError()
            if index < len(parts) - 1 and stored[0].size < self.min_part_size:
                raise EntityTooSmallError()
            chosen.append(stored)
        self._check_conditions(bucket, key, conditions)
        records = [p for p, _ in chosen]
        verify_completion(upload.info, records, checks)
        data = b"".join(d for _, d in chosen)
        etag = checksums.multipart_etag([p.etag for p in records])
        checksum = None
        info = upload.info
        if info.checksum_algorithm and all(p.checksum for p in records):
            values = [p.checksum.value for p in records if p.checksum]
            if info.checksum_type == "FULL_OBJECT":
                value = checksums.full_object_crc(
                    info.checksum_algorithm,
                    [(v, p.size) for v, p in zip(values, records, strict=True)],
                )
            else:
                value = checksums.composite_checksum(info.checksum_algorithm, values)
            checksum = ObjectChecksum(
                info.checksum_algorithm, value, info.checksum_type or "COMPOSITE"
            )
        attributes = ObjectAttributes(
            info.content_type, info.user_metadata, info.system_metadata, info.storage_class
        )
        del self.uploads[upload_id]
        return self._store(principal, bucket, key, data, etag, attributes, records, checksum)

    async def abort_upload(
        self, principal: Principal, bucket: str, key: str, upload_id: str
    ) -> None:
        self._upload(principal, bucket, key, upload_id)
        del self.uploads[upload_id]

    async def list_parts(
        self,
        principal: Principal,
        bucket: str,
        key: str,
        upload_id: str,
        part_number_marker: int = 0,
        max_parts: int = 1000,
    ) -> tuple[UploadInfo, PartList]:
        upload = self._upload(principal, bucket, key, upload_id)
        records = [p for n, (p, _) in sorted(upload.parts.items()) if n > part_number_marker]
        page, rest = records[:max_parts], records[max_parts:]
        return upload.info, PartList(
            parts=page,
            is_truncated=bool(rest),
            next_marker=page[-1].part_number if rest and page else None,
        )

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
        self._bucket(principal, bucket)
        found = sorted(
            (u.info for u in self.uploads.values() if u.info.bucket == bucket),
            key=lambda i: (i.key, i.initiated),
        )
        found = [
            i
            for i in found
            if i.key.startswith(prefix)
            and (
                i.key > key_marker
                or (upload_id_marker and i.key == key_marker and i.upload_id > upload_id_marker)
            )
        ]
        page, rest = found[:max_uploads], found[max_uploads:]
        return UploadList(
            uploads=page,
            common_prefixes=[],
            is_truncated=bool(rest),
            next_key_marker=page[-1].key if rest else None,
            next_upload_id_marker=page[-1].upload_id if rest else None,
        )
