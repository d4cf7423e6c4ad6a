"""Row-level building blocks of the repair queue, shared by its repository and the care one.

Layer: coordinator database package; statements in SQLAlchemy Core over ``tables``, and
every function runs inside the caller's transaction (a ``Tx``). Contract: ``disk_views``
(each disk with its node and whether it is readable now, by ``liveness.DISK_READABLE``),
``enqueue_rows`` (queue placements idempotently, one row per segment and fragment index,
refreshing the segments' ``surviving`` risk counts), ``gc_chunk`` (queue one chunk for GC
unless something references it), ``care_of`` / ``ensure_care`` (a disk's care row, created
with its defaults on first use), and small conversions (``chunk_bytes``,
``segment_profiles``, ``segment_lengths``).

Placements are passed around as rows with the columns of ``PLACEMENT_COLUMNS``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import bindparam, func, insert, select, update

from wormfs.coordinator.db import gc
from wormfs.coordinator.db.convert import disk_locations, profile_from_json
from wormfs.coordinator.db.liveness import DISK_READABLE, DISKS_WITH_NODES, horizon
from wormfs.coordinator.db.tables import (
    chunk_placements,
    disk_care,
    disks,
    nodes,
    objects,
    parts,
    repair_queue,
    segments,
    uploads,
)
from wormfs.coordinator.db.tx import Row, Tx
from wormfs.format.layout import Profile

# Reasons whose chunk is lost (not a source); a move's chunk is still a good source.
LOST_REASONS = frozenset({"offline", "missing", "corrupt", "inconsistent"})
MOVE_REASONS = frozenset({"drain", "rebalance"})
# Lost chunks whose disk is fine: rebuilt on the same disk when it has room.
IN_PLACE_REASONS = frozenset({"missing", "corrupt", "inconsistent"})

PLACEMENT_COLUMNS = (
    chunk_placements.c.id,
    chunk_placements.c.segment_id,
    chunk_placements.c.fragment_index,
    chunk_placements.c.chunk_id,
    chunk_placements.c.disk_id,
)


@dataclass(frozen=True)
class DiskView:
    disk_id: str
    node_id: str
    node_address: str
    available: bool  # readable now: online or full, on a live node
    free_bytes: int
    used_bytes: int
    capacity_bytes: int
    drain_state: str


_CARE = select(disk_care).where(disk_care.c.disk_id == bindparam("disk_id"))
_CARED = select(disk_care.c.disk_id).where(
    disk_care.c.disk_id.in_(bindparam("disk_ids", expanding=True))
)
INSERT_CARE = insert(disk_care)
_DISK_VIEWS = (
    select(
        disks.c.disk_id,
        nodes.c.node_id,
        nodes.c.address,
        DISK_READABLE.label("available"),
        disks.c.free_bytes,
        disks.c.used_bytes,
        disks.c.capacity_bytes,
        disk_care.c.drain_state,
    )
    .select_from(DISKS_WITH_NODES)
    .order_by(disks.c.disk_id)
)
_QUEUED = select(
    repair_queue.c.id,
    repair_queue.c.segment_id,
    repair_queue.c.fragment_index,
    repair_queue.c.reason,
).where(repair_queue.c.segment_id.in_(bindparam("segment_ids", expanding=True)))
_LENGTHS = select(segments.c.id, segments.c.length).where(
    segments.c.id.in_(bindparam("segment_ids", expanding=True))
)
_PROFILES = (
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
_INSERT_ENTRY = insert(repair_queue)
_UPGRADE = (
    update(repair_queue)
    .where(repair_queue.c.id.in_(bindparam("entry_ids", expanding=True)))
    .values(reason=bindparam("reason"))
)
# surviving = the segment's placements - its queued lost fragments, for every entry of the
# given segments in one statement (both subqueries correlate to the row being updated).
_lost = repair_queue.alias("lost")
_REFRESH_SURVIVING = (
    update(repair_queue)
    .where(repair_queue.c.segment_id.in_(bindparam("segment_ids", expanding=True)))
    .values(
        surviving=select(func.count())
        .select_from(chunk_placements)
        .where(chunk_placements.c.segment_id == repair_queue.c.segment_id)
        .scalar_subquery()
        - select(func.count())
        .select_from(_lost)
        .where(
            _lost.c.segment_id == repair_queue.c.segment_id,
            _lost.c.reason.in_(sorted(LOST_REASONS)),
        )
        .scalar_subquery()
    )
)


def chunk_bytes(segment_length: int, k: int) -> int:
    return -(-segment_length // k)


def care_defaults(disk_id: str, now: float) -> dict[str, Any]:
    """The columns of a new care row (its scrub clock starts ``now``)."""
    return {
        "disk_id": disk_id,
        "unavailable_since": None,
        "lost_queued_at": None,
        "drain_state": "",
        "drain_since": 0.0,
        "last_shallow": None,
        "deep_cursor": None,
        "last_deep_finished": None,
        "verified_since": now,
        "bytes_verified": 0,
        "chunks_verified": 0,
        "missing_found": 0,
        "corrupt_found": 0,
        "orphans_found": 0,
    }


def care_of(tx: Tx, disk_id: str, now: float) -> Row:
    """A disk's care row (every column), inserted with its defaults if it has none yet."""
    row = tx.one(_CARE, {"disk_id": disk_id})
    if row is None:
        tx.run(INSERT_CARE, care_defaults(disk_id, now))
        row = tx.one(_CARE, {"disk_id": disk_id})
        assert row is not None
    return row


