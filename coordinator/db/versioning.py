"""A bucket's versioning state and S3's view of version ids.

Layer: coordinator database package; functions run inside the caller's transaction.
Contract:

* A bucket's versioning is ``OFF`` (never enabled: S3 answers an empty configuration),
  ``ENABLED`` or ``SUSPENDED``; it lives in ``buckets.settings`` under ``versioning`` (set
  through ``Access.set_versioning``) and never goes back to ``OFF``. ``bucket_versioning``
  reads it with one JSON-path select (not the whole settings document, which may hold a
  policy of kilobytes), for every commit and delete that must know how to treat the key's
  current version.
* Every version has a unique, time-ordered internal ``version_id``. A version written while
  the bucket was not versioning (``OFF`` or ``SUSPENDED``) is S3's *null version*
  (``objects.is_null``): a key has at most one, and the next such write replaces it.
  ``s3_version_id`` is the id S3 clients see: None while the bucket never had versioning
  (no ``x-amz-version-id`` at all, as AWS), ``"null"`` for the null version, else the id.
"""

from __future__ import annotations

from typing import Any, Literal, NamedTuple

from sqlalchemy import bindparam, select

from wormfs.coordinator.db.tables import buckets
from wormfs.coordinator.db.tx import Tx
from wormfs.errors import NoSuchBucketError

Versioning = Literal["", "Enabled", "Suspended"]
OFF: Versioning = ""
ENABLED: Versioning = "Enabled"
SUSPENDED: Versioning = "Suspended"
VERSIONING_KEY = "versioning"
OBJECT_LOCK_KEY = "object_lock"  # db/object_lock.py
NULL_VERSION = "null"

_STATE = buckets.c.settings[VERSIONING_KEY].as_string()
_VERSIONING = select(_STATE).where(buckets.c.name == bindparam("bucket"))
# A read's or a write's one statement about its bucket: that it exists, whose it is, its
# versioning and its Object Lock (a small document, or NULL for most buckets).
_FACTS = select(
    buckets.c.owner_id,
    _STATE.label("versioning"),
    buckets.c.settings[OBJECT_LOCK_KEY].label("object_lock"),
).where(buckets.c.name == bindparam("bucket"))


class BucketFacts(NamedTuple):
    owner_id: str
    versioning: Versioning
    # The bucket's Object Lock as stored (db/object_lock.py); None: it has none.
    object_lock: dict[str, Any] | None


def _state(value: str | None) -> Versioning:
    if value == ENABLED:
        return ENABLED
    return SUSPENDED if value == SUSPENDED else OFF


def bucket_versioning(tx: Tx, bucket: str) -> Versioning:
    return _state(tx.scalar(_VERSIONING, {"bucket": bucket}))


def bucket_facts(tx: Tx, bucket: str) -> BucketFacts:
    """The bucket's owner, versioning and Object Lock in one select (``NoSuchBucketError``):
    what a read or a write learns of its bucket."""
    row = tx.one(_FACTS, {"bucket": bucket})
    if row is None:
        raise NoSuchBucketError(bucket=bucket)
    lock = row.object_lock if isinstance(row.object_lock, dict) else None
    return BucketFacts(str(row.owner_id), _state(row.versioning), lock)


def s3_version_id(versioning: Versioning, is_null: bool, version_id: str) -> str | None:
    if not is_null:
        return version_id
    return NULL_VERSION if versioning else None


def written_s3_version_id(versioning: Versioning, version_id: str) -> str | None:
    """The S3 id of a version written now: its own only while versioning is enabled."""
    return s3_version_id(versioning, versioning != ENABLED, version_id)
