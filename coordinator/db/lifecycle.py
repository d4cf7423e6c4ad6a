"""The statements of lifecycle rules: which versions and uploads a rule's actions are due
for, and each action in a transaction of its own.

Layer: coordinator database package; the leader's lifecycle worker (``coordinator.lifecycle``)
drives it. Contract:

* The ``due_*`` functions answer a page of candidates in key order, after ``after`` (the
  worker's cursor) and under a prefix, at most ``limit``; the worker filters them by tags and
  size (``LifecycleFilter.matches``) and acts on each:
  - ``due_current``: current versions (not delete markers) written at or before ``cutoff``;
  - ``due_markers``: current delete markers that are the only version left of their key;
  - ``due_noncurrent``: versions that became non-current (a newer version was written) at or
    before ``cutoff``, past the ``keep`` newest non-current ones of their key (a window over
    each key's versions, newest first);
  - ``due_uploads``: multipart uploads initiated at or before ``cutoff``.
* Each action re-reads its target under the key's lock and does nothing when it changed
  meanwhile (answering False): ``expire_current`` deletes the current version as a DELETE
  without a version id does (a delete marker where the bucket has versioning), so a racing
  overwrite is never expired in its place; ``expire_noncurrent`` (a version still not
  current) and ``expire_marker`` (a marker still alone) delete one version by its id. A
  locked version (db/object_lock.py) is ``ObjectLockedError`` from the one DELETE of a
  version row; the worker counts and skips it.
"""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import Select, bindparam, exists, func, select
from sqlalchemy.orm import aliased

from wormfs.coordinator.db.access import LIFECYCLE_KEY
from wormfs.coordinator.db.listing import prefix_end
from wormfs.coordinator.db.manifests import delete_version
from wormfs.coordinator.db.tables import buckets, objects, uploads
from wormfs.coordinator.db.tx import Row, Tx
from wormfs.coordinator.db.versions import IS_LATEST, lock_key

_LIFECYCLES = select(buckets.c.name, buckets.c.settings[LIFECYCLE_KEY].label("lifecycle"))

_IN_BUCKET = objects.c.bucket == bindparam("bucket")
_AFTER = objects.c.key > bindparam("after")
_FROM = objects.c.key >= bindparam("low")
_BELOW = objects.c.key < bindparam("high")

_CURRENT_COLUMNS = (
    objects.c.key,
    objects.c.version_id,
    objects.c.size,
    objects.c.tags,
    objects.c.last_modified,
)
_DUE_CURRENT = (
    select(*_CURRENT_COLUMNS)
    .where(
        _IN_BUCKET,
        IS_LATEST,
        objects.c.is_delete_marker == False,  # noqa: E712 (a SQL comparison)
        objects.c.last_modified <= bindparam("cutoff"),
        _AFTER,
        _FROM,
    )
    .order_by(objects.c.key)
    .limit(bindparam("limit"))
)
_other = aliased(objects)
# The version is the only one of its key.
_ALONE = ~exists().where(
    _other.c.bucket == objects.c.bucket,
    _other.c.key == objects.c.key,
    _other.c.id != objects.c.id,
)
_LONE_MARKERS = (
    select(*_CURRENT_COLUMNS)
    .where(
        _IN_BUCKET,
        IS_LATEST,
        objects.c.is_delete_marker == True,  # noqa: E712
        _AFTER,
        _FROM,
        _ALONE,
    )
    .order_by(objects.c.key)
    .limit(bindparam("limit"))
)
_NEWEST_FIRST = objects.c.version_id.desc()
_versions = (
    select(
        *_CURRENT_COLUMNS,
        # When a version became non-current: the write of the next newer one.
        func.lag(objects.c.last_modified)
        .over(partition_by=objects.c.key, order_by=_NEWEST_FIRST)
        .label("noncurrent_since"),
        func.row_number().over(partition_by=objects.c.key, order_by=_NEWEST_FIRST).label("newness"),
    )
    .where(_IN_BUCKET, _AFTER, _FROM)
    .subquery()
)
_DUE_NONCURRENT = (
    select(_versions)
    .where(
        _versions.c.newness > bindparam("keep") + 1,  # the current one is 1
        _versions.c.noncurrent_since <= bindparam("cutoff"),
    )
    .order_by(_versions.c.key, _versions.c.version_id)
    .limit(bindparam("limit"))
)
_DUE_UPLOADS = (
    select(uploads.c.upload_id, uploads.c.key)
    .where(
        uploads.c.bucket == bindparam("bucket"),
        uploads.c.initiated <= bindparam("cutoff"),
        uploads.c.key > bindparam("after"),
        uploads.c.key >= bindparam("low"),
    )
    .order_by(uploads.c.key, uploads.c.upload_id)
    .limit(bindparam("limit"))
)

