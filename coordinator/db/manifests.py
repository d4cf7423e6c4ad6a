"""The per-request object operations in plain SQL: bucket facts, manifests, inline PUTs, deletes.

Layer: coordinator database package. Each public function is a synchronous operation of a
``Sql`` handle, run whole in one transaction by ``Database.direct_read`` / ``direct_write``
(``wormfs.coordinator.db.direct``: one thread hop per operation, group commit on SQLite).
These are the statements behind every GET, HEAD, small PUT and DELETE, so each is one or two
indexed queries. Contract:

* ``bucket_info`` answers a bucket's facts (``NoSuchBucketError``).
* ``owned_bucket`` checks that a bucket exists and, given an owner, that it is theirs
  (``AccessDeniedError`` otherwise, before anything about its keys is revealed).
* ``read_manifest`` answers the current (or a given) version's manifest with its parts,
  segments and placements in one query, or its bytes when it is stored inline
  (``NoSuchKeyError`` for a missing key or, without a version id, a delete marker).
* ``put_inline`` makes a small object, bytes included, the key's current version in one
  transaction: conditions checked and the old version retired (``versions.make_room``).
* ``delete_version`` removes the current (or a given) version, queueing its chunks;
  deleting a missing key succeeds.
"""

from __future__ import annotations

from typing import cast

from wormfs.coordinator.db.convert import checksum_from_row, profile_from_json
from wormfs.coordinator.db.direct import Row, Sql, json_value
from wormfs.coordinator.db.versions import lock_key, make_room, retire_version
from wormfs.coordinator.db.writes import insert_version
from wormfs.errors import (
    AccessDeniedError,
    InvalidInputError,
    NoSuchBucketError,
    NoSuchKeyError,
)
from wormfs.ids import new_version_id
from wormfs.layout import Profile
from wormfs.wire.coordinator import (
    INLINE_LIMIT,
    BucketInfo,
    ChunkPlacement,
    DeleteResult,
    ObjectManifest,
    PartRecord,
    PutInline,
    Segment,
)

NULL_VERSION = "null"

_VERSION_COLUMNS = (
    "o.id, o.bucket, o.key, o.version_id, o.owner_id, o.size, o.etag, o.last_modified, "
    "o.profile, o.content_type, o.user_metadata, o.system_metadata, o.checksum_algorithm, "
    "o.checksum_value, o.checksum_type, o.storage_class, o.is_delete_marker, od.data, o.is_latest"
)
_VERSION = (
    f"SELECT {_VERSION_COLUMNS} FROM objects o LEFT JOIN object_data od ON od.object_id = o.id "
    "WHERE o.bucket = ? AND o.key = ? AND "
)
# "AND o.is_latest", not "= ?": only a bare is_latest lets SQLite prove that the partial
# index uq_objects_latest applies (one row); with a parameter it scans the bucket's run of
# ix_objects_listing instead.
_CURRENT = _VERSION + "o.is_latest"
_BY_ID = _VERSION + "o.version_id = ?"
# Every part of a version with its segments and placements, in manifest order. LEFT JOINs:
# an empty part has no segments, and a placement whose disk is unknown still shows up.
_PARTS = (
    "SELECT p.part_number, p.size, p.etag, p.checksum_algorithm, p.checksum_value, "
    'p.checksum_type, p.last_modified, s.segment_index, s."offset", s.length, '
    "c.fragment_index, c.chunk_id, c.disk_id, d.node_id, n.address "
    "FROM parts p LEFT JOIN segments s ON s.part_id = p.id "
    "LEFT JOIN chunk_placements c ON c.segment_id = s.id "
    "LEFT JOIN disks d ON d.disk_id = c.disk_id LEFT JOIN nodes n ON n.node_id = d.node_id "
    "WHERE p.object_id = ? ORDER BY p.part_number, s.segment_index, c.fragment_index"
)


def bucket_info(sql: Sql, name: str) -> BucketInfo:
    row = sql.one(
        "SELECT b.name, b.owner_id, b.created, b.region, u.display_name "
        "FROM buckets b LEFT JOIN users u ON u.user_id = b.owner_id WHERE b.name = ?",
        name,
    )
    if row is None:
        raise NoSuchBucketError(f"bucket {name!r} does not exist")
    return BucketInfo(
        name=row[0], owner_id=row[1], owner_display_name=row[4] or "", created=row[2], region=row[3]
    )


def owned_bucket(sql: Sql, bucket: str, owner_id: str | None) -> None:
    row = sql.one("SELECT owner_id FROM buckets WHERE name = ?", bucket)
    if row is None:
        raise NoSuchBucketError(f"bucket {bucket!r} does not exist")
    if owner_id is not None and row[0] != owner_id:
        raise AccessDeniedError(f"bucket {bucket} belongs to another user")


