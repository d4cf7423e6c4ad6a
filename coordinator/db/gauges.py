"""What the cluster's gauges read from the metadata: nodes, disks, durability counts, backlogs.

Layer: coordinator database package; statements in SQLAlchemy Core over ``tables``, run by
``Database.read`` (the one door). Contract: ``ClusterGaugesRepo.snapshot(now)`` is one read
transaction (one snapshot) returning ``ClusterSnapshot``:

* every node with ``up`` (``liveness.NODE_LIVE``) and the age of its last heartbeat;
* every disk with its node, its state as the cluster sees it (``DISK_STATES``: ``lost`` once
  the repair grace passed and its chunks were queued, else ``drained`` / ``draining`` from
  its care row, else ``offline`` when unreadable (``liveness.DISK_READABLE``), else ``full`` or
  ``online`` as its node reports it), its capacity, free and used bytes;
* ``degraded``: how many segments miss how many chunks (``{missing: segments}``) and
  ``unrecoverable``: how many miss more than their profile's m. A chunk is missing when its
  disk is unreadable or when the repair queue holds it as lost (``LOST_REASONS``). The query
  starts from the placements on unreadable disks (index on ``chunk_placements.disk_id``) and
  the queued lost chunks, so its cost follows the damage, not the size of the cluster;
* ``gc_backlog``: chunks queued for deletion; ``pending_writes``: write intents open.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from sqlalchemy import Integer, case, func, not_, select, union

from wormfs.coordinator.db.database import Database
from wormfs.coordinator.db.liveness import DISK_READABLE, DISKS_WITH_NODES, NODE_LIVE, horizon
from wormfs.coordinator.db.repair_rows import LOST_REASONS
from wormfs.coordinator.db.tables import (
    chunk_placements,
    disk_care,
    disks,
    gc_queue,
    nodes,
    objects,
    parts,
    pending_writes,
    repair_queue,
    segments,
    uploads,
)
from wormfs.coordinator.db.tx import Tx

DISK_STATES = ("online", "full", "offline", "draining", "drained", "lost")

_NODES = select(
    nodes.c.node_id, nodes.c.address, NODE_LIVE.label("up"), nodes.c.last_heartbeat
).order_by(nodes.c.node_id)
_DISKS = (
    select(
        disks.c.disk_id,
        disks.c.node_id,
        disks.c.state,
        DISK_READABLE.label("readable"),
        disks.c.capacity_bytes,
        disks.c.free_bytes,
        disks.c.used_bytes,
        disks.c.chunk_count,
        disk_care.c.drain_state,
        disk_care.c.lost_queued_at,
    )
    .select_from(DISKS_WITH_NODES)
    .order_by(disks.c.disk_id)
)

# The missing chunks, one row per (segment, fragment index): on an unreadable disk, or queued
# as lost (the union drops a chunk that is both).
_ON_UNREADABLE = (
    select(chunk_placements.c.segment_id, chunk_placements.c.fragment_index)
    .select_from(
        chunk_placements.join(disks, disks.c.disk_id == chunk_placements.c.disk_id).join(
            nodes, nodes.c.node_id == disks.c.node_id
        )
    )
    .where(not_(DISK_READABLE))
)
_QUEUED_LOST = select(repair_queue.c.segment_id, repair_queue.c.fragment_index).where(
    repair_queue.c.reason.in_(sorted(LOST_REASONS))
)
_missing = union(_ON_UNREADABLE, _QUEUED_LOST).subquery("missing")
_per_segment = (
    select(_missing.c.segment_id, func.count().label("missing"))
    .group_by(_missing.c.segment_id)
    .subquery("per_segment")
)
# m of the segment's profile: from its object version, or its upload while one is in progress.
_parity = func.coalesce(
    objects.c.profile["m"].as_integer(), uploads.c.profile["m"].as_integer()
).cast(Integer)
_DEGRADED = (
    select(
        _per_segment.c.missing,
        func.sum(case((_per_segment.c.missing > _parity, 1), else_=0)).label("lost"),
        func.count().label("segments"),
    )
    .select_from(
        _per_segment.join(segments, segments.c.id == _per_segment.c.segment_id)
        .join(parts, parts.c.id == segments.c.part_id)
        .outerjoin(objects, objects.c.id == parts.c.object_id)
        .outerjoin(uploads, uploads.c.upload_id == parts.c.upload_id)
    )
    .group_by(_per_segment.c.missing)
    .order_by(_per_segment.c.missing)
)
_GC_BACKLOG = select(func.count()).select_from(gc_queue)
_PENDING_WRITES = select(func.count()).select_from(pending_writes)


@dataclass(frozen=True)
class NodeGauge:
    node_id: str
    address: str  # its base URL (the cluster exposition scrapes it)
    up: bool
    heartbeat_age: float  # seconds since its last heartbeat


@dataclass(frozen=True)
class DiskGauge:
    disk_id: str
    node_id: str
    state: str  # one of DISK_STATES
    capacity_bytes: int
    free_bytes: int
    used_bytes: int
    chunks: int


@dataclass(frozen=True)
class ClusterSnapshot:
    taken: float
    nodes: list[NodeGauge] = field(default_factory=list)
    disks: list[DiskGauge] = field(default_factory=list)
    degraded: dict[int, int] = field(default_factory=dict)  # missing chunks -> segments
    unrecoverable: int = 0
    gc_backlog: int = 0
    pending_writes: int = 0


def disk_state(
    state: str, readable: bool, drain_state: str | None, lost_queued_at: float | None
) -> str:
    if lost_queued_at is not None:
        return "lost"
    if drain_state in ("draining", "drained"):
        return drain_state
    if not readable:
        return "offline"
    return "full" if state == "full" else "online"


def _snapshot(tx: Tx, now: float, offline_after: float) -> ClusterSnapshot:
    live = horizon(now, offline_after)
    degraded: dict[int, int] = {}
    unrecoverable = 0
    for row in tx.all(_DEGRADED, live):
        degraded[int(row.missing)] = int(row.segments)
        unrecoverable += int(row.lost or 0)
    return ClusterSnapshot(
        taken=now,
        nodes=[
            NodeGauge(r.node_id, r.address, bool(r.up), max(0.0, now - r.last_heartbeat))
            for r in tx.all(_NODES, live)
        ],
        disks=[
            DiskGauge(
                disk_id=r.disk_id,
                node_id=r.node_id,
                state=disk_state(r.state, bool(r.readable), r.drain_state, r.lost_queued_at),
                capacity_bytes=r.capacity_bytes,
                free_bytes=r.free_bytes,
                used_bytes=r.used_bytes,
                chunks=r.chunk_count,
            )
            for r in tx.all(_DISKS, live)
        ],
        degraded=degraded,
        unrecoverable=unrecoverable,
        gc_backlog=int(tx.scalar(_GC_BACKLOG) or 0),
        pending_writes=int(tx.scalar(_PENDING_WRITES) or 0),
    )


class ClusterGaugesRepo:
    def __init__(self, db: Database, offline_after: float) -> None:
        self._db = db
        self._offline_after = offline_after

    async def snapshot(self, now: float | None = None) -> ClusterSnapshot:
        at = time.time() if now is None else now
        return await self._db.read(lambda tx: _snapshot(tx, at, self._offline_after))
