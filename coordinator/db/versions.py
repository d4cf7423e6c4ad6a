"""Building blocks of a version commit, shared by CommitObject and CompleteMultipartUpload.

Layer: coordinator database package; every function runs inside the caller's transaction.
Contract:

* ``check_part`` validates a committed part against its grant: contiguous segments covering
  the part, k+m fragments per segment on k+m distinct disks, and only chunks granted to this
  write (so every committed chunk was recorded in an intent and can be collected later);
* ``make_room`` prepares a key for its next current version: ``lock_key`` makes transactions
  that change one key's current version wait in line (PostgreSQL), ``check_conditions``
  evaluates If-Match / If-None-Match against the current version inside the commit's
  transaction, so the check and the commit are atomic, and then makes room by the bucket's
  versioning (``db/versioning.py``): never versioned, ``retire_version`` removes the old
  version and queues its chunks for GC after ``gc_delay`` (reads that fetched the old
  manifest just before the commit can finish); versioning enabled, the current version is
  demoted (``is_latest`` false) and kept; suspended, the key's null version goes (current or
  not) and a current version with an id of its own is demoted. It answers the versioning,
  which says whether the new version is the null one. For a write of the mount it also
  checks the ``FsWrite`` base version (``StaleVersionError``); otherwise a retired version's
  inode row goes with its last name (``drop_inode``).
* ``insert_version`` is the one INSERT of an ``objects`` row (chunked and inline versions),
  ``insert_part`` the one INSERT of a part with its segments and placements (object versions
  and uploads alike).
* ``IS_LATEST`` is how every statement says "the current version" (see its comment).
"""

from __future__ import annotations

import hashlib

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    and_,
    bindparam,
    delete,
    exists,
    func,
    insert,
    literal_column,
    or_,
    select,
    type_coerce,
    update,
)

from wormfs.coordinator.db.convert import attribute_columns, checksum_columns, profile_to_json
from wormfs.coordinator.db.gc import queue_version_chunks
from wormfs.coordinator.db.lock_rules import GOVERNANCE
from wormfs.coordinator.db.tables import chunk_placements, inodes, objects, parts, segments
from wormfs.coordinator.db.tx import Row, Tx
from wormfs.coordinator.db.versioning import ENABLED, OFF, Versioning, bucket_versioning
from wormfs.errors import (
    Condition,
    InvalidInputError,
    NoSuchKeyError,
    ObjectLockedError,
    PreconditionFailedError,
    StaleVersionError,
)
from wormfs.format.layout import Profile
from wormfs.format.sealing import stored_size
from wormfs.wire.coordinator import ObjectManifest, PartRecord
from wormfs.wire.fs import FsWrite

MAX_PART_NUMBER = 10_000

# "AND objects.is_latest", bare: only the bare column lets SQLite prove that the partial index
# uq_objects_latest ("WHERE is_latest") applies and find the one row; Core's boolean rendering
# ("is_latest = 1") makes it scan the bucket's run of ix_objects_listing instead. Untyped on
# purpose: a typed boolean gets the "= 1" back.
IS_LATEST: ColumnElement[bool] = literal_column("objects.is_latest")

