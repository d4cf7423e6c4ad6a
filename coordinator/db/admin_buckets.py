"""What the admin plane changes on a bucket besides its default class: its owner.

Layer: coordinator database package; Core statements over ``tables``, one write transaction
through ``Database.write``. Contract:

* ``set_owner(bucket, owner_id)`` gives the bucket to another user and answers the bucket as
  ``convert.bucket_info`` reads it: ``NoSuchBucketError`` when there is no such bucket,
  ``InvalidInputError`` when ``owner_id`` is no user. The user is looked up in the same
  transaction as the update, so a user deleted meanwhile (deleting a user who owns a bucket
  is refused) cannot end up owning it.
"""

from __future__ import annotations

from sqlalchemy import bindparam, select, update

from wormfs.coordinator.db.convert import bucket_info, require_bucket
from wormfs.coordinator.db.database import Database
from wormfs.coordinator.db.tables import buckets, users
from wormfs.coordinator.db.tx import Tx
from wormfs.errors import InvalidInputError
from wormfs.wire.coordinator import BucketInfo

_USER_ROW = select(users.c.user_id).where(users.c.user_id == bindparam("user_id"))
_SET_OWNER = (
    update(buckets)
    .where(buckets.c.name == bindparam("name"))
    .values(owner_id=bindparam("owner_id"))
)


def _set_owner(tx: Tx, bucket: str, owner_id: str) -> BucketInfo:
    require_bucket(tx, bucket)
    if tx.one(_USER_ROW, {"user_id": owner_id}) is None:
        raise InvalidInputError(f"owner_id {owner_id!r} is not a user")
    tx.run(_SET_OWNER, {"name": bucket, "owner_id": owner_id})
    return bucket_info(tx, bucket)


class AdminBuckets:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def set_owner(self, bucket: str, owner_id: str) -> BucketInfo:
        return await self._db.write(lambda tx: _set_owner(tx, bucket, owner_id))
