"""The per-request object operations: manifests, inline PUTs, deletes.

Layer: coordinator database package. Each public function is a synchronous operation of a
``Tx``, run whole in one transaction by ``Database.read`` / ``Database.write`` (on SQLite one
thread hop per batch of operations, group commit). These are the statements behind every
GET, HEAD, small PUT and DELETE, so each is one or two indexed queries. Contract:

* ``owned_bucket`` checks that a bucket exists and, given an owner, that it is theirs
  (``AccessDeniedError`` otherwise, before anything about its keys is revealed).
* ``read_manifest`` answers the current (or a given) version's manifest with its parts,
  segments and placements in one query, or its bytes when it is stored inline, with the id
  S3 shows for it (``db/versioning.py``). ``NoSuchKeyError`` for a missing key or a key whose
  current version is a delete marker (then with the marker's id and ``delete_marker``);
  ``NoSuchVersionError`` for a version id the key does not have; ``DeleteMarkerError`` for
  a version id that names a delete marker. ``"null"`` names the key's null version.
* ``put_inline`` makes a small object, bytes included, the key's current version in one
  transaction: conditions checked and the old version retired (``versions.make_room``); a
  write of the mount (``fs``) is checked against its base version and keeps its inode.
* ``delete_version`` with a version id removes that version, queueing its chunks (the next
  newest becomes current if it was); without one, by the bucket's versioning: never
  versioned, the current version is removed; enabled, a delete marker becomes the current
  version (the old one demoted and kept); suspended, the key's null version is removed and
  a null delete marker becomes current. Deleting a missing key succeeds; a conditional
  delete (``DeleteConditions``) is decided under the key's lock, so a racing write or delete
  cannot slip between check and delete.
"""

from __future__ import annotations

from sqlalchemy import bindparam, select, update

from wormfs.coordinator.db.convert import (
    attributes_from_row,
    checksum_from_row,
    part_records,
    parts_query,
    profile_from_json,
    require_bucket,
)
from wormfs.coordinator.db.inodes import fs_attributes, put_inode
from wormfs.coordinator.db.lock_rules import locked_attributes
from wormfs.coordinator.db.tables import inodes, object_data, objects, parts
from wormfs.coordinator.db.tx import Row, Tx
from wormfs.coordinator.db.versioning import (
    ENABLED,
    NULL_VERSION,
    OFF,
    Versioning,
    bucket_facts,
    s3_version_id,
    written_s3_version_id,
)
from wormfs.coordinator.db.versions import (
    DEMOTE,
    INODE_OF,
    IS_LATEST,
    check_conditions,
    drop_inode,
    insert_version,
    lock_key,
    make_room,
    replace_null_version,
    retire_version,
)
from wormfs.errors import (
    AccessDeniedError,
    Condition,
    DeleteMarkerError,
    InvalidInputError,
    NoSuchKeyError,
    NoSuchVersionError,
    PreconditionFailedError,
)
from wormfs.format.layout import Profile
from wormfs.format.sealing import stored_size
from wormfs.ids import new_version_id
from wormfs.wire.coordinator import (
    INLINE_LIMIT,
    DeleteConditions,
    DeleteResult,
    ObjectManifest,
    PutInline,
)

_VERSION = select(
    objects.c.id,
    objects.c.bucket,
    objects.c.key,
    objects.c.version_id,
    objects.c.owner_id,
    objects.c.size,
    objects.c.etag,
    objects.c.last_modified,
    objects.c.profile,
    objects.c.content_type,
    objects.c.user_metadata,
    objects.c.system_metadata,
    objects.c.checksum_algorithm,
    objects.c.checksum_value,
    objects.c.checksum_type,
    objects.c.storage_class,
    objects.c.tags,
    objects.c.lock_mode,
    objects.c.retain_until,
    objects.c.legal_hold,
    objects.c.encryption,
    objects.c.acl,
    objects.c.upload_id,
    objects.c.is_delete_marker,
    objects.c.is_latest,
    objects.c.is_null,
    object_data.c.data,
).select_from(objects.outerjoin(object_data, object_data.c.object_id == objects.c.id))
_KEY = (objects.c.bucket == bindparam("bucket")) & (objects.c.key == bindparam("key"))
_BY_VERSION = objects.c.version_id == bindparam("version_id")
_IS_NULL = objects.c.is_null == True  # noqa: E712 (a SQL comparison)
_CURRENT = _VERSION.where(_KEY, IS_LATEST)
_BY_ID = _VERSION.where(_KEY, _BY_VERSION)
_NULL = _VERSION.where(_KEY, _IS_NULL)
# What a delete needs of the version it removes: no bytes, but the inode row (set when the
# version's inode has one, see db/inodes.py), which goes with the file's last name. Reads do
# not join it: a GET has no use for it.
_DOOMED = select(
    objects.c.id,
    objects.c.version_id,
    objects.c.is_latest,
    objects.c.is_delete_marker,
    objects.c.is_null,
    objects.c.etag,
    objects.c.size,
    objects.c.last_modified,
    inodes.c.id.label("inode"),
).select_from(objects.outerjoin(inodes, inodes.c.id == INODE_OF))
_DOOMED_CURRENT = _DOOMED.where(_KEY, IS_LATEST)
_DOOMED_BY_ID = _DOOMED.where(_KEY, _BY_VERSION)
_DOOMED_NULL = _DOOMED.where(_KEY, _IS_NULL)
# A delete marker holds no data: no profile codes anything for it.
MARKER_PROFILE = Profile(codec="none", k=0, m=0, stripe_size=0)
_PARTS = parts_query(parts.c.object_id == bindparam("object_id"))
_INSERT_DATA = object_data.insert()
_NEWEST = select(objects.c.id).where(_KEY).order_by(objects.c.version_id.desc()).limit(1)
_MAKE_LATEST = update(objects).where(objects.c.id == bindparam("object_id")).values(is_latest=True)


