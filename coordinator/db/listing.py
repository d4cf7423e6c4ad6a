"""Listing of current object versions, of all versions and of multipart uploads, in SQL,
page by page.

Layer: coordinator database package. Contract (S3's ListObjectsV2, ListObjectVersions and
ListMultipartUploads):

* keys in UTF-8 byte order; ``prefix`` is matched with range comparisons
  (``prefix <= key < prefix_end(prefix)``), never LIKE, so ``%`` and ``_`` in keys are plain
  characters;
* with a ``delimiter``, keys that contain it after the prefix are rolled up into one common
  prefix each. Roll-up never loads a whole listing: the walk reads bounded batches in key
  order, passes over the keys under a common prefix it just emitted, and when a batch ends
  inside one, seeks past every key under it (``key >= prefix_end(common_prefix)``), so a
  common prefix over a million keys costs one index seek;
* common prefixes and keys together count against ``max_keys`` (capped at 1000); when a page
  is truncated, ``next_marker`` is the last key or common prefix returned, and a
  ``start_after`` equal to a returned common prefix continues after all keys under it;
* versions come key by key, each key's newest first (version ids are time-ordered), delete
  markers included; a page goes on from (key marker, version id marker), where the marker
  ``"null"`` names the key's null version (``db/versioning.py``);
* one read transaction per page, so a page is one consistent snapshot. Both listings share
  one walk, a generator that asks for batches of rows past a bound; each listing's bounds
  pick one of a few prepared statements (``_OBJECT_BATCHES``, ``_UPLOAD_BATCHES``).
  ``walk_keys`` (over statements made by ``key_batches``) is the object listing's walk,
  shared with the file namespace's directory pages (``db/namespace.py``).
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, Literal, TypeVar, cast

from sqlalchemy import ColumnElement, Select, and_, bindparam, or_, select, true, tuple_

from wormfs.coordinator.db.convert import require_bucket, upload_from_row
from wormfs.coordinator.db.database import Database
from wormfs.coordinator.db.tables import objects, uploads
from wormfs.coordinator.db.tx import Row, Tx
from wormfs.coordinator.db.versioning import (
    NULL_VERSION,
    Versioning,
    bucket_versioning,
    s3_version_id,
)
from wormfs.errors import InvalidInputError
from wormfs.wire.coordinator import (
    ObjectList,
    ObjectSummary,
    UploadList,
    VersionList,
    VersionSummary,
)

MAX_PAGE = 1000
BATCH = MAX_PAGE + 1  # a full page and one row to tell whether it is truncated
ROLLUP_BATCH = 16  # the smallest batch, after batches spent inside big common prefixes
R = TypeVar("R")
B = TypeVar("B")  # how a listing says "rows past here"


def prefix_end(prefix: str) -> str | None:
    """The least string above every string that starts with ``prefix``; None if unbounded.

    Code point order is UTF-8 byte order, so bumping the last code point (skipping the
    surrogate range, which UTF-8 cannot hold) gives the bound. ``"a/"`` -> ``"a0"``.
    """
    chars = list(prefix)
    while chars:
        bumped = ord(chars.pop()) + 1
        if 0xD800 <= bumped <= 0xDFFF:
            bumped = 0xE000
        if bumped <= 0x10FFFF:
            return "".join(chars) + chr(bumped)
    return None


def _is_common_prefix(marker: str, prefix: str, delimiter: str) -> bool:
    """True if ``marker`` is exactly a common prefix that a listing could have returned."""
    if not delimiter or not marker.startswith(prefix):
        return False
    rest = marker[len(prefix) :]
    found = rest.find(delimiter)
    return found >= 0 and found + len(delimiter) == len(rest)


def _page_size(value: int, what: str) -> int:
    if value < 0:
        raise InvalidInputError(f"{what} must not be negative")
    return min(value, MAX_PAGE)


@dataclass
class Walk(Generic[R]):
    """A page of a walk: the rows kept and the common prefixes, each in key order."""

    items: list[R] = field(default_factory=list)
    prefixes: list[str] = field(default_factory=list)
    truncated: bool = False
    last_prefix: str | None = None  # set when the last thing returned was a common prefix


# A walk asks for batches: (bound, how many rows); it is sent the rows and returns the page.
Steps = Generator[tuple[B | None, int], list[R], Walk[R]]


def _walk(
    key_of: Callable[[R], str],
    after: Callable[[R], B],
    seek: Callable[[str], B],
    start: B | None,
    prefix: str,
    delimiter: str,
    limit: int,
) -> Steps[B, R]:
    """The roll-up walk shared by both listings (see the module docstring), as a generator
    that yields each batch it needs — ``(bound, n)``: up to ``n`` rows in key order, past
    ``bound`` — and is sent the rows. ``after(row)`` is the bound past a row, ``seek(key)``
    the bound "from ``key`` on".

    Rows come in batches in key order. Keys under the common prefix just returned are skipped
    where they stand (cheap while prefixes are small: many small "directories" cost no extra
    query); a batch that ends inside a common prefix goes on with a seek past it, so a big
    prefix costs one seek. Batch sizes adapt: a batch whose tail was mostly skipped keys (a big
    prefix, perhaps one of many) makes the next one smaller, so the waste per big prefix stays
    bounded; a useful batch lets the next grow. Each batch asks for one row more than the page
    still needs, so a page usually learns whether it is truncated without another query.
    """
    out: Walk[R] = Walk()
    bound = start
    count = 0
    skipping: str | None = None  # the last common prefix returned: its keys are passed over
    batch = BATCH
    while True:
        # Without a delimiter every row is an entry: ask for what the page still needs (+1).
        # With one, rows under common prefixes are passed over, so rows are not entries.
        want = batch if delimiter else min(limit - count + 1, batch)
        rows = yield bound, want
        tail_skipped = 0
        for row in rows:
            key = key_of(row)
            if skipping is not None and key.startswith(skipping):
                tail_skipped += 1
                continue
            skipping = None
            if count == limit:
                out.truncated = True
                return out
            tail_skipped = 0
            count += 1
            rest = key[len(prefix) :]
            found = rest.find(delimiter) if delimiter else -1
            if found >= 0:
                skipping = prefix + rest[: found + len(delimiter)]
                out.prefixes.append(skipping)
                out.last_prefix = skipping
            else:
                out.items.append(row)
                out.last_prefix = None
        if len(rows) < want:
            return out  # the listing ends here
        if skipping is None:
            bound = after(rows[-1])
            batch = min(batch * 2, BATCH)
            continue
        end = prefix_end(skipping)
        if end is None:  # nothing can sort after this common prefix
            return out
        bound = seek(end)  # past every key under it
        if tail_skipped * 2 >= len(rows):
            batch = max(ROLLUP_BATCH, batch // 4)


def _run(steps: Steps[B, R], fetch: Callable[[B | None, int], Sequence[R]]) -> Walk[R]:
    try:
        request = next(steps)
        while True:
            request = steps.send(list(fetch(*request)))
    except StopIteration as done:
        return cast(Walk[R], done.value)


# ---- objects ---------------------------------------------------------------------------------
# A bound: (">" or ">=", key); ``upper``: keys below it only (a prefix's end).
KeyBound = tuple[Literal[">", ">="], str]
_SUMMARY = select(
    objects.c.key,
    objects.c.size,
    objects.c.etag,
    objects.c.last_modified,
    objects.c.owner_id,
    objects.c.storage_class,
    objects.c.version_id,
    objects.c.checksum_algorithm,
).where(
    # Equalities, not bare booleans: they keep the scan on ix_objects_listing (bucket,
    # is_latest, is_delete_marker, key) in key order.
    objects.c.bucket == bindparam("bucket"),
    objects.c.is_latest == true(),
    objects.c.is_delete_marker == False,  # noqa: E712 (a SQL comparison)
)


def key_batches(
    base: Select[Any],
    key: ColumnElement[str],
    order: Sequence[ColumnElement[Any]],
    ops: Sequence[str] = ("", ">", ">="),
) -> dict[tuple[str, bool], Select[Any]]:
    """A listing's batch statements, one per (bound operator in ``ops``, has upper bound)."""
    out = {}
    for op in ops:
        for upper in (False, True):
            query = base
            if op == ">":
                query = query.where(key > bindparam("bound"))
            elif op == ">=":
                query = query.where(key >= bindparam("bound"))
            if upper:
                query = query.where(key < bindparam("upper"))
            out[op, upper] = query.order_by(*order).limit(bindparam("n"))
    return out