_LOCK_KEY = select(func.pg_advisory_xact_lock(bindparam("lock_id"))).execution_options(
    wormfs_dialect="postgresql"  # see lock_key
)
# The inode a version belongs to: its own id unless it names another (see models.Inode).
# (Type-coerced: a bare function would itself be a statement, and the statement test would
# find it among the module's constants.)
INODE_OF: ColumnElement[int] = type_coerce(
    func.coalesce(objects.c.inode_id, objects.c.id), BigInteger()
)
_CURRENT = (
    select(
        objects.c.id,
        objects.c.etag,
        objects.c.is_delete_marker,
        objects.c.version_id,
        objects.c.is_null,
        INODE_OF.label("inode_of"),
        inodes.c.id.label("inode"),  # set only if the version's inode has a row
    )
    .select_from(objects.outerjoin(inodes, inodes.c.id == INODE_OF))
    .where(objects.c.bucket == bindparam("bucket"), objects.c.key == bindparam("key"), IS_LATEST)
)
# The key's null version when it is not the current one (suspended versioning replaces it).
_OLD_NULL = (
    select(objects.c.id, inodes.c.id.label("inode"))
    .select_from(objects.outerjoin(inodes, inodes.c.id == INODE_OF))
    .where(
        objects.c.bucket == bindparam("bucket"),
        objects.c.key == bindparam("key"),
        objects.c.is_null == True,  # noqa: E712 (a SQL comparison)
        objects.c.is_latest == False,  # noqa: E712
    )
)
DEMOTE = update(objects).where(objects.c.id == bindparam("object_id")).values(is_latest=False)
# An inode row no version names any more (the last name of a file went: S3 overwrite or
# DELETE, unlink, rename over it); its xattrs go with it (ON DELETE CASCADE).
_DROP_INODE = delete(inodes).where(
    inodes.c.id == bindparam("inode"),
    ~exists().where(
        or_(objects.c.inode_id == bindparam("inode"), objects.c.id == bindparam("inode"))
    ),
)
# The one DELETE of a version row, guarded by its Object Lock (db/object_lock.py): it matches
# nothing under a legal hold or a retention that has not ended (``UNLOCKED``, a version free to
# go at ``now``); the bypass form lets a GOVERNANCE retention go.
_NO_HOLD = or_(objects.c.legal_hold.is_(None), objects.c.legal_hold == False)  # noqa: E712
_RETENTION_OVER = or_(objects.c.retain_until.is_(None), objects.c.retain_until <= bindparam("now"))
UNLOCKED: ColumnElement[bool] = and_(_NO_HOLD, _RETENTION_OVER)
_DELETE_VERSION = delete(objects).where(objects.c.id == bindparam("object_id"), UNLOCKED)
_DELETE_VERSION_BYPASS = delete(objects).where(
    objects.c.id == bindparam("object_id"),
    _NO_HOLD,
    or_(_RETENTION_OVER, objects.c.lock_mode == GOVERNANCE),
)
_INSERT_VERSION = insert(objects).returning(objects.c.id)
_INSERT_PART = insert(parts).returning(parts.c.id)
_INSERT_SEGMENT = insert(segments).returning(segments.c.id)
_INSERT_PLACEMENT = insert(chunk_placements)


def strip_etag(etag: str) -> str:
    """An ETag without quotes or a weak prefix, for comparisons."""
    value = etag.strip()
    if value.startswith("W/"):
        value = value[2:]
    return value.strip('"')


def check_part(
    record: PartRecord, profile: Profile, granted: set[tuple[str, str]], sealed: bool = False
) -> None:
    """Raise ``InvalidInputError`` unless ``record`` is a well-formed part of this grant
    (``sealed``: its segments hold the sealed packages of its ``size`` plaintext bytes)."""
    where = f"part {record.part_number}"
    if not 1 <= record.part_number <= MAX_PART_NUMBER:
        raise InvalidInputError(f"{where}: part numbers are 1..{MAX_PART_NUMBER}")
    if record.size < 0 or not record.etag:
        raise InvalidInputError(f"{where}: needs a size >= 0 and an ETag")
    offset = 0
    for index, seg in enumerate(record.segments):
        if seg.segment_index != index or seg.offset != offset or seg.length <= 0:
            raise InvalidInputError(
                f"{where}: segment {index} must have index {index}, start at byte {offset} "
                "and hold at least one byte"
            )
        offset += seg.length
        if sorted(c.fragment_index for c in seg.chunks) != list(range(profile.n)):
            raise InvalidInputError(f"{where}: segment {index} needs fragments 0..{profile.n - 1}")
        if len({c.disk_id for c in seg.chunks}) != profile.n:
            raise InvalidInputError(f"{where}: segment {index} puts two chunks on one disk")
        for c in seg.chunks:
            if (c.chunk_id, c.disk_id) not in granted:
                raise InvalidInputError(
                    f"{where}: chunk {c.chunk_id} on disk {c.disk_id} was not granted to this write"
                )
    if offset != stored_size(record.size, sealed):
        raise InvalidInputError(
            f"{where}: segments cover {offset} bytes of {stored_size(record.size, sealed)}"
        )