_STILL_CURRENT = select(objects.c.version_id).where(
    _IN_BUCKET, objects.c.key == bindparam("key"), IS_LATEST
)
_STILL_LONE_MARKER = select(objects.c.id).where(
    _IN_BUCKET,
    objects.c.key == bindparam("key"),
    objects.c.version_id == bindparam("version_id"),
    IS_LATEST,
    objects.c.is_delete_marker == True,  # noqa: E712
    _ALONE,
)
_STILL_NONCURRENT = select(objects.c.id).where(
    _IN_BUCKET,
    objects.c.key == bindparam("key"),
    objects.c.version_id == bindparam("version_id"),
    objects.c.is_latest == False,  # noqa: E712
)


def lifecycles(tx: Tx) -> list[tuple[str, dict[str, object]]]:
    """Every bucket with lifecycle rules: (name, the stored configuration)."""
    return [(r.name, r.lifecycle) for r in tx.all(_LIFECYCLES) if isinstance(r.lifecycle, dict)]


def _bounded(statement: Select[tuple[object, ...]], prefix: str) -> Select[tuple[object, ...]]:
    # No upper bound when every key is above the prefix's (an empty prefix).
    return statement if prefix_end(prefix) is None else statement.where(_BELOW)


def _page(
    tx: Tx, statement: Select[tuple[object, ...]], bucket: str, prefix: str, **params: object
) -> list[Row]:
    high = prefix_end(prefix)
    values = {"bucket": bucket, "low": prefix, **params}
    if high is not None:
        values["high"] = high
    return tx.all(_bounded(statement, prefix), values)


def due_current(
    tx: Tx, bucket: str, prefix: str, cutoff: float, after: str, limit: int
) -> list[Row]:
    return _page(tx, _DUE_CURRENT, bucket, prefix, cutoff=cutoff, after=after, limit=limit)


def due_markers(tx: Tx, bucket: str, prefix: str, after: str, limit: int) -> list[Row]:
    return _page(tx, _LONE_MARKERS, bucket, prefix, after=after, limit=limit)


def due_noncurrent(
    tx: Tx, bucket: str, prefix: str, cutoff: float, keep: int, after: str, limit: int
) -> list[Row]:
    return _page(
        tx, _DUE_NONCURRENT, bucket, prefix, cutoff=cutoff, keep=keep, after=after, limit=limit
    )


def due_uploads(
    tx: Tx, bucket: str, prefix: str, cutoff: float, after: str, limit: int
) -> list[Row]:
    rows = tx.all(
        _DUE_UPLOADS,
        {"bucket": bucket, "low": prefix, "cutoff": cutoff, "after": after, "limit": limit},
    )
    return [r for r in rows if r.key.startswith(prefix)]


def expire_current(
    tx: Tx, bucket: str, key: str, version_id: str, now: float, gc_delay: float
) -> bool:
    lock_key(tx, bucket, key)
    if tx.scalar(_STILL_CURRENT, {"bucket": bucket, "key": key}) != version_id:
        return False  # overwritten or deleted meanwhile
    delete_version(tx, bucket, key, None, None, now, gc_delay)
    return True


def _expire_version(
    still: Select[tuple[object, ...]],
) -> Callable[[Tx, str, str, str, float, float], bool]:
    """An action deleting one version by its id while ``still`` finds it as it was found."""

    def expire(tx: Tx, bucket: str, key: str, version_id: str, now: float, gc_delay: float) -> bool:
        lock_key(tx, bucket, key)
        if tx.scalar(still, {"bucket": bucket, "key": key, "version_id": version_id}) is None:
            return False  # changed meanwhile (deleted, current again, or no longer alone)
        delete_version(tx, bucket, key, version_id, None, now, gc_delay)
        return True

    return expire


expire_noncurrent = _expire_version(_STILL_NONCURRENT)
expire_marker = _expire_version(_STILL_LONE_MARKER)
