"""Metadata schema: SQLAlchemy 2.0 typed declarative models (one class per table).

Layer: the bottom of the coordinator's database package. The schema is versioned by Alembic
(``wormfs.coordinator.migrations``); every change here needs a new revision, and a test checks
that the migrations produce exactly these tables.

Engine-neutral on purpose (SQLite now, PostgreSQL later): no SQLite-only SQL, partial indexes
declared for both dialects, keys ordered by their UTF-8 bytes on both (SQLite's BINARY
collation compares UTF-8 bytes; on PostgreSQL the key columns use the "C" collation), times as
float seconds since the epoch (UTC), sizes as 64-bit integers.

Metadata is O(segments), not O(stripes): an object version has parts, a part has segments, a
segment has k+m chunk placements; stripes and fragments inside a chunk are computed from the
profile and never stored.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    Double,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    text,
    true,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship
from sqlalchemy.types import TypeEngine


def _ordered_text(length: int) -> TypeEngine[str]:
    """A string column whose ORDER BY is UTF-8 byte order (S3 lists keys in that order)."""
    return String(length).with_variant(String(length, collation="C"), "postgresql")


# SQLite only auto-increments an INTEGER PRIMARY KEY; PostgreSQL gets a 64-bit identity.
RowId = BigInteger().with_variant(Integer(), "sqlite")
# S3 keys are at most 1024 bytes of UTF-8; paths made through the mount may hold up to 4095
# bytes (wormfs.wire.fs.MAX_PATH) plus a mount's prefix. SQLite ignores lengths, so the column
# is widened on PostgreSQL only (revision 0005), and SQLite's stays as it was created.
KEY_BYTES = 5120
KeyText = String(1024).with_variant(String(KEY_BYTES, collation="C"), "postgresql")
BucketName = _ordered_text(63)
Id = String(64)  # ids: 32 hex (ids.new_id), user ids: 64 hex (S3 canonical ids)

NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    # Deterministic constraint names so that later migrations can drop or alter them by name
    # on every engine (SQLite batch mode needs names too).
    metadata = MetaData(naming_convention=NAMING)


# ---- cluster state and fencing ----------------------------------------------------------------
class ClusterMeta(Base):
    """One row (id 1): the leader epoch for fencing, and cluster-wide facts.

    Every coordinator that becomes active increments ``leader_epoch`` and remembers the value;
    every write transaction checks that the epoch is still its own, so a deposed coordinator's
    late writes fail with ``StaleLeaderError`` instead of corrupting metadata.
    """

    __tablename__ = "cluster_meta"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    leader_epoch: Mapped[int] = mapped_column(BigInteger, default=0)
    leader_id: Mapped[str] = mapped_column(String(128), default="")
    leader_since: Mapped[float] = mapped_column(Double, default=0.0)
    root_user_id: Mapped[str | None] = mapped_column(Id, nullable=True)


# ---- identity ---------------------------------------------------------------------------------
class User(Base):
    __tablename__ = "users"
    # A grant by e-mail names one user (several NULLs are allowed on both engines).
    __table_args__ = (Index("uq_users_email", "email", unique=True),)

    user_id: Mapped[str] = mapped_column(Id, primary_key=True)  # canonical id, 64 hex
    display_name: Mapped[str] = mapped_column(String(256))
    # The user's e-mail address (revision 0016), for S3 ACL grants by e-mail; NULL: none.
    email: Mapped[str | None] = mapped_column(String(320), nullable=True)
    created: Mapped[float] = mapped_column(Double)
    # A disabled user's keys authenticate nothing (revision 0007); the row and keys stay.
    disabled: Mapped[bool] = mapped_column(Boolean, default=False, server_default=text("false"))


class AccessKey(Base):
    """An access key pair. The secret is stored because SigV4 verification needs it."""

    __tablename__ = "access_keys"

    access_key: Mapped[str] = mapped_column(String(128), primary_key=True)
    secret_key: Mapped[str] = mapped_column(String(128))
    user_id: Mapped[str] = mapped_column(
        Id, ForeignKey("users.user_id", ondelete="CASCADE"), index=True
    )
    created: Mapped[float] = mapped_column(Double)
    # A disabled key authenticates nothing (revision 0007).
    disabled: Mapped[bool] = mapped_column(Boolean, default=False, server_default=text("false"))

    def __repr__(self) -> str:  # never show the secret, not even in a debug log
        return f"AccessKey(access_key={self.access_key!r}, user_id={self.user_id!r})"


# ---- buckets and objects ----------------------------------------------------------------------
class Bucket(Base):
    __tablename__ = "buckets"

    name: Mapped[str] = mapped_column(BucketName, primary_key=True)
    # Not a foreign key: ownership is checked by the gateway, and a bucket must stay readable
    # even if its owner's record is being repaired. Deleting a user who owns buckets is refused.
    owner_id: Mapped[str] = mapped_column(Id, index=True)
    created: Mapped[float] = mapped_column(Double)
    region: Mapped[str] = mapped_column(String(64))
    # Versioning, tagging, object lock, lifecycle, CORS... as they arrive; one JSON document
    # avoids a migration per bucket sub-resource.
    settings: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class ObjectVersion(Base):
    """One row per object version (or delete marker).

    Index choice: listing the current versions of a bucket is a range scan of
    ``ix_objects_listing`` = (bucket, is_latest, is_delete_marker, key): the three equality
    columns pin one contiguous run, ordered by key, and ``key >= a AND key < b`` seeks inside
    it. A separate "current" table would make that a primary-key scan but doubles the writes
    of every commit and adds a second copy that must agree; the composite index gives the same
    access path with one row per version. ``uq_objects_latest`` (partial, both engines)
    guarantees at most one latest version per key even under concurrent commits on PostgreSQL.
    """

    __tablename__ = "objects"
    __table_args__ = (
        UniqueConstraint("bucket", "key", "version_id", name="uq_objects_version"),
        Index("ix_objects_listing", "bucket", "is_latest", "is_delete_marker", "key"),
        Index(
            "uq_objects_latest",
            "bucket",
            "key",
            unique=True,
            sqlite_where=text("is_latest"),
            postgresql_where=text("is_latest"),
        ),
        # Ids are never reused (revision 0006): while a version has no inode row its id is its
        # file's inode number, which must never name a second file.
        {"sqlite_autoincrement": True},
    )

    id: Mapped[int] = mapped_column(RowId, primary_key=True, autoincrement=True)
    bucket: Mapped[str] = mapped_column(BucketName, ForeignKey("buckets.name"))
    key: Mapped[str] = mapped_column(KeyText)
    version_id: Mapped[str] = mapped_column(Id)
    is_latest: Mapped[bool] = mapped_column(Boolean)
    is_delete_marker: Mapped[bool] = mapped_column(Boolean, default=False)
    # S3's "null" version: written while the bucket was not versioning (never enabled, or
    # suspended); a key has at most one. ``version_id`` is unique and time-ordered anyway.
    is_null: Mapped[bool] = mapped_column(Boolean, default=True, server_default=true())
    size: Mapped[int] = mapped_column(BigInteger)
    etag: Mapped[str] = mapped_column(String(128))
    content_type: Mapped[str] = mapped_column(Text)
    user_metadata: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)
    system_metadata: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)
    # S3 tags (key -> value): of this version (objects), or given at creation (uploads).
    tags: Mapped[dict[str, str]] = mapped_column(JSON, default=dict, server_default=text("'{}'"))
    # Object Lock (revision 0013): the version's retention ("GOVERNANCE" / "COMPLIANCE" until
    # ``retain_until``, Unix seconds; both NULL without one) and legal hold (NULL: never put).
    lock_mode: Mapped[str | None] = mapped_column(String(16), nullable=True)
    retain_until: Mapped[float | None] = mapped_column(Double, nullable=True)
    legal_hold: Mapped[bool | None] = mapped_column(Boolean, nullable=True)
    # Server-side encryption (revision 0014): the ``wormfs.format.sealing.Encryption`` record
    # (wrapped data key, never a plaintext key), NULL for plaintext.
    encryption: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    # The version's ACL (revision 0015; ``wormfs.wire.acl.Acl``), NULL: private to the owner.
    acl: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    # The multipart upload this version was completed from (a repeated completion finds it).
    upload_id: Mapped[str | None] = mapped_column(Id, nullable=True)
    checksum_algorithm: Mapped[str | None] = mapped_column(String(16), nullable=True)
    checksum_value: Mapped[str | None] = mapped_column(String(128), nullable=True)
    checksum_type: Mapped[str | None] = mapped_column(String(16), nullable=True)
    profile: Mapped[dict[str, Any]] = mapped_column(JSON)  # codec, k, m, stripe_size
    storage_class: Mapped[str] = mapped_column(String(32))
    owner_id: Mapped[str] = mapped_column(Id)
    created: Mapped[float] = mapped_column(Double)
    last_modified: Mapped[float] = mapped_column(Double)
    # "committed" today; room for states such as "restoring" without a schema change.
    state: Mapped[str] = mapped_column(String(16), default="committed")
    # The file this version belongs to (revision 0005): NULL means the version's own ``id``.
    # A version the mount commits names the inode of the version it replaced, so the file's
    # inode number (``ino`` = inode id + 1) survives every write and every rename.
    inode_id: Mapped[int | None] = mapped_column(BigInteger, nullable=True, index=True)

    parts: Mapped[list[Part]] = relationship(
        back_populates="object", passive_deletes=True, lazy="raise", order_by="Part.part_number"
    )


class ObjectData(Base):
    """The bytes of a small object stored inline (revision 0004): its version has no parts.

    A table of its own rather than a column of ``objects``, so that listings and version
    look-ups, which read ``objects`` rows by the thousand, never page in object bytes.
    """

    __tablename__ = "object_data"

    object_id: Mapped[int] = mapped_column(
        RowId, ForeignKey("objects.id", ondelete="CASCADE"), primary_key=True, autoincrement=False
    )
    data: Mapped[bytes] = mapped_column(LargeBinary)


# ---- the file namespace: POSIX attributes (revision 0005) --------------------------------------
class Inode(Base):
    """The POSIX attributes of a file or directory marker, once the mount (or an xattr) set
    them. ``id`` is the inode id the version already had (``coalesce(objects.inode_id,
    objects.id)``), so creating the row never changes an inode number; the row goes when the
    last version naming it goes."""

    __tablename__ = "inodes"

    # RowId: on SQLite the rowid itself (no second index), as ids of objects are.
    id: Mapped[int] = mapped_column(RowId, primary_key=True, autoincrement=False)
    bucket: Mapped[str] = mapped_column(BucketName)
    mode: Mapped[int] = mapped_column(Integer)  # st_mode, file type bits included
    uid: Mapped[int] = mapped_column(BigInteger)
    gid: Mapped[int] = mapped_column(BigInteger)
    nlink: Mapped[int] = mapped_column(Integer)
    rdev: Mapped[int] = mapped_column(BigInteger)
    atime_ns: Mapped[int] = mapped_column(BigInteger)
    mtime_ns: Mapped[int] = mapped_column(BigInteger)
    ctime_ns: Mapped[int] = mapped_column(BigInteger)
    btime_ns: Mapped[int] = mapped_column(BigInteger)


class Xattr(Base):
    """One extended attribute of an inode (``user.foo`` -> bytes)."""

    __tablename__ = "xattrs"

    inode_id: Mapped[int] = mapped_column(
        RowId, ForeignKey("inodes.id", ondelete="CASCADE"), primary_key=True
    )
    name: Mapped[str] = mapped_column(String(255), primary_key=True)
    value: Mapped[bytes] = mapped_column(LargeBinary)


# ---- multipart uploads ------------------------------------------------------------------------
class Upload(Base):
    __tablename__ = "uploads"
    __table_args__ = (Index("ix_uploads_listing", "bucket", "key", "upload_id"),)

    # Time-ordered ids (ids.new_version_id), so (key, upload_id) order is initiation order,
    # as ListMultipartUploads requires.
    upload_id: Mapped[str] = mapped_column(Id, primary_key=True)
    bucket: Mapped[str] = mapped_column(BucketName, ForeignKey("buckets.name"))
    key: Mapped[str] = mapped_column(KeyText)
    owner_id: Mapped[str] = mapped_column(Id)
    initiated: Mapped[float] = mapped_column(Double)
    content_type: Mapped[str] = mapped_column(Text)
    user_metadata: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)
    system_metadata: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)
    # S3 tags (key -> value): of this version (objects), or given at creation (uploads).
    tags: Mapped[dict[str, str]] = mapped_column(JSON, default=dict, server_default=text("'{}'"))
    # Object Lock (revision 0013): the version's retention ("GOVERNANCE" / "COMPLIANCE" until
    # ``retain_until``, Unix seconds; both NULL without one) and legal hold (NULL: never put).
    lock_mode: Mapped[str | None] = mapped_column(String(16), nullable=True)
    retain_until: Mapped[float | None] = mapped_column(Double, nullable=True)
    legal_hold: Mapped[bool | None] = mapped_column(Boolean, nullable=True)
    # Server-side encryption (revision 0014): the ``wormfs.format.sealing.Encryption`` record
    # (wrapped data key, never a plaintext key), NULL for plaintext.
    encryption: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    # The version's ACL (revision 0015; ``wormfs.wire.acl.Acl``), NULL: private to the owner.
    acl: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    checksum_algorithm: Mapped[str | None] = mapped_column(String(16), nullable=True)
    checksum_type: Mapped[str | None] = mapped_column(String(16), nullable=True)
    storage_class: Mapped[str] = mapped_column(String(32))
    profile: Mapped[dict[str, Any]] = mapped_column(JSON)

    parts: Mapped[list[Part]] = relationship(
        back_populates="upload", passive_deletes=True, lazy="raise", order_by="Part.part_number"
    )


# ---- data layout ------------------------------------------------------------------------------
class Part(Base):
    """A part of an object version, or of an upload in progress (exactly one of the two).

    Completing an upload moves its chosen parts to the new object version by re-pointing
    them (``upload_id`` -> ``object_id``); no segment or placement row is copied.
    """

    __tablename__ = "parts"
    __table_args__ = (
        UniqueConstraint("object_id", "part_number", name="uq_parts_object_part"),
        UniqueConstraint("upload_id", "part_number", name="uq_parts_upload_part"),
        CheckConstraint("(object_id IS NULL) <> (upload_id IS NULL)", name="one_owner"),
    )

    id: Mapped[int] = mapped_column(RowId, primary_key=True, autoincrement=True)
    object_id: Mapped[int | None] = mapped_column(
        RowId, ForeignKey("objects.id", ondelete="CASCADE"), nullable=True
    )
    upload_id: Mapped[str | None] = mapped_column(
        Id, ForeignKey("uploads.upload_id", ondelete="CASCADE"), nullable=True
    )
    part_number: Mapped[int] = mapped_column(Integer)
    size: Mapped[int] = mapped_column(BigInteger)
    etag: Mapped[str] = mapped_column(String(128))
    checksum_algorithm: Mapped[str | None] = mapped_column(String(16), nullable=True)
    checksum_value: Mapped[str | None] = mapped_column(String(128), nullable=True)
    checksum_type: Mapped[str | None] = mapped_column(String(16), nullable=True)
    last_modified: Mapped[float] = mapped_column(Double)

    object: Mapped[ObjectVersion | None] = relationship(back_populates="parts", lazy="raise")
    upload: Mapped[Upload | None] = relationship(back_populates="parts", lazy="raise")
    segments: Mapped[list[Segment]] = relationship(
        back_populates="part",
        cascade="all, delete-orphan",
        passive_deletes=True,
        lazy="raise",
        order_by="Segment.segment_index",
    )


class Segment(Base):
    """Bytes ``[offset, offset + length)`` of a part, coded onto k+m chunks."""

    __tablename__ = "segments"
    __table_args__ = (UniqueConstraint("part_id", "segment_index", name="uq_segments_index"),)

    id: Mapped[int] = mapped_column(RowId, primary_key=True, autoincrement=True)
    part_id: Mapped[int] = mapped_column(RowId, ForeignKey("parts.id", ondelete="CASCADE"))
    segment_index: Mapped[int] = mapped_column(Integer)
    offset: Mapped[int] = mapped_column(BigInteger)
    length: Mapped[int] = mapped_column(BigInteger)

    part: Mapped[Part] = relationship(back_populates="segments", lazy="raise")
    chunks: Mapped[list[ChunkPlacementRow]] = relationship(
        back_populates="segment",
        cascade="all, delete-orphan",
        passive_deletes=True,
        lazy="raise",
        order_by="ChunkPlacementRow.fragment_index",
    )


class ChunkPlacementRow(Base):
    """Fragment ``fragment_index`` of a segment lives in chunk ``chunk_id`` on ``disk_id``.

    The node is not stored: it is looked up through the disk when a manifest is built, so a
    node that comes back at a new address needs no rewrite of its chunks' rows.
    """

    __tablename__ = "chunk_placements"
    __table_args__ = (
        UniqueConstraint("segment_id", "fragment_index", name="uq_chunk_placements_fragment"),
    )

    id: Mapped[int] = mapped_column(RowId, primary_key=True, autoincrement=True)
    segment_id: Mapped[int] = mapped_column(RowId, ForeignKey("segments.id", ondelete="CASCADE"))
    fragment_index: Mapped[int] = mapped_column(Integer)
    # Indexed: GC checks that a chunk is unreferenced before deleting it.
    chunk_id: Mapped[str] = mapped_column(Id, index=True)
    # Indexed: repair will ask "which chunks were on this disk".
    disk_id: Mapped[str] = mapped_column(Id, ForeignKey("disks.disk_id"), index=True)

    segment: Mapped[Segment] = relationship(back_populates="chunks", lazy="raise")


# ---- nodes and disks --------------------------------------------------------------------------
class Node(Base):
    __tablename__ = "nodes"

    node_id: Mapped[str] = mapped_column(Id, primary_key=True)
    address: Mapped[str] = mapped_column(String(512))
    rack: Mapped[str] = mapped_column(String(128), default="")
    zone: Mapped[str] = mapped_column(String(128), default="")
    state: Mapped[str] = mapped_column(String(16))  # "online" | "offline"
    registered: Mapped[float] = mapped_column(Double)
    last_heartbeat: Mapped[float] = mapped_column(Double)


class Disk(Base):
    __tablename__ = "disks"

    disk_id: Mapped[str] = mapped_column(Id, primary_key=True)
    node_id: Mapped[str] = mapped_column(Id, ForeignKey("nodes.node_id"), index=True)
    path: Mapped[str] = mapped_column(String(1024))
    state: Mapped[str] = mapped_column(String(16))  # "online" | "offline" | "full"
    capacity_bytes: Mapped[int] = mapped_column(BigInteger)
    free_bytes: Mapped[int] = mapped_column(BigInteger)
    used_bytes: Mapped[int] = mapped_column(BigInteger)
    chunk_count: Mapped[int] = mapped_column(BigInteger, default=0)
    error: Mapped[str] = mapped_column(Text, default="")
    updated: Mapped[float] = mapped_column(Double)


# ---- write intents and garbage collection -----------------------------------------------------
class PendingWrite(Base):
    """The intent record of a write between BeginWrite and its commit.

    A gateway that dies before committing leaves chunks nobody references; when
    ``expires_at`` passes, GC moves ``placements`` into the gc queue and drops the record.
    Commit removes the record in the same transaction that stores the version or part.
    """

    __tablename__ = "pending_writes"

    write_id: Mapped[str] = mapped_column(Id, primary_key=True)
    version_id: Mapped[str] = mapped_column(Id)
    bucket: Mapped[str] = mapped_column(BucketName)
    key: Mapped[str] = mapped_column(KeyText)
    # No foreign key: an upload may be aborted while a part write is in flight; the intent
    # must outlive it so that the part's chunks are still collected.
    upload_id: Mapped[str | None] = mapped_column(Id, nullable=True)
    part_number: Mapped[int] = mapped_column(Integer)
    size: Mapped[int] = mapped_column(BigInteger)
    created: Mapped[float] = mapped_column(Double)
    expires_at: Mapped[float] = mapped_column(Double, index=True)
    # [{"chunk_id", "disk_id", "node_id"}, ...]: one entry per granted chunk.
    placements: Mapped[list[dict[str, str]]] = mapped_column(JSON)
    # The storage class whose profile the write was granted with (revision 0009): the commit
    # stores it, so an object's class always names the profile its chunks were coded with.
    storage_class: Mapped[str | None] = mapped_column(String(32), nullable=True)


class GcEntry(Base):
    """A chunk to delete from a disk once ``not_before`` has passed (durable queue)."""

    __tablename__ = "gc_queue"

    id: Mapped[int] = mapped_column(RowId, primary_key=True, autoincrement=True)
    chunk_id: Mapped[str] = mapped_column(Id, index=True)
    disk_id: Mapped[str] = mapped_column(Id)
    node_id: Mapped[str] = mapped_column(Id, index=True)
    enqueued_at: Mapped[float] = mapped_column(Double)
    not_before: Mapped[float] = mapped_column(Double, index=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)


# ---- durability: the repair queue and per-disk care (revision 0002) ---------------------------
class RepairEntry(Base):
    """A chunk placement to rebuild (or move) onto another disk: the durable repair queue.

    One row per (segment, fragment index); deleting the segment (object deleted while its
    repair waits) drops the row with it. ``surviving`` orders the queue by risk: the number of
    the segment's fragments not queued, so a segment with the fewest left is rebuilt first.
    While a rebuild runs, ``target_chunk_id`` names the chunk being written, so that neither the
    orphan scan nor anything else removes it before the placement switches over to it.
    """

    __tablename__ = "repair_queue"
    __table_args__ = (
        UniqueConstraint("segment_id", "fragment_index", name="uq_repair_queue_fragment"),
        Index("ix_repair_queue_order", "surviving", "not_before"),
    )

    id: Mapped[int] = mapped_column(RowId, primary_key=True, autoincrement=True)
    segment_id: Mapped[int] = mapped_column(RowId, ForeignKey("segments.id", ondelete="CASCADE"))
    fragment_index: Mapped[int] = mapped_column(Integer)
    chunk_id: Mapped[str] = mapped_column(Id, index=True)  # the chunk being replaced
    disk_id: Mapped[str] = mapped_column(Id, index=True)  # where it was
    reason: Mapped[str] = mapped_column(String(16))  # wire.repair.RepairReason
    surviving: Mapped[int] = mapped_column(Integer)
    chunk_bytes: Mapped[int] = mapped_column(BigInteger)
    enqueued_at: Mapped[float] = mapped_column(Double)
    not_before: Mapped[float] = mapped_column(Double)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    running_since: Mapped[float | None] = mapped_column(Double, nullable=True)
    target_chunk_id: Mapped[str | None] = mapped_column(Id, nullable=True)
    target_disk_id: Mapped[str | None] = mapped_column(Id, nullable=True)
    last_error: Mapped[str] = mapped_column(Text, default="")


class DiskCare(Base):
    """What the durability jobs know about one disk: availability, drain, scrub progress.

    Kept apart from ``disks`` because every heartbeat rewrites that row from the node's report,
    while these facts belong to the coordinator: since when the disk has been unavailable (for
    the repair grace period), whether an admin is draining it, and how far the scrubs got
    ("bytes verified since T").
    """

    __tablename__ = "disk_care"

    disk_id: Mapped[str] = mapped_column(Id, primary_key=True)
    unavailable_since: Mapped[float | None] = mapped_column(Double, nullable=True)
    lost_queued_at: Mapped[float | None] = mapped_column(Double, nullable=True)
    drain_state: Mapped[str] = mapped_column(String(16), default="")  # "" | draining | drained
    drain_since: Mapped[float] = mapped_column(Double, default=0.0)
    last_shallow: Mapped[float | None] = mapped_column(Double, nullable=True)
    deep_cursor: Mapped[str | None] = mapped_column(Id, nullable=True)
    last_deep_finished: Mapped[float | None] = mapped_column(Double, nullable=True)
    verified_since: Mapped[float] = mapped_column(Double)
    bytes_verified: Mapped[int] = mapped_column(BigInteger, default=0)
    chunks_verified: Mapped[int] = mapped_column(BigInteger, default=0)
    missing_found: Mapped[int] = mapped_column(Integer, default=0)
    corrupt_found: Mapped[int] = mapped_column(Integer, default=0)
    orphans_found: Mapped[int] = mapped_column(Integer, default=0)


# ---- the admin plane: admin tokens and the audit log (revision 0007) --------------------------
class AdminToken(Base):
    """A bearer token of the admin API. Only its SHA-256 is kept: the token is shown once."""

    __tablename__ = "admin_tokens"

    token_id: Mapped[str] = mapped_column(Id, primary_key=True)
    name: Mapped[str] = mapped_column(String(128), unique=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)  # sha256 hex of the token
    scope: Mapped[str] = mapped_column(String(16))  # "read" | "admin"
    created: Mapped[float] = mapped_column(Double)
    expires_at: Mapped[float | None] = mapped_column(Double, nullable=True)
    last_used: Mapped[float | None] = mapped_column(Double, nullable=True)
    revoked_at: Mapped[float | None] = mapped_column(Double, nullable=True)


class AuditRecord(Base):
    """One mutating admin call (API or UI): who did what to what, how it ended, and when."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(RowId, primary_key=True, autoincrement=True)
    time: Mapped[float] = mapped_column(Double, index=True)
    actor: Mapped[str] = mapped_column(String(128), index=True)  # the token's name
    actor_id: Mapped[str] = mapped_column(String(64), default="")  # the token's id
    action: Mapped[str] = mapped_column(String(64), index=True)  # e.g. "bucket.create"
    target: Mapped[str] = mapped_column(String(1024))  # e.g. "buckets/photos"
    bucket: Mapped[str | None] = mapped_column(BucketName, nullable=True, index=True)
    result: Mapped[str] = mapped_column(String(64))  # "ok" or the error code
    request_id: Mapped[str] = mapped_column(String(128))