def owned_bucket(tx: Tx, bucket: str, owner_id: str | None) -> str:
    """The bucket's owner (``NoSuchBucketError``, or ``AccessDeniedError`` for another
    ``owner_id`` than its own)."""
    owner = require_bucket(tx, bucket)
    check_owner(bucket, owner, owner_id)
    return owner


def check_owner(bucket: str, owner: str, owner_id: str | None) -> None:
    if owner_id is not None and owner != owner_id:
        raise AccessDeniedError(f"bucket {bucket} belongs to another user")


def _find(
    tx: Tx, bucket: str, key: str, version_id: str | None, doomed: bool = False
) -> Row | None:
    """The version asked for: its manifest columns, or with ``doomed`` what a delete needs.
    None: the current version; ``"null"``: the null version; else an id."""
    if version_id is None:
        return tx.one(_DOOMED_CURRENT if doomed else _CURRENT, {"bucket": bucket, "key": key})
    if version_id == NULL_VERSION:
        return tx.one(_DOOMED_NULL if doomed else _NULL, {"bucket": bucket, "key": key})
    by_id = _DOOMED_BY_ID if doomed else _BY_ID
    return tx.one(by_id, {"bucket": bucket, "key": key, "version_id": version_id})


def _manifest(tx: Tx, row: Row, s3_id: str | None) -> ObjectManifest:
    """A ``_VERSION`` row as a manifest, its parts read unless it is inline."""
    data = row.data
    records = [] if data is not None else part_records(tx.all(_PARTS, {"object_id": row.id}))
    return ObjectManifest(
        bucket=row.bucket,
        key=row.key,
        version_id=row.version_id,
        owner_id=row.owner_id,
        size=row.size,
        etag=row.etag,
        last_modified=row.last_modified,
        profile=profile_from_json(row.profile),
        parts=records,
        attributes=attributes_from_row(row),
        checksum=checksum_from_row(row.checksum_algorithm, row.checksum_value, row.checksum_type),
        is_delete_marker=bool(row.is_delete_marker),
        inline=bytes(data) if data is not None else None,
        upload_id=row.upload_id,
        s3_version_id=s3_id,
    )


def read_manifest(
    tx: Tx, bucket: str, key: str, version_id: str | None, owner_id: str | None
) -> ObjectManifest:
    owner, versioning, _ = bucket_facts(tx, bucket)  # one select on the GET path, not two
    check_owner(bucket, owner, owner_id)
    row = _find(tx, bucket, key, version_id)
    if row is None:
        if version_id is None:
            raise NoSuchKeyError(bucket=bucket, key=key)
        raise NoSuchVersionError(bucket=bucket, key=key, version_id=version_id)
    s3_id = s3_version_id(versioning, bool(row.is_null), row.version_id)
    if row.is_delete_marker:
        if version_id is None:
            raise NoSuchKeyError(bucket=bucket, key=key, version_id=s3_id, delete_marker=True)
        raise DeleteMarkerError(
            bucket=bucket, key=key, version_id=s3_id, last_modified=row.last_modified
        )
    return _manifest(tx, row, s3_id)


