"""What the admin plane reads about the cluster: disks with their care, at-risk segments, usage.

Layer: coordinator database package; statements in SQLAlchemy Core over ``tables``, each
method one read transaction through ``Database.read``. Contract (all answers are plain
msgspec structs):

* ``disks(now)``: every disk with its node, its reported state, space and chunk count, the
  drain state of its care row, and ``readable`` (``liveness.DISK_READABLE``: its chunks can be
  read now).
* ``segment_risk(now)``: how many segments have fewer than k+m good chunks (``degraded``,
  also counted by the number missing in ``by_missing``) and fewer than k (``unrecoverable``).
  A chunk is not good when its disk is not readable, or when the repair queue holds its
  fragment as missing, corrupt or inconsistent. Only placements on unreadable disks and
  those queue rows are read (both indexed), never the whole placement table.
* ``repair_backlog()``: the rows of the repair queue.
* ``usage(bucket)``: object versions (delete markers excluded) and their bytes, and
  unfinished multipart uploads, of one bucket or (``None``) the whole cluster.
* ``failed_jobs(since, limit)``: the durability jobs that ended ``failed`` at or after
  ``since``, newest first, each with its kind, target, end time and last failure.
* ``bucket_page(owner, after, limit)``: up to ``limit`` buckets by name after ``after``
  (optionally of one owner), each with its owner's display name, its usage (as ``usage``
  counts it) and its default storage class, in ONE statement: the usage comes from
  correlated subqueries over the ``bucket``-led indexes of objects and uploads, so a page
  costs one read however many buckets it shows.
"""

from __future__ import annotations

from collections import Counter

import msgspec
from sqlalchemy import bindparam, func, or_, select

from wormfs.coordinator.db.convert import BUCKET_INFO
from wormfs.coordinator.db.database import Database
from wormfs.coordinator.db.liveness import DISK_READABLE, DISKS_WITH_NODES, horizon
from wormfs.coordinator.db.profiles import settings_class
from wormfs.coordinator.db.tables import (
    buckets,
    chunk_placements,
    disk_care,
    disks,
    jobs,
    objects,
    parts,
    repair_queue,
    segments,
    uploads,
)
from wormfs.coordinator.db.tx import Tx

# Repair reasons that say the chunk itself is bad (not merely to be moved elsewhere).
BAD_CHUNK_REASONS = ("missing", "corrupt", "inconsistent")


class DiskView(msgspec.Struct, frozen=True):
    disk_id: str
    node_id: str
    path: str
    state: str  # as the node reports it: online | offline | full
    readable: bool  # its node is live and the disk online or full
    drain_state: str  # "" | draining | drained
    capacity_bytes: int
    free_bytes: int
    used_bytes: int
    chunk_count: int
    error: str
    updated: float


class SegmentRisk(msgspec.Struct, frozen=True):
    degraded: int  # segments with fewer than k+m good chunks (unrecoverable ones included)
    unrecoverable: int  # segments with fewer than k good chunks
    by_missing: dict[str, int]  # number of chunks not good -> segments


class Usage(msgspec.Struct, frozen=True):
    objects: int
    bytes: int
    uploads: int


class FailedJob(msgspec.Struct, frozen=True):
    job_id: str
    kind: str
    target: str
    finished_at: float
    last_failure: str


class BucketSummary(msgspec.Struct, frozen=True):
    """A bucket as the admin list shows it: who owns it, what it holds, how it writes."""

    name: str
    owner_id: str
    owner_display_name: str
    created: float
    region: str
    storage_class: str  # the default class of objects written without one
    usage: Usage


