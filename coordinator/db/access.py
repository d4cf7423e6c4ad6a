"""Bucket access settings: the bucket policy and the public access block.

Layer: coordinator database package; statements in SQLAlchemy Core over ``tables``, each
method one transaction through ``Database.read`` / ``Database.write``. Contract:

* ``get`` answers a bucket's access facts (``BucketAccess``: owner, policy text, public access
  block, lifecycle rules) in one read, or ``NoSuchBucketError``: what the gateway needs to
  authorize any request on the bucket (and to name a version's expiration).
* ``cors`` / ``set_cors`` read and replace its CORS rules (``cors``, None: none);
  ``ownership`` / ``set_ownership`` its Object Ownership (``ownership``; absent: the default,
  BucketOwnerEnforced; "" once deleted), ``acl`` / ``set_acl`` its ACL (``acl``, None:
  private);
  ``encryption`` / ``set_encryption`` its default encryption (``encryption``, None: none);
  ``lifecycle`` / ``set_lifecycle`` read and replace its lifecycle rules (``lifecycle``, None:
  none), shown with the cluster's lifecycle day.
* ``set_policy`` / ``set_public_access_block`` replace one setting (None removes it), given an
  owner only if it is theirs (``AccessDeniedError``); ``versioning`` / ``set_versioning``
  read and set the bucket's versioning (``db/versioning.py``: "Enabled" or "Suspended", never
  back to unversioned; never suspended while the bucket has Object Lock,
  ``InvalidBucketStateError``). They live in ``buckets.settings`` under ``policy``,
  ``public_access_block`` and ``versioning``, read and replaced under the bucket row's lock (FOR
  UPDATE on PostgreSQL; SQLite runs one writer at a time), so a concurrent change of another
  setting is never lost. Documents are validated by the gateway (S3's rules); the coordinator
  stores them as given.
"""

from __future__ import annotations

from typing import Any

import msgspec
from sqlalchemy import bindparam, select, update

from wormfs.coordinator.db.database import Database
from wormfs.coordinator.db.manifests import owned_bucket
from wormfs.coordinator.db.tables import buckets, users
from wormfs.coordinator.db.tx import Tx
from wormfs.coordinator.db.versioning import (
    ENABLED,
    VERSIONING_KEY,
    bucket_facts,
    bucket_versioning,
)
from wormfs.errors import InvalidBucketStateError, InvalidInputError, NoSuchBucketError
from wormfs.wire.acl import BUCKET_OWNER_ENFORCED, Acl, AclSetting, OwnershipSetting
from wormfs.wire.coordinator import BucketAccess, BucketVersioning, PublicAccessBlock
from wormfs.wire.cors import CorsConfig, CorsSetting
from wormfs.wire.encryption import BucketEncryption, EncryptionSetting
from wormfs.wire.lifecycle import DAY_SECONDS, LifecycleConfig, LifecycleSetting

POLICY_KEY = "policy"
PUBLIC_ACCESS_BLOCK_KEY = "public_access_block"
LIFECYCLE_KEY = "lifecycle"  # the rules (coordinator/lifecycle.py applies them)
CORS_KEY = "cors"  # the CORS rules (the gateway answers browsers from them)
ENCRYPTION_KEY = "encryption"  # the default encryption (the gateway applies it to writes)
OWNERSHIP_KEY = "ownership"  # Object Ownership (absent: BucketOwnerEnforced)
ACL_KEY = "acl"  # the bucket's ACL (absent: private)

_ACCESS = (
    select(buckets.c.name, buckets.c.owner_id, buckets.c.settings, users.c.display_name)
    .select_from(buckets.outerjoin(users, users.c.user_id == buckets.c.owner_id))
    .where(buckets.c.name == bindparam("name"))
)
_SETTINGS = select(buckets.c.settings).where(buckets.c.name == bindparam("name"))
_SETTINGS_FOR_UPDATE = (
    select(buckets.c.settings).where(buckets.c.name == bindparam("name")).with_for_update()
)
_SET_SETTINGS = (
    update(buckets)
    .where(buckets.c.name == bindparam("name"))
    .values(settings=bindparam("settings", type_=buckets.c.settings.type))
)


