"""Per-disk care: drains, scrub progress, and the reference checks a scrub needs.

Layer: coordinator database package; statements in SQLAlchemy Core over ``tables``, each
method one transaction through ``Database.read`` / ``Database.write``. Contract:

* drains: ``set_drain`` marks disks draining (placement then skips them and the repair
  scheduler moves their chunks away) or back to normal; ``finish_drains`` marks a draining
  disk ``drained`` once no placement and no queued GC delete is left on it (its node is then
  free to be switched off); ``drain_status`` reports progress. ``forget_disk`` (an operation
  for ``Database.write``) drops a dead disk once nothing references it any more, and with it
  the GC deletes that can never run.
* scrub records: ``record_shallow`` / ``record_deep`` add to the per-disk counters ("bytes
  verified since T"); ``scrub_states`` reads them back.
* reference checks, per disk and id range (bounded memory, matching the inventory's pages):
  ``referenced`` (chunk ids that placements put on the disk) and ``protected`` (ids some
  in-flight write or repair will reference, or already queued for GC) so an orphan scan
  never queues a chunk that metadata references or is about to.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

from sqlalchemy import bindparam, delete, func, select, update

from wormfs.coordinator.db import gc
from wormfs.coordinator.db.database import Database
from wormfs.coordinator.db.liveness import NODE_LIVE, horizon
from wormfs.coordinator.db.repair_rows import care_of, ensure_care
from wormfs.coordinator.db.tables import (
    chunk_placements,
    disk_care,
    disks,
    gc_queue,
    nodes,
    pending_writes,
    repair_queue,
)
from wormfs.coordinator.db.tx import Tx
from wormfs.errors import ConflictError, NoSuchDiskError, NotFoundError
from wormfs.wire.repair import DiskDrainState, DiskScrubState, DrainStatus, ForgetResult

# UPDATE statements name their WHERE parameters apart from the columns they set
# (SQLAlchemy reserves a column's name for its SET value).
_NODE_DISKS = select(disks.c.disk_id).where(disks.c.node_id == bindparam("node_id"))
_KNOWN_DISKS = select(disks.c.disk_id).where(
    disks.c.disk_id.in_(bindparam("disk_ids", expanding=True))
)
_START_DRAIN = (
    update(disk_care)
    .where(
        disk_care.c.disk_id.in_(bindparam("disk_ids", expanding=True)),
        disk_care.c.drain_state == "",
    )
    .values(drain_state="draining", drain_since=bindparam("now"))
)
_STOP_DRAIN = (
    update(disk_care)
    .where(disk_care.c.disk_id.in_(bindparam("disk_ids", expanding=True)))
    .values(drain_state="", drain_since=bindparam("now"))
)
# Waiting moves off a disk that stays are pointless once its drain is called off.
_DROP_DRAIN_MOVES = delete(repair_queue).where(
    repair_queue.c.disk_id.in_(bindparam("disk_ids", expanding=True)),
    repair_queue.c.reason == "drain",
    repair_queue.c.running_since.is_(None),
)
_DRAINING = (
    select(disk_care.c.disk_id)
    .where(disk_care.c.drain_state == "draining")
    .order_by(disk_care.c.disk_id)
)
_PLACED_ON = (
    select(chunk_placements.c.disk_id, func.count().label("n"))
    .where(chunk_placements.c.disk_id.in_(bindparam("disk_ids", expanding=True)))
    .group_by(chunk_placements.c.disk_id)
)
_GC_ON = (
    select(gc_queue.c.disk_id, func.count().label("n"))
    .where(gc_queue.c.disk_id.in_(bindparam("disk_ids", expanding=True)))
    .group_by(gc_queue.c.disk_id)
)
_DRAINED = (
    update(disk_care)
    .where(disk_care.c.disk_id.in_(bindparam("disk_ids", expanding=True)))
    .values(drain_state="drained", drain_since=bindparam("now"))
)
_DRAINS = (
    select(disk_care.c.disk_id, disk_care.c.drain_state, disk_care.c.drain_since, disks.c.node_id)
    .join(disks, disks.c.disk_id == disk_care.c.disk_id)
    .where(disk_care.c.drain_state != "")
    .order_by(disk_care.c.disk_id)
)
_SHALLOW = (
    update(disk_care)
    .where(disk_care.c.disk_id == bindparam("which"))
    .values(
        last_shallow=bindparam("now"),
        missing_found=disk_care.c.missing_found + bindparam("missing"),
        orphans_found=disk_care.c.orphans_found + bindparam("orphans"),
    )
)
_DEEP = (
    update(disk_care)
    .where(disk_care.c.disk_id == bindparam("which"))
    .values(
        bytes_verified=disk_care.c.bytes_verified + bindparam("nbytes"),
        chunks_verified=disk_care.c.chunks_verified + bindparam("chunks"),
        corrupt_found=disk_care.c.corrupt_found + bindparam("corrupt"),
        deep_cursor=bindparam("cursor"),
    )
)
_DEEP_FINISHED = (
    update(disk_care)
    .where(disk_care.c.disk_id == bindparam("which"))
    .values(last_deep_finished=bindparam("now"))
)
_SCRUB_STATES = (
    select(
        disks.c.disk_id,
        disks.c.node_id,
        disk_care.c.disk_id.label("care_disk_id"),
        disk_care.c.bytes_verified,
        disk_care.c.chunks_verified,
        disk_care.c.verified_since,
        disk_care.c.last_shallow,
        disk_care.c.last_deep_finished,
        disk_care.c.deep_cursor,
        disk_care.c.missing_found,
        disk_care.c.corrupt_found,
        disk_care.c.orphans_found,
    )
    .select_from(disks.outerjoin(disk_care, disk_care.c.disk_id == disks.c.disk_id))
    .order_by(disks.c.disk_id)
)
_CARED = select(disk_care.c.disk_id).where(
    disk_care.c.disk_id.in_(bindparam("disk_ids", expanding=True))
)
# Id ranges ``after < id <= upto``: "" stands for "from the start" (every id is above it).
_REFERENCED = select(chunk_placements.c.chunk_id).where(
    chunk_placements.c.disk_id == bindparam("disk_id"),
    chunk_placements.c.chunk_id > bindparam("after"),
)
_REFERENCED_UPTO = _REFERENCED.where(chunk_placements.c.chunk_id <= bindparam("upto"))
_PLACED = select(chunk_placements.c.chunk_id).where(
    chunk_placements.c.chunk_id.in_(bindparam("chunk_ids", expanding=True))
)
_REPAIR_TARGETS = select(repair_queue.c.target_chunk_id).where(
    repair_queue.c.target_chunk_id.in_(bindparam("chunk_ids", expanding=True))
)
_GC_QUEUED = select(gc_queue.c.chunk_id).where(
    gc_queue.c.chunk_id.in_(bindparam("chunk_ids", expanding=True))
)
_INTENT_PLACEMENTS = select(pending_writes.c.placements)
_FORGET_STATE = (
    select(disks.c.state, NODE_LIVE.label("node_live"))
    .join(nodes, nodes.c.node_id == disks.c.node_id)
    .where(disks.c.disk_id == bindparam("disk_id"))
)
_PLACEMENTS_NAMING = select(func.count()).where(chunk_placements.c.disk_id == bindparam("disk_id"))
_REBUILDS_TO = select(func.count()).where(repair_queue.c.target_disk_id == bindparam("disk_id"))
_FORGET_GC = delete(gc_queue).where(gc_queue.c.disk_id == bindparam("disk_id"))
_FORGET_REPAIRS = delete(repair_queue).where(repair_queue.c.disk_id == bindparam("disk_id"))
_FORGET_CARE = delete(disk_care).where(disk_care.c.disk_id == bindparam("disk_id"))
_FORGET_DISK = delete(disks).where(disks.c.disk_id == bindparam("disk_id"))


def _placements_on(tx: Tx, disk_ids: Sequence[str]) -> dict[str, int]:
    if not disk_ids:
        return {}
    return {r.disk_id: int(r.n) for r in tx.all(_PLACED_ON, {"disk_ids": list(disk_ids)})}


def _node_disks(tx: Tx, node_id: str) -> list[str]:
    ids = tx.scalars(_NODE_DISKS, {"node_id": node_id})
    if not ids:
        raise NotFoundError(f"node {node_id!r} is not known or has no disks")
    return ids


def _set_drain(tx: Tx, disk_ids: Sequence[str], draining: bool, now: float) -> None:
    ids = list(disk_ids)
    known = set(tx.scalars(_KNOWN_DISKS, {"disk_ids": ids}))
    unknown = sorted(set(ids) - known)
    if unknown:
        raise NoSuchDiskError(f"unknown disks: {', '.join(unknown)}")
    ensure_care(tx, ids, now)
    params = {"disk_ids": ids, "now": now}
    if draining:
        tx.run(_START_DRAIN, params)
    else:
        tx.run(_STOP_DRAIN, params)
        tx.run(_DROP_DRAIN_MOVES, {"disk_ids": ids})


def _finish_drains(tx: Tx, now: float) -> list[str]:
    ids = tx.scalars(_DRAINING)
    if not ids:
        return []
    placed = _placements_on(tx, ids)
    gc_left = {r.disk_id: int(r.n) for r in tx.all(_GC_ON, {"disk_ids": ids})}
    done = [d for d in ids if not placed.get(d) and not gc_left.get(d)]
    if done:
        tx.run(_DRAINED, {"disk_ids": done, "now": now})
    return done


def _drain_status(tx: Tx) -> DrainStatus:
    rows = tx.all(_DRAINS)
    placed = _placements_on(tx, [r.disk_id for r in rows])
    return DrainStatus(
        disks=[
            DiskDrainState(
                disk_id=r.disk_id,
                node_id=r.node_id,
                state="drained" if r.drain_state == "drained" else "draining",
                since=r.drain_since,
                chunks_left=placed.get(r.disk_id, 0),
            )
            for r in rows
        ]
    )


def _record_shallow(tx: Tx, disk_id: str, missing: int, orphans: int, now: float) -> None:
    care_of(tx, disk_id, now)
    tx.run(_SHALLOW, {"which": disk_id, "now": now, "missing": missing, "orphans": orphans})


def _record_deep(
    tx: Tx, disk_id: str, cursor: str | None, nbytes: int, chunks: int, corrupt: int, now: float
) -> None:
    care_of(tx, disk_id, now)
    tx.run(
        _DEEP,
        {
            "which": disk_id,
            "nbytes": nbytes,
            "chunks": chunks,
            "corrupt": corrupt,
            "cursor": cursor,
        },
    )
    if cursor is None:
        tx.run(_DEEP_FINISHED, {"which": disk_id, "now": now})


def _scrub_states(tx: Tx, now: float) -> list[DiskScrubState]:
    out = []
    for r in tx.all(_SCRUB_STATES):
        cared = r.care_disk_id is not None
        out.append(
            DiskScrubState(
                disk_id=r.disk_id,
                node_id=r.node_id,
                bytes_verified=r.bytes_verified if cared else 0,
                chunks_verified=r.chunks_verified if cared else 0,
                verified_since=r.verified_since if cared else now,
                last_shallow=r.last_shallow,
                last_deep_finished=r.last_deep_finished,
                deep_cursor=r.deep_cursor,
                missing_found=r.missing_found if cared else 0,
                corrupt_found=r.corrupt_found if cared else 0,
                orphans_found=r.orphans_found if cared else 0,
            )
        )
    return out


def _queue_orphans(tx: Tx, disk_id: str, node_id: str, chunk_ids: Sequence[str], now: float) -> int:
    spared = _protected(tx, chunk_ids)
    return gc.queue_placements(
        tx,
        [
            {"chunk_id": c, "disk_id": disk_id, "node_id": node_id}
            for c in chunk_ids
            if c not in spared
        ],
        now,
        now,
    )


def _protected(tx: Tx, chunk_ids: Sequence[str]) -> set[str]:
    wanted = sorted(set(chunk_ids))
    if not wanted:
        return set()
    params = {"chunk_ids": wanted}
    hit: set[str] = set(tx.scalars(_PLACED, params))
    hit |= {t for t in tx.scalars(_REPAIR_TARGETS, params) if t is not None}
    hit |= set(tx.scalars(_GC_QUEUED, params))
    # Write intents keep their chunks as JSON: in-flight writes are few, read them all.
    for placements in tx.scalars(_INTENT_PLACEMENTS):
        hit |= {p["chunk_id"] for p in placements} & set(wanted)
    return hit


def forget_disk(tx: Tx, disk_id: str, now: float, offline_after: float) -> ForgetResult:
    """Drop a dead disk from the cluster's books (run by ``Database.write``): refused while
    it is online or while any chunk placement (or a running rebuild) still names it."""
    row = tx.one(_FORGET_STATE, {"disk_id": disk_id, **horizon(now, offline_after)})
    if row is None:
        raise NoSuchDiskError(f"unknown disk {disk_id}")
    if row.state == "online" and row.node_live:
        raise ConflictError(
            f"disk {disk_id} is online: drain it (wormfs admin disk drain) and take it away first"
        )
    params = {"disk_id": disk_id}
    placed = int(tx.scalar(_PLACEMENTS_NAMING, params) or 0)
    target = int(tx.scalar(_REBUILDS_TO, params) or 0)
    if placed or target:
        raise ConflictError(
            f"disk {disk_id} still holds {placed} chunk placements ({target} rebuilds "
            "writing to it): wait until repair moved them (wormfs admin repair status)"
        )
    dropped = tx.run(_FORGET_GC, params)
    tx.run(_FORGET_REPAIRS, params)
    tx.run(_FORGET_CARE, params)
    tx.run(_FORGET_DISK, params)
    return ForgetResult(disk_id=disk_id, gc_entries_dropped=dropped)


class DiskCareRepo:
    def __init__(self, db: Database) -> None:
        self._db = db

    # ---- drains -----------------------------------------------------------------------------
    async def node_disks(self, node_id: str) -> list[str]:
        return await self._db.read(lambda tx: _node_disks(tx, node_id))

    async def set_drain(self, disk_ids: Sequence[str], draining: bool) -> None:
        now = time.time()
        await self._db.write(lambda tx: _set_drain(tx, disk_ids, draining, now))

    async def draining(self) -> list[str]:
        return await self._db.read(lambda tx: tx.scalars(_DRAINING))

    async def finish_drains(self) -> list[str]:
        """Mark draining disks with nothing left on them ``drained``; returns their ids."""
        now = time.time()
        return await self._db.write(lambda tx: _finish_drains(tx, now))

    async def drain_status(self) -> DrainStatus:
        return await self._db.read(_drain_status)

    # ---- scrub records ----------------------------------------------------------------------
    async def record_shallow(self, disk_id: str, missing: int, orphans: int) -> None:
        now = time.time()
        await self._db.write(lambda tx: _record_shallow(tx, disk_id, missing, orphans, now))

    async def record_deep(
        self, disk_id: str, cursor: str | None, nbytes: int, chunks: int, corrupt: int
    ) -> None:
        """One deep-scrub step; ``cursor`` None means the walk reached the end of the disk."""
        now = time.time()
        await self._db.write(
            lambda tx: _record_deep(tx, disk_id, cursor, nbytes, chunks, corrupt, now)
        )

    async def scrub_states(self) -> list[DiskScrubState]:
        now = time.time()
        return await self._db.read(lambda tx: _scrub_states(tx, now))

    async def ensure(self, disk_ids: Sequence[str]) -> None:
        """Create care rows for disks that have none (their scrub clocks start now)."""
        now = time.time()
        wanted = sorted(set(disk_ids))
        if not wanted:
            return
        have = set(await self._db.read(lambda tx: tx.scalars(_CARED, {"disk_ids": wanted})))
        if have.issuperset(wanted):
            return  # the usual case: no write transaction at all
        await self._db.write(lambda tx: ensure_care(tx, wanted, now))

    async def queue_orphans(
        self, disk_id: str, node_id: str, chunk_ids: Sequence[str], now: float
    ) -> int:
        """Queue unreferenced chunks for GC, checked again inside the same transaction."""
        if not chunk_ids:
            return 0
        return await self._db.write(lambda tx: _queue_orphans(tx, disk_id, node_id, chunk_ids, now))

    # ---- reference checks -------------------------------------------------------------------
    async def referenced(self, disk_id: str, after: str | None, upto: str | None) -> set[str]:
        """Chunk ids placed on ``disk_id`` with ``after < id <= upto`` (None: unbounded)."""
        params = {"disk_id": disk_id, "after": after or ""}
        if upto is None:
            return set(await self._db.read(lambda tx: tx.scalars(_REFERENCED, params)))
        bounded = {**params, "upto": upto}
        return set(await self._db.read(lambda tx: tx.scalars(_REFERENCED_UPTO, bounded)))

    async def placed(self, chunk_ids: Sequence[str]) -> set[str]:
        """Which of ``chunk_ids`` a placement references."""
        wanted = sorted(set(chunk_ids))
        if not wanted:
            return set()
        return set(await self._db.read(lambda tx: tx.scalars(_PLACED, {"chunk_ids": wanted})))

    async def protected(self, chunk_ids: Sequence[str]) -> set[str]:
        """Which of ``chunk_ids`` are referenced anywhere, about to be, or queued for GC."""
        return await self._db.read(lambda tx: _protected(tx, chunk_ids))