_OBJECT_BATCHES = key_batches(_SUMMARY, objects.c.key, [objects.c.key])


def walk_keys(
    tx: Tx,
    batches: dict[tuple[str, bool], Select[Any]],
    bucket: str,
    start: KeyBound | None,
    upper: str | None,
    prefix: str,
    delimiter: str,
    limit: int,
) -> Walk[Row]:
    """One page of current versions (rows of ``batches``, made by ``key_batches`` over a
    statement on ``objects`` with a ``bucket`` parameter) rolled up at ``delimiter``: the
    walk of the object listing, and of the file namespace's directory pages."""

    def fetch(bound: KeyBound | None, n: int) -> Sequence[Row]:
        query = batches[bound[0] if bound else "", upper is not None]
        params = {"bucket": bucket, "bound": bound[1] if bound else None, "upper": upper, "n": n}
        return tx.all(query, params)

    if not limit:
        return Walk()
    steps: Steps[KeyBound, Row] = _walk(
        key_of=lambda row: cast(str, row.key),
        after=lambda row: (">", row.key),
        seek=lambda key: (">=", key),
        start=start,
        prefix=prefix,
        delimiter=delimiter,
        limit=limit,
    )
    return _run(steps, fetch)


def _object_page(
    tx: Tx,
    bucket: str,
    start: KeyBound | None,
    upper: str | None,
    prefix: str,
    delimiter: str,
    limit: int,
) -> Walk[Row]:
    require_bucket(tx, bucket)
    return walk_keys(tx, _OBJECT_BATCHES, bucket, start, upper, prefix, delimiter, limit)


