"""Object Lock operations: a bucket's lock configuration, a version's retention and legal
hold (S3 Get/PutObjectLockConfiguration, Get/PutObjectRetention, Get/PutObjectLegalHold).

Layer: coordinator database package; each function one operation of a ``Tx`` (the rules
without statements are ``lock_rules.py``). Contract:

* A bucket has Object Lock when ``buckets.settings["object_lock"]`` exists. It is turned on
  at creation (versioning enabled with it) or later on a bucket whose versioning is enabled
  (``InvalidBucketStateError`` otherwise), and never off; while it is on, versioning cannot
  be suspended (``access.set_versioning``).
* A version's retention and legal hold live in its row (``objects.lock_mode``,
  ``retain_until``, ``legal_hold``). ``set_retention`` follows S3's rules: an active
  COMPLIANCE retention can only be extended (same mode, a date no earlier); an active
  GOVERNANCE one can be extended, but shortened, removed or switched to COMPLIANCE only with
  ``bypass_governance``; otherwise ``ObjectLockedError``. ``set_legal_hold`` turns the hold on
  or off. Both need Object Lock on the bucket (``NoObjectLockError``), take the key's lock and
  name a version as the tagging calls do (``tagging.find_version``).
* Nothing removes a locked version: ``versions.retire_version`` is the one DELETE of a
  version row and refuses one under a legal hold or an unexpired retention (GOVERNANCE
  yields to ``bypass_governance``), so S3 deletes, overwrites, lifecycle, renames through the
  mount and metadata recovery all meet the same rule; a version's chunks are queued for GC
  only in that DELETE's transaction, so GC never sees a locked version's chunks.
"""

from __future__ import annotations

import time

from sqlalchemy import bindparam, update

from wormfs.coordinator.db.access import set_setting
from wormfs.coordinator.db.database import Database
from wormfs.coordinator.db.lock_rules import (
    COMPLIANCE,
    check_retention,
    config_from_json,
    config_to_json,
)
from wormfs.coordinator.db.manifests import check_owner
from wormfs.coordinator.db.tables import objects
from wormfs.coordinator.db.tagging import find_version
from wormfs.coordinator.db.tx import Row, Tx
from wormfs.coordinator.db.versioning import (
    ENABLED,
    OBJECT_LOCK_KEY,
    BucketFacts,
    bucket_facts,
    s3_version_id,
)
from wormfs.coordinator.db.versions import lock_key
from wormfs.coordinator.naming import check_key
from wormfs.errors import (
    InvalidBucketStateError,
    InvalidInputError,
    NoObjectLockError,
    ObjectLockedError,
)
from wormfs.wire.coordinator import ObjectLockConfig, ObjectRetention, TaggedVersion

_SET_RETENTION = (
    update(objects)
    .where(objects.c.id == bindparam("object_id"))
    .values(lock_mode=bindparam("lock_mode"), retain_until=bindparam("retain_until"))
)
_SET_LEGAL_HOLD = (
    update(objects)
    .where(objects.c.id == bindparam("object_id"))
    .values(legal_hold=bindparam("legal_hold"))
)


def _owned_facts(tx: Tx, bucket: str, owner_id: str | None) -> BucketFacts:
    """The bucket's facts (one select), once it is known to be the caller's."""
    facts = bucket_facts(tx, bucket)
    check_owner(bucket, facts.owner_id, owner_id)
    return facts


def lock_config(tx: Tx, bucket: str, owner_id: str | None) -> ObjectLockConfig:
    return config_from_json(_owned_facts(tx, bucket, owner_id).object_lock)


def set_lock_config(tx: Tx, bucket: str, owner_id: str | None, config: ObjectLockConfig) -> None:
    if not config.enabled:
        raise InvalidInputError("Object Lock, once on, cannot be turned off")
    value = config_to_json(config)
    facts = _owned_facts(tx, bucket, owner_id)
    if facts.object_lock is None and facts.versioning != ENABLED:
        raise InvalidBucketStateError("Object Lock needs versioning enabled on the bucket first")
    set_setting(tx, bucket, owner_id, OBJECT_LOCK_KEY, value)


def _locked_bucket(tx: Tx, bucket: str, owner_id: str | None) -> BucketFacts:
    facts = _owned_facts(tx, bucket, owner_id)
    if facts.object_lock is None:
        raise NoObjectLockError(f"bucket {bucket!r} has no Object Lock")
    return facts


def set_retention(
    tx: Tx,
    bucket: str,
    key: str,
    version_id: str | None,
    owner_id: str | None,
    change: ObjectRetention,
    now: float,
) -> TaggedVersion:
    facts = _locked_bucket(tx, bucket, owner_id)
    check_retention(change.mode, change.retain_until, now)
    lock_key(tx, bucket, key)
    row = find_version(tx, bucket, key, version_id)
    old_until = row.retain_until
    if old_until is not None and old_until > now:
        extends = change.mode == row.lock_mode and (change.retain_until or 0) >= old_until
        if not extends and (row.lock_mode == COMPLIANCE or not change.bypass_governance):
            raise ObjectLockedError(bucket=bucket, key=key, version_id=version_id)
    tx.run(
        _SET_RETENTION,
        {
            "object_id": row.id,
            "lock_mode": change.mode or None,
            "retain_until": change.retain_until,
        },
    )
    return _changed(facts, row)


def set_legal_hold(
    tx: Tx, bucket: str, key: str, version_id: str | None, owner_id: str | None, on: bool
) -> TaggedVersion:
    facts = _locked_bucket(tx, bucket, owner_id)
    lock_key(tx, bucket, key)
    row = find_version(tx, bucket, key, version_id)
    tx.run(_SET_LEGAL_HOLD, {"object_id": row.id, "legal_hold": on})
    return _changed(facts, row)


def _changed(facts: BucketFacts, row: Row) -> TaggedVersion:
    s3_id = s3_version_id(facts.versioning, bool(row.is_null), row.version_id)
    return TaggedVersion(version_id=s3_id)


class ObjectLock:
    """Object Lock configurations, retentions and legal holds (see the module docstring)."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def config(self, bucket: str, owner_id: str | None) -> ObjectLockConfig:
        return await self._db.read(lambda tx: lock_config(tx, bucket, owner_id))

    async def set_config(self, bucket: str, owner_id: str | None, config: ObjectLockConfig) -> None:
        await self._db.write(lambda tx: set_lock_config(tx, bucket, owner_id, config))

    async def set_retention(
        self,
        bucket: str,
        key: str,
        version_id: str | None,
        owner_id: str | None,
        change: ObjectRetention,
    ) -> TaggedVersion:
        check_key(key)
        now = time.time()
        return await self._db.write(
            lambda tx: set_retention(tx, bucket, key, version_id, owner_id, change, now)
        )

    async def set_legal_hold(
        self, bucket: str, key: str, version_id: str | None, owner_id: str | None, on: bool
    ) -> TaggedVersion:
        check_key(key)
        return await self._db.write(
            lambda tx: set_legal_hold(tx, bucket, key, version_id, owner_id, on)
        )
