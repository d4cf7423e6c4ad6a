"""Write grants and commits in plain SQL: the statements behind every chunked PUT and part.

Layer: coordinator database package; each public function is a synchronous operation of a
``Tx``, run whole in one transaction by ``Database.write``. The repositories (``Objects``,
``Uploads``) validate their input first and turn the results into answers. Contract:

* ``grant_write`` checks the bucket (and, for a part, the upload), picks the profile (the
  class asked for or the bucket's default, ``db/profiles.py``; a part: its upload's), places
  each segment on k+m disks and records the write intent with every granted chunk
  (``pending_writes``).
* ``take_intent`` reads a commit's intent (``ConflictError`` if it is unknown or expired:
  its chunks may be collected already) and removes it — in the commit's transaction.
* ``commit_version`` turns a granted write into the key's current version: the conditions
  are checked and the old version retired (``versions.make_room``), the version, its parts,
  segments and placements inserted. A failed condition (``PreconditionFailedError``, or
  ``NoSuchKeyError`` for If-Match without a current object) means that write can never
  commit: the same transaction drops its intent and queues its chunks, and the answer is
  ``Refused`` carrying the error for the caller to raise. A write of the mount (``fs``) must
  be based on the key's current version (``StaleVersionError``, refused the same way); its
  version keeps the file's inode, whose row takes the write's attributes, and its user
  metadata carries their s3fs projection.
* ``commit_upload_part`` stores a granted part of a multipart upload, replacing (and
  queueing the chunks of) an earlier upload of the same part number.
"""

from __future__ import annotations

from dataclasses import dataclass

from msgspec.structs import replace
from sqlalchemy import bindparam, delete, insert

from wormfs.config import CodingConfig
from wormfs.coordinator.db.convert import (
    disk_locations,
    require_bucket,
    require_upload,
)
from wormfs.coordinator.db.gc import DROP_INTENT, INTENT, queue_placements, queue_upload_chunks
from wormfs.coordinator.db.inodes import fs_attributes, put_inode
from wormfs.coordinator.db.liveness import disk_candidates
from wormfs.coordinator.db.lock_rules import locked_attributes
from wormfs.coordinator.db.profiles import Resolved, bucket_class, check_width, resolve
from wormfs.coordinator.db.tables import parts, pending_writes
from wormfs.coordinator.db.tx import Tx
from wormfs.coordinator.db.versioning import bucket_facts, written_s3_version_id
from wormfs.coordinator.db.versions import check_part, insert_part, insert_version, make_room
from wormfs.coordinator.placement import granted_segments, place_segments
from wormfs.errors import (
    ConflictError,
    InvalidInputError,
    NoSuchKeyError,
    NoSuchUploadError,
    PreconditionFailedError,
    StaleVersionError,
)
from wormfs.format.layout import split_lengths
from wormfs.format.sealing import stored_size
from wormfs.ids import new_id
from wormfs.wire.coordinator import (
    BeginWrite,
    CommitObject,
    CommitPart,
    ObjectManifest,
    PartRecord,
    WriteGrant,
)

# A write intent lives at least ``gc_delay`` and longer for big writes, assuming the writer
# moves at least this many bytes per second; a slow but live upload must not be collected.
MIN_WRITE_RATE = 1024 * 1024


_INSERT_INTENT = insert(pending_writes)
_DROP_UPLOAD_PART = delete(parts).where(
    parts.c.upload_id == bindparam("upload_id"), parts.c.part_number == bindparam("part_number")
)


def grant_write(
    tx: Tx,
    req: BeginWrite,
    coding: CodingConfig,
    now: float,
    gc_delay: float,
    offline_after: float,
    write_id: str,
    version_id: str,
) -> WriteGrant:
    require_bucket(tx, req.bucket)
    if req.upload_id is not None:
        upload = require_upload(tx, req.upload_id)
        if (upload.bucket, upload.key) != (req.bucket, req.key):
            raise NoSuchUploadError(upload_id=req.upload_id, bucket=req.bucket, key=req.key)
        # The upload's own profile; its class's profile (which cannot be deleted while the
        # upload exists) gives the segment size.
        chosen = resolve(tx, req.bucket, upload.attributes.storage_class, coding)
        chosen = Resolved(upload.attributes.storage_class, upload.profile, chosen.segment_size)
    else:
        chosen = resolve(tx, req.bucket, req.storage_class, coding)
    profile = chosen.profile
    candidates = disk_candidates(tx, now, offline_after)
    check_width(chosen, len(candidates))
    lengths = split_lengths(req.size, chosen.segment_size)
    placed = place_segments(candidates, lengths, profile, seed=write_id)
    segments = granted_segments(lengths, placed, new_id)
    placements = [
        {"chunk_id": c.chunk_id, "disk_id": c.disk_id, "node_id": c.node_id}
        for s in segments
        for c in s.chunks
    ]
    tx.run(
        _INSERT_INTENT,
        {
            "write_id": write_id,
            "version_id": version_id,
            "bucket": req.bucket,
            "key": req.key,
            "upload_id": req.upload_id,
            "part_number": req.part_number,
            "size": req.size,
            "created": now,
            "expires_at": now + gc_delay + req.size / MIN_WRITE_RATE,
            "placements": placements,
            "storage_class": chosen.storage_class,
        },
    )
    return WriteGrant(
        write_id=write_id,
        version_id=version_id,
        profile=profile,
        segment_size=chosen.segment_size,
        segments=segments,
        storage_class=chosen.storage_class,
    )