async def list_objects(
    db: Database,
    bucket: str,
    prefix: str = "",
    delimiter: str = "",
    start_after: str = "",
    max_keys: int = MAX_PAGE,
) -> ObjectList:
    limit = _page_size(max_keys, "max_keys")
    upper = prefix_end(prefix) if prefix else None
    start: KeyBound | None = (">=", prefix) if prefix else None
    if start_after and start_after >= prefix:
        start = (">", start_after)
        if _is_common_prefix(start_after, prefix, delimiter):
            end = prefix_end(start_after)
            if end is None:
                return ObjectList(objects=[], common_prefixes=[], is_truncated=False)
            start = (">=", end)
    if upper is not None and start_after >= upper:
        return ObjectList(objects=[], common_prefixes=[], is_truncated=False)

    # One read transaction for the whole page: one snapshot.
    walk = await db.read(
        lambda tx: _object_page(tx, bucket, start, upper, prefix, delimiter, limit)
    )
    summaries = [
        ObjectSummary(
            key=r.key,
            size=r.size,
            etag=r.etag,
            last_modified=r.last_modified,
            owner_id=r.owner_id,
            storage_class=r.storage_class,
            version_id=r.version_id,
            checksum_algorithm=r.checksum_algorithm,
        )
        for r in walk.items
    ]
    next_marker = None
    if walk.truncated:
        next_marker = walk.last_prefix if walk.last_prefix is not None else summaries[-1].key
    return ObjectList(
        objects=summaries,
        common_prefixes=walk.prefixes,
        is_truncated=walk.truncated,
        next_marker=next_marker,
    )


# ---- listings of (key, id) pairs: all versions, uploads ----------------------------------------
# A bound: (">" or ">=", key, id); ">" with an id means past that (key, id) pair (later pairs
# of the key and every later key), ">" without one past the key.
PairBound = tuple[Literal[">", ">="], str, str]


