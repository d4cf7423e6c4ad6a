"""Building blocks of a version commit, shared by CommitObject and CompleteMultipartUpload.

Layer: coordinator database package; every function runs inside the caller's transaction.
Contract:

* ``check_part`` validates a committed part against its grant: contiguous segments covering
  the part, k+m fragments per segment on k+m distinct disks, and only chunks granted to this
  write (so every committed chunk was recorded in an intent and can be collected later);
* ``make_room`` (plain SQL, ``wormfs.coordinator.db.direct``; ``make_room_in`` from an ORM
  transaction) prepares a key for its next current version: ``lock_key`` makes transactions
  that change one key's current version wait in line (PostgreSQL), ``check_conditions``
  evaluates If-Match / If-None-Match against the current version inside the commit's
  transaction, so the check and the commit are atomic, and ``retire_version`` removes the
  old version and queues its chunks for GC after ``gc_delay`` (reads that fetched the old
  manifest just before the commit can finish). Versioned buckets will demote it instead
  (``is_latest`` false) once versioning arrives.
"""

from __future__ import annotations

import hashlib
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from wormfs.coordinator.db.direct import Sql, in_session
from wormfs.errors import (
    InvalidInputError,
    NoSuchKeyError,
    PreconditionFailedError,
)
from wormfs.layout import Profile
from wormfs.wire.coordinator import PartRecord

MAX_PART_NUMBER = 10_000


def strip_etag(etag: str) -> str:
    """An ETag without quotes or a weak prefix, for comparisons."""
    value = etag.strip()
    if value.startswith("W/"):
        value = value[2:]
    return value.strip('"')


def check_part(record: PartRecord, profile: Profile, granted: set[tuple[str, str]]) -> None:
    """Raise ``InvalidInputError`` unless ``record`` is a well-formed part of this grant."""
    where = f"part {record.part_number}"
    if not 1 <= record.part_number <= MAX_PART_NUMBER:
        raise InvalidInputError(f"{where}: part numbers are 1..{MAX_PART_NUMBER}")
    if record.size < 0 or not record.etag:
        raise InvalidInputError(f"{where}: needs a size >= 0 and an ETag")
    offset = 0
    for index, seg in enumerate(record.segments):
        if seg.segment_index != index or seg.offset != offset or seg.length <= 0:
            raise InvalidInputError(
                f"{where}: segment {index} must have index {index}, start at byte {offset} "
                "and hold at least one byte"
            )
        offset += seg.length
        if sorted(c.fragment_index for c in seg.chunks) != list(range(profile.n)):
            raise InvalidInputError(f"{where}: segment {index} needs fragments 0..{profile.n - 1}")
        if len({c.disk_id for c in seg.chunks}) != profile.n:
            raise InvalidInputError(f"{where}: segment {index} puts two chunks on one disk")
        for c in seg.chunks:
            if (c.chunk_id, c.disk_id) not in granted:
                raise InvalidInputError(
                    f"{where}: chunk {c.chunk_id} on disk {c.disk_id} was not granted to this write"
                )
    if offset != record.size:
        raise InvalidInputError(f"{where}: segments cover {offset} bytes of {record.size}")


def _key_lock_id(bucket: str, key: str) -> int:
    digest = hashlib.blake2b(f"{bucket}\0{key}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)  # PostgreSQL's bigint


def lock_key(sql: Sql, bucket: str, key: str) -> None:
    """Serialise the transactions that change one key's current version (PostgreSQL).

    Without it, concurrent commits to one key all read the same current version and all but
    one meet ``uq_objects_latest`` and re-run (``retry_races``), over and over under a burst
    of overwrites. A transaction-scoped advisory lock on a hash of (bucket, key) makes them
    wait in line instead; it is released at COMMIT. (Two keys sharing a hash only wait for
    each other.) SQLite runs one writer at a time anyway.
    """
    if sql.dialect == "postgresql":
        sql.one("SELECT pg_advisory_xact_lock(?)", _key_lock_id(bucket, key))


def _etag_matches(condition: str, etag: str) -> bool:
    wanted = {strip_etag(v) for v in condition.split(",") if v.strip()}
    return "*" in wanted or strip_etag(etag) in wanted


def check_conditions(
    live_etag: str | None, if_match: str | None, if_none_match: str | None
) -> None:
    """AWS conditional writes against the current object's ETag (None: no live object,
    a delete marker included): If-None-Match "*" fails if the key exists; If-Match fails
    (412) on another ETag and (404) when there is no current object."""
    if if_none_match is not None:
        if if_none_match.strip() != "*":
            raise InvalidInputError('only If-None-Match: "*" is supported on writes')
        if live_etag is not None:
            raise PreconditionFailedError("an object exists at this key (If-None-Match: *)")
    if if_match is not None:
        if live_etag is None:
            raise NoSuchKeyError("no current object to match (If-Match)")
        if not _etag_matches(if_match, live_etag):
            raise PreconditionFailedError(f"the current ETag is {live_etag} (If-Match)")


def queue_part_chunks(
    sql: Sql, where: str, params: tuple[Any, ...], now: float, not_before: float
) -> None:
    """Queue every chunk of the parts ``p`` matching ``where`` for GC (one INSERT ... SELECT)."""
    sql.run(
        "INSERT INTO gc_queue (chunk_id, disk_id, node_id, enqueued_at, not_before, attempts) "
        "SELECT c.chunk_id, c.disk_id, d.node_id, "
        "CAST(? AS DOUBLE PRECISION), CAST(? AS DOUBLE PRECISION), 0 "
        "FROM chunk_placements c JOIN segments s ON s.id = c.segment_id "
        "JOIN parts p ON p.id = s.part_id JOIN disks d ON d.disk_id = c.disk_id "
        f"WHERE {where}",
        now,
        not_before,
        *params,
    )


def retire_version(sql: Sql, object_id: int, now: float, gc_delay: float) -> None:
    """Remove a version and queue its chunks (collected after ``gc_delay``); its parts,
    segments, placements and inline bytes go with it (ON DELETE CASCADE)."""
    queue_part_chunks(sql, "p.object_id = ?", (object_id,), now, now + gc_delay)
    sql.run("DELETE FROM objects WHERE id = ?", object_id)


def make_room(
    sql: Sql,
    bucket: str,
    key: str,
    if_match: str | None,
    if_none_match: str | None,
    now: float,
    gc_delay: float,
) -> None:
    """Before a new version of ``key`` becomes latest: wait for the key's lock, check the
    write's conditions against the current version inside this transaction (so the check
    and the commit are atomic), and retire the current version (unversioned buckets; reads
    that fetched its manifest just before can finish within ``gc_delay``)."""
    lock_key(sql, bucket, key)
    row = sql.one(
        "SELECT id, etag, is_delete_marker FROM objects "
        "WHERE bucket = ? AND key = ? AND is_latest",  # bare: see manifests._CURRENT
        bucket,
        key,
    )
    live_etag = row[1] if row is not None and not row[2] else None
    check_conditions(live_etag, if_match, if_none_match)
    if row is not None:
        retire_version(sql, int(row[0]), now, gc_delay)


async def make_room_in(
    session: AsyncSession,
    bucket: str,
    key: str,
    if_match: str | None,
    if_none_match: str | None,
    now: float,
    gc_delay: float,
) -> None:
    """``make_room`` inside an ORM transaction (CompleteMultipartUpload)."""
    await in_session(
        session, lambda sql: make_room(sql, bucket, key, if_match, if_none_match, now, gc_delay)
    )
