"""Row mappers (rows -> wire structs) and the look-ups every aggregate needs, written once.

Layer: coordinator database package, used by every aggregate module. Rows never leave the
package; callers above get ``wormfs.wire.coordinator`` structs. Each mapper reads its row's
columns by name, so a statement and its mapper agree on names, not positions. Contract:

* ``require_bucket`` / ``require_upload``: the row, or ``NoSuchBucketError`` /
  ``NoSuchUploadError``; ``bucket_info`` answers a bucket's facts with its owner's name.
* ``disk_locations``: disk id -> (node id, node address), as the database knows it now.
* ``part_records``: parts with their segments and chunk placements from the rows of a
  ``parts_query`` (one query, ordered by part, segment, fragment).
* ``profile_to_json`` / ``profile_from_json``, ``checksum_from_row`` / ``checksum_columns``,
  ``attributes_from_row`` / ``attribute_columns``: the stored forms of a profile, a checksum
  and an object's attributes (the same four columns in ``objects`` and ``uploads``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any, cast

import msgspec
from sqlalchemy import ColumnElement, Select, bindparam, select

from wormfs.coordinator.db.tables import (
    buckets,
    chunk_placements,
    disks,
    nodes,
    parts,
    segments,
    uploads,
    users,
)
from wormfs.coordinator.db.tx import Row, Tx
from wormfs.errors import NoSuchBucketError, NoSuchUploadError
from wormfs.format.layout import Profile
from wormfs.format.sealing import Encryption
from wormfs.wire.acl import Acl
from wormfs.wire.coordinator import (
    BucketInfo,
    ChecksumAlgorithm,
    ChecksumType,
    ChunkPlacement,
    ObjectAttributes,
    ObjectChecksum,
    PartRecord,
    Segment,
    UploadInfo,
)


def profile_to_json(profile: Profile) -> dict[str, Any]:
    return cast(dict[str, Any], msgspec.to_builtins(profile))


def profile_from_json(data: Mapping[str, Any]) -> Profile:
    return msgspec.convert(data, Profile)


def checksum_from_row(
    algorithm: str | None, value: str | None, kind: str | None
) -> ObjectChecksum | None:
    if not algorithm or not value:
        return None
    return ObjectChecksum(
        algorithm=cast(ChecksumAlgorithm, algorithm),
        value=value,
        type=cast(ChecksumType, kind or "FULL_OBJECT"),
    )


def checksum_columns(checksum: ObjectChecksum | None) -> dict[str, Any]:
    """A checksum as the three ``checksum_*`` columns of ``objects`` and ``parts``."""
    if checksum is None:
        return {"checksum_algorithm": None, "checksum_value": None, "checksum_type": None}
    return {
        "checksum_algorithm": checksum.algorithm,
        "checksum_value": checksum.value,
        "checksum_type": checksum.type,
    }


def attribute_columns(attributes: ObjectAttributes) -> dict[str, Any]:
    """An object's attributes as the columns of ``objects`` and ``uploads`` that hold them."""
    return {
        "content_type": attributes.content_type,
        "user_metadata": dict(attributes.user_metadata),
        "system_metadata": dict(attributes.system_metadata),
        "storage_class": attributes.storage_class,
        "tags": dict(attributes.tags),
        "lock_mode": attributes.lock_mode or None,
        "retain_until": attributes.retain_until,
        "legal_hold": attributes.legal_hold,
        "encryption": None
        if attributes.encryption is None
        else msgspec.to_builtins(attributes.encryption),
        "acl": None if attributes.acl is None else msgspec.to_builtins(attributes.acl),
    }


def attributes_from_row(row: Row) -> ObjectAttributes:
    """The attributes of a row of ``objects`` or ``uploads`` (the columns above, by name)."""
    return ObjectAttributes(
        content_type=row.content_type,
        user_metadata=dict(row.user_metadata),
        system_metadata=dict(row.system_metadata),
        storage_class=row.storage_class,
        tags=dict(row.tags or {}),
        lock_mode=row.lock_mode or "",
        retain_until=row.retain_until,
        legal_hold=row.legal_hold,
        encryption=None if row.encryption is None else msgspec.convert(row.encryption, Encryption),
        acl=None if row.acl is None else msgspec.convert(row.acl, Acl),
    )


# ---- buckets ----------------------------------------------------------------------------------
BUCKET_INFO = select(
    buckets.c.name,
    buckets.c.owner_id,
    buckets.c.created,
    buckets.c.region,
    users.c.display_name,
).select_from(buckets.outerjoin(users, users.c.user_id == buckets.c.owner_id))
_BUCKET_BY_NAME = BUCKET_INFO.where(buckets.c.name == bindparam("name"))
_BUCKET_OWNER = select(buckets.c.owner_id).where(buckets.c.name == bindparam("name"))


def bucket_from_row(row: Row) -> BucketInfo:
    """A ``BUCKET_INFO`` row."""
    return BucketInfo(
        name=row.name,
        owner_id=row.owner_id,
        owner_display_name=row.display_name or "",
        created=row.created,
        region=row.region,
    )


def bucket_info(tx: Tx, name: str) -> BucketInfo:
    row = tx.one(_BUCKET_BY_NAME, {"name": name})
    if row is None:
        raise NoSuchBucketError(bucket=name)
    return bucket_from_row(row)


