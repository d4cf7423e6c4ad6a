"""Write grants and commits in plain SQL: the statements behind every chunked PUT and part.

Layer: coordinator database package; each public function is a synchronous operation of a
``Sql`` handle (``wormfs.coordinator.db.direct``), run whole in one transaction by
``Database.direct_write``. The repositories (``Objects``, ``Uploads``) validate their input
first and turn the results into answers. Contract:

* ``disk_candidates`` lists every known disk with its node, ``online`` only if both are
  usable right now (a disk being drained takes no new chunks).
* ``grant_write`` checks the bucket (and, for a part, the upload), places each segment on k+m
  disks and records the write intent with every granted chunk (``pending_writes``).
* ``take_intent`` reads a commit's intent (``ConflictError`` if it is unknown or expired:
  its chunks may be collected already) and removes it — in the commit's transaction.
* ``commit_version`` turns a granted write into the key's current version: the conditions
  are checked and the old version retired (``versions.make_room``), the version, its parts,
  segments and placements inserted.
* ``commit_upload_part`` stores a granted part of a multipart upload, replacing (and
  queueing the chunks of) an earlier upload of the same part number.
* ``insert_version`` is the one INSERT of an ``objects`` row (chunked and inline versions).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from msgspec.structs import replace

from wormfs.config import CodingConfig
from wormfs.coordinator.db.convert import profile_from_json, profile_to_json
from wormfs.coordinator.db.direct import Row, Sql, json_value
from wormfs.coordinator.db.versions import check_part, make_room, queue_part_chunks
from wormfs.coordinator.placement import DiskCandidate, place_segments
from wormfs.errors import (
    ConflictError,
    InvalidInputError,
    NoSuchBucketError,
    NoSuchUploadError,
)
from wormfs.ids import new_id
from wormfs.layout import Profile, split_lengths
from wormfs.wire.coordinator import (
    BeginWrite,
    ChunkPlacement,
    CommitObject,
    CommitPart,
    ObjectChecksum,
    ObjectManifest,
    PartRecord,
    Segment,
    WriteGrant,
)

# A write intent lives at least ``gc_delay`` and longer for big writes, assuming the writer
# moves at least this many bytes per second; a slow but live upload must not be collected.
MIN_WRITE_RATE = 1024 * 1024


def disk_candidates(sql: Sql, now: float, offline_after: float) -> list[DiskCandidate]:
    rows = sql.all(
        "SELECT d.disk_id, n.node_id, n.address, d.free_bytes, d.state, n.state, "
        "n.last_heartbeat, n.rack, n.zone, dc.drain_state "
        "FROM disks d JOIN nodes n ON n.node_id = d.node_id "
        "LEFT JOIN disk_care dc ON dc.disk_id = d.disk_id"
    )
    return [
        DiskCandidate(
            disk_id=r[0],
            node_id=r[1],
            node_address=r[2],
            free_bytes=r[3],
            # Draining and drained disks take no new chunks (wormfs.coordinator.db.care).
            online=r[4] == "online"
            and r[5] == "online"
            and r[6] >= now - offline_after
            and not r[9],
            rack=r[7],
            zone=r[8],
        )
        for r in rows
    ]


def _require_bucket(sql: Sql, bucket: str) -> None:
    if sql.one("SELECT 1 FROM buckets WHERE name = ?", bucket) is None:
        raise NoSuchBucketError(f"bucket {bucket!r} does not exist")


def grant_write(
    sql: Sql,
    req: BeginWrite,
    coding: CodingConfig,
    now: float,
    gc_delay: float,
    offline_after: float,
    write_id: str,
    version_id: str,
) -> WriteGrant:
    _require_bucket(sql, req.bucket)
    profile = coding.profile
    if req.upload_id is not None:
        upload = sql.one(
            "SELECT bucket, key, profile FROM uploads WHERE upload_id = ?", req.upload_id
        )
        if upload is None:
            raise NoSuchUploadError(f"upload {req.upload_id!r} does not exist")
        if (upload[0], upload[1]) != (req.bucket, req.key):
            raise NoSuchUploadError(f"upload {req.upload_id!r} is not for {req.bucket}/{req.key}")
        profile = profile_from_json(json_value(upload[2]))
    lengths = split_lengths(req.size, coding.segment_size)
    placed = place_segments(
        disk_candidates(sql, now, offline_after), lengths, profile, seed=write_id
    )
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
        segments.append(Segment(segment_index=index, offset=offset, length=length, chunks=chunks))
        offset += length
    placements = [
        {"chunk_id": c.chunk_id, "disk_id": c.disk_id, "node_id": c.node_id}
        for s in segments
        for c in s.chunks
    ]
    sql.run(
        "INSERT INTO pending_writes (write_id, version_id, bucket, key, upload_id, part_number, "
        "size, created, expires_at, placements) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        write_id,
        version_id,
        req.bucket,
        req.key,
        req.upload_id,
        req.part_number,
        req.size,
        now,
        now + gc_delay + req.size / MIN_WRITE_RATE,
        json.dumps(placements),
    )
    return WriteGrant(
        write_id=write_id,
        version_id=version_id,
        profile=profile,
        segment_size=coding.segment_size,
        segments=segments,
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


def take_intent(sql: Sql, write_id: str) -> Intent:
    row = sql.one(
        "SELECT version_id, bucket, key, upload_id, part_number, size, placements "
        "FROM pending_writes WHERE write_id = ?",
        write_id,
    )
    if row is None:
        raise ConflictError(
            f"write {write_id!r} is unknown or expired; its data may be collected, write again"
        )
    sql.run("DELETE FROM pending_writes WHERE write_id = ?", write_id)
    placements: list[dict[str, str]] = json_value(row[6])
    return Intent(
        version_id=row[0],
        bucket=row[1],
        key=row[2],
        upload_id=row[3],
        part_number=row[4],
        size=row[5],
        granted={(p["chunk_id"], p["disk_id"]) for p in placements},
    )


def _checksum_columns(checksum: ObjectChecksum | None) -> tuple[Any, Any, Any]:
    if checksum is None:
        return None, None, None
    return checksum.algorithm, checksum.value, checksum.type


def insert_version(sql: Sql, manifest: ObjectManifest, now: float) -> int:
    """Insert ``manifest``'s version as the key's latest (parts not included); its row id."""
    row = sql.one(
        "INSERT INTO objects (bucket, key, version_id, is_latest, is_delete_marker, size, etag, "
        "content_type, user_metadata, system_metadata, checksum_algorithm, checksum_value, "
        "checksum_type, profile, storage_class, owner_id, created, last_modified, state) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
        manifest.bucket,
        manifest.key,
        manifest.version_id,
        True,
        False,
        manifest.size,
        manifest.etag,
        manifest.content_type,
        json.dumps(manifest.user_metadata),
        json.dumps(manifest.system_metadata),
        *_checksum_columns(manifest.checksum),
        json.dumps(profile_to_json(manifest.profile)),
        manifest.storage_class,
        manifest.owner_id,
        now,
        manifest.last_modified,
        "committed",
    )
    assert row is not None  # RETURNING always answers a row
    return int(row[0])


def _insert_part(
    sql: Sql, record: PartRecord, now: float, object_id: int | None, upload_id: str | None
) -> None:
    row: Row | None = sql.one(
        "INSERT INTO parts (object_id, upload_id, part_number, size, etag, checksum_algorithm, "
        "checksum_value, checksum_type, last_modified) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) "
        "RETURNING id",
        object_id,
        upload_id,
        record.part_number,
        record.size,
        record.etag,
        *_checksum_columns(record.checksum),
        now,
    )
    assert row is not None
    for seg in record.segments:
        seg_row = sql.one(
            'INSERT INTO segments (part_id, segment_index, "offset", length) '
            "VALUES (?, ?, ?, ?) RETURNING id",
            row[0],
            seg.segment_index,
            seg.offset,
            seg.length,
        )
        assert seg_row is not None
        for c in seg.chunks:
            sql.run(
                "INSERT INTO chunk_placements (segment_id, fragment_index, chunk_id, disk_id) "
                "VALUES (?, ?, ?, ?)",
                seg_row[0],
                c.fragment_index,
                c.chunk_id,
                c.disk_id,
            )


def _locations(sql: Sql, disk_ids: Iterable[str]) -> dict[str, tuple[str, str]]:
    wanted = sorted(set(disk_ids))
    if not wanted:
        return {}
    marks = ", ".join("?" for _ in wanted)
    rows = sql.all(
        "SELECT d.disk_id, n.node_id, n.address FROM disks d "
        f"JOIN nodes n ON n.node_id = d.node_id WHERE d.disk_id IN ({marks})",
        *wanted,
    )
    return {r[0]: (r[1], r[2]) for r in rows}


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


def commit_version(sql: Sql, req: CommitObject, now: float, gc_delay: float) -> ObjectManifest:
    intent = take_intent(sql, req.write_id)
    if intent.upload_id is not None or (intent.bucket, intent.key, intent.version_id) != (
        req.bucket,
        req.key,
        req.version_id,
    ):
        raise InvalidInputError(
            f"write {req.write_id!r} was granted for another object or for a part"
        )
    if intent.size != req.size:
        raise InvalidInputError(f"write was granted for {intent.size} bytes, not {req.size}")
    _require_bucket(sql, req.bucket)
    for record in req.parts:
        check_part(record, req.profile, intent.granted)
    make_room(sql, req.bucket, req.key, req.if_match, req.if_none_match, now, gc_delay)
    locations = _locations(
        sql, (c.disk_id for p in req.parts for s in p.segments for c in s.chunks)
    )
    manifest = ObjectManifest(
        bucket=req.bucket,
        key=req.key,
        version_id=req.version_id,
        owner_id=req.owner_id,
        size=req.size,
        etag=req.etag,
        last_modified=now,
        profile=req.profile,
        parts=[_located(p, locations, now) for p in req.parts],
        content_type=req.content_type,
        user_metadata=dict(req.user_metadata),
        system_metadata=dict(req.system_metadata),
        checksum=req.checksum,
        storage_class=req.storage_class,
    )
    object_id = insert_version(sql, manifest, now)
    for record in req.parts:
        _insert_part(sql, record, now, object_id=object_id, upload_id=None)
    return manifest


def commit_upload_part(sql: Sql, upload_id: str, req: CommitPart, now: float) -> PartRecord:
    record = req.part
    intent = take_intent(sql, req.write_id)
    if intent.upload_id != upload_id or intent.part_number != record.part_number:
        raise InvalidInputError(
            f"write {req.write_id!r} was granted for another upload or part number"
        )
    if intent.size != record.size:
        raise InvalidInputError(f"write was granted for {intent.size} bytes, not {record.size}")
    upload = sql.one("SELECT profile FROM uploads WHERE upload_id = ?", upload_id)
    if upload is None:
        raise NoSuchUploadError(f"upload {upload_id!r} does not exist")
    profile: Profile = profile_from_json(json_value(upload[0]))
    check_part(record, profile, intent.granted)
    # An earlier upload of this part number is replaced: its chunks can go at once, since
    # nothing reads an upload's parts before completion.
    queue_part_chunks(
        sql, "p.upload_id = ? AND p.part_number = ?", (upload_id, record.part_number), now, now
    )
    sql.run(
        "DELETE FROM parts WHERE upload_id = ? AND part_number = ?", upload_id, record.part_number
    )
    _insert_part(sql, record, now, object_id=None, upload_id=upload_id)
    return replace(record, last_modified=now)