def _key_lock_id(bucket: str, key: str) -> int:
    digest = hashlib.blake2b(f"{bucket}\0{key}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)  # PostgreSQL's bigint


def lock_key(tx: Tx, bucket: str, key: str) -> None:
    """Serialise the transactions that change one key's current version (PostgreSQL).

    Without it, concurrent commits to one key all read the same current version and all but
    one meet ``uq_objects_latest`` and re-run (the race retry), over and over under a burst
    of overwrites. A transaction-scoped advisory lock on a hash of (bucket, key) makes them
    wait in line instead; it is released at COMMIT. (Two keys sharing a hash only wait for
    each other.) SQLite runs one writer at a time anyway.
    """
    if tx.postgres:
        tx.scalar(_LOCK_KEY, {"lock_id": _key_lock_id(bucket, key)})


def _etag_matches(condition: str, etag: str) -> bool:
    wanted = {strip_etag(v) for v in condition.split(",") if v.strip()}
    return "*" in wanted or strip_etag(etag) in wanted


def check_conditions(
    live_etag: str | None, if_match: str | None, if_none_match: str | None
) -> None:
    """AWS conditional writes against the current object's ETag (None: no live object,
    a delete marker included): If-None-Match "*" fails if the key exists; If-Match fails
    (412) on another ETag and (404) when there is no current object."""
    if if_none_match is not None:
        if if_none_match.strip() != "*":
            raise InvalidInputError('a write may only require that no object exists ("*")')
        if live_etag is not None:
            raise PreconditionFailedError(condition=Condition.NO_CURRENT_OBJECT, etag=live_etag)
    if if_match is not None:
        if live_etag is None:
            raise NoSuchKeyError("no current object for the ETag condition")
        if not _etag_matches(if_match, live_etag):
            raise PreconditionFailedError(condition=Condition.ETAG_MATCHES, etag=live_etag)


def retire_version(
    tx: Tx, object_id: int, now: float, gc_delay: float, bypass_governance: bool = False
) -> None:
    """Remove a version and queue its chunks (collected after ``gc_delay``); its parts,
    segments, placements and inline bytes go with it (ON DELETE CASCADE). A locked version
    is ``ObjectLockedError``, and the caller's transaction, its chunks queued, rolls back."""
    queue_version_chunks(tx, object_id, now, now + gc_delay)
    statement = _DELETE_VERSION_BYPASS if bypass_governance else _DELETE_VERSION
    if tx.run(statement, {"object_id": object_id, "now": now}) != 1:
        raise ObjectLockedError("the version is under Object Lock")


def drop_inode(tx: Tx, inode: int | None) -> None:
    """After a version of ``inode`` was retired: remove the inode row if no version names it
    any more. None (the version had no inode row): nothing to do, no statement."""
    if inode is not None:
        tx.run(_DROP_INODE, {"inode": inode})


def make_room(
    tx: Tx,
    bucket: str,
    key: str,
    if_match: str | None,
    if_none_match: str | None,
    now: float,
    gc_delay: float,
    fs: FsWrite | None = None,
    versioning: Versioning | None = None,
) -> Versioning:
    """Before a new version of ``key`` becomes latest: wait for the key's lock, check the
    write's conditions against the current version inside this transaction (so the check
    and the commit are atomic), and make room by the bucket's versioning (module docstring);
    answers that versioning (not ``ENABLED``: the new version is the null version). A caller
    that read the bucket's versioning already passes it (one select less per write).

    A write of the mount (``fs``) must be based on the current version (none, when
    ``base_version_id`` is None) of the same inode, else ``StaleVersionError``; the new
    version keeps that inode. Any other write makes a new file: a retired version's inode
    row goes unless something else names it."""
    lock_key(tx, bucket, key)
    if versioning is None:
        versioning = bucket_versioning(tx, bucket)
    row = tx.one(_CURRENT, {"bucket": bucket, "key": key})
    live = None if row is None or row.is_delete_marker else row
    if fs is not None:
        based = None if live is None else live.version_id
        if based != fs.base_version_id or (live is not None and live.inode_of != fs.ino - 1):
            raise StaleVersionError(bucket=bucket, key=key)
    check_conditions(None if live is None else live.etag, if_match, if_none_match)
    if versioning != OFF:
        replace_null_version(tx, bucket, key, versioning, row, now, gc_delay)
        if row is not None and not (versioning != ENABLED and row.is_null):
            tx.run(DEMOTE, {"object_id": row.id})
            return versioning
    if row is not None:
        retire_version(tx, int(row.id), now, gc_delay)
        if fs is None or row.inode != fs.ino - 1:
            drop_inode(tx, row.inode)
    return versioning


def replace_null_version(
    tx: Tx,
    bucket: str,
    key: str,
    versioning: Versioning,
    current: Row | None,
    now: float,
    gc_delay: float,
) -> None:
    """With versioning suspended, the key's null version that is not ``current`` goes (the
    write about to happen is the new null version); otherwise nothing."""
    if versioning == ENABLED:
        return
    old = tx.one(_OLD_NULL, {"bucket": bucket, "key": key})
    if old is not None and (current is None or old.id != current.id):
        retire_version(tx, int(old.id), now, gc_delay)
        drop_inode(tx, old.inode)


def insert_version(
    tx: Tx, manifest: ObjectManifest, now: float, inode_id: int | None = None
) -> int:
    """Insert ``manifest``'s version as the key's latest (parts not included); its row id.
    ``inode_id``: the inode it belongs to, None for a new file (its own id)."""
    object_id = tx.scalar(
        _INSERT_VERSION,
        {
            "bucket": manifest.bucket,
            "key": manifest.key,
            "version_id": manifest.version_id,
            "is_latest": True,
            "is_delete_marker": manifest.is_delete_marker,
            # A version S3 names by its own id is not the null version (db/versioning.py).
            "is_null": manifest.s3_version_id != manifest.version_id,
            "size": manifest.size,
            "etag": manifest.etag,
            **attribute_columns(manifest.attributes),
            **checksum_columns(manifest.checksum),
            "profile": profile_to_json(manifest.profile),
            "owner_id": manifest.owner_id,
            "created": now,
            "last_modified": manifest.last_modified,
            "state": "committed",
            "inode_id": inode_id,
            "upload_id": manifest.upload_id,
        },
    )
    return int(object_id)


def insert_part(
    tx: Tx, record: PartRecord, now: float, object_id: int | None, upload_id: str | None
) -> None:
    """Insert a part of a version (``object_id``) or of an upload, with its segments and
    chunk placements (one executemany per segment)."""
    part_id = tx.scalar(
        _INSERT_PART,
        {
            "object_id": object_id,
            "upload_id": upload_id,
            "part_number": record.part_number,
            "size": record.size,
            "etag": record.etag,
            **checksum_columns(record.checksum),
            "last_modified": now,
        },
    )
    for seg in record.segments:
        segment_id = tx.scalar(
            _INSERT_SEGMENT,
            {
                "part_id": part_id,
                "segment_index": seg.segment_index,
                "offset": seg.offset,
                "length": seg.length,
            },
        )
        tx.run_many(
            _INSERT_PLACEMENT,
            [
                {
                    "segment_id": segment_id,
                    "fragment_index": c.fragment_index,
                    "chunk_id": c.chunk_id,
                    "disk_id": c.disk_id,
                }
                for c in seg.chunks
            ],
        )
