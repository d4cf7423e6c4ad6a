"""The durable gc queue and the expiry of abandoned writes.

Layer: coordinator database package. Contract:

* ``queue_version_chunks`` / ``queue_upload_chunks`` / ``queue_placements`` add chunks to the
  queue inside the caller's transaction: whatever unlinks chunks from metadata (overwrite,
  delete, part replacement, abort, expiry) queues them in the same commit, so a crash can
  orphan nothing. These are the only statements that fill the queue.
* ``abandon_write`` drops a write intent that can never commit and queues its chunks.
* ``GcQueue.expire_pending`` turns write intents past their ``expires_at`` into queue entries.
* ``GcQueue.claim`` returns due entries with their node (``node_online``: ``liveness.NODE_LIVE``)
  for the storage nodes, after dropping any entry
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
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Double,
    Insert,
    bindparam,
    delete,
    func,
    insert,
    literal,
    select,
    update,
)

from wormfs.coordinator.db.database import Database
from wormfs.coordinator.db.liveness import NODE_LIVE, horizon
from wormfs.coordinator.db.tables import (
    chunk_placements,
    disks,
    gc_queue,
    nodes,
    parts,
    pending_writes,
    segments,
)
from wormfs.coordinator.db.tx import Tx

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DueChunk:
    entry_id: int
    chunk_id: str
    disk_id: str
    node_id: str
    node_address: str  # "" when the node is unknown
    node_online: bool


def _queue_parts(where: ColumnElement[bool]) -> Insert:
    """INSERT ... SELECT of every chunk of the parts matching ``where``."""
    source = (
        select(
            chunk_placements.c.chunk_id,
            chunk_placements.c.disk_id,
            disks.c.node_id,
            bindparam("now", type_=Double()),
            bindparam("not_before", type_=Double()),
            literal(0),
        )
        .join(segments, segments.c.id == chunk_placements.c.segment_id)
        .join(parts, parts.c.id == segments.c.part_id)
        .join(disks, disks.c.disk_id == chunk_placements.c.disk_id)
        .where(where)
    )
    return insert(gc_queue).from_select(
        ["chunk_id", "disk_id", "node_id", "enqueued_at", "not_before", "attempts"], source
    )


_QUEUE_VERSION = _queue_parts(parts.c.object_id == bindparam("object_id"))
_QUEUE_UPLOAD = _queue_parts(parts.c.upload_id == bindparam("upload_id"))
_QUEUE_UPLOAD_PART = _queue_parts(
    (parts.c.upload_id == bindparam("upload_id"))
    & (parts.c.part_number == bindparam("part_number"))
)
_REFERENCED = select(chunk_placements.c.chunk_id).where(
    chunk_placements.c.chunk_id.in_(bindparam("chunk_ids", expanding=True))
)
_INSERT_ENTRY = insert(gc_queue)
# A write intent by id, and its removal: shared with the commits (db/writes.py take_intent).
INTENT = select(pending_writes).where(pending_writes.c.write_id == bindparam("write_id"))
DROP_INTENT = delete(pending_writes).where(pending_writes.c.write_id == bindparam("write_id"))
_EXPIRED = (
    select(pending_writes)
    .where(pending_writes.c.expires_at <= bindparam("now"))
    .order_by(pending_writes.c.expires_at)
    .limit(bindparam("limit"))
)
# The node is found through the disk (not the stored node id), so a disk that moved to
# another node is cleaned where it is now.
_DUE = (
    select(
        gc_queue.c.id,
        gc_queue.c.chunk_id,
        gc_queue.c.disk_id,
        gc_queue.c.node_id.label("queued_node_id"),
        nodes.c.node_id,
        nodes.c.address,
        NODE_LIVE.label("node_live"),
    )
    .select_from(
        gc_queue.outerjoin(disks, disks.c.disk_id == gc_queue.c.disk_id).outerjoin(
            nodes, nodes.c.node_id == disks.c.node_id
        )
    )
    .where(gc_queue.c.not_before <= bindparam("now"))
    .order_by(gc_queue.c.not_before, gc_queue.c.id)
    .limit(bindparam("limit"))
)
_DROP_CHUNKS = delete(gc_queue).where(
    gc_queue.c.chunk_id.in_(bindparam("chunk_ids", expanding=True))
)
_DONE = delete(gc_queue).where(gc_queue.c.id.in_(bindparam("ids", expanding=True)))
_RETRY = (
    update(gc_queue)
    .where(gc_queue.c.id.in_(bindparam("ids", expanding=True)))
    .values(not_before=bindparam("not_before"), attempts=gc_queue.c.attempts + 1)
)
_COUNT = select(func.count()).select_from(gc_queue)
_ENTRIES = select(gc_queue.c.chunk_id, gc_queue.c.disk_id, gc_queue.c.node_id).order_by(
    gc_queue.c.id
)


def queue_version_chunks(tx: Tx, object_id: int, now: float, not_before: float) -> None:
    """Queue every chunk of an object version's parts."""
    tx.run(_QUEUE_VERSION, {"object_id": object_id, "now": now, "not_before": not_before})