def lifecycle_of(settings: dict[str, Any], day_seconds: float) -> LifecycleConfig | None:
    stored = settings.get(LIFECYCLE_KEY)
    if stored is None:
        return None
    return msgspec.convert({**stored, "day_seconds": day_seconds}, LifecycleConfig)


def cors_of(settings: dict[str, Any]) -> CorsConfig | None:
    stored = settings.get(CORS_KEY)
    return None if stored is None else msgspec.convert(stored, CorsConfig)


def encryption_of(settings: dict[str, Any]) -> BucketEncryption | None:
    stored = settings.get(ENCRYPTION_KEY)
    return None if stored is None else msgspec.convert(stored, BucketEncryption)


def ownership_of(settings: dict[str, Any]) -> str:
    return str(settings.get(OWNERSHIP_KEY, BUCKET_OWNER_ENFORCED))


def acl_of(settings: dict[str, Any]) -> Acl | None:
    stored = settings.get(ACL_KEY)
    return None if stored is None else msgspec.convert(stored, Acl)


def bucket_access(tx: Tx, bucket: str, day_seconds: float) -> BucketAccess:
    row = tx.one(_ACCESS, {"name": bucket})
    if row is None:
        raise NoSuchBucketError(bucket=bucket)
    settings: dict[str, Any] = row.settings or {}
    block = settings.get(PUBLIC_ACCESS_BLOCK_KEY)
    return BucketAccess(
        name=row.name,
        owner_id=row.owner_id,
        owner_display_name=row.display_name or "",
        policy=settings.get(POLICY_KEY),
        public_access_block=None if block is None else msgspec.convert(block, PublicAccessBlock),
        lifecycle=lifecycle_of(settings, day_seconds),
        cors=cors_of(settings),
        encryption=encryption_of(settings),
        ownership=ownership_of(settings),
        acl=acl_of(settings),
    )


def set_setting(tx: Tx, bucket: str, owner_id: str | None, name: str, value: Any) -> None:
    owned_bucket(tx, bucket, owner_id)
    settings = dict(tx.scalar(_SETTINGS_FOR_UPDATE, {"name": bucket}) or {})
    if value is None:
        settings.pop(name, None)
    else:
        settings[name] = value
    tx.run(_SET_SETTINGS, {"name": bucket, "settings": settings})


