"""Buckets: create, read, list, delete.

Layer: coordinator database package. Contract: names are validated with S3's rules
(``InvalidBucketNameError``); creating an existing bucket is ``BucketAlreadyOwnedByYouError``
for its owner and ``BucketAlreadyExistsError`` for anyone else (also when two creates race:
the primary key's ``IntegrityError`` is mapped the same way); deleting a bucket that still
holds object versions or multipart uploads is ``BucketNotEmptyError``. Ownership checks are
the gateway's; every answer carries ``owner_id`` and the owner's display name.
"""

from __future__ import annotations

import time

from sqlalchemy import exists, select
from sqlalchemy.exc import IntegrityError

from wormfs.coordinator.db import manifests
from wormfs.coordinator.db.convert import bucket_info, display_names, require_bucket
from wormfs.coordinator.db.database import Database, retry_races
from wormfs.coordinator.db.models import Bucket, ObjectVersion, Upload
from wormfs.coordinator.naming import check_bucket_name
from wormfs.errors import (
    BucketAlreadyExistsError,
    BucketAlreadyOwnedByYouError,
    BucketNotEmptyError,
    InvalidInputError,
)
from wormfs.wire.coordinator import BucketInfo, BucketList, CreateBucket


def _exists_error(name: str, owner_id: str, requester: str) -> Exception:
    if owner_id == requester:
        return BucketAlreadyOwnedByYouError(f"you already own bucket {name!r}")
    return BucketAlreadyExistsError(f"bucket {name!r} exists and belongs to someone else")


class Buckets:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def create(self, name: str, req: CreateBucket) -> BucketInfo:
        check_bucket_name(name)
        if not req.owner_id:
            raise InvalidInputError("a bucket needs an owner_id")
        bucket = Bucket(
            name=name,
            owner_id=req.owner_id,
            created=time.time(),
            region=req.region or "us-east-1",
            settings={},
        )
        try:
            async with self._db.write() as session:
                existing = await session.get(Bucket, name)
                if existing is not None:
                    raise _exists_error(name, existing.owner_id, req.owner_id)
                session.add(bucket)
                names = await display_names(session, [req.owner_id])
        except IntegrityError:
            # Lost a race with another create of the same name (PostgreSQL); report who won.
            async with self._db.read() as session:
                winner = await session.get(Bucket, name)
            raise _exists_error(name, winner.owner_id if winner else "", req.owner_id) from None
        return bucket_info(bucket, names.get(req.owner_id, ""))

    async def get(self, name: str) -> BucketInfo:
        return await self._db.direct_read(lambda sql: manifests.bucket_info(sql, name))

    async def list(self, owner_id: str | None = None) -> BucketList:
        query = select(Bucket).order_by(Bucket.name)
        if owner_id:
            query = query.where(Bucket.owner_id == owner_id)
        async with self._db.read() as session:
            buckets = list(await session.scalars(query))
            names = await display_names(session, (b.owner_id for b in buckets))
        return BucketList(buckets=[bucket_info(b, names.get(b.owner_id, "")) for b in buckets])

    @retry_races  # a commit into the bucket racing the delete (foreign key, PostgreSQL)
    async def delete(self, name: str) -> None:
        async with self._db.write() as session:
            bucket = await require_bucket(session, name)
            has_objects = await session.scalar(select(exists().where(ObjectVersion.bucket == name)))
            has_uploads = await session.scalar(select(exists().where(Upload.bucket == name)))
            if has_objects or has_uploads:
                what = "objects" if has_objects else "multipart uploads"
                raise BucketNotEmptyError(f"bucket {name!r} still holds {what}")
            await session.delete(bucket)