@dataclass(frozen=True)
class Intent:
    """A write intent (``pending_writes`` row) as a commit sees it."""

    version_id: str
    bucket: str
    key: str
    upload_id: str | None
    part_number: int
    size: int
    granted: set[tuple[str, str]]  # (chunk_id, disk_id)
    placements: list[dict[str, str]]  # as granted: chunk_id, disk_id, node_id
    storage_class: str | None = None  # the class granted (None: an intent from before 0009)


@dataclass(frozen=True)
class Refused:
    """A commit whose condition failed: its intent is dropped and its chunks queued in the
    same transaction; the caller raises ``error``."""

    error: PreconditionFailedError | NoSuchKeyError | StaleVersionError


def take_intent(tx: Tx, write_id: str) -> Intent:
    row = tx.one(INTENT, {"write_id": write_id})
    if row is None:
        raise ConflictError(
            f"write {write_id!r} is unknown or expired; its data may be collected, write again"
        )
    tx.run(DROP_INTENT, {"write_id": write_id})
    return Intent(
        version_id=row.version_id,
        bucket=row.bucket,
        key=row.key,
        upload_id=row.upload_id,
        part_number=row.part_number,
        size=row.size,
        granted={(p["chunk_id"], p["disk_id"]) for p in row.placements},
        placements=row.placements,
        storage_class=row.storage_class,
    )


def _located(record: PartRecord, locations: dict[str, tuple[str, str]], now: float) -> PartRecord:
    """``record`` with each chunk's node as the database knows it, stamped ``now``."""
    segments = [
        replace(
            s,
            chunks=[
                replace(
                    c,
                    node_id=locations.get(c.disk_id, ("", ""))[0],
                    node_address=locations.get(c.disk_id, ("", ""))[1],
                )
                for c in s.chunks
            ],
        )
        for s in record.segments
    ]
    return replace(record, segments=segments, last_modified=now)


def commit_version(
    tx: Tx, req: CommitObject, now: float, gc_delay: float
) -> ObjectManifest | Refused:
    intent = take_intent(tx, req.write_id)
    if intent.upload_id is not None or (intent.bucket, intent.key, intent.version_id) != (
        req.bucket,
        req.key,
        req.version_id,
    ):
        raise InvalidInputError(
            f"write {req.write_id!r} was granted for another object or for a part"
        )
    sealed = req.attributes.encryption is not None
    if intent.size != stored_size(req.size, sealed):
        raise InvalidInputError(f"write was granted for {intent.size} bytes, not {req.size}")
    _, versioning, lock = bucket_facts(tx, req.bucket)
    for record in req.parts:
        check_part(record, req.profile, intent.granted, sealed)
    fs = req.fs
    try:
        make_room(
            tx,
            req.bucket,
            req.key,
            req.if_match,
            req.if_none_match,
            now,
            gc_delay,
            fs,
            versioning,
        )
    except (PreconditionFailedError, NoSuchKeyError, StaleVersionError) as failed:
        # That write can never commit: its chunks go now (the intent is already taken).
        queue_placements(tx, intent.placements, now, now)
        return Refused(failed)
    locations = disk_locations(
        tx, (c.disk_id for p in req.parts for s in p.segments for c in s.chunks)
    )
    attributes = locked_attributes(req.bucket, req.attributes, lock, now)
    # The class granted is the one stored, whatever the commit says: it names the profile
    # the chunks were coded with (and the profile counted for them).
    granted = intent.storage_class or attributes.storage_class or bucket_class(tx, req.bucket)
    if granted != attributes.storage_class:
        attributes = replace(attributes, storage_class=granted)
    manifest = ObjectManifest(
        bucket=req.bucket,
        key=req.key,
        version_id=req.version_id,
        s3_version_id=written_s3_version_id(versioning, req.version_id),
        owner_id=req.owner_id,
        size=req.size,
        etag=req.etag,
        last_modified=now,
        profile=req.profile,
        parts=[_located(p, locations, now) for p in req.parts],
        attributes=attributes if fs is None else fs_attributes(attributes, fs.attrs),
        checksum=req.checksum,
    )
    object_id = insert_version(tx, manifest, now, None if fs is None else fs.ino - 1)
    for record in req.parts:
        insert_part(tx, record, now, object_id=object_id, upload_id=None)
    if fs is not None:
        put_inode(tx, fs.ino - 1, req.bucket, fs.attrs, int(now * 1_000_000_000))
    return manifest


def commit_upload_part(tx: Tx, upload_id: str, req: CommitPart, now: float) -> PartRecord:
    record = req.part
    intent = take_intent(tx, req.write_id)
    if intent.upload_id != upload_id or intent.part_number != record.part_number:
        raise InvalidInputError(
            f"write {req.write_id!r} was granted for another upload or part number"
        )
    upload = require_upload(tx, upload_id, for_change=True)  # not while it completes
    sealed = upload.attributes.encryption is not None
    if intent.size != stored_size(record.size, sealed):
        raise InvalidInputError(f"write was granted for {intent.size} bytes, not {record.size}")
    check_part(record, upload.profile, intent.granted, sealed)
    # An earlier upload of this part number is replaced: its chunks can go at once, since
    # nothing reads an upload's parts before completion.
    queue_upload_chunks(tx, upload_id, now, now, part_number=record.part_number)
    tx.run(_DROP_UPLOAD_PART, {"upload_id": upload_id, "part_number": record.part_number})
    insert_part(tx, record, now, object_id=None, upload_id=upload_id)
    return replace(record, last_modified=now)
