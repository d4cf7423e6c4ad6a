"""Tags: an object version's tag set and a bucket's (S3 Put/Get/DeleteObjectTagging and
Put/Get/DeleteBucketTagging); and an object version's ACL (PutObjectAcl), kept the same way.

Layer: coordinator database package. Contract, each operation one transaction that checks
the bucket (and, given an owner, that it is theirs) first:

* An object's tags belong to one version row (``objects.tags``), never to the key: putting
  or deleting them changes that version alone (the current one, or the one named), leaves
  its ETag and Last-Modified as they are, and a new version starts with the tags its write
  gave. A missing key or a delete marker is ``NoSuchKeyError``. The change takes the key's
  lock, so it never lands on a version a racing write is retiring.
* A bucket's tags are ``buckets.settings["tags"]``, read and replaced under the bucket row's
  lock (FOR UPDATE on PostgreSQL; SQLite runs one writer at a time), so a concurrent change
  of another setting is never lost; None means none were ever put.

* An object's ACL (``objects.acl``) belongs to one version row in the same way:
  ``set_object_acl`` replaces it (None: private again) under the key's lock.

Reading an object's tags or ACL needs no statement here: they travel in its manifest's
attributes.
"""

from __future__ import annotations

import msgspec
from sqlalchemy import bindparam, select, update

from wormfs.coordinator.db.database import Database
from wormfs.coordinator.db.manifests import owned_bucket
from wormfs.coordinator.db.tables import buckets, objects
from wormfs.coordinator.db.tx import Row, Tx
from wormfs.coordinator.db.versioning import NULL_VERSION, bucket_versioning, s3_version_id
from wormfs.coordinator.db.versions import IS_LATEST, lock_key
from wormfs.coordinator.naming import check_key
from wormfs.errors import NoSuchKeyError
from wormfs.wire.acl import Acl
from wormfs.wire.coordinator import TaggedVersion, TagSet

TAGS_KEY = "tags"  # the bucket's tag set in buckets.settings

_KEY = (objects.c.bucket == bindparam("bucket")) & (objects.c.key == bindparam("key"))
_TARGET = select(
    objects.c.id,
    objects.c.version_id,
    objects.c.is_delete_marker,
    objects.c.is_null,
    objects.c.lock_mode,
    objects.c.retain_until,
)
_TARGET_CURRENT = _TARGET.where(_KEY, IS_LATEST)
_TARGET_NULL = _TARGET.where(_KEY, objects.c.is_null == True)  # noqa: E712
_TARGET_BY_ID = _TARGET.where(_KEY, objects.c.version_id == bindparam("version_id"))
_SET_OBJECT_TAGS = (
    update(objects)
    .where(objects.c.id == bindparam("object_id"))
    .values(tags=bindparam("tags", type_=objects.c.tags.type))
)
_SET_OBJECT_ACL = (
    update(objects)
    .where(objects.c.id == bindparam("object_id"))
    .values(acl=bindparam("acl", type_=objects.c.acl.type))
)
_SETTINGS = select(buckets.c.settings).where(buckets.c.name == bindparam("name"))
_SETTINGS_FOR_UPDATE = _SETTINGS.with_for_update()
_SET_SETTINGS = (
    update(buckets)
    .where(buckets.c.name == bindparam("name"))
    .values(settings=bindparam("settings", type_=buckets.c.settings.type))
)


def find_version(tx: Tx, bucket: str, key: str, version_id: str | None) -> Row:
    """The version a per-version call names (the current one, ``null`` or an id), with its
    lock columns; ``NoSuchKeyError`` for none or a delete marker. The caller holds the key's
    lock."""
    if version_id is None:
        row = tx.one(_TARGET_CURRENT, {"bucket": bucket, "key": key})
    elif version_id == NULL_VERSION:
        row = tx.one(_TARGET_NULL, {"bucket": bucket, "key": key})
    else:
        row = tx.one(_TARGET_BY_ID, {"bucket": bucket, "key": key, "version_id": version_id})
    if row is None or row.is_delete_marker:
        raise NoSuchKeyError(bucket=bucket, key=key, version_id=version_id)
    return row


def set_object_tags(
    tx: Tx,
    bucket: str,
    key: str,
    version_id: str | None,
    owner_id: str | None,
    tags: dict[str, str],
) -> TaggedVersion:
    owned_bucket(tx, bucket, owner_id)
    lock_key(tx, bucket, key)
    row = find_version(tx, bucket, key, version_id)
    tx.run(_SET_OBJECT_TAGS, {"object_id": row.id, "tags": dict(tags)})
    s3_id = s3_version_id(bucket_versioning(tx, bucket), bool(row.is_null), row.version_id)
    return TaggedVersion(version_id=s3_id)


def set_object_acl(
    tx: Tx, bucket: str, key: str, version_id: str | None, owner_id: str | None, acl: Acl | None
) -> TaggedVersion:
    """Replace one version's ACL (None: private again), as tags are replaced."""
    owned_bucket(tx, bucket, owner_id)
    lock_key(tx, bucket, key)
    row = find_version(tx, bucket, key, version_id)
    value = None if acl is None else msgspec.to_builtins(acl)
    tx.run(_SET_OBJECT_ACL, {"object_id": row.id, "acl": value})
    s3_id = s3_version_id(bucket_versioning(tx, bucket), bool(row.is_null), row.version_id)
    return TaggedVersion(version_id=s3_id)


def bucket_tags(tx: Tx, bucket: str, owner_id: str | None) -> TagSet:
    owned_bucket(tx, bucket, owner_id)
    settings = tx.scalar(_SETTINGS, {"name": bucket}) or {}
    tags = settings.get(TAGS_KEY)
    return TagSet(tags=None if tags is None else dict(tags))


def set_bucket_tags(tx: Tx, bucket: str, owner_id: str | None, tags: dict[str, str] | None) -> None:
    owned_bucket(tx, bucket, owner_id)
    settings = dict(tx.scalar(_SETTINGS_FOR_UPDATE, {"name": bucket}) or {})
    if tags is None:
        settings.pop(TAGS_KEY, None)
    else:
        settings[TAGS_KEY] = dict(tags)
    tx.run(_SET_SETTINGS, {"name": bucket, "settings": settings})


class Tags:
    """Object and bucket tags (see the module docstring)."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def set_object(
        self,
        bucket: str,
        key: str,
        version_id: str | None,
        owner_id: str | None,
        tags: dict[str, str],
    ) -> TaggedVersion:
        check_key(key)
        return await self._db.write(
            lambda tx: set_object_tags(tx, bucket, key, version_id, owner_id, tags)
        )

    async def set_object_acl(
        self, bucket: str, key: str, version_id: str | None, owner_id: str | None, acl: Acl | None
    ) -> TaggedVersion:
        check_key(key)
        return await self._db.write(
            lambda tx: set_object_acl(tx, bucket, key, version_id, owner_id, acl)
        )

    async def bucket(self, bucket: str, owner_id: str | None) -> TagSet:
        return await self._db.read(lambda tx: bucket_tags(tx, bucket, owner_id))

    async def set_bucket(
        self, bucket: str, owner_id: str | None, tags: dict[str, str] | None
    ) -> None:
        await self._db.write(lambda tx: set_bucket_tags(tx, bucket, owner_id, tags))
