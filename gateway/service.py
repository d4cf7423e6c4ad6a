"""ObjectService: the gateway's domain layer, below the S3 protocol and above the data plane.

It knows nothing of HTTP, XML or S3 error codes: it takes typed requests, raises domain errors
(``wormfs.errors``) and returns wire structs. The S3 handlers (``wormfs.gateway.handlers``)
are its only callers in the gateway; they parse and authenticate requests, call one method,
and render the answer. ``ObjectServiceProtocol`` is the contract; ``ObjectService`` (in
``wormfs.gateway.object_service``) implements it over the coordinator and storage nodes.

Ownership rules applied here: a bucket belongs to its creator; any other principal gets
``AccessDeniedError`` for every bucket and object operation on it. Whom else a bucket lets in
(its policy) is decided above, by ``wormfs.gateway.access``, which then calls the service as
the bucket's owner.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from typing import Protocol

from wormfs.dataplane.reader import Piece
from wormfs.gateway.encryption import CustomerKey, SseAsk
from wormfs.wire.acl import Acl
from wormfs.wire.coordinator import (
    AccessKeyInfo,
    BucketAccess,
    BucketInfo,
    ChecksumAlgorithm,
    ChecksumType,
    CompletedPart,
    DeleteConditions,
    DeleteResult,
    ObjectAttributes,
    ObjectList,
    ObjectLockConfig,
    ObjectManifest,
    ObjectRetention,
    PartList,
    PartRecord,
    PublicAccessBlock,
    TaggedVersion,
    UploadInfo,
    UploadList,
    VersionList,
)
from wormfs.wire.cors import CorsConfig
from wormfs.wire.encryption import BucketEncryption
from wormfs.wire.lifecycle import LifecycleConfig


@dataclass(frozen=True)
class Principal:
    """Who is asking: the owner of the access key that signed the request."""

    user_id: str
    display_name: str
    access_key: str


class BodyReader(Protocol):
    """A request body as the protocol layer decoded it (aws-chunked framing already removed).

    ``read`` returns the next piece of payload (at most ~1 MiB), ``b""`` at the end. It raises
    as soon as it knows the body is bad (chunk signature, framing, declared length, payload
    hash) — at the latest when it returns ``b""`` — so the service never commits a bad body.
    ``trailing_checksums`` holds ``x-amz-checksum-*`` trailers (lower-case algorithm name, e.g.
    ``"crc32"`` -> base64 value), valid after the end.
    """

    async def read(self) -> bytes: ...

    def trailing_checksums(self) -> Mapping[str, str]: ...


@dataclass(frozen=True)
class DataChecks:
    """Integrity checks on a body; all are verified before anything is committed.

    ``content_md5`` is the base64 Content-MD5 header. ``checksum_algorithm`` names the
    additional checksum to compute and store (as S3 names it: CRC32, CRC32C, CRC64NVME, SHA1,
    SHA256); ``checksum_value`` is its expected base64 value from a header, or None when it
    comes in a trailer (then it is taken from ``BodyReader.trailing_checksums``) or was not
    sent (then it is only computed and stored). A mismatch raises ``BadDigestError``.
    """

    content_md5: str | None = None
    checksum_algorithm: ChecksumAlgorithm | None = None
    checksum_value: str | None = None


@dataclass(frozen=True)
class CompletionChecks:
    """What a CompleteMultipartUpload says the finished object must be, checked before commit.

    ``checksum_value`` is the whole object's checksum (base64, without a COMPOSITE ``-N``
    suffix) for ``checksum_algorithm``, which must be the upload's; ``checksum_type`` must be
    the upload's type; ``object_size`` the sum of the named parts. A wrong checksum raises
    ``BadDigestError``, any other mismatch ``InvalidInputError``.
    """

    checksum_algorithm: ChecksumAlgorithm | None = None
    checksum_value: str | None = None
    checksum_type: ChecksumType | None = None
    object_size: int | None = None


@dataclass(frozen=True)
class PutConditions:
    """Conditional writes: If-Match (an ETag) and If-None-Match ("*")."""

    if_match: str | None = None
    if_none_match: str | None = None


class ObjectServiceProtocol(Protocol):
    # ---- identity ----------------------------------------------------------------------------
    async def credentials(self, access_key: str) -> AccessKeyInfo:
        """The secret for ``access_key`` (cached briefly); ``NoSuchAccessKeyError`` if unknown."""
        ...

    # ---- buckets -----------------------------------------------------------------------------
    async def list_buckets(self, principal: Principal) -> list[BucketInfo]: ...

    async def create_bucket(
        self,
        principal: Principal,
        bucket: str,
        region: str,
        object_lock: bool = False,
        ownership: str = "",
        acl: Acl | None = None,
    ) -> BucketInfo:
        """``BucketAlreadyOwnedByYouError`` / ``BucketAlreadyExistsError`` /
        ``InvalidBucketNameError``. ``object_lock``: with Object Lock (and versioning) for
        good; ``ownership``: its Object Ownership ("": BucketOwnerEnforced); ``acl``: its
        ACL (None: private)."""
        ...

    async def head_bucket(self, principal: Principal, bucket: str) -> BucketInfo: ...

    async def delete_bucket(self, principal: Principal, bucket: str) -> None:
        """``BucketNotEmptyError`` while objects or uploads remain."""
        ...

    # ---- access settings ---------------------------------------------------------------------
    async def bucket_access(self, bucket: str) -> BucketAccess:
        """The bucket's owner, policy and public access block, for authorizing a request on
        it (no ownership check: it is how the check is made); ``NoSuchBucketError``."""
        ...

    async def put_bucket_policy(
        self, principal: Principal, bucket: str, policy: str | None
    ) -> None:
        """Store the (validated) policy text; None deletes it."""
        ...

    async def bucket_versioning(self, principal: Principal, bucket: str) -> str:
        """ "" (never enabled), "Enabled" or "Suspended"."""
        ...

    async def put_bucket_versioning(self, principal: Principal, bucket: str, status: str) -> None:
        """Turn versioning on ("Enabled") or off for new writes ("Suspended")."""
        ...

    async def bucket_cors(self, principal: Principal, bucket: str) -> CorsConfig | None:
        """The bucket's CORS rules; None when it has none."""
        ...

    async def put_bucket_cors(
        self, principal: Principal, bucket: str, config: CorsConfig | None
    ) -> None:
        """Replace the bucket's CORS rules (validated); None removes them."""
        ...

    async def bucket_encryption(self, principal: Principal, bucket: str) -> BucketEncryption | None:
        """The bucket's default encryption; None when it has none."""
        ...

    async def put_bucket_encryption(
        self, principal: Principal, bucket: str, config: BucketEncryption | None
    ) -> None:
        """Replace the bucket's default encryption (validated); None removes it."""
        ...

    async def bucket_ownership(self, principal: Principal, bucket: str) -> str | None:
        """Its Object Ownership; None once its ownership controls were deleted."""
        ...

    async def put_bucket_ownership(
        self, principal: Principal, bucket: str, ownership: str | None
    ) -> None:
        """Set its Object Ownership; None deletes the controls."""
        ...

    async def bucket_acl(self, principal: Principal, bucket: str) -> Acl | None:
        """Its ACL; None when none was put (private)."""
        ...

    async def put_bucket_acl(self, principal: Principal, bucket: str, acl: Acl | None) -> None: ...

    async def put_object_acl(
        self, principal: Principal, bucket: str, key: str, version_id: str | None, acl: Acl | None
    ) -> TaggedVersion:
        """Replace one version's ACL (the current one, or ``version_id``)."""
        ...

    async def users(self) -> dict[str, str]:
        """Every user's canonical id -> display name (for ACL documents and grants)."""
        ...

    async def emails(self) -> dict[str, str]:
        """Every user's e-mail address (lower case) -> canonical id (grants by e-mail)."""
        ...

    async def bucket_lifecycle(self, principal: Principal, bucket: str) -> LifecycleConfig | None:
        """The bucket's lifecycle rules; None when it has none."""
        ...

    async def put_bucket_lifecycle(
        self, principal: Principal, bucket: str, config: LifecycleConfig | None
    ) -> None:
        """Replace the bucket's lifecycle rules (validated); None removes them."""
        ...

    async def object_lock(self, principal: Principal, bucket: str) -> ObjectLockConfig:
        """The bucket's Object Lock (``enabled`` false without one)."""
        ...

    async def put_object_lock(
        self, principal: Principal, bucket: str, config: ObjectLockConfig
    ) -> None:
        """Turn Object Lock on (versioning enabled: ``InvalidBucketStateError``) or change its
        default retention."""
        ...

    async def put_object_retention(
        self,
        principal: Principal,
        bucket: str,
        key: str,
        version_id: str | None,
        retention: ObjectRetention,
    ) -> TaggedVersion:
        """Put or remove one version's retention (``ObjectLockedError`` where S3 forbids)."""
        ...

    async def put_object_legal_hold(
        self, principal: Principal, bucket: str, key: str, version_id: str | None, on: bool
    ) -> TaggedVersion:
        """Put one version's legal hold on or off."""
        ...

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
        """One page of every version and delete marker (``VersionList``)."""
        ...

    async def put_public_access_block(
        self, principal: Principal, bucket: str, block: PublicAccessBlock | None
    ) -> None:
        """Store the public access block; None deletes it."""
        ...

    # ---- objects -----------------------------------------------------------------------------
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
        """Store exactly ``size`` bytes from ``body``; visible to readers only once committed.
        ``sse``: sealed under a fresh data key (SSE-S3, SSE-KMS) or the customer's (SSE-C).

        ``IncompleteBodyError`` if the body ends early or runs long; ``BadDigestError`` on a
        checksum mismatch; ``PreconditionFailedError`` if a condition fails.
        """
        ...

    async def head_object(
        self, principal: Principal, bucket: str, key: str, version_id: str | None = None
    ) -> ObjectManifest:
        """The manifest of the current (or given) version; ``NoSuchKeyError``."""
        ...

    def read_object(
        self,
        manifest: ObjectManifest,
        start: int,
        end: int,
        customer: CustomerKey | None = None,
    ) -> AsyncIterator[Piece]:
        """Bytes ``[start, end)`` of the object, in pieces of at most 1 MiB, verified; a
        sealed object is decrypted (SSE-C: with ``customer``, checked by the caller).

        Reads only the stripes (and fragment byte ranges) that overlap the range; decodes from
        parity when a fragment is missing or corrupt. ``NotEnoughFragmentsError`` if fewer than
        k fragments of a stripe can be read. An object stored inline is served from its
        manifest, verified against its ETag (``CorruptChunkError`` if its bytes went bad).
        """
        ...

    async def delete_object(
        self,
        principal: Principal,
        bucket: str,
        key: str,
        version_id: str | None = None,
        conditions: DeleteConditions | None = None,
        bypass_governance: bool = False,
    ) -> DeleteResult:
        """Deleting a missing key succeeds (S3 semantics); ``conditions`` are decided
        atomically with the delete (``PreconditionFailedError``, ``NoSuchKeyError``). A
        locked version is ``ObjectLockedError`` (``bypass_governance``: a GOVERNANCE
        retention lets it go)."""
        ...

    async def list_objects(
        self,
        principal: Principal,
        bucket: str,
        prefix: str = "",
        delimiter: str = "",
        start_after: str = "",
        max_keys: int = 1000,
    ) -> ObjectList: ...

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
        """A new object holding ``source``'s bytes (decrypted with ``source_key`` when it is
        SSE-C), sealed as ``sse`` asks, with ``attributes`` (the caller resolves
        COPY vs REPLACE metadata directives). The caller has checked read access on the source
        with ``head_object``."""
        ...

    # ---- multipart ---------------------------------------------------------------------------
    async def create_upload(
        self,
        principal: Principal,
        bucket: str,
        key: str,
        attributes: ObjectAttributes,
        checksum_algorithm: ChecksumAlgorithm | None = None,
        checksum_type: ChecksumType | None = None,
        sse: SseAsk | None = None,
    ) -> UploadInfo: ...

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
        """``NoSuchUploadError`` if the upload is gone or belongs to another bucket/key;
        ``CustomerKeyError`` if an SSE-C upload's part does not bring its key."""
        ...

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
        """A part holding bytes ``[start, end)`` of ``source`` (``source_key``: its SSE-C
        key; ``customer``: the upload's)."""
        ...

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
        """``InvalidPartError``, ``InvalidPartOrderError``, ``EntityTooSmallError``; ``checks``
        as ``CompletionChecks`` says, before anything is committed."""
        ...

    async def abort_upload(
        self, principal: Principal, bucket: str, key: str, upload_id: str
    ) -> None: ...

    async def list_parts(
        self,
        principal: Principal,
        bucket: str,
        key: str,
        upload_id: str,
        part_number_marker: int = 0,
        max_parts: int = 1000,
    ) -> tuple[UploadInfo, PartList]: ...

    async def list_uploads(
        self,
        principal: Principal,
        bucket: str,
        prefix: str = "",
        delimiter: str = "",
        key_marker: str = "",
        upload_id_marker: str = "",
        max_uploads: int = 1000,
    ) -> UploadList: ...

    async def put_object_tags(
        self,
        principal: Principal,
        bucket: str,
        key: str,
        version_id: str | None,
        tags: dict[str, str],
    ) -> TaggedVersion:
        """Replace one version's tags ({} deletes them); ``NoSuchKeyError`` if it is none."""
        ...

    async def bucket_tags(self, principal: Principal, bucket: str) -> dict[str, str] | None:
        """The bucket's tags; None when none were ever put."""
        ...

    async def put_bucket_tags(
        self, principal: Principal, bucket: str, tags: dict[str, str] | None
    ) -> None:
        """Replace the bucket's tags (None deletes the tag set)."""
        ...
