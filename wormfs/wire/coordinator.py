"""Coordinator API schemas (``/v1/...`` on the active coordinator).

Routes (all authenticated with the cluster secret, see ``wormfs.internal.auth``):

    GET    /v1/health                                   -> CoordinatorHealth
    POST   /v1/nodes/register       NodeRegistration    -> RegisterResult
    POST   /v1/nodes/{node_id}/heartbeat   Heartbeat    -> RegisterResult
    GET    /v1/nodes                                    -> NodeList
    POST   /v1/users                CreateUser          -> UserInfo (with its keys)
    GET    /v1/users                                    -> UserList
    DELETE /v1/users/{user_id}                          -> 204
    GET    /v1/access-keys/{access_key}                 -> AccessKeyInfo
    GET    /v1/buckets?owner_id=ID                      -> BucketList (all when no owner)
    PUT    /v1/buckets/{bucket}     CreateBucket        -> BucketInfo
    GET    /v1/buckets/{bucket}                         -> BucketInfo
    DELETE /v1/buckets/{bucket}                         -> 204
    GET    /v1/buckets/{bucket}/access                  -> BucketAccess
    PUT    /v1/buckets/{bucket}/access/policy[?owner_id=U]  BucketPolicy -> 204
    PUT    /v1/buckets/{bucket}/access/public-access-block[?owner_id=U]
                                PublicAccessBlockSetting -> 204
    GET    /v1/buckets/{bucket}/objects?prefix=&delimiter=&start_after=&max_keys=
                                                        -> ObjectList
    POST   /v1/writes               BeginWrite          -> WriteGrant
    POST   /v1/objects/commit       CommitObject        -> ObjectManifest
    POST   /v1/objects/inline       PutInline           -> ObjectManifest
    GET    /v1/buckets/{bucket}/object?key=K[&version_id=V][&owner_id=U] -> ObjectManifest
    DELETE /v1/buckets/{bucket}/object?key=K[&version_id=V][&owner_id=U] -> DeleteResult
    POST   /v1/uploads              CreateUpload        -> UploadInfo
    GET    /v1/uploads/{upload_id}                      -> UploadInfo
    POST   /v1/uploads/{upload_id}/parts   CommitPart   -> PartRecord
    GET    /v1/uploads/{upload_id}/parts?marker=N&max_parts=M -> PartList
    POST   /v1/uploads/{upload_id}/complete CompleteUpload -> ObjectManifest
    DELETE /v1/uploads/{upload_id}                      -> 204
    GET    /v1/buckets/{bucket}/uploads?prefix=&key_marker=&upload_id_marker=&max_uploads=
                                                        -> UploadList

With ``owner_id`` the coordinator first checks that the user owns the bucket
(``AccessDeniedError``). Keys travel in the query string, never the path, so that any UTF-8
key (slashes, dots, percent signs) round-trips. Times are float seconds since the epoch, UTC.
Errors answer with ``ErrorBody`` and the domain error's HTTP status.
"""

from __future__ import annotations

from typing import Literal

import msgspec

# The checksum vocabulary is defined beside the multipart checksum rule (formats layer); the
# messages below carry it, so this schema exports it too (``as``: an explicit re-export).
from wormfs.format.checksums import ChecksumAlgorithm as ChecksumAlgorithm
from wormfs.format.checksums import ChecksumType as ChecksumType
from wormfs.format.checksums import ObjectChecksum as ObjectChecksum
from wormfs.format.layout import Profile
from wormfs.format.sealing import Encryption
from wormfs.wire.acl import BUCKET_OWNER_ENFORCED, Acl
from wormfs.wire.cors import CorsConfig
from wormfs.wire.encryption import BucketEncryption
from wormfs.wire.fs import FsWrite
from wormfs.wire.lifecycle import LifecycleConfig
from wormfs.wire.storage import DiskInfo


# ---- nodes ------------------------------------------------------------------------------------
class NodeRegistration(msgspec.Struct, frozen=True):
    node_id: str
    address: str  # base URL, e.g. http://127.0.0.1:9101
    disks: list[DiskInfo]
    rack: str = ""
    zone: str = ""


class Heartbeat(msgspec.Struct, frozen=True):
    disks: list[DiskInfo]


class RegisterResult(msgspec.Struct, frozen=True):
    node_id: str
    heartbeat_interval: float


class NodeInfo(msgspec.Struct, frozen=True):
    node_id: str
    address: str
    state: Literal["online", "offline"]
    last_heartbeat: float
    disks: list[DiskInfo]
    rack: str = ""
    zone: str = ""


class NodeList(msgspec.Struct, frozen=True):
    nodes: list[NodeInfo]


class CoordinatorHealth(msgspec.Struct, frozen=True):
    status: Literal["ok"]
    leader: bool
    nodes_online: int
    disks_online: int


