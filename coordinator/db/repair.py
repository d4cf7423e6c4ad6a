"""The durable repair queue and the coordinator's per-disk care records.

Layer: coordinator database package (one transaction per method, like every repository).
Contract:

* ``track_availability`` keeps ``disk_care.unavailable_since`` true to the disks and nodes
  (a disk is available when it is online or full on a live node); disks unavailable for
  longer than the grace period and not yet handled are returned; a disk that came back drops
  its waiting "offline" entries (its chunks are readable again).
* ``enqueue_disk`` / ``enqueue_chunks`` add placements to the queue (idempotent: one row per
  segment and fragment index) and refresh every touched segment's ``surviving`` count, the
  queue's risk order.
* ``claim`` takes due entries, fewest surviving fragments first, and plans each one in the
  same transaction: its sources (chunks of the segment on available disks and not themselves
  lost) and its target disk (``wormfs.coordinator.repair_plan``; a missing, corrupt or
  inconsistent chunk on a healthy disk is rebuilt on that same disk under a new id; targets of
  other running rebuilds of the segment count as taken); the target chunk id is recorded
  before any byte is written, so an orphan scan never takes it for garbage. A planned move
  (drain, rebalance) with no better disk is dropped; a lost chunk with none waits.
* ``complete`` switches the placement to the new chunk atomically and queues the old chunk
  for GC, unless the segment changed meanwhile (object deleted or overwritten, or the
  placement already moved): then the new chunk is queued for GC instead and nothing else
  changes. ``fail`` puts an entry back with a back-off; the target chunk, if any was made,
  is queued for GC.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from wormfs.coordinator.db.database import Database
from wormfs.coordinator.db.direct import in_session
from wormfs.coordinator.db.models import (
    ChunkPlacementRow,
    DiskCare,
    RepairEntry,
    Segment,
)
from wormfs.coordinator.db.repair_rows import (
    IN_PLACE_REASONS,
    LOST_REASONS,
    MOVE_REASONS,
    DiskView,
    care_of,
    disk_views,
    enqueue_rows,
    gc_chunk,
    new_care,
    pairs,
    refresh_surviving,
    segment_profiles,
)
from wormfs.coordinator.db.writes import disk_candidates
from wormfs.coordinator.placement import DiskCandidate
from wormfs.coordinator.repair_plan import SourceChunk, choose_sources, choose_target
from wormfs.ids import new_id
from wormfs.layout import Profile
from wormfs.wire.repair import QueueEntry


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


class RepairQueue:
    def __init__(self, db: Database, offline_after: float, gc_delay: float) -> None:
        self._db = db
        self._offline_after = offline_after
        self._gc_delay = gc_delay

    # ---- detection --------------------------------------------------------------------------
    async def track_availability(self, now: float, grace: float) -> list[str]:
        """Update unavailability times; return disks lost past ``grace`` and not yet queued."""
        async with self._db.write() as session:
            views = await disk_views(session, now, self._offline_after)
            cares = {c.disk_id: c for c in await session.scalars(select(DiskCare))}
            lost: list[str] = []
            for view in views:
                care = cares.get(view.disk_id)
                if view.available:
                    if care is not None and care.unavailable_since is not None:
                        care.unavailable_since = None
                        care.lost_queued_at = None
                        # Back before its chunks were rebuilt: they are readable again.
                        await session.execute(
                            delete(RepairEntry).where(
                                RepairEntry.disk_id == view.disk_id,
                                RepairEntry.reason == "offline",
                                RepairEntry.running_since.is_(None),
                            )
                        )
                    continue
                if care is None:
                    care = new_care(view.disk_id, now)
                    session.add(care)
                if care.unavailable_since is None:
                    care.unavailable_since = now
                if care.lost_queued_at is None and now - care.unavailable_since >= grace:
                    lost.append(view.disk_id)
            return lost

    async def enqueue_disk(self, disk_id: str, reason: str, now: float | None = None) -> int:
        """Queue every placement on ``disk_id`` (lost disk, or a drain)."""
        now = time.time() if now is None else now
        async with self._db.write() as session:
            rows = list(
                await session.scalars(
                    select(ChunkPlacementRow).where(ChunkPlacementRow.disk_id == disk_id)
                )
            )
            added = await enqueue_rows(session, rows, reason, now)
            if reason == "offline":
                care = await care_of(session, disk_id, now)
                care.lost_queued_at = now
            return added

    async def enqueue_chunks(
        self, chunks: Sequence[tuple[str, str, str]], now: float | None = None
    ) -> int:
        """Queue referenced chunks given as (chunk_id, disk_id, reason); others are ignored."""
        now = time.time() if now is None else now
        if not chunks:
            return 0
        async with self._db.write() as session:
            rows = {
                (p.chunk_id, p.disk_id): p
                for p in await session.scalars(
                    select(ChunkPlacementRow).where(
                        ChunkPlacementRow.chunk_id.in_(sorted({c for c, _, _ in chunks}))
                    )
                )
            }
            added = 0
            by_reason: dict[str, list[ChunkPlacementRow]] = {}
            for chunk_id, disk_id, reason in chunks:
                row = rows.get((chunk_id, disk_id))
                if row is not None:
                    by_reason.setdefault(reason, []).append(row)
            for reason, placed in by_reason.items():
                added += await enqueue_rows(session, placed, reason, now)
            return added

    async def enqueue_moves(self, disk_id: str, nbytes: int, limit: int, now: float) -> int:
        """Queue up to ``limit`` placements on ``disk_id`` worth about ``nbytes`` ("rebalance")."""
        if limit <= 0 or nbytes <= 0:
            return 0
        async with self._db.write() as session:
            rows = (
                await session.execute(
                    select(ChunkPlacementRow, Segment.length)
                    .join(Segment, Segment.id == ChunkPlacementRow.segment_id)
                    .where(
                        ChunkPlacementRow.disk_id == disk_id,
                        # One move per segment at a time: the segment's other chunks cannot
                        # all find a disk outside it, and each move reads the whole set.
                        ~select(RepairEntry.id)
                        .where(RepairEntry.segment_id == ChunkPlacementRow.segment_id)
                        .exists(),
                    )
                    # Random ids: a spread over all objects, not the oldest ones.
                    .order_by(ChunkPlacementRow.chunk_id)
                    .limit(limit)
                )
            ).all()
            chosen: list[ChunkPlacementRow] = []
            total = 0
            for placement, length in rows:
                if total >= nbytes:
                    break
                chosen.append(placement)
                total += length // 2 + 1  # about one chunk: the segment over k, k unknown here
            return await enqueue_rows(session, chosen, "rebalance", now)

    async def reset_running(self) -> int:
        """Entries left running by an earlier leader go back to waiting (targets collected)."""
        now = time.time()
        async with self._db.write() as session:
            running = list(
                await session.scalars(
                    select(RepairEntry).where(RepairEntry.running_since.is_not(None))
                )
            )
            for entry in running:
                await self._release(session, entry, now, now, "interrupted by a leader change")
            return len(running)

    # ---- work -------------------------------------------------------------------------------
    async def claim(self, now: float, limit: int) -> tuple[list[RepairJob], list[Deferred]]:
        """Due entries, riskiest first, each planned and marked running."""
        if limit <= 0:
            return [], []
        async with self._db.write() as session:
            entries = list(
                await session.scalars(
                    select(RepairEntry)
                    .where(RepairEntry.running_since.is_(None), RepairEntry.not_before <= now)
                    .order_by(RepairEntry.surviving, RepairEntry.enqueued_at, RepairEntry.id)
                    .limit(limit)
                )
            )
            if not entries:
                return [], []
            seg_ids = sorted({e.segment_id for e in entries})
            views = {v.disk_id: v for v in await disk_views(session, now, self._offline_after)}
            draining = {d for d, v in views.items() if v.drain_state}
            candidates = [
                c if c.disk_id not in draining else _offline(c)
                for c in await in_session(
                    session, lambda sql: disk_candidates(sql, now, self._offline_after)
                )
            ]
            by_disk = {c.disk_id: c for c in candidates}
            placements: dict[int, list[ChunkPlacementRow]] = {}
            for p in await session.scalars(
                select(ChunkPlacementRow).where(ChunkPlacementRow.segment_id.in_(seg_ids))
            ):
                placements.setdefault(p.segment_id, []).append(p)
            queued: dict[tuple[int, int], str] = {}
            # Disks that running rebuilds of these segments are writing to: taken as well.
            incoming: dict[int, list[str]] = {}
            for e in await session.scalars(
                select(RepairEntry).where(RepairEntry.segment_id.in_(seg_ids))
            ):
                queued[(e.segment_id, e.fragment_index)] = e.reason
                if e.target_disk_id:
                    incoming.setdefault(e.segment_id, []).append(e.target_disk_id)
            lengths = pairs(
                (
                    await session.execute(
                        select(Segment.id, Segment.length).where(Segment.id.in_(seg_ids))
                    )
                ).all()
            )
            profiles = await segment_profiles(session, seg_ids)
            used = {
                d: v.used_bytes / v.capacity_bytes if v.capacity_bytes else 1.0
                for d, v in views.items()
            }
            jobs: list[RepairJob] = []
            deferred: list[Deferred] = []
            reserved: Counter[str] = Counter()  # disks picked by this claim, per segment-free
            for entry in entries:
                plan = self._plan(
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
                        # A move is optional: with no better disk for it, it is dropped.
                        await session.delete(entry)
                    else:
                        deferred.append(plan)
                    continue
                incoming.setdefault(entry.segment_id, []).append(plan.target_disk_id)
                entry.running_since = now
                entry.target_chunk_id = plan.target_chunk_id
                entry.target_disk_id = plan.target_disk_id
                reserved[plan.target_disk_id] += plan.chunk_bytes
                jobs.append(plan)
            return jobs, deferred

    def _plan(
        self,
        entry: RepairEntry,
        placed: list[ChunkPlacementRow],
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
                SourceChunk(
                    p.fragment_index, p.chunk_id, p.disk_id, view.node_id, view.node_address
                )
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
            c if not reserved[c.disk_id] else _with_free(c, c.free_bytes - reserved[c.disk_id])
            for c in candidates
        ]
        target: DiskCandidate | None = None
        home = next((c for c in adjusted if c.disk_id == entry.disk_id), None)
        if (
            entry.reason in IN_PLACE_REASONS
            and home is not None
            and home.online
            and home.free_bytes >= need
        ):
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

    async def defer(self, deferred: Sequence[Deferred], retry_at: float) -> None:
        if not deferred:
            return
        async with self._db.write() as session:
            for d in deferred:
                await session.execute(
                    update(RepairEntry)
                    .where(RepairEntry.id == d.entry_id)
                    .values(not_before=retry_at, last_error=d.why)
                )

    async def complete(self, job: RepairJob) -> bool:
        """Switch the placement to the new chunk; False if the segment changed meanwhile."""
        now = time.time()
        async with self._db.write() as session:
            entry = await session.get(RepairEntry, job.entry_id)
            placement = (
                await session.scalars(
                    select(ChunkPlacementRow).where(
                        ChunkPlacementRow.segment_id == job.segment_id,
                        ChunkPlacementRow.fragment_index == job.fragment_index,
                    )
                )
            ).first()
            if entry is not None:
                await session.delete(entry)
            if placement is None or placement.chunk_id != job.old_chunk_id:
                await gc_chunk(session, job.target_chunk_id, job.target_disk_id, now, now)
                return False
            # A moved chunk may still be read by a GET that fetched the manifest just before
            # the switch, as with an overwrite; a lost one cannot be, so it goes at once.
            later = now + self._gc_delay if job.reason in MOVE_REASONS else now
            placement.chunk_id = job.target_chunk_id
            placement.disk_id = job.target_disk_id
            await session.flush()  # the old chunk is unreferenced before it is queued
            await gc_chunk(session, job.old_chunk_id, job.old_disk_id, now, later)
            await refresh_surviving(session, [job.segment_id])
            return True

    async def fail(self, job: RepairJob, error: str, retry_at: float) -> None:
        async with self._db.write() as session:
            entry = await session.get(RepairEntry, job.entry_id)
            if entry is None:
                await gc_chunk(session, job.target_chunk_id, job.target_disk_id, time.time(), 0)
                return
            await self._release(session, entry, time.time(), retry_at, error)

    async def _release(
        self, session: AsyncSession, entry: RepairEntry, now: float, retry_at: float, error: str
    ) -> None:
        if entry.target_chunk_id and entry.target_disk_id:
            # The node may have written it before the failure reached us: never leave it.
            await gc_chunk(session, entry.target_chunk_id, entry.target_disk_id, now, now)
        entry.running_since = None
        entry.target_chunk_id = None
        entry.target_disk_id = None
        entry.attempts += 1
        entry.not_before = retry_at
        entry.last_error = error[:2000]

    async def segment_sources(
        self, disk_id: str, after: str | None, upto: str | None, limit: int
    ) -> list[tuple[Profile, int, list[SourceChunk]]]:
        """Up to ``limit`` segments with a chunk on ``disk_id`` in the id range
        ``(after, upto]``, each with all its chunks readable: (profile, length, chunks)."""
        if limit <= 0:
            return []
        async with self._db.read() as session:
            query = select(ChunkPlacementRow.segment_id).where(ChunkPlacementRow.disk_id == disk_id)
            if after is not None:
                query = query.where(ChunkPlacementRow.chunk_id > after)
            if upto is not None:
                query = query.where(ChunkPlacementRow.chunk_id <= upto)
            seg_ids = list(await session.scalars(query.order_by(func.random()).limit(limit)))
            if not seg_ids:
                return []
            views = {
                v.disk_id: v for v in await disk_views(session, time.time(), self._offline_after)
            }
            profiles = await segment_profiles(session, seg_ids)
            lengths = pairs(
                await session.execute(
                    select(Segment.id, Segment.length).where(Segment.id.in_(seg_ids))
                )
            )
            placed: dict[int, list[ChunkPlacementRow]] = {}
            for p in await session.scalars(
                select(ChunkPlacementRow).where(ChunkPlacementRow.segment_id.in_(seg_ids))
            ):
                placed.setdefault(p.segment_id, []).append(p)
        out = []
        for seg_id in seg_ids:
            profile = profiles.get(seg_id)
            rows = placed.get(seg_id, [])
            if profile is None or len(rows) != profile.n:
                continue
            if not all(p.disk_id in views and views[p.disk_id].available for p in rows):
                continue
            chunks = [
                SourceChunk(
                    p.fragment_index,
                    p.chunk_id,
                    p.disk_id,
                    views[p.disk_id].node_id,
                    views[p.disk_id].node_address,
                )
                for p in sorted(rows, key=lambda r: r.fragment_index)
            ]
            out.append((profile, lengths[seg_id], chunks))
        return out

    # ---- views ------------------------------------------------------------------------------
    async def queued_chunks(self, chunk_ids: Sequence[str]) -> set[str]:
        """Which of ``chunk_ids`` already have a queue entry."""
        if not chunk_ids:
            return set()
        async with self._db.read() as session:
            return set(
                await session.scalars(
                    select(RepairEntry.chunk_id).where(
                        RepairEntry.chunk_id.in_(sorted(set(chunk_ids)))
                    )
                )
            )

    async def disks(self) -> list[DiskView]:
        async with self._db.read() as session:
            return await disk_views(session, time.time(), self._offline_after)

    async def counts(self) -> tuple[int, int, int, int | None, dict[str, int]]:
        """(queued, running, queued bytes, fewest surviving, chunks by reason)."""
        async with self._db.read() as session:
            rows = (
                await session.execute(
                    select(
                        RepairEntry.reason,
                        func.count(),
                        func.count(RepairEntry.running_since),
                        func.coalesce(func.sum(RepairEntry.chunk_bytes), 0),
                        func.min(RepairEntry.surviving),
                    ).group_by(RepairEntry.reason)
                )
            ).all()
        by_reason = {r: int(n) for r, n, _, _, _ in rows}
        minimum = min((int(m) for *_, m in rows if m is not None), default=None)
        return (
            sum(by_reason.values()),
            sum(int(r) for _, _, r, _, _ in rows),
            sum(int(b) for _, _, _, b, _ in rows),
            minimum,
            by_reason,
        )

    async def entries(self, limit: int = 1000) -> list[QueueEntry]:
        """Queue entries, riskiest first (admin views and tests)."""
        async with self._db.read() as session:
            rows = await session.scalars(
                select(RepairEntry)
                .order_by(RepairEntry.surviving, RepairEntry.enqueued_at, RepairEntry.id)
                .limit(limit)
            )
            return [
                QueueEntry(
                    chunk_id=e.chunk_id,
                    disk_id=e.disk_id,
                    fragment_index=e.fragment_index,
                    reason=e.reason,
                    surviving=e.surviving,
                    attempts=e.attempts,
                    running=e.running_since is not None,
                    last_error=e.last_error,
                )
                for e in rows
            ]


def _offline(c: DiskCandidate) -> DiskCandidate:
    return _with_free(c, c.free_bytes, online=False)


def _with_free(c: DiskCandidate, free: int, online: bool | None = None) -> DiskCandidate:
    return DiskCandidate(
        disk_id=c.disk_id,
        node_id=c.node_id,
        node_address=c.node_address,
        free_bytes=free,
        online=c.online if online is None else online,
        rack=c.rack,
        zone=c.zone,
    )