def ensure_care(tx: Tx, disk_ids: Iterable[str], now: float) -> list[str]:
    """Insert default care rows for the disks that have none; returns those disks."""
    wanted = sorted(set(disk_ids))
    if not wanted:
        return []
    have = set(tx.scalars(_CARED, {"disk_ids": wanted}))
    missing = [d for d in wanted if d not in have]
    tx.run_many(INSERT_CARE, [care_defaults(d, now) for d in missing])
    return missing


def disk_views(tx: Tx, now: float, offline_after: float) -> list[DiskView]:
    return [
        DiskView(
            disk_id=r.disk_id,
            node_id=r.node_id,
            node_address=r.address,
            available=bool(r.available),
            free_bytes=r.free_bytes,
            used_bytes=r.used_bytes,
            capacity_bytes=r.capacity_bytes,
            drain_state=r.drain_state or "",
        )
        for r in tx.all(_DISK_VIEWS, horizon(now, offline_after))
    ]


def refresh_surviving(tx: Tx, segment_ids: Iterable[int]) -> None:
    ids = sorted(set(segment_ids))
    if ids:
        tx.run(_REFRESH_SURVIVING, {"segment_ids": ids})


def segment_lengths(tx: Tx, segment_ids: Iterable[int]) -> dict[int, int]:
    ids = sorted(set(segment_ids))
    if not ids:
        return {}
    return {r.id: r.length for r in tx.all(_LENGTHS, {"segment_ids": ids})}


def segment_profiles(tx: Tx, segment_ids: Iterable[int]) -> dict[int, Profile]:
    ids = sorted(set(segment_ids))
    if not ids:
        return {}
    return {
        r.id: profile_from_json(r.object_profile or r.upload_profile)
        for r in tx.all(_PROFILES, {"segment_ids": ids})
    }


def enqueue_rows(tx: Tx, placements: Sequence[Row], reason: str, now: float) -> int:
    """Queue placements (rows of ``PLACEMENT_COLUMNS``) not queued yet (a lost chunk upgrades
    a queued move)."""
    if not placements:
        return 0
    seg_ids = sorted({p.segment_id for p in placements})
    # (segment, fragment) -> (entry id or None when added by this call, reason)
    existing: dict[tuple[int, int], tuple[int | None, str]] = {
        (e.segment_id, e.fragment_index): (e.id, e.reason)
        for e in tx.all(_QUEUED, {"segment_ids": seg_ids})
    }
    lengths = segment_lengths(tx, seg_ids)
    profiles = segment_profiles(tx, seg_ids)
    upgrades: list[int] = []
    rows: list[dict[str, Any]] = []
    for p in placements:
        key = (p.segment_id, p.fragment_index)
        entry = existing.get(key)
        if entry is not None:
            entry_id, queued_reason = entry
            if reason in LOST_REASONS and queued_reason in MOVE_REASONS and entry_id is not None:
                upgrades.append(entry_id)  # the chunk is no longer a good source either
                existing[key] = (entry_id, reason)
            continue
        profile = profiles.get(p.segment_id)
        if profile is None:
            continue
        rows.append(
            {
                "segment_id": p.segment_id,
                "fragment_index": p.fragment_index,
                "chunk_id": p.chunk_id,
                "disk_id": p.disk_id,
                "reason": reason,
                "surviving": profile.n,
                "chunk_bytes": chunk_bytes(lengths[p.segment_id], profile.k),
                "enqueued_at": now,
                "not_before": now,
                "attempts": 0,
                "running_since": None,
                "target_chunk_id": None,
                "target_disk_id": None,
                "last_error": "",
            }
        )
        existing[key] = (None, reason)
    if upgrades:
        tx.run(_UPGRADE, {"entry_ids": upgrades, "reason": reason})
    tx.run_many(_INSERT_ENTRY, rows)
    refresh_surviving(tx, seg_ids)
    return len(rows)


def gc_chunk(tx: Tx, chunk_id: str, disk_id: str, now: float, not_before: float) -> None:
    """Queue one chunk for GC, unless a placement references it."""
    node_id, _ = disk_locations(tx, [disk_id]).get(disk_id, ("", ""))
    gc.queue_placements(
        tx,
        [{"chunk_id": chunk_id, "disk_id": disk_id, "node_id": node_id}],
        now,
        not_before,
    )