# ---- users and keys ---------------------------------------------------------------------------
class CreateUser(msgspec.Struct, frozen=True):
    display_name: str
    access_key: str | None = None  # generated when absent
    secret_key: str | None = None
    email: str = ""  # for S3 ACL grants by e-mail address ("": none)


class AccessKeyInfo(msgspec.Struct, frozen=True):
    access_key: str
    secret_key: str
    user_id: str  # the canonical id shown in Owner fields
    display_name: str


class UserInfo(msgspec.Struct, frozen=True):
    user_id: str
    display_name: str
    created: float
    access_keys: list[AccessKeyInfo]
    email: str = ""


class UserList(msgspec.Struct, frozen=True):
    users: list[UserInfo]


# ---- buckets ----------------------------------------------------------------------------------
class CreateBucket(msgspec.Struct, frozen=True):
    owner_id: str
    region: str = "us-east-1"
    # Object Lock for good (S3's x-amz-bucket-object-lock-enabled): versioning is enabled
    # with it and can never be suspended.
    object_lock: bool = False
    # x-amz-object-ownership ("": the default, BucketOwnerEnforced) and the bucket's ACL
    # from x-amz-acl / x-amz-grant-* (None: private).
    ownership: str = ""
    acl: Acl | None = None


class BucketInfo(msgspec.Struct, frozen=True):
    name: str
    owner_id: str
    owner_display_name: str
    created: float
    region: str


class BucketList(msgspec.Struct, frozen=True):
    buckets: list[BucketInfo]


class PublicAccessBlock(msgspec.Struct, frozen=True):
    """S3's PublicAccessBlockConfiguration of a bucket (its four flags)."""

    block_public_acls: bool = False
    ignore_public_acls: bool = False
    block_public_policy: bool = False
    restrict_public_buckets: bool = False


class BucketAccess(msgspec.Struct, frozen=True):
    """What authorizing a request on a bucket needs: its owner, its policy (the JSON text as
    put, None when none) and its public access block (None when none)."""

    name: str
    owner_id: str
    owner_display_name: str
    policy: str | None = None
    public_access_block: PublicAccessBlock | None = None
    # Its lifecycle rules (for the x-amz-expiration header of reads and writes).
    lifecycle: LifecycleConfig | None = None
    # Its CORS rules (for browsers' preflights and the Access-Control-* headers).
    cors: CorsConfig | None = None
    # Its default encryption (applied to writes that ask for none of their own).
    encryption: BucketEncryption | None = None
    # Object Ownership ("" once its controls were deleted: ACLs on, writers own their
    # objects) and its ACL (None: private, the owner's FULL_CONTROL).
    ownership: str = BUCKET_OWNER_ENFORCED
    acl: Acl | None = None


class BucketPolicy(msgspec.Struct, frozen=True):
    """A bucket policy to store (validated by the gateway); None deletes it."""

    policy: str | None = None


class PublicAccessBlockSetting(msgspec.Struct, frozen=True):
    """A public access block to store; None deletes it."""

    block: PublicAccessBlock | None = None


class BucketVersioning(msgspec.Struct, frozen=True):
    """A bucket's versioning: "" (never enabled), "Enabled" or "Suspended"; a bucket that
    had it enabled never goes back to ""."""

    status: Literal["", "Enabled", "Suspended"] = ""


# ---- object data layout -----------------------------------------------------------------------
class ChunkPlacement(msgspec.Struct, frozen=True):
    """Where fragment ``fragment_index`` of one segment lives."""

    fragment_index: int
    chunk_id: str
    disk_id: str
    node_id: str
    node_address: str


class Segment(msgspec.Struct, frozen=True):
    """A run of a part's bytes, ``[offset, offset + length)`` within the part, on k+m chunks."""

    segment_index: int
    offset: int
    length: int
    chunks: list[ChunkPlacement]


class PartRecord(msgspec.Struct, frozen=True):
    part_number: int
    size: int
    etag: str  # quoted hex MD5, as S3 returns it
    segments: list[Segment]
    checksum: ObjectChecksum | None = None
    last_modified: float = 0.0


