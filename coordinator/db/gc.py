"""The durable gc queue and the expiry of abandoned writes.

Layer: coordinator database package. Contract:

* ``enqueue_part_chunks`` / ``enqueue_placements`` add chunks to the queue inside the caller's
  transaction: whatever unlinks chunks from metadata (overwrite, delete, part replacement,
  abort, expiry) queues them in the same commit, so a crash can orphan nothing.
* ``GcQueue.expire_pending`` turns write intents past their ``expires_at`` into queue entries.
* ``GcQueue.claim`` returns due entries grouped for the storage nodes, after dropping any entry
  whose chunk is referenced again by a placement row: a chunk still referenced by a committed
  object or a live part is never deleted, whatever put it in the queue.
* ``GcQueue.done`` removes entries the node confirmed (deleted or already missing);
  ``GcQueue.retry`` pushes entries back (node unreachable, or the delete failed).

Entries are removed only after the node answered, so a coordinator crash between the delete
and the acknowledgement means one harmless repeated delete (a missing chunk counts as deleted).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import ColumnElement, delete, func, insert, literal, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from wormfs.coordinator.db.database import Database, retry_races
from wormfs.coordinator.db.models import (
    ChunkPlacementRow,
    Disk,
    GcEntry,
    Node,
    Part,
    PendingWrite,
    Segment,
)

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DueChunk:
    entry_id: int
    chunk_id: str
    disk_id: str
    node_id: str
    node_address: str  # "" when the node is unknown
    node_online: bool


async def enqueue_part_chunks(
    session: AsyncSession, where: ColumnElement[bool], now: float, not_before: float
) -> None:
    """Queue every chunk of the parts matching ``where`` (one INSERT ... SELECT)."""
    source = (
        select(
            ChunkPlacementRow.chunk_id,
            ChunkPlacementRow.disk_id,
            Disk.node_id,
            literal(now),
            literal(not_before),
            literal(0),
        )
        .join(Segment, Segment.id == ChunkPlacementRow.segment_id)
        .join(Part, Part.id == Segment.part_id)
        .join(Disk, Disk.disk_id == ChunkPlacementRow.disk_id)
        .where(where)
    )
    await session.execute(
        insert(GcEntry).from_select(
            ["chunk_id", "disk_id", "node_id", "enqueued_at", "not_before", "attempts"], source
        )
    )


async def enqueue_placements(
    session: AsyncSession, placements: Sequence[dict[str, str]], now: float, not_before: float
) -> int:
    """Queue the chunks of a write intent, except any that a committed row references."""
    if not placements:
        return 0
    ids = sorted({p["chunk_id"] for p in placements})
    referenced = set(
        await session.scalars(
            select(ChunkPlacementRow.chunk_id).where(ChunkPlacementRow.chunk_id.in_(ids))
        )
    )
    rows = [
        {
            "chunk_id": p["chunk_id"],
            "disk_id": p["disk_id"],
            "node_id": p["node_id"],
            "enqueued_at": now,
            "not_before": not_before,
            "attempts": 0,
        }
        for p in placements
        if p["chunk_id"] not in referenced
    ]
    if rows:
        await session.execute(insert(GcEntry), rows)
    return len(rows)


async def abandon_write(session: AsyncSession, write_id: str, now: float) -> bool:
    """Drop a write intent and queue its chunks (a write that can never commit)."""
    pending = await session.get(PendingWrite, write_id)
    if pending is None:
        return False
    await enqueue_placements(session, pending.placements, now, now)
    await session.delete(pending)
    return True


class GcQueue:
    def __init__(self, db: Database) -> None:
        self._db = db

    @retry_races  # an intent committed while it expires (PostgreSQL)
    async def expire_pending(self, now: float, limit: int = 500) -> int:
        """Collect write intents whose ``expires_at`` has passed; returns how many."""
        async with self._db.write() as session:
            expired = list(
                await session.scalars(
                    select(PendingWrite)
                    .where(PendingWrite.expires_at <= now)
                    .order_by(PendingWrite.expires_at)
                    .limit(limit)
                )
            )
            for pending in expired:
                log.info(
                    "write %s to %s/%s was never committed; collecting its %d chunks",
                    pending.write_id,
                    pending.bucket,
                    pending.key,
                    len(pending.placements),
                )
                await enqueue_placements(session, pending.placements, now, now)
                await session.delete(pending)
        return len(expired)

    async def claim(self, now: float, limit: int = 1000) -> list[DueChunk]:
        """Due entries, oldest first; entries whose chunk is referenced again are dropped."""
        async with self._db.write() as session:
            rows = (
                await session.execute(
                    # The node is found through the disk (not the stored node id), so a disk
                    # that moved to another node is cleaned where it is now.
                    select(GcEntry, Node.node_id, Node.address, Node.state)
                    .outerjoin(Disk, Disk.disk_id == GcEntry.disk_id)
                    .outerjoin(Node, Node.node_id == Disk.node_id)
                    .where(GcEntry.not_before <= now)
                    .order_by(GcEntry.not_before, GcEntry.id)
                    .limit(limit)
                )
            ).all()
            if not rows:
                return []
            chunk_ids = sorted({row[0].chunk_id for row in rows})
            referenced = set(
                await session.scalars(
                    select(ChunkPlacementRow.chunk_id).where(
                        ChunkPlacementRow.chunk_id.in_(chunk_ids)
                    )
                )
            )
            if referenced:
                log.warning("gc queue held %d chunks still referenced; kept", len(referenced))
                await session.execute(delete(GcEntry).where(GcEntry.chunk_id.in_(referenced)))
            return [
                DueChunk(
                    entry_id=entry.id,
                    chunk_id=entry.chunk_id,
                    disk_id=entry.disk_id,
                    node_id=node_id or entry.node_id,
                    node_address=address or "",
                    node_online=state == "online",
                )
                for entry, node_id, address, state in rows
                if entry.chunk_id not in referenced
            ]

    async def done(self, entry_ids: Sequence[int]) -> None:
        if not entry_ids:
            return
        async with self._db.write() as session:
            await session.execute(delete(GcEntry).where(GcEntry.id.in_(list(entry_ids))))

    async def retry(self, entry_ids: Sequence[int], not_before: float) -> None:
        if not entry_ids:
            return
        async with self._db.write() as session:
            await session.execute(
                update(GcEntry)
                .where(GcEntry.id.in_(list(entry_ids)))
                .values(not_before=not_before, attempts=GcEntry.attempts + 1)
            )

    async def pending_count(self) -> int:
        """Entries in the queue, due or not (for health and tests)."""
        async with self._db.read() as session:
            return int(await session.scalar(select(func.count()).select_from(GcEntry)) or 0)

    async def entries(self) -> list[tuple[str, str, str]]:
        """(chunk_id, disk_id, node_id) of every queued entry (for admin views and tests)."""
        async with self._db.read() as session:
            rows = await session.execute(
                select(GcEntry.chunk_id, GcEntry.disk_id, GcEntry.node_id).order_by(GcEntry.id)
            )
            return [(c, d, n) for c, d, n in rows]
