"""Claiming repair work: due queue entries planned into rebuild jobs, in one transaction.

Layer: coordinator database package, below ``repair.RepairQueue`` (which runs ``claim`` in a
write transaction). Contract: ``claim`` takes due entries, fewest surviving fragments first,
and plans each one: its sources (chunks of the segment on available disks and not themselves
lost) and its target disk (among ``liveness.disk_candidates``, chosen by
``wormfs.coordinator.repair_plan``; a missing, corrupt or inconsistent chunk on a healthy disk
is rebuilt on that same disk under a new id; targets of other running rebuilds of the segment
count as taken). The target chunk id is recorded (the entry marked running) before any byte is
written, so an orphan scan never takes it for garbage. A planned move (drain, rebalance) with
no better disk is dropped; a lost chunk with none waits (``Deferred``).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, replace

from sqlalchemy import bindparam, delete, select, update

from wormfs.coordinator.db.liveness import disk_candidates
from wormfs.coordinator.db.repair_rows import (
    IN_PLACE_REASONS,
    LOST_REASONS,
    PLACEMENT_COLUMNS,
    DiskView,
    disk_views,
    segment_lengths,
    segment_profiles,
)
from wormfs.coordinator.db.tables import chunk_placements, repair_queue
from wormfs.coordinator.db.tx import Row, Tx
from wormfs.coordinator.placement import DiskCandidate
from wormfs.coordinator.repair_plan import SourceChunk, choose_sources, choose_target
from wormfs.format.layout import Profile
from wormfs.ids import new_id

OF_SEGMENTS = select(*PLACEMENT_COLUMNS).where(
    chunk_placements.c.segment_id.in_(bindparam("segment_ids", expanding=True))
)
RISK_ORDER = (repair_queue.c.surviving, repair_queue.c.enqueued_at, repair_queue.c.id)
_DUE = (
    select(repair_queue)
    .where(repair_queue.c.running_since.is_(None), repair_queue.c.not_before <= bindparam("now"))
    .order_by(*RISK_ORDER)
    .limit(bindparam("limit"))
)
_SEGMENT_ENTRIES = select(
    repair_queue.c.segment_id,
    repair_queue.c.fragment_index,
    repair_queue.c.reason,
    repair_queue.c.target_disk_id,
).where(repair_queue.c.segment_id.in_(bindparam("segment_ids", expanding=True)))
_DROP_ENTRIES = delete(repair_queue).where(
    repair_queue.c.id.in_(bindparam("entry_ids", expanding=True))
)
_START = (
    update(repair_queue)
    .where(repair_queue.c.id == bindparam("entry_id"))
    .values(
        running_since=bindparam("running_since"),
        target_chunk_id=bindparam("target_chunk_id"),
        target_disk_id=bindparam("target_disk_id"),
    )
)


@dataclass(frozen=True)
class RepairJob:
    """One claimed entry, planned: rebuild ``fragment_index`` from ``sources`` onto target."""

    entry_id: int
    segment_id: int
    fragment_index: int
    old_chunk_id: str
    old_disk_id: str
    reason: str
    chunk_bytes: int
    profile: Profile
    segment_length: int
    sources: list[SourceChunk]
    target_disk_id: str
    target_node_id: str
    target_address: str
    target_chunk_id: str
    attempts: int


@dataclass(frozen=True)
class Deferred:
    """A claimed entry that cannot run now (too few sources, or no target disk)."""

    entry_id: int
    why: str


def claim(
    tx: Tx, now: float, limit: int, offline_after: float
) -> tuple[list[RepairJob], list[Deferred]]:
    """Due entries, riskiest first, each planned and marked running (see the module doc)."""
    entries = tx.all(_DUE, {"now": now, "limit": limit})
    if not entries:
        return [], []
    seg_ids = sorted({e.segment_id for e in entries})
    views = {v.disk_id: v for v in disk_views(tx, now, offline_after)}
    # Draining and drained disks are not writable (liveness.DISK_WRITABLE): no target.
    candidates = disk_candidates(tx, now, offline_after)
    by_disk = {c.disk_id: c for c in candidates}
    placements: dict[int, list[Row]] = {}
    for p in tx.all(OF_SEGMENTS, {"segment_ids": seg_ids}):
        placements.setdefault(p.segment_id, []).append(p)
    queued: dict[tuple[int, int], str] = {}
    # Disks that running rebuilds of these segments are writing to: taken as well.
    incoming: dict[int, list[str]] = {}
    for e in tx.all(_SEGMENT_ENTRIES, {"segment_ids": seg_ids}):
        queued[(e.segment_id, e.fragment_index)] = e.reason
        if e.target_disk_id:
            incoming.setdefault(e.segment_id, []).append(e.target_disk_id)
    lengths = segment_lengths(tx, seg_ids)
    profiles = segment_profiles(tx, seg_ids)
    used = {
        d: v.used_bytes / v.capacity_bytes if v.capacity_bytes else 1.0 for d, v in views.items()
    }
    jobs: list[RepairJob] = []
    deferred: list[Deferred] = []
    dropped: list[int] = []
    reserved: Counter[str] = Counter()  # disks picked by this claim, per segment-free
    for entry in entries:
        plan = _plan(
            entry,
            placements.get(entry.segment_id, []),
            queued,
            views,
            candidates,
            by_disk,
            profiles.get(entry.segment_id),
            lengths.get(entry.segment_id, 0),
            used if entry.reason == "rebalance" else None,
            reserved,
            incoming.get(entry.segment_id, []),
        )
        if isinstance(plan, Deferred):
            if entry.reason == "rebalance":
                dropped.append(entry.id)  # a move is optional: no better disk, no move
            else:
                deferred.append(plan)
            continue
        incoming.setdefault(entry.segment_id, []).append(plan.target_disk_id)
        reserved[plan.target_disk_id] += plan.chunk_bytes
        jobs.append(plan)
    if dropped:
        tx.run(_DROP_ENTRIES, {"entry_ids": dropped})
    tx.run_many(
        _START,
        [
            {
                "entry_id": job.entry_id,
                "running_since": now,
                "target_chunk_id": job.target_chunk_id,
                "target_disk_id": job.target_disk_id,
            }
            for job in jobs
        ],
    )
    return jobs, deferred


def _plan(
    entry: Row,
    placed: list[Row],
    queued: dict[tuple[int, int], str],
    views: dict[str, DiskView],
    candidates: list[DiskCandidate],
    by_disk: dict[str, DiskCandidate],
    profile: Profile | None,
    length: int,
    used: dict[str, float] | None,
    reserved: Counter[str],
    incoming: list[str],
) -> RepairJob | Deferred:
    if profile is None:
        return Deferred(entry.id, "segment has no profile")
    sources: list[SourceChunk] = []
    for p in placed:
        view = views.get(p.disk_id)
        reason = queued.get((p.segment_id, p.fragment_index))
        if view is None or not view.available or reason in LOST_REASONS:
            continue
        sources.append(
            SourceChunk(p.fragment_index, p.chunk_id, p.disk_id, view.node_id, view.node_address)
        )
    readable = {s.fragment_index for s in sources}
    if entry.fragment_index not in readable and len(sources) < profile.k:
        return Deferred(
            entry.id, f"only {len(sources)} of the {profile.k} fragments needed are readable"
        )
    others = [
        by_disk[p.disk_id]
        for p in placed
        if p.fragment_index != entry.fragment_index and p.disk_id in by_disk
    ] + [by_disk[d] for d in incoming if d in by_disk]
    need = entry.chunk_bytes + 64 * 1024
    adjusted = [
        c if not reserved[c.disk_id] else replace(c, free_bytes=c.free_bytes - reserved[c.disk_id])
        for c in candidates
    ]
    target: DiskCandidate | None = None
    home = next((c for c in adjusted if c.disk_id == entry.disk_id), None)
    if entry.reason in IN_PLACE_REASONS and home is not None and home.can_take(need):
        # A bad chunk on a healthy disk is rebuilt beside itself (as a new chunk id): the
        # placement stays as balanced as it was, and the old chunk goes to GC at once.
        target = home
    if target is None:
        target = choose_target(
            adjusted,
            [p.disk_id for p in placed] + incoming,
            others,
            need,
            seed=f"{entry.segment_id}/{entry.fragment_index}/{entry.attempts}",
            used_fraction=used,
        )
    if target is None:
        return Deferred(entry.id, "no usable disk outside the segment's disks")
    if used is not None and used.get(target.disk_id, 1.0) >= used.get(entry.disk_id, 0.0):
        return Deferred(entry.id, "no emptier disk to move to")
    return RepairJob(
        entry_id=entry.id,
        segment_id=entry.segment_id,
        fragment_index=entry.fragment_index,
        old_chunk_id=entry.chunk_id,
        old_disk_id=entry.disk_id,
        reason=entry.reason,
        chunk_bytes=entry.chunk_bytes,
        profile=profile,
        segment_length=length,
        sources=choose_sources(sources, entry.fragment_index),
        target_disk_id=target.disk_id,
        target_node_id=target.node_id,
        target_address=target.node_address,
        target_chunk_id=new_id(),
        attempts=entry.attempts,
    )