def queue_upload_chunks(
    tx: Tx, upload_id: str, now: float, not_before: float, part_number: int | None = None
) -> None:
    """Queue every chunk of an upload's parts (or of its part ``part_number``)."""
    params = {"upload_id": upload_id, "now": now, "not_before": not_before}
    if part_number is None:
        tx.run(_QUEUE_UPLOAD, params)
    else:
        tx.run(_QUEUE_UPLOAD_PART, {**params, "part_number": part_number})


def queue_placements(
    tx: Tx, placements: Sequence[dict[str, str]], now: float, not_before: float
) -> int:
    """Queue the given chunks (a write intent's), except any that a committed row references."""
    if not placements:
        return 0
    ids = sorted({p["chunk_id"] for p in placements})
    referenced = set(tx.scalars(_REFERENCED, {"chunk_ids": ids}))
    rows: list[dict[str, Any]] = [
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
    tx.run_many(_INSERT_ENTRY, rows)
    return len(rows)


def abandon_write(tx: Tx, write_id: str, now: float) -> bool:
    """Drop a write intent and queue its chunks (a write that can never commit)."""
    pending = tx.one(INTENT, {"write_id": write_id})
    if pending is None:
        return False
    queue_placements(tx, pending.placements, now, now)
    tx.run(DROP_INTENT, {"write_id": write_id})
    return True


def _expire(tx: Tx, now: float, limit: int) -> int:
    expired = tx.all(_EXPIRED, {"now": now, "limit": limit})
    for pending in expired:
        log.info(
            "write %s to %s/%s was never committed; collecting its %d chunks",
            pending.write_id,
            pending.bucket,
            pending.key,
            len(pending.placements),
        )
        queue_placements(tx, pending.placements, now, now)
        tx.run(DROP_INTENT, {"write_id": pending.write_id})
    return len(expired)


def _claim(tx: Tx, now: float, limit: int, offline_after: float) -> list[DueChunk]:
    rows = tx.all(_DUE, {"now": now, "limit": limit, **horizon(now, offline_after)})
    if not rows:
        return []
    referenced = set(tx.scalars(_REFERENCED, {"chunk_ids": sorted({r.chunk_id for r in rows})}))
    if referenced:
        log.warning("gc queue held %d chunks still referenced; kept", len(referenced))
        tx.run(_DROP_CHUNKS, {"chunk_ids": sorted(referenced)})
    return [
        DueChunk(
            entry_id=r.id,
            chunk_id=r.chunk_id,
            disk_id=r.disk_id,
            node_id=r.node_id or r.queued_node_id,
            node_address=r.address or "",
            node_online=bool(r.node_live),
        )
        for r in rows
        if r.chunk_id not in referenced
    ]


class GcQueue:
    def __init__(self, db: Database, offline_after: float) -> None:
        self._db = db
        self._offline_after = offline_after

    async def expire_pending(self, now: float, limit: int = 500) -> int:
        """Collect write intents whose ``expires_at`` has passed; returns how many."""
        return await self._db.write(lambda tx: _expire(tx, now, limit))

    async def claim(self, now: float, limit: int = 1000) -> list[DueChunk]:
        """Due entries, oldest first; entries whose chunk is referenced again are dropped."""
        return await self._db.write(lambda tx: _claim(tx, now, limit, self._offline_after))

    async def done(self, entry_ids: Sequence[int]) -> None:
        if entry_ids:
            ids = list(entry_ids)
            await self._db.write(lambda tx: tx.run(_DONE, {"ids": ids}))

    async def retry(self, entry_ids: Sequence[int], not_before: float) -> None:
        if entry_ids:
            params = {"ids": list(entry_ids), "not_before": not_before}
            await self._db.write(lambda tx: tx.run(_RETRY, params))

    async def pending_count(self) -> int:
        """Entries in the queue, due or not (for health and tests)."""
        return int(await self._db.read(lambda tx: tx.scalar(_COUNT)) or 0)

    async def entries(self) -> list[tuple[str, str, str]]:
        """(chunk_id, disk_id, node_id) of every queued entry (for admin views and tests)."""
        rows = await self._db.read(lambda tx: tx.all(_ENTRIES))
        return [(r.chunk_id, r.disk_id, r.node_id) for r in rows]