# ---- durability jobs kept by the server (revision 0008) ---------------------------------------
class Job(Base):
    """One durability job: a run (scrub, rebalance, drain, decommission) or a standing one.

    Standing jobs (repair, gc: continuous work) have one row per kind, whose id is the kind;
    their ``total_items`` is what they did plus their backlog, so the bar fills as the backlog
    falls. Progress, failures and state live here so that every client (a rerun CLI, the UI,
    metrics) reads the same numbers; the rates are the leader's recent window, not stored.
    """

    __tablename__ = "jobs"
    __table_args__ = (Index("ix_jobs_kind_state", "kind", "state"),)

    job_id: Mapped[str] = mapped_column(Id, primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))  # wire.jobs.JobKind
    target: Mapped[str] = mapped_column(String(1024), default="")  # disk/node ids; "" = cluster
    standing: Mapped[bool] = mapped_column(Boolean, default=False)
    state: Mapped[str] = mapped_column(String(16))  # wire.jobs.JobState
    params: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    done_items: Mapped[int] = mapped_column(BigInteger, default=0)
    total_items: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    done_bytes: Mapped[int] = mapped_column(BigInteger, default=0)
    total_bytes: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    failures: Mapped[int] = mapped_column(Integer, default=0)
    last_failure: Mapped[str] = mapped_column(Text, default="")
    started_at: Mapped[float] = mapped_column(Double, index=True)
    updated_at: Mapped[float] = mapped_column(Double)
    finished_at: Mapped[float | None] = mapped_column(Double, nullable=True)