def bucket_owner(tx: Tx, name: str) -> str | None:
    """The bucket's owner id; None if there is no such bucket."""
    owner = tx.scalar(_BUCKET_OWNER, {"name": name})
    return None if owner is None else str(owner)


def require_bucket(tx: Tx, name: str) -> str:
    """The bucket's owner id; ``NoSuchBucketError`` if there is no such bucket."""
    owner = bucket_owner(tx, name)
    if owner is None:
        raise NoSuchBucketError(bucket=name)
    return owner


# ---- uploads ----------------------------------------------------------------------------------
_UPLOAD = select(uploads).where(uploads.c.upload_id == bindparam("upload_id"))
_UPLOAD_FOR_CHANGE = _UPLOAD.with_for_update()


def upload_from_row(row: Row) -> UploadInfo:
    """A row of ``uploads`` (every column)."""
    return UploadInfo(
        upload_id=row.upload_id,
        bucket=row.bucket,
        key=row.key,
        owner_id=row.owner_id,
        initiated=row.initiated,
        profile=profile_from_json(row.profile),
        attributes=attributes_from_row(row),
        checksum_algorithm=cast(ChecksumAlgorithm | None, row.checksum_algorithm),
        checksum_type=cast(ChecksumType | None, row.checksum_type),
    )


def require_upload(tx: Tx, upload_id: str, for_change: bool = False) -> UploadInfo:
    """The upload's row; ``for_change``: locked until the transaction ends (PostgreSQL's FOR
    UPDATE; SQLite runs one writer at a time), so a part committed, the upload completed and
    the upload aborted wait for each other instead of interleaving."""
    row = tx.one(_UPLOAD_FOR_CHANGE if for_change else _UPLOAD, {"upload_id": upload_id})
    if row is None:
        raise NoSuchUploadError(upload_id=upload_id)
    return upload_from_row(row)


# ---- where chunks live ------------------------------------------------------------------------
_LOCATIONS = (
    select(disks.c.disk_id, nodes.c.node_id, nodes.c.address)
    .join(nodes, nodes.c.node_id == disks.c.node_id)
    .where(disks.c.disk_id.in_(bindparam("disk_ids", expanding=True)))
)


def disk_locations(tx: Tx, disk_ids: Iterable[str]) -> dict[str, tuple[str, str]]:
    wanted = sorted(set(disk_ids))
    if not wanted:
        return {}
    return {r.disk_id: (r.node_id, r.address) for r in tx.all(_LOCATIONS, {"disk_ids": wanted})}


# ---- parts with their segments and placements -------------------------------------------------
def parts_query(where: ColumnElement[bool]) -> Select[Any]:
    """Every part matching ``where`` with its segments and placements, in manifest order.
    LEFT JOINs: an empty part has no segments, and a placement whose disk is unknown still
    shows up (with no node)."""
    return (
        select(
            parts.c.part_number,
            parts.c.size,
            parts.c.etag,
            parts.c.checksum_algorithm,
            parts.c.checksum_value,
            parts.c.checksum_type,
            parts.c.last_modified,
            segments.c.segment_index,
            segments.c.offset,
            segments.c.length,
            chunk_placements.c.fragment_index,
            chunk_placements.c.chunk_id,
            chunk_placements.c.disk_id,
            disks.c.node_id,
            nodes.c.address,
        )
        .select_from(
            parts.outerjoin(segments, segments.c.part_id == parts.c.id)
            .outerjoin(chunk_placements, chunk_placements.c.segment_id == segments.c.id)
            .outerjoin(disks, disks.c.disk_id == chunk_placements.c.disk_id)
            .outerjoin(nodes, nodes.c.node_id == disks.c.node_id)
        )
        .where(where)
        .order_by(parts.c.part_number, segments.c.segment_index, chunk_placements.c.fragment_index)
    )


def part_records(rows: Sequence[Row]) -> list[PartRecord]:
    """The rows of a ``parts_query`` as part records."""
    records: list[PartRecord] = []
    segs: list[Segment] = []
    chunks: list[ChunkPlacement] = []
    for i, r in enumerate(rows):
        if r.fragment_index is not None:
            chunks.append(
                ChunkPlacement(
                    fragment_index=r.fragment_index,
                    chunk_id=r.chunk_id,
                    disk_id=r.disk_id,
                    node_id=r.node_id or "",
                    node_address=r.address or "",
                )
            )
        following = rows[i + 1] if i + 1 < len(rows) else None
        part_ends = following is None or following.part_number != r.part_number
        segment_ends = part_ends or cast(Row, following).segment_index != r.segment_index
        if r.segment_index is not None and segment_ends:
            segs.append(
                Segment(
                    segment_index=r.segment_index, offset=r.offset, length=r.length, chunks=chunks
                )
            )
            chunks = []
        if part_ends:
            records.append(
                PartRecord(
                    part_number=r.part_number,
                    size=r.size,
                    etag=r.etag,
                    segments=segs,
                    checksum=checksum_from_row(
                        r.checksum_algorithm, r.checksum_value, r.checksum_type
                    ),
                    last_modified=r.last_modified,
                )
            )
            segs = []
    return records
