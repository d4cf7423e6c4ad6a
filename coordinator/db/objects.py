"""Objects: begin a write, commit a version, read a manifest, delete.

Layer: coordinator database package. Contract, each operation one transaction:

* ``begin_write`` checks the bucket (and, for a part, the upload), cuts ``size`` into
  segments of ``coding.segment_size``, places each segment on k+m disks and records the write
  intent with every granted chunk; the grant's profile is today's config for a plain PUT and
  the upload's stored profile for a part.
* ``commit`` turns a granted write into the bucket's current version atomically: the intent is
  removed, the conditions are checked, the replaced version's chunks go into the gc queue and
  the new version becomes latest, all in one commit (readers see the old or the new version,
  never a mixture). The profile stored is the one in the request. A failed condition drops
  the intent at once (its chunks are queued) since that write can never commit.
* ``get`` returns the manifest of the current (or a given) version; ``delete`` removes the
  current (or a given) version, queueing its chunks; deleting a missing key succeeds.

Commits and deletes that lose a race on PostgreSQL (two commits to one key meet on the
one-latest-version unique index) are re-run whole by ``retry_races``.
"""

from __future__ import annotations

import time

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from wormfs.config import CodingConfig
from wormfs.coordinator.db.cluster import placement_candidates
from wormfs.coordinator.db.convert import (
    disk_locations,
    manifest,
    manifest_of,
    part_record,
    part_row,
    profile_from_json,
    profile_to_json,
    require_bucket,
    require_upload,
)
from wormfs.coordinator.db.database import Database, retry_races
from wormfs.coordinator.db.gc import abandon_write
from wormfs.coordinator.db.models import ObjectVersion, PendingWrite
from wormfs.coordinator.db.versions import (
    MAX_PART_NUMBER,
    check_conditions,
    check_part,
    current_version,
    granted_chunks,
    lock_key,
    replace_current,
    retire_versions,
    take_pending,
)
from wormfs.coordinator.naming import check_key
from wormfs.coordinator.placement import place_segments
from wormfs.errors import (
    EntityTooLargeError,
    InvalidInputError,
    NoSuchKeyError,
    NoSuchUploadError,
    PreconditionFailedError,
)
from wormfs.ids import new_id, new_version_id
from wormfs.layout import split_lengths
from wormfs.wire.coordinator import (
    BeginWrite,
    ChunkPlacement,
    CommitObject,
    DeleteResult,
    ObjectManifest,
    Segment,
    WriteGrant,
)

NULL_VERSION = "null"
MAX_OBJECT_SIZE = 5 * 1024**4  # 5 TiB, S3's largest object
# A write intent lives at least ``gc_delay`` and longer for big writes, assuming the writer
# moves at least this many bytes per second; a slow but live upload must not be collected.
MIN_WRITE_RATE = 1024 * 1024