def put_inline(
    tx: Tx, req: PutInline, profile: Profile, now: float, gc_delay: float
) -> ObjectManifest:
    stored = stored_size(req.size, req.attributes.encryption is not None)
    if stored != len(req.data) or req.size > INLINE_LIMIT:
        raise InvalidInputError(
            f"an inline object holds 0..{INLINE_LIMIT} bytes, exactly its size "
            f"({stored} stored, got {len(req.data)})"
        )
    owner, versioning, lock = bucket_facts(tx, req.bucket)
    check_owner(req.bucket, owner, req.owner_id)
    attributes = locked_attributes(req.bucket, req.attributes, lock, now)
    fs = req.fs
    make_room(
        tx, req.bucket, req.key, req.if_match, req.if_none_match, now, gc_delay, fs, versioning
    )
    version_id = new_version_id()
    manifest = ObjectManifest(
        bucket=req.bucket,
        key=req.key,
        version_id=version_id,
        s3_version_id=written_s3_version_id(versioning, version_id),
        owner_id=req.owner_id,
        size=req.size,
        etag=req.etag,
        last_modified=now,
        profile=profile,
        parts=[],
        attributes=attributes if fs is None else fs_attributes(attributes, fs.attrs),
        checksum=req.checksum,
    )
    object_id = insert_version(tx, manifest, now, None if fs is None else fs.ino - 1)
    tx.run(_INSERT_DATA, {"object_id": object_id, "data": req.data})
    if fs is not None:
        put_inode(tx, fs.ino - 1, req.bucket, fs.attrs, int(now * 1_000_000_000))
    return manifest


def check_delete_conditions(row: Row | None, conditions: DeleteConditions) -> None:
    """AWS's conditional delete, evaluated on the version the delete would remove (a
    delete marker counts as no object): If-Match without an object is ``NoSuchKey``, a
    condition that does not hold ``PreconditionFailed``; without an object the size and
    time conditions alone let the delete succeed (it removes nothing)."""
    live = None if row is None or row.is_delete_marker else row
    if live is None:
        if conditions.if_match is not None:
            raise NoSuchKeyError("no current object for the ETag condition")
        return
    if conditions.if_match is not None:
        check_conditions(live.etag, conditions.if_match, None)
    if conditions.last_modified is not None and int(live.last_modified) != conditions.last_modified:
        raise PreconditionFailedError(condition=Condition.LAST_MODIFIED_MATCHES, etag=live.etag)
    if conditions.size is not None and int(live.size) != conditions.size:
        raise PreconditionFailedError(condition=Condition.SIZE_MATCHES, etag=live.etag)


def delete_version(
    tx: Tx,
    bucket: str,
    key: str,
    version_id: str | None,
    owner_id: str | None,
    now: float,
    gc_delay: float,
    conditions: DeleteConditions | None = None,
    bypass_governance: bool = False,
) -> DeleteResult:
    owner, versioning, _ = bucket_facts(tx, bucket)  # one select, as a read's
    check_owner(bucket, owner, owner_id)
    lock_key(tx, bucket, key)
    row = _find(tx, bucket, key, version_id, doomed=True)
    if conditions is not None:
        check_delete_conditions(row, conditions)
    if version_id is None and versioning != OFF:
        owner = owner_id or owner
        return _add_delete_marker(tx, bucket, key, owner, versioning, row, now, gc_delay)
    if row is None:
        return DeleteResult(version_id=version_id)
    was_latest = bool(row.is_latest)
    retire_version(tx, int(row.id), now, gc_delay, bypass_governance)
    drop_inode(tx, row.inode)
    if was_latest and version_id is not None:
        # Deleting the current version by id makes the next newest one current
        # (version ids are time-ordered).
        newest = tx.scalar(_NEWEST, {"bucket": bucket, "key": key})
        if newest is not None:
            tx.run(_MAKE_LATEST, {"object_id": newest})
    # Asked by id, the answer names it as asked (S3 echoes versionId).
    s3_id = version_id or s3_version_id(versioning, bool(row.is_null), row.version_id)
    return DeleteResult(version_id=s3_id, delete_marker=bool(row.is_delete_marker))


def _add_delete_marker(
    tx: Tx,
    bucket: str,
    key: str,
    owner_id: str,
    versioning: Versioning,
    current: Row | None,
    now: float,
    gc_delay: float,
) -> DeleteResult:
    """A plain DELETE in a versioning bucket: a delete marker becomes the current version
    (with versioning suspended it is the null version, replacing the old one)."""
    replace_null_version(tx, bucket, key, versioning, current, now, gc_delay)
    if current is not None:
        if versioning != ENABLED and current.is_null:
            retire_version(tx, int(current.id), now, gc_delay)
            drop_inode(tx, current.inode)
        else:
            tx.run(DEMOTE, {"object_id": current.id})
    version_id = new_version_id()
    marker = ObjectManifest(
        bucket=bucket,
        key=key,
        version_id=version_id,
        s3_version_id=written_s3_version_id(versioning, version_id),
        owner_id=owner_id,
        size=0,
        etag="",
        last_modified=now,
        profile=MARKER_PROFILE,
        parts=[],
        is_delete_marker=True,
    )
    insert_version(tx, marker, now)
    return DeleteResult(version_id=marker.s3_version_id, delete_marker=True)
