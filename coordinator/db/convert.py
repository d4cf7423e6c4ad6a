"""Conversions between database rows and wire structs, plus the shared row look-ups.

Layer: coordinator database package, used by every repository. Rows never leave the package;
callers above get ``wormfs.wire.coordinator`` structs. Look-ups that several repositories need
(a bucket that must exist, where a disk lives, the parts of a version) live here too, so each
repository module stays about one subject.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, cast

import msgspec
from sqlalchemy import ColumnElement, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from wormfs.coordinator.db.models import (
    Bucket,
    Disk,
    Node,
    Part,
    Segment,
    Upload,
    User,
)
from wormfs.errors import NoSuchBucketError, NoSuchUploadError
from wormfs.layout import Profile
from wormfs.wire.coordinator import (
    BucketInfo,
    ChecksumAlgorithm,
    ChecksumType,
    ChunkPlacement,
    ObjectChecksum,
    PartRecord,
    UploadInfo,
)
from wormfs.wire.coordinator import Segment as WireSegment

# disk_id -> (node_id, node address)
DiskLocations = Mapping[str, tuple[str, str]]


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


# ---- look-ups -------------------------------------------------------------------------------
async def require_bucket(session: AsyncSession, name: str) -> Bucket:
    bucket = await session.get(Bucket, name)
    if bucket is None:
        raise NoSuchBucketError(f"bucket {name!r} does not exist")
    return bucket


async def require_upload(session: AsyncSession, upload_id: str) -> Upload:
    upload = await session.get(Upload, upload_id)
    if upload is None:
        raise NoSuchUploadError(f"upload {upload_id!r} does not exist")
    return upload


async def disk_locations(
    session: AsyncSession, disk_ids: Iterable[str]
) -> dict[str, tuple[str, str]]:
    wanted = sorted(set(disk_ids))
    if not wanted:
        return {}
    rows = await session.execute(
        select(Disk.disk_id, Node.node_id, Node.address)
        .join(Node, Node.node_id == Disk.node_id)
        .where(Disk.disk_id.in_(wanted))
    )
    return {disk_id: (node_id, address) for disk_id, node_id, address in rows}


async def load_parts(
    session: AsyncSession, where: ColumnElement[bool], limit: int | None = None
) -> list[Part]:
    """Parts matching ``where`` with their segments and placements (three queries)."""
    query = (
        select(Part)
        .where(where)
        .options(selectinload(Part.segments).selectinload(Segment.chunks))
        .order_by(Part.part_number)
        .execution_options(populate_existing=True)
    )
    if limit is not None:
        query = query.limit(limit)
    return list(await session.scalars(query))


async def part_records(session: AsyncSession, parts: list[Part]) -> list[PartRecord]:
    locations = await disk_locations(
        session, (c.disk_id for p in parts for s in p.segments for c in s.chunks)
    )
    return [part_record(p, locations) for p in parts]


async def display_names(session: AsyncSession, user_ids: Iterable[str]) -> dict[str, str]:
    wanted = sorted(set(user_ids))
    if not wanted:
        return {}
    rows = await session.execute(
        select(User.user_id, User.display_name).where(User.user_id.in_(wanted))
    )
    return {user_id: name for user_id, name in rows}


# ---- rows -> wire -----------------------------------------------------------------------------
def part_record(part: Part, locations: DiskLocations) -> PartRecord:
    segments = []
    for seg in part.segments:
        chunks = []
        for c in seg.chunks:
            node_id, address = locations.get(c.disk_id, ("", ""))
            chunks.append(
                ChunkPlacement(
                    fragment_index=c.fragment_index,
                    chunk_id=c.chunk_id,
                    disk_id=c.disk_id,
                    node_id=node_id,
                    node_address=address,
                )
            )
        segments.append(
            WireSegment(
                segment_index=seg.segment_index, offset=seg.offset, length=seg.length, chunks=chunks
            )
        )
    return PartRecord(
        part_number=part.part_number,
        size=part.size,
        etag=part.etag,
        segments=segments,
        checksum=checksum_from_row(
            part.checksum_algorithm, part.checksum_value, part.checksum_type
        ),
        last_modified=part.last_modified,
    )


def bucket_info(bucket: Bucket, owner_display_name: str) -> BucketInfo:
    return BucketInfo(
        name=bucket.name,
        owner_id=bucket.owner_id,
        owner_display_name=owner_display_name,
        created=bucket.created,
        region=bucket.region,
    )


def upload_info(upload: Upload) -> UploadInfo:
    return UploadInfo(
        upload_id=upload.upload_id,
        bucket=upload.bucket,
        key=upload.key,
        owner_id=upload.owner_id,
        initiated=upload.initiated,
        profile=profile_from_json(upload.profile),
        content_type=upload.content_type,
        user_metadata=dict(upload.user_metadata),
        system_metadata=dict(upload.system_metadata),
        checksum_algorithm=cast(ChecksumAlgorithm | None, upload.checksum_algorithm),
        checksum_type=cast(ChecksumType | None, upload.checksum_type),
        storage_class=upload.storage_class,
    )