class Objects:
    def __init__(
        self, db: Database, coding: CodingConfig, gc_delay: float, offline_after: float
    ) -> None:
        self._db = db
        self._coding = coding
        self._gc_delay = gc_delay
        self._offline_after = offline_after

    async def begin_write(self, req: BeginWrite) -> WriteGrant:
        check_key(req.key)
        if req.size < 0:
            raise InvalidInputError("size must not be negative")
        if req.size > MAX_OBJECT_SIZE:
            raise EntityTooLargeError(f"{req.size} bytes is more than {MAX_OBJECT_SIZE}")
        if req.upload_id is not None and not 1 <= req.part_number <= MAX_PART_NUMBER:
            raise InvalidInputError(f"part numbers are 1..{MAX_PART_NUMBER}")
        now = time.time()
        write_id = new_id()
        version_id = new_version_id()
        segment_size = self._coding.segment_size
        lengths = split_lengths(req.size, segment_size)
        async with self._db.write() as session:
            await require_bucket(session, req.bucket)
            profile = self._coding.profile
            if req.upload_id is not None:
                upload = await require_upload(session, req.upload_id)
                if upload.bucket != req.bucket or upload.key != req.key:
                    raise NoSuchUploadError(
                        f"upload {req.upload_id!r} is not for {req.bucket}/{req.key}"
                    )
                profile = profile_from_json(upload.profile)
            candidates = await placement_candidates(session, now, self._offline_after)
            placed = place_segments(candidates, lengths, profile, seed=write_id)
            segments: list[Segment] = []
            offset = 0
            for index, (length, disks) in enumerate(zip(lengths, placed, strict=True)):
                chunks = [
                    ChunkPlacement(
                        fragment_index=fragment,
                        chunk_id=new_id(),
                        disk_id=disk.disk_id,
                        node_id=disk.node_id,
                        node_address=disk.node_address,
                    )
                    for fragment, disk in enumerate(disks)
                ]
                segments.append(
                    Segment(segment_index=index, offset=offset, length=length, chunks=chunks)
                )
                offset += length
            session.add(
                PendingWrite(
                    write_id=write_id,
                    version_id=version_id,
                    bucket=req.bucket,
                    key=req.key,
                    upload_id=req.upload_id,
                    part_number=req.part_number,
                    size=req.size,
                    created=now,
                    expires_at=now + self._gc_delay + req.size / MIN_WRITE_RATE,
                    placements=[
                        {"chunk_id": c.chunk_id, "disk_id": c.disk_id, "node_id": c.node_id}
                        for s in segments
                        for c in s.chunks
                    ],
                )
            )
        return WriteGrant(
            write_id=write_id,
            version_id=version_id,
            profile=profile,
            segment_size=segment_size,
            segments=segments,
        )

    async def commit(self, req: CommitObject) -> ObjectManifest:
        try:
            return await self._commit(req)
        except (PreconditionFailedError, NoSuchKeyError):
            async with self._db.write() as session:
                await abandon_write(session, req.write_id, time.time())
            raise

    @retry_races
    async def _commit(self, req: CommitObject) -> ObjectManifest:
        if sum(p.size for p in req.parts) != req.size:
            raise InvalidInputError("the parts' sizes do not add up to the object's size")
        numbers = [p.part_number for p in req.parts]
        if numbers != sorted(set(numbers)):
            raise InvalidInputError("parts must have ascending, distinct part numbers")
        now = time.time()
        async with self._db.write() as session:
            pending = await take_pending(session, req.write_id)
            if pending.upload_id is not None or (
                pending.bucket,
                pending.key,
                pending.version_id,
            ) != (req.bucket, req.key, req.version_id):
                raise InvalidInputError(
                    f"write {req.write_id!r} was granted for another object or for a part"
                )
            if pending.size != req.size:
                raise InvalidInputError(
                    f"write was granted for {pending.size} bytes, not {req.size}"
                )
            await require_bucket(session, req.bucket)
            granted = granted_chunks(pending)
            for record in req.parts:
                check_part(record, req.profile, granted)
            await lock_key(session, req.bucket, req.key)
            current = await current_version(session, req.bucket, req.key)
            check_conditions(current, req.if_match, req.if_none_match)
            await replace_current(session, current, now, self._gc_delay)
            checksum = req.checksum
            obj = ObjectVersion(
                bucket=req.bucket,
                key=req.key,
                version_id=req.version_id,
                is_latest=True,
                is_delete_marker=False,
                size=req.size,
                etag=req.etag,
                content_type=req.content_type,
                user_metadata=dict(req.user_metadata),
                system_metadata=dict(req.system_metadata),
                checksum_algorithm=checksum.algorithm if checksum else None,
                checksum_value=checksum.value if checksum else None,
                checksum_type=checksum.type if checksum else None,
                profile=profile_to_json(req.profile),
                storage_class=req.storage_class,
                owner_id=req.owner_id,
                created=now,
                last_modified=now,
                state="committed",
                parts=[part_row(p, now) for p in req.parts],
            )
            session.add(obj)
            await session.delete(pending)
            await session.flush()
            locations = await disk_locations(
                session, (c.disk_id for p in req.parts for s in p.segments for c in s.chunks)
            )
            return manifest(obj, [part_record(p, locations) for p in obj.parts])

    async def get(self, bucket: str, key: str, version_id: str | None = None) -> ObjectManifest:
        check_key(key)
        async with self._db.read() as session:
            await require_bucket(session, bucket)
            obj = await self._find(session, bucket, key, version_id)
            if obj is None or (version_id in (None, NULL_VERSION) and obj.is_delete_marker):
                what = f"version {version_id!r} of " if version_id else ""
                raise NoSuchKeyError(f"no {what}object {key!r} in bucket {bucket!r}")
            return await manifest_of(session, obj)

    @retry_races
    async def delete(self, bucket: str, key: str, version_id: str | None = None) -> DeleteResult:
        check_key(key)
        now = time.time()
        async with self._db.write() as session:
            await require_bucket(session, bucket)
            await lock_key(session, bucket, key)
            obj = await self._find(session, bucket, key, version_id)
            if obj is None:
                return DeleteResult(version_id=version_id)
            was_latest = obj.is_latest
            await retire_versions(session, [obj], now, self._gc_delay)
            if was_latest and version_id is not None:
                # Deleting the current version by id makes the next newest one current
                # (version ids are time-ordered).
                newest = (
                    await session.scalars(
                        select(ObjectVersion)
                        .where(ObjectVersion.bucket == bucket, ObjectVersion.key == key)
                        .order_by(ObjectVersion.version_id.desc())
                        .limit(1)
                    )
                ).first()
                if newest is not None:
                    newest.is_latest = True
        return DeleteResult(version_id=version_id)

    @staticmethod
    async def _find(
        session: AsyncSession, bucket: str, key: str, version_id: str | None
    ) -> ObjectVersion | None:
        # Without versioning every object is S3's "null" version, i.e. the current one.
        if version_id is None or version_id == NULL_VERSION:
            return await current_version(session, bucket, key)
        result = await session.scalars(
            select(ObjectVersion).where(
                ObjectVersion.bucket == bucket,
                ObjectVersion.key == key,
                ObjectVersion.version_id == version_id,
            )
        )
        return result.first()