# ---- object attributes ------------------------------------------------------------------------
class ObjectAttributes(msgspec.Struct, frozen=True):
    """What a writer says about an object besides its bytes, carried whole from the request
    that creates it (PUT, CopyObject, CreateMultipartUpload) to every manifest that reads it.

    The checksum is not one of them, on purpose. An object's checksum (``ObjectChecksum``) is a
    fact of one version's bytes: computed and verified by the writer, or combined from the
    parts at completion, so it travels beside the attributes on ``CommitObject``,
    ``PutInline`` and ``ObjectManifest``. An upload's checksum algorithm and type are a choice
    made once per upload, which every part must follow and which completion checks, so they
    stay on ``CreateUpload`` / ``UploadInfo``. A copy keeps the source's attributes (or
    replaces them) independently of whether it keeps the checksum.
    """

    content_type: str = "binary/octet-stream"
    user_metadata: dict[str, str] = {}
    # Content-Encoding, Content-Disposition, Content-Language, Cache-Control, Expires
    # (keys as the HTTP header names in lower case).
    system_metadata: dict[str, str] = {}
    # On a request that creates an object, "" asks for the bucket's default class; the
    # coordinator stores the class resolved, never "".
    storage_class: str = "STANDARD"
    # S3 tags of the version (at most 10; validated by the gateway, as AWS's limits say).
    tags: dict[str, str] = {}
    # Object Lock: the version's retention (a mode, "GOVERNANCE" or "COMPLIANCE", until
    # ``retain_until`` in Unix seconds; "" and None without one) and legal hold (None: never
    # put). On a request that creates an object, a retention not given takes the bucket's
    # default (``ObjectLockConfig``); a copy never takes its source's.
    lock_mode: str = ""
    retain_until: float | None = None
    legal_hold: bool | None = None
    # Server-side encryption: how the version's parts are sealed (``wormfs.format.sealing``);
    # None for plaintext. Set by the front door that wrote it, never taken over by a copy.
    encryption: Encryption | None = None
    # The version's ACL when its bucket has ACLs enabled (None: private to the bucket owner);
    # its ``owner_id`` is the object's owner as S3 shows it.
    acl: Acl | None = None


# ---- writes -----------------------------------------------------------------------------------
class BeginWrite(msgspec.Struct, frozen=True):
    """Ask for a version id and placements for ``size`` bytes (a whole PUT or one part)."""

    bucket: str
    key: str
    size: int
    upload_id: str | None = None
    part_number: int = 1
    # The S3 storage class chosen for a whole object ("" = the bucket's default class); it
    # picks the profile (``wormfs.wire.profiles``). A part takes its upload's profile instead.
    storage_class: str = ""


class WriteGrant(msgspec.Struct, frozen=True):
    """The coordinator records the intent (``write_id``) so abandoned writes can be collected."""

    write_id: str
    version_id: str
    profile: Profile
    segment_size: int
    segments: list[Segment]
    storage_class: str = "STANDARD"  # the class resolved: what the commit stores


class CommitObject(msgspec.Struct, frozen=True):
    write_id: str
    bucket: str
    key: str
    version_id: str
    owner_id: str
    size: int
    etag: str
    profile: Profile
    parts: list[PartRecord]
    attributes: ObjectAttributes = msgspec.field(default_factory=ObjectAttributes)
    checksum: ObjectChecksum | None = None
    # Conditional PUT, checked atomically with the commit.
    if_match: str | None = None
    if_none_match: str | None = None  # only "*" is meaningful
    fs: FsWrite | None = None  # a write made by the mount (``wormfs.wire.fs``)


# Objects of at most this many bytes may be stored inline: their bytes live in the metadata
# database next to their manifest (one commit, no chunks); see docs/architecture.md.
INLINE_LIMIT = 256 * 1024


class PutInline(msgspec.Struct, frozen=True):
    """A whole small object, bytes included, committed in one step (no grant, no chunks).

    The coordinator checks that ``owner_id`` owns the bucket, that ``size`` is ``len(data)``
    and at most ``INLINE_LIMIT``, evaluates the conditions and makes it the current version,
    all in one transaction; it answers the new manifest (without ``inline``)."""

    bucket: str
    key: str
    owner_id: str
    size: int
    etag: str
    data: bytes
    attributes: ObjectAttributes = msgspec.field(default_factory=ObjectAttributes)
    checksum: ObjectChecksum | None = None
    if_match: str | None = None
    if_none_match: str | None = None
    fs: FsWrite | None = None  # a write made by the mount (``wormfs.wire.fs``)


class ObjectManifest(msgspec.Struct, frozen=True):
    bucket: str
    key: str
    version_id: str
    owner_id: str
    size: int
    etag: str
    last_modified: float
    profile: Profile
    parts: list[PartRecord]
    attributes: ObjectAttributes = msgspec.field(default_factory=ObjectAttributes)
    checksum: ObjectChecksum | None = None
    is_delete_marker: bool = False
    # The object's bytes when it is stored inline (then ``parts`` is empty and ``profile`` is
    # the one of the day, unused). Its MD5 is the ETag: readers verify it (invariant 3).
    inline: bytes | None = None
    # The multipart upload this version was completed from (None for any other write).
    upload_id: str | None = None
    # The version id S3 clients see (db/versioning.py): None while the bucket never had
    # versioning (no x-amz-version-id), "null" for the null version, else ``version_id``.
    s3_version_id: str | None = None


