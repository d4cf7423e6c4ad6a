"""Listing of current object versions and of multipart uploads, in SQL, page by page.

Layer: coordinator database package. Contract (S3's ListObjectsV2 and ListMultipartUploads):

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
* one read transaction per page, so a page is one consistent snapshot. Object listings run
  as plain SQL in one hop (``db/direct.py``); upload listings through the ORM. Both share
  one walk, a generator that asks for batches and is driven by either.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Generator
from dataclasses import dataclass, field
from typing import Generic, TypeVar, cast

from sqlalchemy import ColumnElement, and_, select, tuple_

from wormfs.coordinator.db.convert import require_bucket, upload_info
from wormfs.coordinator.db.database import Database
from wormfs.coordinator.db.direct import Sql
from wormfs.coordinator.db.models import Upload
from wormfs.errors import InvalidInputError, NoSuchBucketError
from wormfs.wire.coordinator import ObjectList, ObjectSummary, UploadList

MAX_PAGE = 1000
BATCH = MAX_PAGE + 1  # a full page and one row to tell whether it is truncated
ROLLUP_BATCH = 16  # the smallest batch, after batches spent inside big common prefixes
R = TypeVar("R")
B = TypeVar("B")  # how a listing says "rows past here": SQL text or an ORM clause


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
class _Walk(Generic[R]):
    items: list[R] = field(default_factory=list)
    prefixes: list[str] = field(default_factory=list)
    truncated: bool = False
    last_prefix: str | None = None  # set when the last thing returned was a common prefix


# A walk asks for batches: (bound, how many rows); it is sent the rows and returns the page.
Steps = Generator[tuple[B | None, int], list[R], _Walk[R]]


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
    ``bound`` — and is sent the rows, so that one walk serves a synchronous (plain SQL) and
    an asynchronous (ORM) reader. ``after(row)`` is the bound past a row, ``seek(key)`` the
    bound "from ``key`` on".

    Rows come in batches in key order. Keys under the common prefix just returned are skipped
    where they stand (cheap while prefixes are small: many small "directories" cost no extra
    query); a batch that ends inside a common prefix goes on with a seek past it, so a big
    prefix costs one seek. Batch sizes adapt: a batch whose tail was mostly skipped keys (a big
    prefix, perhaps one of many) makes the next one smaller, so the waste per big prefix stays
    bounded; a useful batch lets the next grow. Each batch asks for one row more than the page
    still needs, so a page usually learns whether it is truncated without another query.
    """
    out: _Walk[R] = _Walk()
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


def _run(steps: Steps[B, R], fetch: Callable[[B | None, int], list[R]]) -> _Walk[R]:
    try:
        request = next(steps)
        while True:
            request = steps.send(fetch(*request))
    except StopIteration as done:
        return cast(_Walk[R], done.value)


async def _run_async(
    steps: Steps[B, R], fetch: Callable[[B | None, int], Awaitable[list[R]]]
) -> _Walk[R]:
    try:
        request = next(steps)
        while True:
            request = steps.send(await fetch(*request))
    except StopIteration as done:
        return cast(_Walk[R], done.value)


# ---- objects (plain SQL, one hop: see db/direct.py) -------------------------------------------
# An objects bound: (">" or ">=", key). "= TRUE"/"= FALSE", not bare booleans: equalities keep
# the scan on ix_objects_listing (bucket, is_latest, is_delete_marker, key) in key order.
KeyBound = tuple[str, str]
_SUMMARY = (
    "SELECT key, size, etag, last_modified, owner_id, storage_class, version_id, "
    "checksum_algorithm FROM objects "
    "WHERE bucket = ? AND is_latest = TRUE AND is_delete_marker = FALSE"
)

# key, size, etag, last_modified, owner_id, storage_class, version_id, checksum_algorithm
SummaryRow = tuple[str, int, str, float, str, str, str, "str | None"]