def walk_pairs(
    tx: Tx,
    batches: dict[tuple[str, bool], Select[Any]],
    after_batches: dict[tuple[str, bool], Select[Any]],
    id_of: Callable[[Row], str],
    bucket: str,
    start: PairBound | None,
    upper: str | None,
    prefix: str,
    delimiter: str,
    limit: int,
) -> Walk[Row]:
    """One page of a listing of (key, id) pairs: ``batches`` by key bound (``key_batches``),
    ``after_batches`` past a (key, id) pair given as ``bound`` and ``bound_id``."""

    def fetch(bound: PairBound | None, n: int) -> Sequence[Row]:
        params = {"bucket": bucket, "upper": upper, "n": n, "bound": None, "bound_id": None}
        if bound is None:
            query = batches["", upper is not None]
        elif bound[0] == ">" and bound[2]:
            query = after_batches["", upper is not None]
            params.update(bound=bound[1], bound_id=bound[2])
        else:
            query = batches[bound[0], upper is not None]
            params["bound"] = bound[1]
        return tx.all(query, params)

    if not limit:
        return Walk()
    steps: Steps[PairBound, Row] = _walk(
        key_of=lambda row: cast(str, row.key),
        after=lambda row: (">", row.key, id_of(row)),
        seek=lambda key: (">=", key, ""),
        start=start,
        prefix=prefix,
        delimiter=delimiter,
        limit=limit,
    )
    return _run(steps, fetch)


_NOTHING = "nothing"  # a marker past which no key can sort: an empty page


def pair_start(
    prefix: str, delimiter: str, key_marker: str, id_marker: str
) -> PairBound | str | None:
    """Where a pair listing starts: past (key marker, id marker), past every key under a
    key marker that is a common prefix, or at the prefix; ``_NOTHING`` for an empty page."""
    start: PairBound | None = (">=", prefix, "") if prefix else None
    if key_marker:
        start = (">", key_marker, id_marker)
        if _is_common_prefix(key_marker, prefix, delimiter):
            end = prefix_end(key_marker)
            if end is None:
                return _NOTHING
            start = (">=", end, "")
        if prefix and key_marker < prefix:
            start = (">=", prefix, "")
    return start


def next_pair(walk: Walk[Row], last: tuple[str, str] | None) -> tuple[str | None, str | None]:
    """The (key, id) markers to go on from after a truncated page whose last pair was
    ``last``: the common prefix alone when the page ended with one."""
    if not walk.truncated:
        return None, None
    if walk.last_prefix is not None or last is None:
        return walk.last_prefix, None
    return last


# ---- all versions ---------------------------------------------------------------------------
# Ids are internal version ids; past (key, id) means the key's older versions, then later keys.
VersionBound = PairBound
_VERSIONS = select(
    objects.c.key,
    objects.c.version_id,
    objects.c.is_null,
    objects.c.is_latest,
    objects.c.is_delete_marker,
    objects.c.size,
    objects.c.etag,
    objects.c.last_modified,
    objects.c.owner_id,
    objects.c.storage_class,
    objects.c.checksum_algorithm,
).where(objects.c.bucket == bindparam("bucket"))
_VERSION_ORDER = [objects.c.key, objects.c.version_id.desc()]
_VERSION_BATCHES = key_batches(_VERSIONS, objects.c.key, _VERSION_ORDER)
_VERSION_BATCHES_AFTER = key_batches(
    _VERSIONS.where(
        or_(
            objects.c.key > bindparam("bound"),
            and_(objects.c.key == bindparam("bound"), objects.c.version_id < bindparam("bound_id")),
        )
    ),
    objects.c.key,
    _VERSION_ORDER,
    ops=("",),
)
_NULL_ID = select(objects.c.version_id).where(
    objects.c.bucket == bindparam("bucket"),
    objects.c.key == bindparam("key"),
    objects.c.is_null == True,  # noqa: E712 (a SQL comparison)
)


def _version_page(
    tx: Tx,
    bucket: str,
    start: VersionBound | None,
    upper: str | None,
    prefix: str,
    delimiter: str,
    limit: int,
    null_marker: bool,
) -> tuple[Walk[Row], Versioning]:
    require_bucket(tx, bucket)
    versioning = bucket_versioning(tx, bucket)
    if null_marker and start is not None:  # the marker names the key's null version
        internal = tx.scalar(_NULL_ID, {"bucket": bucket, "key": start[1]})
        start = (">", start[1], internal or "")
    walk = walk_pairs(
        tx,
        _VERSION_BATCHES,
        _VERSION_BATCHES_AFTER,
        lambda v: cast(str, v.version_id),
        bucket,
        start,
        upper,
        prefix,
        delimiter,
        limit,
    )
    return walk, versioning