_DISKS = (
    select(
        disks.c.disk_id,
        disks.c.node_id,
        disks.c.path,
        disks.c.state,
        DISK_READABLE.label("readable"),
        func.coalesce(disk_care.c.drain_state, "").label("drain_state"),
        disks.c.capacity_bytes,
        disks.c.free_bytes,
        disks.c.used_bytes,
        disks.c.chunk_count,
        disks.c.error,
        disks.c.updated,
    )
    .select_from(DISKS_WITH_NODES)
    .order_by(disks.c.disk_id)
)
_UNREADABLE_DISKS = select(disks.c.disk_id).select_from(DISKS_WITH_NODES).where(~DISK_READABLE)
_LOST_ON_DISKS = select(chunk_placements.c.segment_id, chunk_placements.c.fragment_index).where(
    chunk_placements.c.disk_id.in_(bindparam("disk_ids", expanding=True))
)
_BAD_QUEUED = select(repair_queue.c.segment_id, repair_queue.c.fragment_index).where(
    repair_queue.c.reason.in_(BAD_CHUNK_REASONS)
)
# k and the chunk count of each at-risk segment: the profile is the object's or the upload's.
_SEGMENT_SHAPES = (
    select(
        segments.c.id,
        objects.c.profile.label("object_profile"),
        uploads.c.profile.label("upload_profile"),
    )
    .join(parts, parts.c.id == segments.c.part_id)
    .outerjoin(objects, objects.c.id == parts.c.object_id)
    .outerjoin(uploads, uploads.c.upload_id == parts.c.upload_id)
    .where(segments.c.id.in_(bindparam("segment_ids", expanding=True)))
)
_BACKLOG = select(func.count()).select_from(repair_queue)
_VERSIONS = select(
    func.count().label("n"), func.coalesce(func.sum(objects.c.size), 0).label("total")
).where(
    ~objects.c.is_delete_marker,
    or_(
        bindparam("bucket", type_=objects.c.bucket.type).is_(None),
        objects.c.bucket == bindparam("bucket", type_=objects.c.bucket.type),
    ),
)
_UPLOADS = select(func.count()).where(
    or_(
        bindparam("bucket", type_=uploads.c.bucket.type).is_(None),
        uploads.c.bucket == bindparam("bucket", type_=uploads.c.bucket.type),
    ),
)

_BUCKET_VERSIONS = ~objects.c.is_delete_marker & (objects.c.bucket == buckets.c.name)
_BUCKET_PAGE = (
    BUCKET_INFO.add_columns(
        buckets.c.settings,
        select(func.count())
        .where(_BUCKET_VERSIONS)
        .correlate(buckets)
        .scalar_subquery()
        .label("n_objects"),
        select(func.coalesce(func.sum(objects.c.size), 0))
        .where(_BUCKET_VERSIONS)
        .correlate(buckets)
        .scalar_subquery()
        .label("n_bytes"),
        select(func.count())
        .where(uploads.c.bucket == buckets.c.name)
        .correlate(buckets)
        .scalar_subquery()
        .label("n_uploads"),
    )
    .where(
        or_(
            bindparam("after", type_=buckets.c.name.type).is_(None),
            buckets.c.name > bindparam("after", type_=buckets.c.name.type),
        ),
        or_(
            bindparam("owner_id", type_=buckets.c.owner_id.type).is_(None),
            buckets.c.owner_id == bindparam("owner_id", type_=buckets.c.owner_id.type),
        ),
    )
    .order_by(buckets.c.name)
    .limit(bindparam("limit"))
)
_FAILED_JOBS = (
    select(jobs.c.job_id, jobs.c.kind, jobs.c.target, jobs.c.finished_at, jobs.c.last_failure)
    .where(jobs.c.state == "failed", jobs.c.finished_at >= bindparam("since"))
    .order_by(jobs.c.finished_at.desc(), jobs.c.job_id)
    .limit(bindparam("limit"))
)


def _disks(tx: Tx, now: float, offline_after: float) -> list[DiskView]:
    return [
        DiskView(
            disk_id=r.disk_id,
            node_id=r.node_id,
            path=r.path,
            state=r.state,
            readable=bool(r.readable),
            drain_state=r.drain_state,
            capacity_bytes=r.capacity_bytes,
            free_bytes=r.free_bytes,
            used_bytes=r.used_bytes,
            chunk_count=r.chunk_count,
            error=r.error,
            updated=r.updated,
        )
        for r in tx.all(_DISKS, horizon(now, offline_after))
    ]


