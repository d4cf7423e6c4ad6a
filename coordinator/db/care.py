"""Per-disk care: drains, scrub progress, and the reference checks a scrub needs.

Layer: coordinator database package (one transaction per method). Contract:

* drains: ``set_drain`` marks disks draining (placement then skips them and the repair
  scheduler moves their chunks away) or back to normal; ``finish_drains`` marks a draining
  disk ``drained`` once no placement and no queued GC delete is left on it (its node is then
  free to be switched off); ``drain_status`` reports progress. ``forget_disk`` drops a dead
  disk once nothing references it any more, and with it the GC deletes that can never run.
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
from typing import cast

from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from wormfs.coordinator.db.database import Database
from wormfs.coordinator.db.direct import Row, Sql
from wormfs.coordinator.db.gc import enqueue_placements
from wormfs.coordinator.db.models import (
    ChunkPlacementRow,
    Disk,
    DiskCare,
    GcEntry,
    PendingWrite,
    RepairEntry,
)
from wormfs.coordinator.db.repair_rows import care_of, pairs
from wormfs.errors import ConflictError, NoSuchDiskError, NotFoundError
from wormfs.wire.repair import DiskDrainState, DiskScrubState, DrainStatus, ForgetResult


async def _placements_on(session: AsyncSession, disk_ids: Sequence[str]) -> dict[str, int]:
    if not disk_ids:
        return {}
    rows = await session.execute(
        select(ChunkPlacementRow.disk_id, func.count())
        .where(ChunkPlacementRow.disk_id.in_(list(disk_ids)))
        .group_by(ChunkPlacementRow.disk_id)
    )
    return {d: int(n) for d, n in rows}


class DiskCareRepo:
    def __init__(self, db: Database) -> None:
        self._db = db

    # ---- drains -----------------------------------------------------------------------------
    async def node_disks(self, node_id: str) -> list[str]:
        async with self._db.read() as session:
            ids = list(await session.scalars(select(Disk.disk_id).where(Disk.node_id == node_id)))
        if not ids:
            raise NotFoundError(f"node {node_id!r} is not known or has no disks")
        return ids

    async def set_drain(self, disk_ids: Sequence[str], draining: bool) -> None:
        now = time.time()
        async with self._db.write() as session:
            known = set(
                await session.scalars(select(Disk.disk_id).where(Disk.disk_id.in_(list(disk_ids))))
            )
            unknown = sorted(set(disk_ids) - known)
            if unknown:
                raise NoSuchDiskError(f"unknown disks: {', '.join(unknown)}")
            for disk_id in disk_ids:
                care = await care_of(session, disk_id, now)
                if draining and not care.drain_state:
                    care.drain_state, care.drain_since = "draining", now
                elif not draining:
                    care.drain_state, care.drain_since = "", now
            if not draining:
                # Waiting moves off a disk that stays are pointless now.
                await session.execute(
                    delete(RepairEntry).where(
                        RepairEntry.disk_id.in_(list(disk_ids)),
                        RepairEntry.reason == "drain",
                        RepairEntry.running_since.is_(None),
                    )
                )

    async def draining(self) -> list[str]:
        async with self._db.read() as session:
            return list(
                await session.scalars(
                    select(DiskCare.disk_id).where(DiskCare.drain_state == "draining")
                )
            )

    async def finish_drains(self) -> list[str]:
        """Mark draining disks with nothing left on them ``drained``; returns their ids."""
        async with self._db.write() as session:
            cares = list(
                await session.scalars(select(DiskCare).where(DiskCare.drain_state == "draining"))
            )
            ids = [c.disk_id for c in cares]
            placed = await _placements_on(session, ids)
            gc_left = pairs(
                (
                    await session.execute(
                        select(GcEntry.disk_id, func.count())
                        .where(GcEntry.disk_id.in_(ids))
                        .group_by(GcEntry.disk_id)
                    )
                ).all()
            )
            done = []
            for care in cares:
                if not placed.get(care.disk_id) and not gc_left.get(care.disk_id):
                    care.drain_state = "drained"
                    care.drain_since = time.time()
                    done.append(care.disk_id)
            return done

    async def drain_status(self) -> DrainStatus:
        async with self._db.read() as session:
            rows = (
                await session.execute(
                    select(DiskCare, Disk.node_id)
                    .join(Disk, Disk.disk_id == DiskCare.disk_id)
                    .where(DiskCare.drain_state != "")
                    .order_by(DiskCare.disk_id)
                )
            ).all()
            placed = await _placements_on(session, [c.disk_id for c, _ in rows])
        return DrainStatus(
            disks=[
                DiskDrainState(
                    disk_id=care.disk_id,
                    node_id=node_id,
                    state="drained" if care.drain_state == "drained" else "draining",
                    since=care.drain_since,
                    chunks_left=placed.get(care.disk_id, 0),
                )
                for care, node_id in rows
            ]
        )

    # ---- scrub records ----------------------------------------------------------------------
    async def record_shallow(self, disk_id: str, missing: int, orphans: int) -> None:
        now = time.time()
        async with self._db.write() as session:
            care = await care_of(session, disk_id, now)
            care.last_shallow = now
            care.missing_found += missing
            care.orphans_found += orphans

    async def record_deep(
        self, disk_id: str, cursor: str | None, nbytes: int, chunks: int, corrupt: int
    ) -> None:
        """One deep-scrub step; ``cursor`` None means the walk reached the end of the disk."""
        now = time.time()
        async with self._db.write() as session:
            care = await care_of(session, disk_id, now)
            care.bytes_verified += nbytes
            care.chunks_verified += chunks
            care.corrupt_found += corrupt
            care.deep_cursor = cursor
            if cursor is None:
                care.last_deep_finished = now

    async def scrub_states(self) -> list[DiskScrubState]:
        now = time.time()
        async with self._db.read() as session:
            rows = (
                await session.execute(
                    select(Disk.disk_id, Disk.node_id, DiskCare)
                    .outerjoin(DiskCare, DiskCare.disk_id == Disk.disk_id)
                    .order_by(Disk.disk_id)
                )
            ).all()
        out = []
        for disk_id, node_id, care in rows:
            out.append(
                DiskScrubState(
                    disk_id=disk_id,
                    node_id=node_id,
                    bytes_verified=care.bytes_verified if care else 0,
                    chunks_verified=care.chunks_verified if care else 0,
                    verified_since=care.verified_since if care else now,
                    last_shallow=care.last_shallow if care else None,
                    last_deep_finished=care.last_deep_finished if care else None,
                    deep_cursor=care.deep_cursor if care else None,
                    missing_found=care.missing_found if care else 0,
                    corrupt_found=care.corrupt_found if care else 0,
                    orphans_found=care.orphans_found if care else 0,
                )
            )
        return out

    async def ensure(self, disk_ids: Sequence[str]) -> None:
        """Create care rows for disks that have none (their scrub clocks start now)."""
        now = time.time()
        async with self._db.read() as session:
            have = set(
                await session.scalars(
                    select(DiskCare.disk_id).where(DiskCare.disk_id.in_(list(disk_ids)))
                )
            )
        missing = [d for d in disk_ids if d not in have]
        if not missing:
            return  # the usual case: no write transaction at all
        async with self._db.write() as session:
            for disk_id in missing:
                await care_of(session, disk_id, now)

    async def queue_orphans(
        self, disk_id: str, node_id: str, chunk_ids: Sequence[str], now: float
    ) -> int:
        """Queue unreferenced chunks for GC, checked again inside the same transaction."""
        if not chunk_ids:
            return 0
        async with self._db.write() as session:
            spared = await _protected(session, chunk_ids)
            return await enqueue_placements(
                session,
                [
                    {"chunk_id": c, "disk_id": disk_id, "node_id": node_id}
                    for c in chunk_ids
                    if c not in spared
                ],
                now,
                now,
            )

    # ---- reference checks -------------------------------------------------------------------
    async def referenced(self, disk_id: str, after: str | None, upto: str | None) -> set[str]:
        """Chunk ids placed on ``disk_id`` with ``after < id <= upto`` (None: unbounded)."""
        query = select(ChunkPlacementRow.chunk_id).where(ChunkPlacementRow.disk_id == disk_id)
        if after is not None:
            query = query.where(ChunkPlacementRow.chunk_id > after)
        if upto is not None:
            query = query.where(ChunkPlacementRow.chunk_id <= upto)
        async with self._db.read() as session:
            return set(await session.scalars(query))

    async def placed(self, chunk_ids: Sequence[str]) -> set[str]:
        """Which of ``chunk_ids`` a placement references."""
        async with self._db.read() as session:
            return set(
                await session.scalars(
                    select(ChunkPlacementRow.chunk_id).where(
                        ChunkPlacementRow.chunk_id.in_(sorted(set(chunk_ids)))
                    )
                )
            )

    async def protected(self, chunk_ids: Sequence[str]) -> set[str]:
        """Which of ``chunk_ids`` are referenced anywhere, about to be, or queued for GC."""
        async with self._db.read() as session:
            return await _protected(session, chunk_ids)


async def _protected(session: AsyncSession, chunk_ids: Sequence[str]) -> set[str]:
    wanted = sorted(set(chunk_ids))
    if not wanted:
        return set()
    hit: set[str] = set(
        await session.scalars(
            select(ChunkPlacementRow.chunk_id).where(ChunkPlacementRow.chunk_id.in_(wanted))
        )
    )
    targets = await session.scalars(
        select(RepairEntry.target_chunk_id).where(RepairEntry.target_chunk_id.in_(wanted))
    )
    hit |= {t for t in targets if t is not None}
    hit |= set(await session.scalars(select(GcEntry.chunk_id).where(GcEntry.chunk_id.in_(wanted))))
    # Write intents keep their chunks as JSON: in-flight writes are few, read them all.
    for placements in await session.scalars(select(PendingWrite.placements)):
        hit |= {p["chunk_id"] for p in placements} & set(wanted)
    return hit


def forget_disk(sql: Sql, disk_id: str, now: float, offline_after: float) -> ForgetResult:
    """Drop a dead disk from the cluster's books (plain SQL, ``db/direct.py``): refused while
    it is online or while any chunk placement (or a running rebuild) still names it."""
    row = sql.one(
        "SELECT d.state, n.state, n.last_heartbeat FROM disks d "
        "JOIN nodes n ON n.node_id = d.node_id WHERE d.disk_id = ?",
        disk_id,
    )
    if row is None:
        raise NoSuchDiskError(f"unknown disk {disk_id}")
    if row[0] == "online" and row[1] == "online" and row[2] >= now - offline_after:
        raise ConflictError(
            f"disk {disk_id} is online: drain it (wormfs admin disk drain) and take it away first"
        )
    placed = cast(Row, sql.one("SELECT COUNT(*) FROM chunk_placements WHERE disk_id = ?", disk_id))
    target = cast(
        Row, sql.one("SELECT COUNT(*) FROM repair_queue WHERE target_disk_id = ?", disk_id)
    )
    if placed[0] or target[0]:
        raise ConflictError(
            f"disk {disk_id} still holds {placed[0]} chunk placements ({target[0]} rebuilds "
            "writing to it): wait until repair moved them (wormfs admin repair status)"
        )
    dropped = sql.run("DELETE FROM gc_queue WHERE disk_id = ?", disk_id)
    sql.run("DELETE FROM repair_queue WHERE disk_id = ?", disk_id)
    sql.run("DELETE FROM disk_care WHERE disk_id = ?", disk_id)
    sql.run("DELETE FROM disks WHERE disk_id = ?", disk_id)
    return ForgetResult(disk_id=disk_id, gc_entries_dropped=dropped)