class DeleteConditions(msgspec.Struct, frozen=True):
    """A conditional delete of the current version (DeleteObject, DeleteObjects): each given
    condition must hold for it, checked in the delete's transaction; with ``if_match`` and
    no current object the delete is ``NoSuchKey``, with only the others it succeeds."""

    if_match: str | None = None  # ETags, or "*": the object exists
    last_modified: int | None = None  # whole seconds since the epoch, as S3 shows it
    size: int | None = None

    @property
    def given(self) -> bool:
        return self.if_match is not None or self.last_modified is not None or self.size is not None


class DeleteResult(msgspec.Struct, frozen=True):
    version_id: str | None
    delete_marker: bool = False


# ---- listing ----------------------------------------------------------------------------------
class ObjectSummary(msgspec.Struct, frozen=True):
    key: str
    size: int
    etag: str
    last_modified: float
    owner_id: str
    storage_class: str = "STANDARD"
    version_id: str | None = None
    checksum_algorithm: str | None = None


class ObjectList(msgspec.Struct, frozen=True):
    """One page; ``next_marker`` is the last key or common prefix returned when truncated."""

    objects: list[ObjectSummary]
    common_prefixes: list[str]
    is_truncated: bool
    next_marker: str | None = None


class VersionSummary(msgspec.Struct, frozen=True):
    """One version (or delete marker) in a ListObjectVersions page; ``version_id`` is the id
    S3 shows ("null" for the null version)."""

    key: str
    version_id: str
    is_latest: bool
    is_delete_marker: bool
    size: int
    etag: str
    last_modified: float
    owner_id: str
    storage_class: str = "STANDARD"
    checksum_algorithm: str | None = None


class VersionList(msgspec.Struct, frozen=True):
    """One page of versions, keys ascending and each key's versions newest first; when
    truncated, the markers to go on from (the key alone after a common prefix)."""

    versions: list[VersionSummary]
    common_prefixes: list[str]
    is_truncated: bool
    next_key_marker: str | None = None
    next_version_id_marker: str | None = None


# ---- multipart --------------------------------------------------------------------------------
class CreateUpload(msgspec.Struct, frozen=True):
    bucket: str
    key: str
    owner_id: str
    attributes: ObjectAttributes = msgspec.field(default_factory=ObjectAttributes)
    checksum_algorithm: ChecksumAlgorithm | None = None
    checksum_type: ChecksumType | None = None


class UploadInfo(msgspec.Struct, frozen=True):
    upload_id: str
    bucket: str
    key: str
    owner_id: str
    initiated: float
    profile: Profile
    attributes: ObjectAttributes = msgspec.field(default_factory=ObjectAttributes)
    checksum_algorithm: ChecksumAlgorithm | None = None
    checksum_type: ChecksumType | None = None


class CommitPart(msgspec.Struct, frozen=True):
    write_id: str
    part: PartRecord


class PartList(msgspec.Struct, frozen=True):
    parts: list[PartRecord]
    is_truncated: bool
    next_marker: int | None = None


class CompletedPart(msgspec.Struct, frozen=True):
    part_number: int
    etag: str
    checksum: str | None = None  # base64, when the client sent one for the part


class CompleteUpload(msgspec.Struct, frozen=True):
    parts: list[CompletedPart]
    if_match: str | None = None
    if_none_match: str | None = None


class UploadList(msgspec.Struct, frozen=True):
    uploads: list[UploadInfo]
    common_prefixes: list[str]
    is_truncated: bool
    next_key_marker: str | None = None
    next_upload_id_marker: str | None = None


# ---- tags -------------------------------------------------------------------------------------
class TagSet(msgspec.Struct, frozen=True):
    """An object version's or a bucket's tags (key -> value), validated by the gateway against
    AWS's limits; a bucket's is None when none was ever put (``NoSuchTagSet``)."""

    tags: dict[str, str] | None = None


class ObjectLockConfig(msgspec.Struct, frozen=True):
    """A bucket's Object Lock: whether it has it, and its default retention for new versions
    (``mode`` "GOVERNANCE" or "COMPLIANCE" for ``days`` or ``years``; "" and 0: none)."""

    enabled: bool = False
    mode: str = ""
    days: int = 0
    years: int = 0


class ObjectRetention(msgspec.Struct, frozen=True):
    """Put a version's retention: ``mode`` until ``retain_until`` (Unix seconds); "" and None
    remove it. ``bypass_governance``: the caller asked to bypass a GOVERNANCE retention and
    may (s3:BypassGovernanceRetention), as shortening, removing or changing one needs."""

    mode: str = ""
    retain_until: float | None = None
    bypass_governance: bool = False


class LegalHold(msgspec.Struct, frozen=True):
    """Put a version's legal hold on or off."""

    on: bool


class TaggedVersion(msgspec.Struct, frozen=True):
    """The version whose tags, retention or legal hold were changed (None: the version has
    no S3 id of its own, the bucket never having had versioning)."""

    version_id: str | None = None