def _segment_risk(tx: Tx, now: float, offline_after: float) -> SegmentRisk:
    unreadable = tx.scalars(_UNREADABLE_DISKS, horizon(now, offline_after))
    bad: set[tuple[int, int]] = set()
    if unreadable:
        bad |= {
            (r.segment_id, r.fragment_index)
            for r in tx.all(_LOST_ON_DISKS, {"disk_ids": unreadable})
        }
    bad |= {(r.segment_id, r.fragment_index) for r in tx.all(_BAD_QUEUED)}
    missing = Counter(segment_id for segment_id, _ in bad)
    if not missing:
        return SegmentRisk(degraded=0, unrecoverable=0, by_missing={})
    unrecoverable = 0
    for row in tx.all(_SEGMENT_SHAPES, {"segment_ids": list(missing)}):
        profile = row.object_profile or row.upload_profile or {}
        k, m = int(profile.get("k", 1)), int(profile.get("m", 0))
        if k + m - missing[row.id] < k:
            unrecoverable += 1
    by_missing = Counter(str(n) for n in missing.values())
    return SegmentRisk(
        degraded=len(missing),
        unrecoverable=unrecoverable,
        by_missing=dict(sorted(by_missing.items())),
    )


def _usage(tx: Tx, bucket: str | None) -> Usage:
    row = tx.one(_VERSIONS, {"bucket": bucket})
    count, size = (row.n, row.total) if row is not None else (0, 0)
    return Usage(
        objects=int(count),
        bytes=int(size),
        uploads=int(tx.scalar(_UPLOADS, {"bucket": bucket}) or 0),
    )


def _bucket_page(tx: Tx, owner: str | None, after: str | None, limit: int) -> list[BucketSummary]:
    rows = tx.all(_BUCKET_PAGE, {"owner_id": owner, "after": after, "limit": limit})
    return [
        BucketSummary(
            name=r.name,
            owner_id=r.owner_id,
            owner_display_name=r.display_name or "",
            created=r.created,
            region=r.region,
            storage_class=settings_class(r.settings),
            usage=Usage(objects=int(r.n_objects), bytes=int(r.n_bytes), uploads=int(r.n_uploads)),
        )
        for r in rows
    ]


class AdminViews:
    def __init__(self, db: Database, offline_after: float) -> None:
        self._db = db
        self._offline_after = offline_after

    async def disks(self, now: float) -> list[DiskView]:
        return await self._db.read(lambda tx: _disks(tx, now, self._offline_after))

    async def segment_risk(self, now: float) -> SegmentRisk:
        return await self._db.read(lambda tx: _segment_risk(tx, now, self._offline_after))

    async def repair_backlog(self) -> int:
        """Chunks in the repair queue (running ones included)."""
        return int(await self._db.read(lambda tx: tx.scalar(_BACKLOG)) or 0)

    async def usage(self, bucket: str | None = None) -> Usage:
        return await self._db.read(lambda tx: _usage(tx, bucket))

    async def bucket_page(
        self, owner: str | None, after: str | None, limit: int
    ) -> list[BucketSummary]:
        """Up to ``limit`` buckets after ``after`` by name, with usage and class: one read."""
        return await self._db.read(lambda tx: _bucket_page(tx, owner, after, limit))

    async def failed_jobs(self, since: float, limit: int) -> list[FailedJob]:
        """Jobs that failed at or after ``since``, newest first."""

        def read(tx: Tx) -> list[FailedJob]:
            rows = tx.all(_FAILED_JOBS, {"since": since, "limit": limit})
            return [
                FailedJob(
                    job_id=r.job_id,
                    kind=r.kind,
                    target=r.target,
                    finished_at=float(r.finished_at),
                    last_failure=r.last_failure,
                )
                for r in rows
            ]

        return await self._db.read(read)