class Access:
    """Bucket policies and public access blocks (see the module docstring)."""

    def __init__(self, db: Database, day_seconds: float = DAY_SECONDS) -> None:
        self._db = db
        self._day_seconds = day_seconds  # a lifecycle day, shown with the rules

    async def get(self, bucket: str) -> BucketAccess:
        return await self._db.read(lambda tx: bucket_access(tx, bucket, self._day_seconds))

    async def lifecycle(self, bucket: str, owner_id: str | None) -> LifecycleSetting:
        def read(tx: Tx) -> LifecycleSetting:
            owned_bucket(tx, bucket, owner_id)
            settings = tx.scalar(_SETTINGS, {"name": bucket}) or {}
            return LifecycleSetting(config=lifecycle_of(settings, self._day_seconds))

        return await self._db.read(read)

    async def cors(self, bucket: str, owner_id: str | None) -> CorsSetting:
        def read(tx: Tx) -> CorsSetting:
            owned_bucket(tx, bucket, owner_id)
            return CorsSetting(config=cors_of(tx.scalar(_SETTINGS, {"name": bucket}) or {}))

        return await self._db.read(read)

    async def set_cors(self, bucket: str, owner_id: str | None, config: CorsConfig | None) -> None:
        value = None if config is None else msgspec.to_builtins(config)
        await self._db.write(lambda tx: set_setting(tx, bucket, owner_id, CORS_KEY, value))

    async def encryption(self, bucket: str, owner_id: str | None) -> EncryptionSetting:
        def read(tx: Tx) -> EncryptionSetting:
            owned_bucket(tx, bucket, owner_id)
            settings = tx.scalar(_SETTINGS, {"name": bucket}) or {}
            return EncryptionSetting(config=encryption_of(settings))

        return await self._db.read(read)

    async def set_encryption(
        self, bucket: str, owner_id: str | None, config: BucketEncryption | None
    ) -> None:
        value = None if config is None else msgspec.to_builtins(config)
        await self._db.write(lambda tx: set_setting(tx, bucket, owner_id, ENCRYPTION_KEY, value))

    async def ownership(self, bucket: str, owner_id: str | None) -> OwnershipSetting:
        def read(tx: Tx) -> OwnershipSetting:
            owned_bucket(tx, bucket, owner_id)
            settings = tx.scalar(_SETTINGS, {"name": bucket}) or {}
            return OwnershipSetting(ownership=ownership_of(settings) or None)

        return await self._db.read(read)

    async def set_ownership(self, bucket: str, owner_id: str | None, ownership: str | None) -> None:
        """Set Object Ownership; None deletes the controls (stored as "", which is not the
        default's absence)."""
        value = "" if ownership is None else ownership
        await self._db.write(lambda tx: set_setting(tx, bucket, owner_id, OWNERSHIP_KEY, value))

    async def acl(self, bucket: str, owner_id: str | None) -> AclSetting:
        def read(tx: Tx) -> AclSetting:
            owned_bucket(tx, bucket, owner_id)
            return AclSetting(acl=acl_of(tx.scalar(_SETTINGS, {"name": bucket}) or {}))

        return await self._db.read(read)

    async def set_acl(self, bucket: str, owner_id: str | None, acl: Acl | None) -> None:
        value = None if acl is None else msgspec.to_builtins(acl)
        await self._db.write(lambda tx: set_setting(tx, bucket, owner_id, ACL_KEY, value))

    async def set_lifecycle(
        self, bucket: str, owner_id: str | None, config: LifecycleConfig | None
    ) -> None:
        value = None
        if config is not None:  # stored without the day length, which is the cluster's
            value = {"rules": msgspec.to_builtins(config.rules)}
        await self._db.write(lambda tx: set_setting(tx, bucket, owner_id, LIFECYCLE_KEY, value))

    async def set_policy(self, bucket: str, owner_id: str | None, policy: str | None) -> None:
        await self._db.write(lambda tx: set_setting(tx, bucket, owner_id, POLICY_KEY, policy))

    async def set_public_access_block(
        self, bucket: str, owner_id: str | None, block: PublicAccessBlock | None
    ) -> None:
        value = None if block is None else msgspec.to_builtins(block)
        await self._db.write(
            lambda tx: set_setting(tx, bucket, owner_id, PUBLIC_ACCESS_BLOCK_KEY, value)
        )

    async def versioning(self, bucket: str, owner_id: str | None) -> BucketVersioning:
        def read(tx: Tx) -> BucketVersioning:
            owned_bucket(tx, bucket, owner_id)
            return BucketVersioning(status=bucket_versioning(tx, bucket))

        return await self._db.read(read)

    async def set_versioning(self, bucket: str, owner_id: str | None, status: str) -> None:
        if status not in ("Enabled", "Suspended"):
            raise InvalidInputError('versioning is "Enabled" or "Suspended"')

        def change(tx: Tx) -> None:
            owned_bucket(tx, bucket, owner_id)
            if status != ENABLED and bucket_facts(tx, bucket).object_lock is not None:
                raise InvalidBucketStateError(
                    "versioning cannot be suspended on a bucket with Object Lock"
                )
            set_setting(tx, bucket, owner_id, VERSIONING_KEY, status)

        await self._db.write(change)