def _find(sql: Sql, bucket: str, key: str, version_id: str | None) -> Row | None:
    # Without versioning every object is S3's "null" version, i.e. the current one.
    if version_id is None or version_id == NULL_VERSION:
        return sql.one(_CURRENT, bucket, key)
    return sql.one(_BY_ID, bucket, key, version_id)


def _part_records(rows: list[Row]) -> list[PartRecord]:
    parts: list[PartRecord] = []
    segments: list[Segment] = []
    chunks: list[ChunkPlacement] = []
    for i, r in enumerate(rows):
        if r[10] is not None:
            chunks.append(
                ChunkPlacement(
                    fragment_index=r[10],
                    chunk_id=r[11],
                    disk_id=r[12],
                    node_id=r[13] or "",
                    node_address=r[14] or "",
                )
            )
        following = rows[i + 1] if i + 1 < len(rows) else None
        part_ends = following is None or following[0] != r[0]
        segment_ends = part_ends or cast(Row, following)[7] != r[7]
        if r[7] is not None and segment_ends:
            segments.append(Segment(segment_index=r[7], offset=r[8], length=r[9], chunks=chunks))
            chunks = []
        if part_ends:
            parts.append(
                PartRecord(
                    part_number=r[0],
                    size=r[1],
                    etag=r[2],
                    segments=segments,
                    checksum=checksum_from_row(r[3], r[4], r[5]),
                    last_modified=r[6],
                )
            )
            segments = []
    return parts


def _manifest(row: Row, parts: list[PartRecord]) -> ObjectManifest:
    data = row[17]
    return ObjectManifest(
        bucket=row[1],
        key=row[2],
        version_id=row[3],
        owner_id=row[4],
        size=row[5],
        etag=row[6],
        last_modified=row[7],
        profile=profile_from_json(json_value(row[8])),
        parts=parts,
        content_type=row[9],
        user_metadata=dict(json_value(row[10])),
        system_metadata=dict(json_value(row[11])),
        checksum=checksum_from_row(row[12], row[13], row[14]),
        storage_class=row[15],
        is_delete_marker=bool(row[16]),
        inline=bytes(data) if data is not None else None,
    )


def read_manifest(
    sql: Sql, bucket: str, key: str, version_id: str | None, owner_id: str | None
) -> ObjectManifest:
    owned_bucket(sql, bucket, owner_id)
    row = _find(sql, bucket, key, version_id)
    if row is None or (version_id in (None, NULL_VERSION) and row[16]):
        what = f"version {version_id!r} of " if version_id else ""
        raise NoSuchKeyError(f"no {what}object {key!r} in bucket {bucket!r}")
    parts = [] if row[17] is not None else _part_records(sql.all(_PARTS, row[0]))
    return _manifest(row, parts)


def put_inline(
    sql: Sql, req: PutInline, profile: Profile, now: float, gc_delay: float
) -> ObjectManifest:
    if req.size != len(req.data) or req.size > INLINE_LIMIT:
        raise InvalidInputError(
            f"an inline object holds 0..{INLINE_LIMIT} bytes, exactly its size "
            f"({req.size}, got {len(req.data)})"
        )
    owned_bucket(sql, req.bucket, req.owner_id)
    make_room(sql, req.bucket, req.key, req.if_match, req.if_none_match, now, gc_delay)
    manifest = ObjectManifest(
        bucket=req.bucket,
        key=req.key,
        version_id=new_version_id(),
        owner_id=req.owner_id,
        size=req.size,
        etag=req.etag,
        last_modified=now,
        profile=profile,
        parts=[],
        content_type=req.content_type,
        user_metadata=dict(req.user_metadata),
        system_metadata=dict(req.system_metadata),
        checksum=req.checksum,
        storage_class=req.storage_class,
    )
    object_id = insert_version(sql, manifest, now)
    sql.run("INSERT INTO object_data (object_id, data) VALUES (?, ?)", object_id, req.data)
    return manifest


def delete_version(
    sql: Sql,
    bucket: str,
    key: str,
    version_id: str | None,
    owner_id: str | None,
    now: float,
    gc_delay: float,
) -> DeleteResult:
    owned_bucket(sql, bucket, owner_id)
    lock_key(sql, bucket, key)
    row = _find(sql, bucket, key, version_id)
    if row is None:
        return DeleteResult(version_id=version_id)
    was_latest = bool(row[18])
    retire_version(sql, int(row[0]), now, gc_delay)
    if was_latest and version_id is not None:
        # Deleting the current version by id makes the next newest one current
        # (version ids are time-ordered).
        newest = sql.one(
            "SELECT id FROM objects WHERE bucket = ? AND key = ? ORDER BY version_id DESC LIMIT 1",
            bucket,
            key,
        )
        if newest is not None:
            sql.run("UPDATE objects SET is_latest = ? WHERE id = ?", True, newest[0])
    return DeleteResult(version_id=version_id)