async def list_versions(
    db: Database,
    bucket: str,
    prefix: str = "",
    delimiter: str = "",
    key_marker: str = "",
    version_id_marker: str = "",
    max_keys: int = MAX_PAGE,
) -> VersionList:
    """Versions by key, newest first within a key; ``version_id_marker`` counts only
    together with ``key_marker`` (S3 refuses it alone: the gateway's check)."""
    limit = _page_size(max_keys, "max_keys")
    upper = prefix_end(prefix) if prefix else None
    null_marker = bool(key_marker) and version_id_marker == NULL_VERSION
    start = pair_start(prefix, delimiter, key_marker, "" if null_marker else version_id_marker)
    if isinstance(start, str):
        return VersionList(versions=[], common_prefixes=[], is_truncated=False)
    # The null version's internal id is looked up only if the page starts past it.
    null_marker = null_marker and start is not None and start[0] == ">"
    walk, versioning = await db.read(
        lambda tx: _version_page(tx, bucket, start, upper, prefix, delimiter, limit, null_marker)
    )
    versions = [
        VersionSummary(
            key=v.key,
            version_id=s3_version_id(versioning, bool(v.is_null), v.version_id) or NULL_VERSION,
            is_latest=bool(v.is_latest),
            is_delete_marker=bool(v.is_delete_marker),
            size=v.size,
            etag=v.etag,
            last_modified=v.last_modified,
            owner_id=v.owner_id,
            storage_class=v.storage_class,
            checksum_algorithm=v.checksum_algorithm,
        )
        for v in walk.items
    ]
    last = (versions[-1].key, versions[-1].version_id) if versions else None
    next_key, next_version = next_pair(walk, last)
    return VersionList(
        versions=versions,
        common_prefixes=walk.prefixes,
        is_truncated=walk.truncated,
        next_key_marker=next_key,
        next_version_id_marker=next_version,
    )


# ---- multipart uploads ------------------------------------------------------------------------
UploadBound = PairBound
_UPLOADS = select(uploads).where(uploads.c.bucket == bindparam("bucket"))
_UPLOAD_ORDER = [uploads.c.key, uploads.c.upload_id]
_UPLOAD_BATCHES = key_batches(_UPLOADS, uploads.c.key, _UPLOAD_ORDER)
# Past (key, upload id): the bound is in the base statement, so no bound operator.
_UPLOAD_BATCHES_AFTER = key_batches(
    _UPLOADS.where(
        tuple_(uploads.c.key, uploads.c.upload_id)
        > tuple_(bindparam("bound"), bindparam("bound_id"))
    ),
    uploads.c.key,
    _UPLOAD_ORDER,
    ops=("",),
)


def _upload_page(
    tx: Tx,
    bucket: str,
    start: UploadBound | None,
    upper: str | None,
    prefix: str,
    delimiter: str,
    limit: int,
) -> Walk[Row]:
    require_bucket(tx, bucket)
    return walk_pairs(
        tx,
        _UPLOAD_BATCHES,
        _UPLOAD_BATCHES_AFTER,
        lambda u: cast(str, u.upload_id),
        bucket,
        start,
        upper,
        prefix,
        delimiter,
        limit,
    )


async def list_uploads(
    db: Database,
    bucket: str,
    prefix: str = "",
    delimiter: str = "",
    key_marker: str = "",
    upload_id_marker: str = "",
    max_uploads: int = MAX_PAGE,
) -> UploadList:
    """Uploads in (key, initiation) order; upload ids are time-ordered, so that is
    (key, upload_id) order. ``upload_id_marker`` counts only together with ``key_marker``."""
    limit = _page_size(max_uploads, "max_uploads")
    upper = prefix_end(prefix) if prefix else None
    start = pair_start(prefix, delimiter, key_marker, upload_id_marker)
    if isinstance(start, str):
        return UploadList(uploads=[], common_prefixes=[], is_truncated=False)
    walk = await db.read(
        lambda tx: _upload_page(tx, bucket, start, upper, prefix, delimiter, limit)
    )
    infos = [upload_from_row(u) for u in walk.items]
    last = (infos[-1].key, infos[-1].upload_id) if infos else None
    next_key, next_upload = next_pair(walk, last)
    return UploadList(
        uploads=infos,
        common_prefixes=walk.prefixes,
        is_truncated=walk.truncated,
        next_key_marker=next_key,
        next_upload_id_marker=next_upload,
    )