class JobThrottle(Base):
    """The throttle of one job kind, persisted: 0 means "no limit" (or the configured default)."""

    __tablename__ = "job_throttles"

    kind: Mapped[str] = mapped_column(String(16), primary_key=True)
    items_per_s: Mapped[float] = mapped_column(Double, default=0.0)
    bytes_per_s: Mapped[int] = mapped_column(BigInteger, default=0)
    concurrency: Mapped[int] = mapped_column(Integer, default=0)
    updated_at: Mapped[float] = mapped_column(Double)


# ---- storage classes (revision 0009) ----------------------------------------------------------
class NamedProfile(Base):
    """A named erasure-coding profile and the S3 storage class it serves, if any.

    Objects keep their own copy of the profile they were written with (``objects.profile``),
    so a profile row only decides how new objects are written; it cannot be deleted while
    objects, uploads or a bucket's default class use its class (``wormfs.wire.profiles``).
    """

    __tablename__ = "profiles"

    name: Mapped[str] = mapped_column(String(63), primary_key=True)
    codec: Mapped[str] = mapped_column(String(32))
    k: Mapped[int] = mapped_column(Integer)
    m: Mapped[int] = mapped_column(Integer)
    stripe_size: Mapped[int] = mapped_column(BigInteger)
    segment_size: Mapped[int] = mapped_column(BigInteger)
    # At most one profile serves a class (several NULLs are fine on both engines).
    storage_class: Mapped[str | None] = mapped_column(String(32), nullable=True, unique=True)
    created: Mapped[float] = mapped_column(Double)
