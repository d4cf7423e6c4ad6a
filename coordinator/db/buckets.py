"""Buckets: create, read, list, delete.

Layer: coordinator database package. Contract: names are validated with S3's rules
(``InvalidBucketNameError``); creating an existing bucket is ``BucketAlreadyOwnedByYouError``
for its owner and ``BucketAlreadyExistsError`` for anyone else (also when two creates race
on PostgreSQL: the loser's transaction is re-run by ``Database.write`` and finds the
winner's bucket); deleting a bucket that still
holds object versions or multipart uploads is ``BucketNotEmptyError``. Ownership checks are
the gateway's; every answer carries ``owner_id`` and the owner's display name.
"""

from __future__ import annotations

import time
from typing import Any

import msgspec
from sqlalchemy import bindparam, delete, exists, insert, select

from wormfs.coordinator.db.access import ACL_KEY, OWNERSHIP_KEY
from wormfs.coordinator.db.convert import BUCKET_INFO, bucket_from_row, bucket_info, bucket_owner
from wormfs.coordinator.db.database import Database
from wormfs.coordinator.db.tables import buckets, objects, uploads
from wormfs.coordinator.db.tx import Tx
from wormfs.coordinator.db.versioning import ENABLED, OBJECT_LOCK_KEY, VERSIONING_KEY
from wormfs.coordinator.naming import check_bucket_name
from wormfs.errors import (
    BucketAlreadyExistsError,
    BucketAlreadyOwnedByYouError,
    BucketNotEmptyError,
    InvalidInputError,
)
from wormfs.wire.coordinator import BucketInfo, BucketList, CreateBucket

_INSERT = insert(buckets)
_ALL = BUCKET_INFO.order_by(buckets.c.name)
_OWNED_BY = BUCKET_INFO.where(buckets.c.owner_id == bindparam("owner_id")).order_by(buckets.c.name)
_HAS_OBJECTS = select(exists().where(objects.c.bucket == bindparam("name")))
_HAS_UPLOADS = select(exists().where(uploads.c.bucket == bindparam("name")))
_DELETE = delete(buckets).where(buckets.c.name == bindparam("name"))


def _exists_error(name: str, owner_id: str, requester: str) -> Exception:
    if owner_id == requester:
        return BucketAlreadyOwnedByYouError(f"you already own bucket {name!r}", bucket=name)
    return BucketAlreadyExistsError(
        f"bucket {name!r} exists and belongs to someone else", bucket=name
    )


def _create(tx: Tx, name: str, req: CreateBucket, now: float) -> BucketInfo:
    owner = bucket_owner(tx, name)
    if owner is not None:
        raise _exists_error(name, owner, req.owner_id)
    # Object Lock comes with versioning, for good (db/object_lock.py).
    settings: dict[str, Any] = (
        {VERSIONING_KEY: ENABLED, OBJECT_LOCK_KEY: {}} if req.object_lock else {}
    )
    if req.ownership:
        settings[OWNERSHIP_KEY] = req.ownership
    if req.acl is not None:
        settings[ACL_KEY] = msgspec.to_builtins(req.acl)
    tx.run(
        _INSERT,
        {
            "name": name,
            "owner_id": req.owner_id,
            "created": now,
            "region": req.region or "us-east-1",
            "settings": settings,
        },
    )
    return bucket_info(tx, name)


def _delete(tx: Tx, name: str) -> None:
    bucket_info(tx, name)  # NoSuchBucketError
    has_objects = tx.scalar(_HAS_OBJECTS, {"name": name})
    if has_objects or tx.scalar(_HAS_UPLOADS, {"name": name}):
        what = "objects" if has_objects else "multipart uploads"
        raise BucketNotEmptyError(f"bucket {name!r} still holds {what}", bucket=name)
    tx.run(_DELETE, {"name": name})


class Buckets:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def create(self, name: str, req: CreateBucket) -> BucketInfo:
        check_bucket_name(name)
        if not req.owner_id:
            raise InvalidInputError("a bucket needs an owner_id")
        now = time.time()
        return await self._db.write(lambda tx: _create(tx, name, req, now))

    async def get(self, name: str) -> BucketInfo:
        return await self._db.read(lambda tx: bucket_info(tx, name))

    async def list(self, owner_id: str | None = None) -> BucketList:
        if owner_id:
            rows = await self._db.read(lambda tx: tx.all(_OWNED_BY, {"owner_id": owner_id}))
        else:
            rows = await self._db.read(lambda tx: tx.all(_ALL))
        return BucketList(buckets=[bucket_from_row(r) for r in rows])

    async def delete(self, name: str) -> None:
        """A commit into the bucket racing the delete (foreign key, PostgreSQL) re-runs it."""
        await self._db.write(lambda tx: _delete(tx, name))
