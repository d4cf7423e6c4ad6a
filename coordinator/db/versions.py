"""Building blocks of a version commit, shared by CommitObject and CompleteMultipartUpload.

Layer: coordinator database package; every function runs inside the caller's transaction.
Contract:

* ``take_pending`` finds the write intent of a commit (``ConflictError`` if it is unknown or
  already expired, since then its chunks may be collected already: the client must write
  again);
* ``check_part`` validates a committed part against its grant: contiguous segments covering
  the part, k+m fragments per segment on k+m distinct disks, and only chunks granted to this
  write (so every committed chunk was recorded in an intent and can be collected later);
* ``lock_key`` makes transactions that change one key's current version wait in line
  (PostgreSQL), before they read it;
* ``check_conditions`` evaluates If-Match / If-None-Match against the current version inside
  the commit's transaction, so the check and the commit are atomic;
* ``replace_current`` retires the current version of a key when a new one becomes latest. In
  an unversioned bucket the old version is removed and its chunks are queued for GC after
  ``gc_delay`` (reads that fetched the old manifest just before the commit can finish).
  Versioned buckets will demote it instead (``is_latest`` false) once versioning arrives.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

from sqlalchemy import delete, func, select, true
from sqlalchemy.ext.asyncio import AsyncSession

from wormfs.coordinator.db.gc import enqueue_part_chunks
from wormfs.coordinator.db.models import ObjectVersion, Part, PendingWrite
from wormfs.errors import (
    ConflictError,
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


async def take_pending(session: AsyncSession, write_id: str) -> PendingWrite:
    pending = await session.get(PendingWrite, write_id)
    if pending is None:
        raise ConflictError(
            f"write {write_id!r} is unknown or expired; its data may be collected, write again"
        )
    return pending


def granted_chunks(pending: PendingWrite) -> set[tuple[str, str]]:
    return {(p["chunk_id"], p["disk_id"]) for p in pending.placements}


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


async def lock_key(session: AsyncSession, bucket: str, key: str) -> None:
    """Serialise the transactions that change one key's current version (PostgreSQL).

    Without it, concurrent commits to one key all read the same current version and all but
    one meet ``uq_objects_latest`` and re-run (``retry_races``), over and over under a burst
    of overwrites. A transaction-scoped advisory lock on a hash of (bucket, key) makes them
    wait in line instead; it is released at COMMIT. (Two keys sharing a hash only wait for
    each other.) SQLite runs one writer at a time anyway.
    """
    if session.get_bind().dialect.name == "postgresql":
        await session.execute(select(func.pg_advisory_xact_lock(_key_lock_id(bucket, key))))


async def current_version(session: AsyncSession, bucket: str, key: str) -> ObjectVersion | None:
    result = await session.scalars(
        select(ObjectVersion).where(
            ObjectVersion.bucket == bucket,
            ObjectVersion.key == key,
            ObjectVersion.is_latest == true(),
        )
    )
    return result.first()


def _etag_matches(condition: str, etag: str) -> bool:
    wanted = {strip_etag(v) for v in condition.split(",") if v.strip()}
    return "*" in wanted or strip_etag(etag) in wanted


def check_conditions(
    current: ObjectVersion | None, if_match: str | None, if_none_match: str | None
) -> None:
    """AWS conditional writes: If-None-Match "*" fails if the key exists; If-Match fails
    (412) on another ETag and (404) when there is no current object."""
    live = current if current is not None and not current.is_delete_marker else None
    if if_none_match is not None:
        if if_none_match.strip() != "*":
            raise InvalidInputError('only If-None-Match: "*" is supported on writes')
        if live is not None:
            raise PreconditionFailedError("an object exists at this key (If-None-Match: *)")
    if if_match is not None:
        if live is None:
            raise NoSuchKeyError("no current object to match (If-Match)")
        if not _etag_matches(if_match, live.etag):
            raise PreconditionFailedError(f"the current ETag is {live.etag} (If-Match)")


async def retire_versions(
    session: AsyncSession, versions: Iterable[ObjectVersion], now: float, gc_delay: float
) -> None:
    """Remove versions and queue their chunks (collected after ``gc_delay``)."""
    ids = [v.id for v in versions]
    if not ids:
        return
    await enqueue_part_chunks(session, Part.object_id.in_(ids), now, now + gc_delay)
    # parts, segments and placements go with the version (ON DELETE CASCADE).
    await session.execute(delete(ObjectVersion).where(ObjectVersion.id.in_(ids)))


async def replace_current(
    session: AsyncSession, current: ObjectVersion | None, now: float, gc_delay: float
) -> None:
    """Retire the current version before a new one becomes latest (unversioned buckets)."""
    if current is not None:
        await retire_versions(session, [current], now, gc_delay)
        await session.flush()
