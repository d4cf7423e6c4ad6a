"""The durable repair queue and the coordinator's per-disk care records.

Layer: coordinator database package; statements in SQLAlchemy Core over ``tables``, each
method one transaction through ``Database.read`` / ``Database.write``. Contract:

* ``track_availability`` keeps ``disk_care.unavailable_since`` true to the disks and nodes
  (a disk is available when ``liveness.DISK_READABLE`` says so); disks unavailable for
  longer than the grace period and not yet handled are returned; a disk that came back drops
  its waiting "offline" entries (its chunks are readable again).
* ``enqueue_disk`` / ``enqueue_chunks`` add placements to the queue (idempotent: one row per
  segment and fragment index) and refresh every touched segment's ``surviving`` count, the
  queue's risk order.
* ``claim`` takes due entries, riskiest first, and plans each one in the same transaction
  (``repair_claim``).
* ``complete`` switches the placement to the new chunk atomically and queues the old chunk
  for GC, unless the segment changed meanwhile (object deleted or overwritten, or the
  placement already moved): then the new chunk is queued for GC instead and nothing else
  changes. ``fail`` puts an entry back with a back-off; the target chunk, if any was made,
  is queued for GC.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from sqlalchemy import bindparam, delete, exists, func, select, update

from wormfs.coordinator.db.database import Database
from wormfs.coordinator.db.repair_claim import (
    OF_SEGMENTS,
    RISK_ORDER,
    Deferred,
    RepairJob,
    claim,
)
from wormfs.coordinator.db.repair_rows import (
    INSERT_CARE,
    MOVE_REASONS,
    PLACEMENT_COLUMNS,
    DiskView,
    care_defaults,
    care_of,
    disk_views,
    enqueue_rows,
    gc_chunk,
    refresh_surviving,
    segment_lengths,
    segment_profiles,
)
from wormfs.coordinator.db.tables import chunk_placements, disk_care, repair_queue, segments
from wormfs.coordinator.db.tx import Row, Tx
from wormfs.coordinator.repair_plan import SourceChunk
from wormfs.format.layout import Profile
from wormfs.wire.repair import QueueEntry

# UPDATE statements name their WHERE parameters apart from the columns they set
# (SQLAlchemy reserves a column's name for its SET value).
_CARES = select(disk_care.c.disk_id, disk_care.c.unavailable_since, disk_care.c.lost_queued_at)
_BACK = (
    update(disk_care)
    .where(disk_care.c.disk_id.in_(bindparam("disk_ids", expanding=True)))
    .values(unavailable_since=None, lost_queued_at=None)
)
# Back before its chunks were rebuilt: they are readable again.
_DROP_OFFLINE = delete(repair_queue).where(
    repair_queue.c.disk_id.in_(bindparam("disk_ids", expanding=True)),
    repair_queue.c.reason == "offline",
    repair_queue.c.running_since.is_(None),
)
_GONE = (
    update(disk_care)
    .where(disk_care.c.disk_id.in_(bindparam("disk_ids", expanding=True)))
    .values(unavailable_since=bindparam("now"))
)
_LOST_QUEUED = (
    update(disk_care)
    .where(disk_care.c.disk_id == bindparam("which"))
    .values(lost_queued_at=bindparam("now"))
)
_ON_DISK = select(*PLACEMENT_COLUMNS).where(chunk_placements.c.disk_id == bindparam("disk_id"))
_OF_CHUNKS = select(*PLACEMENT_COLUMNS).where(
    chunk_placements.c.chunk_id.in_(bindparam("chunk_ids", expanding=True))
)
_MOVABLE = (
    select(*PLACEMENT_COLUMNS, segments.c.length)
    .join(segments, segments.c.id == chunk_placements.c.segment_id)
    .where(
        chunk_placements.c.disk_id == bindparam("disk_id"),
        # One move per segment at a time: the segment's other chunks cannot all find a disk
        # outside it, and each move reads the whole set.
        ~select(repair_queue.c.id)
        .where(repair_queue.c.segment_id == chunk_placements.c.segment_id)
        .exists(),
    )
    # Random ids: a spread over all objects, not the oldest ones.
    .order_by(chunk_placements.c.chunk_id)
    .limit(bindparam("limit"))
)
_RUNNING = select(repair_queue).where(repair_queue.c.running_since.is_not(None))
_DEFER = (
    update(repair_queue)
    .where(repair_queue.c.id == bindparam("entry_id"))
    .values(not_before=bindparam("not_before"), last_error=bindparam("last_error"))
)
_ENTRY = select(repair_queue).where(repair_queue.c.id == bindparam("entry_id"))
_DROP_ENTRY = delete(repair_queue).where(repair_queue.c.id == bindparam("entry_id"))
_PLACEMENT = select(chunk_placements.c.id, chunk_placements.c.chunk_id).where(
    chunk_placements.c.segment_id == bindparam("segment_id"),
    chunk_placements.c.fragment_index == bindparam("fragment_index"),
)
_SWITCH = (
    update(chunk_placements)
    .where(chunk_placements.c.id == bindparam("placement_id"))
    .values(chunk_id=bindparam("chunk_id"), disk_id=bindparam("disk_id"))
)
_RELEASE = (
    update(repair_queue)
    .where(repair_queue.c.id == bindparam("entry_id"))
    .values(
        running_since=None,
        target_chunk_id=None,
        target_disk_id=None,
        attempts=repair_queue.c.attempts + 1,
        not_before=bindparam("not_before"),
        last_error=bindparam("last_error"),
    )
)
# Id ranges ``after < id <= upto``: "" stands for "from the start" (every id is above it).
_SAMPLE = (
    select(chunk_placements.c.segment_id)
    .where(
        chunk_placements.c.disk_id == bindparam("disk_id"),
        chunk_placements.c.chunk_id > bindparam("after"),
        # A segment under repair is left out: its known-bad chunk would only be read (and
        # counted as a checksum error) again, and the repair rewrites the fragment anyway.
        ~exists().where(repair_queue.c.segment_id == chunk_placements.c.segment_id),
    )
    .order_by(func.random())
    .limit(bindparam("limit"))
)
_SAMPLE_UPTO = _SAMPLE.where(chunk_placements.c.chunk_id <= bindparam("upto"))
_QUEUED_CHUNKS = select(repair_queue.c.chunk_id).where(
    repair_queue.c.chunk_id.in_(bindparam("chunk_ids", expanding=True))
)
_COUNTS = select(
    repair_queue.c.reason,
    func.count().label("queued"),
    func.count(repair_queue.c.running_since).label("running"),
    func.coalesce(func.sum(repair_queue.c.chunk_bytes), 0).label("nbytes"),
    func.min(repair_queue.c.surviving).label("fewest"),
).group_by(repair_queue.c.reason)
_ENTRIES = select(repair_queue).order_by(*RISK_ORDER).limit(bindparam("limit"))


def _track_availability(tx: Tx, now: float, grace: float, offline_after: float) -> list[str]:
    views = disk_views(tx, now, offline_after)
    cares = {c.disk_id: c for c in tx.all(_CARES)}
    back: list[str] = []
    new: list[dict[str, Any]] = []
    gone: list[str] = []
    lost: list[str] = []
    for view in views:
        care = cares.get(view.disk_id)
        if view.available:
            if care is not None and care.unavailable_since is not None:
                back.append(view.disk_id)
            continue
        if care is None:
            new.append({**care_defaults(view.disk_id, now), "unavailable_since": now})
            since, queued_at = now, None
        elif care.unavailable_since is None:
            gone.append(view.disk_id)
            since, queued_at = now, care.lost_queued_at
        else:
            since, queued_at = care.unavailable_since, care.lost_queued_at
        if queued_at is None and now - since >= grace:
            lost.append(view.disk_id)
    if back:
        tx.run(_BACK, {"disk_ids": back})
        tx.run(_DROP_OFFLINE, {"disk_ids": back})
    tx.run_many(INSERT_CARE, new)
    if gone:
        tx.run(_GONE, {"disk_ids": gone, "now": now})
    return lost


def _enqueue_disk(tx: Tx, disk_id: str, reason: str, now: float) -> int:
    added = enqueue_rows(tx, tx.all(_ON_DISK, {"disk_id": disk_id}), reason, now)
    if reason == "offline":
        care_of(tx, disk_id, now)
        tx.run(_LOST_QUEUED, {"which": disk_id, "now": now})
    return added


def _enqueue_chunks(tx: Tx, chunks: Sequence[tuple[str, str, str]], now: float) -> int:
    ids = sorted({c for c, _, _ in chunks})
    rows = {(p.chunk_id, p.disk_id): p for p in tx.all(_OF_CHUNKS, {"chunk_ids": ids})}
    by_reason: dict[str, list[Row]] = {}
    for chunk_id, disk_id, reason in chunks:
        row = rows.get((chunk_id, disk_id))
        if row is not None:
            by_reason.setdefault(reason, []).append(row)
    return sum(enqueue_rows(tx, placed, reason, now) for reason, placed in by_reason.items())


def _enqueue_moves(tx: Tx, disk_id: str, nbytes: int, limit: int, now: float) -> int:
    chosen: list[Row] = []
    total = 0
    for placement in tx.all(_MOVABLE, {"disk_id": disk_id, "limit": limit}):
        if total >= nbytes:
            break
        chosen.append(placement)
        total += placement.length // 2 + 1  # about one chunk: the segment over k, k unknown
    return enqueue_rows(tx, chosen, "rebalance", now)


def _release(tx: Tx, entry: Row, now: float, retry_at: float, error: str) -> None:
    if entry.target_chunk_id and entry.target_disk_id:
        # The node may have written it before the failure reached us: never leave it.
        gc_chunk(tx, entry.target_chunk_id, entry.target_disk_id, now, now)
    tx.run(_RELEASE, {"entry_id": entry.id, "not_before": retry_at, "last_error": error[:2000]})


def _reset_running(tx: Tx, now: float) -> int:
    running = tx.all(_RUNNING)
    for entry in running:
        _release(tx, entry, now, now, "interrupted by a leader change")
    return len(running)


def _complete(tx: Tx, job: RepairJob, now: float, gc_delay: float) -> bool:
    tx.run(_DROP_ENTRY, {"entry_id": job.entry_id})
    placement = tx.one(
        _PLACEMENT, {"segment_id": job.segment_id, "fragment_index": job.fragment_index}
    )
    if placement is None or placement.chunk_id != job.old_chunk_id:
        gc_chunk(tx, job.target_chunk_id, job.target_disk_id, now, now)
        return False
    # A moved chunk may still be read by a GET that fetched the manifest just before the
    # switch, as with an overwrite; a lost one cannot be, so it goes at once.
    later = now + gc_delay if job.reason in MOVE_REASONS else now
    tx.run(
        _SWITCH,
        {
            "placement_id": placement.id,
            "chunk_id": job.target_chunk_id,
            "disk_id": job.target_disk_id,
        },
    )
    # The old chunk is unreferenced now, before it is queued.
    gc_chunk(tx, job.old_chunk_id, job.old_disk_id, now, later)
    refresh_surviving(tx, [job.segment_id])
    return True


def _fail(tx: Tx, job: RepairJob, error: str, retry_at: float) -> None:
    entry = tx.one(_ENTRY, {"entry_id": job.entry_id})
    if entry is None:
        gc_chunk(tx, job.target_chunk_id, job.target_disk_id, time.time(), 0)
        return
    _release(tx, entry, time.time(), retry_at, error)


def _segment_sources(
    tx: Tx, disk_id: str, after: str | None, upto: str | None, limit: int, offline_after: float
) -> list[tuple[Profile, int, list[SourceChunk]]]:
    params: dict[str, Any] = {"disk_id": disk_id, "after": after or "", "limit": limit}
    if upto is None:
        seg_ids = tx.scalars(_SAMPLE, params)
    else:
        seg_ids = tx.scalars(_SAMPLE_UPTO, {**params, "upto": upto})
    if not seg_ids:
        return []
    views = {v.disk_id: v for v in disk_views(tx, time.time(), offline_after)}
    profiles = segment_profiles(tx, seg_ids)
    lengths = segment_lengths(tx, seg_ids)
    placed: dict[int, list[Row]] = {}
    for p in tx.all(OF_SEGMENTS, {"segment_ids": sorted(set(seg_ids))}):
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


def _counts(tx: Tx) -> tuple[int, int, int, int | None, dict[str, int]]:
    rows = tx.all(_COUNTS)
    by_reason = {r.reason: int(r.queued) for r in rows}
    fewest = min((int(r.fewest) for r in rows if r.fewest is not None), default=None)
    return (
        sum(by_reason.values()),
        sum(int(r.running) for r in rows),
        sum(int(r.nbytes) for r in rows),
        fewest,
        by_reason,
    )


def _entries(tx: Tx, limit: int) -> list[QueueEntry]:
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
        for e in tx.all(_ENTRIES, {"limit": limit})
    ]


class RepairQueue:
    def __init__(self, db: Database, offline_after: float, gc_delay: float) -> None:
        self._db = db
        self._offline_after = offline_after
        self._gc_delay = gc_delay

    # ---- detection --------------------------------------------------------------------------
    async def track_availability(self, now: float, grace: float) -> list[str]:
        """Update unavailability times; return disks lost past ``grace`` and not yet queued."""
        return await self._db.write(
            lambda tx: _track_availability(tx, now, grace, self._offline_after)
        )

    async def enqueue_disk(self, disk_id: str, reason: str, now: float | None = None) -> int:
        """Queue every placement on ``disk_id`` (lost disk, or a drain)."""
        at = time.time() if now is None else now
        return await self._db.write(lambda tx: _enqueue_disk(tx, disk_id, reason, at))

    async def enqueue_chunks(
        self, chunks: Sequence[tuple[str, str, str]], now: float | None = None
    ) -> int:
        """Queue referenced chunks given as (chunk_id, disk_id, reason); others are ignored."""
        at = time.time() if now is None else now
        if not chunks:
            return 0
        return await self._db.write(lambda tx: _enqueue_chunks(tx, chunks, at))

    async def enqueue_moves(self, disk_id: str, nbytes: int, limit: int, now: float) -> int:
        """Queue up to ``limit`` placements on ``disk_id`` worth about ``nbytes`` ("rebalance")."""
        if limit <= 0 or nbytes <= 0:
            return 0
        return await self._db.write(lambda tx: _enqueue_moves(tx, disk_id, nbytes, limit, now))

    async def reset_running(self) -> int:
        """Entries left running by an earlier leader go back to waiting (targets collected)."""
        now = time.time()
        return await self._db.write(lambda tx: _reset_running(tx, now))

    # ---- work -------------------------------------------------------------------------------
    async def claim(self, now: float, limit: int) -> tuple[list[RepairJob], list[Deferred]]:
        """Due entries, riskiest first, each planned and marked running."""
        if limit <= 0:
            return [], []
        return await self._db.write(lambda tx: claim(tx, now, limit, self._offline_after))

    async def defer(self, deferred: Sequence[Deferred], retry_at: float) -> None:
        if not deferred:
            return
        rows = [
            {"entry_id": d.entry_id, "not_before": retry_at, "last_error": d.why} for d in deferred
        ]
        await self._db.write(lambda tx: tx.run_many(_DEFER, rows))

    async def complete(self, job: RepairJob) -> bool:
        """Switch the placement to the new chunk; False if the segment changed meanwhile."""
        now = time.time()
        return await self._db.write(lambda tx: _complete(tx, job, now, self._gc_delay))

    async def fail(self, job: RepairJob, error: str, retry_at: float) -> None:
        await self._db.write(lambda tx: _fail(tx, job, error, retry_at))

    async def segment_sources(
        self, disk_id: str, after: str | None, upto: str | None, limit: int
    ) -> list[tuple[Profile, int, list[SourceChunk]]]:
        """Up to ``limit`` segments with a chunk on ``disk_id`` in the id range
        ``(after, upto]`` and none queued for repair, each with all its chunks readable:
        (profile, length, chunks)."""
        if limit <= 0:
            return []
        return await self._db.read(
            lambda tx: _segment_sources(tx, disk_id, after, upto, limit, self._offline_after)
        )

    # ---- views ------------------------------------------------------------------------------
    async def queued_chunks(self, chunk_ids: Sequence[str]) -> set[str]:
        """Which of ``chunk_ids`` already have a queue entry."""
        if not chunk_ids:
            return set()
        wanted = sorted(set(chunk_ids))
        return set(
            await self._db.read(lambda tx: tx.scalars(_QUEUED_CHUNKS, {"chunk_ids": wanted}))
        )

    async def disks(self) -> list[DiskView]:
        now = time.time()
        return await self._db.read(lambda tx: disk_views(tx, now, self._offline_after))

    async def counts(self) -> tuple[int, int, int, int | None, dict[str, int]]:
        """(queued, running, queued bytes, fewest surviving, chunks by reason)."""
        return await self._db.read(_counts)

    async def entries(self, limit: int = 1000) -> list[QueueEntry]:
        """Queue entries, riskiest first (admin views and tests)."""
        return await self._db.read(lambda tx: _entries(tx, limit))