def _object_page(
    sql: Sql,
    bucket: str,
    start: KeyBound | None,
    upper: str | None,
    prefix: str,
    delimiter: str,
    limit: int,
) -> _Walk[SummaryRow]:
    if sql.one("SELECT 1 FROM buckets WHERE name = ?", bucket) is None:
        raise NoSuchBucketError(f"bucket {bucket!r} does not exist")

    def fetch(bound: KeyBound | None, n: int) -> list[SummaryRow]:
        query, params = _SUMMARY, [bucket]
        if bound is not None:
            query += f" AND key {bound[0]} ?"
            params.append(bound[1])
        if upper is not None:
            query += " AND key < ?"
            params.append(upper)
        rows = sql.all(query + " ORDER BY key LIMIT ?", *params, n)
        return cast(list[SummaryRow], rows)

    if not limit:
        return _Walk()
    steps: Steps[KeyBound, SummaryRow] = _walk(
        key_of=lambda row: row[0],
        after=lambda row: (">", row[0]),
        seek=lambda key: (">=", key),
        start=start,
        prefix=prefix,
        delimiter=delimiter,
        limit=limit,
    )
    return _run(steps, fetch)


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
    walk = await db.direct_read(
        lambda sql: _object_page(sql, bucket, start, upper, prefix, delimiter, limit)
    )
    objects = [
        ObjectSummary(
            key=key,
            size=size,
            etag=etag,
            last_modified=last_modified,
            owner_id=owner_id,
            storage_class=storage_class,
            version_id=version_id,
            checksum_algorithm=checksum_algorithm,
        )
        for (
            key,
            size,
            etag,
            last_modified,
            owner_id,
            storage_class,
            version_id,
            checksum_algorithm,
        ) in walk.items
    ]
    next_marker = None
    if walk.truncated:
        next_marker = walk.last_prefix if walk.last_prefix is not None else objects[-1].key
    return ObjectList(
        objects=objects,
        common_prefixes=walk.prefixes,
        is_truncated=walk.truncated,
        next_marker=next_marker,
    )


# ---- multipart uploads ------------------------------------------------------------------------
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
    start: ColumnElement[bool] | None = Upload.key >= prefix if prefix else None
    if key_marker:
        if upload_id_marker:
            start = tuple_(Upload.key, Upload.upload_id) > tuple_(key_marker, upload_id_marker)
        else:
            start = Upload.key > key_marker
        if _is_common_prefix(key_marker, prefix, delimiter):
            end = prefix_end(key_marker)
            if end is None:
                return UploadList(uploads=[], common_prefixes=[], is_truncated=False)
            start = Upload.key >= end
        if prefix and key_marker < prefix:
            start = Upload.key >= prefix

    async with db.read() as session:
        await require_bucket(session, bucket)

        async def fetch(bound: ColumnElement[bool] | None, n: int) -> list[Upload]:
            query = select(Upload).where(Upload.bucket == bucket)
            if bound is not None:
                query = query.where(bound)
            if upper is not None:
                query = query.where(Upload.key < upper)
            result = await session.scalars(query.order_by(Upload.key, Upload.upload_id).limit(n))
            return list(result)

        walk: _Walk[Upload] = _Walk()
        if limit:
            steps: Steps[ColumnElement[bool], Upload] = _walk(
                key_of=lambda u: u.key,
                after=lambda u: and_(
                    tuple_(Upload.key, Upload.upload_id) > tuple_(u.key, u.upload_id)
                ),
                seek=lambda key: Upload.key >= key,
                start=start,
                prefix=prefix,
                delimiter=delimiter,
                limit=limit,
            )
            walk = await _run_async(steps, fetch)

    uploads = [upload_info(u) for u in walk.items]
    next_key = next_upload = None
    if walk.truncated:
        if walk.last_prefix is not None:
            next_key = walk.last_prefix
        else:
            next_key, next_upload = uploads[-1].key, uploads[-1].upload_id
    return UploadList(
        uploads=uploads,
        common_prefixes=walk.prefixes,
        is_truncated=walk.truncated,
        next_key_marker=next_key,
        next_upload_id_marker=next_upload,
    )
