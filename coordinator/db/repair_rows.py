"""Row-level building blocks of the repair queue, shared by its repository and the care one.

Layer: coordinator database package; every function runs inside the caller's transaction.
Contract: ``disk_views`` (each disk with its node and whether it is readable now),
``enqueue_rows`` (queue placements idempotently, one row per segment and fragment index,
refreshing the segments' ``surviving`` risk counts), ``gc_chunk`` (queue one chunk for GC
unless something references it), ``care_of`` (a disk's care row, created on first use), and
small conversions (``pairs``, ``chunk_bytes``, ``segment_profiles``).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from wormfs.coordinator.db.convert import profile_from_json
from wormfs.coordinator.db.gc import enqueue_placements
from wormfs.coordinator.db.models import (
    ChunkPlacementRow,
    Disk,
    DiskCare,
    Node,
    ObjectVersion,
    Part,
    RepairEntry,
    Segment,
    Upload,
)
from wormfs.layout import Profile

# Reasons whose chunk is lost (not a source); a move's chunk is still a good source.
LOST_REASONS = frozenset({"offline", "missing", "corrupt", "inconsistent"})
MOVE_REASONS = frozenset({"drain", "rebalance"})
# Lost chunks whose disk is fine: rebuilt on the same disk when it has room.
IN_PLACE_REASONS = frozenset({"missing", "corrupt", "inconsistent"})


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


def pairs(rows: Any) -> dict[Any, Any]:
    """A two-column result as a dict (``dict(result)`` would treat it as a mapping)."""
    return {a: b for a, b in rows}


def chunk_bytes(segment_length: int, k: int) -> int:
    return -(-segment_length // k)


def new_care(disk_id: str, now: float) -> DiskCare:
    return DiskCare(
        disk_id=disk_id,
        drain_state="",
        drain_since=0.0,
        verified_since=now,
        bytes_verified=0,
        chunks_verified=0,
        missing_found=0,
        corrupt_found=0,
        orphans_found=0,
    )


async def care_of(session: AsyncSession, disk_id: str, now: float) -> DiskCare:
    care = await session.get(DiskCare, disk_id)
    if care is None:
        care = new_care(disk_id, now)
        session.add(care)
    return care


async def disk_views(session: AsyncSession, now: float, offline_after: float) -> list[DiskView]:
    rows = await session.execute(
        select(Disk, Node, DiskCare.drain_state)
        .join(Node, Node.node_id == Disk.node_id)
        .outerjoin(DiskCare, DiskCare.disk_id == Disk.disk_id)
    )
    out = []
    for disk, node, drain in rows:
        live = node.state == "online" and node.last_heartbeat >= now - offline_after
        out.append(
            DiskView(
                disk_id=disk.disk_id,
                node_id=node.node_id,
                node_address=node.address,
                available=live and disk.state in ("online", "full"),
                free_bytes=disk.free_bytes,
                used_bytes=disk.used_bytes,
                capacity_bytes=disk.capacity_bytes,
                drain_state=drain or "",
            )
        )
    return out


async def refresh_surviving(session: AsyncSession, segment_ids: Iterable[int]) -> None:
    ids = sorted(set(segment_ids))
    if not ids:
        return
    totals = pairs(
        (
            await session.execute(
                select(ChunkPlacementRow.segment_id, func.count())
                .where(ChunkPlacementRow.segment_id.in_(ids))
                .group_by(ChunkPlacementRow.segment_id)
            )
        ).all()
    )
    lost = pairs(
        (
            await session.execute(
                select(RepairEntry.segment_id, func.count())
                .where(RepairEntry.segment_id.in_(ids), RepairEntry.reason.in_(LOST_REASONS))
                .group_by(RepairEntry.segment_id)
            )
        ).all()
    )
    for segment_id in ids:
        await session.execute(
            update(RepairEntry)
            .where(RepairEntry.segment_id == segment_id)
            .values(surviving=totals.get(segment_id, 0) - lost.get(segment_id, 0))
        )


async def segment_profiles(session: AsyncSession, segment_ids: Iterable[int]) -> dict[int, Profile]:
    ids = sorted(set(segment_ids))
    if not ids:
        return {}
    rows = await session.execute(
        select(Segment.id, ObjectVersion.profile, Upload.profile)
        .join(Part, Part.id == Segment.part_id)
        .outerjoin(ObjectVersion, ObjectVersion.id == Part.object_id)
        .outerjoin(Upload, Upload.upload_id == Part.upload_id)
        .where(Segment.id.in_(ids))
    )
    return {sid: profile_from_json(op or up) for sid, op, up in rows}


async def enqueue_rows(
    session: AsyncSession,
    placements: Sequence[ChunkPlacementRow],
    reason: str,
    now: float,
) -> int:
    """Queue placements not queued yet (a lost chunk upgrades a queued move)."""
    if not placements:
        return 0
    seg_ids = {p.segment_id for p in placements}
    existing = {
        (e.segment_id, e.fragment_index): e
        for e in await session.scalars(
            select(RepairEntry).where(RepairEntry.segment_id.in_(sorted(seg_ids)))
        )
    }
    lengths = pairs(
        await session.execute(select(Segment.id, Segment.length).where(Segment.id.in_(seg_ids)))
    )
    profiles = await segment_profiles(session, seg_ids)
    added = 0
    for p in placements:
        entry = existing.get((p.segment_id, p.fragment_index))
        if entry is not None:
            if reason in LOST_REASONS and entry.reason in MOVE_REASONS:
                entry.reason = reason  # the chunk is no longer a good source either
            continue
        profile = profiles.get(p.segment_id)
        if profile is None:
            continue
        entry = RepairEntry(
            segment_id=p.segment_id,
            fragment_index=p.fragment_index,
            chunk_id=p.chunk_id,
            disk_id=p.disk_id,
            reason=reason,
            surviving=profile.n,
            chunk_bytes=chunk_bytes(lengths[p.segment_id], profile.k),
            enqueued_at=now,
            not_before=now,
            attempts=0,
            last_error="",
        )
        session.add(entry)
        existing[(p.segment_id, p.fragment_index)] = entry
        added += 1
    await session.flush()
    await refresh_surviving(session, seg_ids)
    return added


async def gc_chunk(
    session: AsyncSession, chunk_id: str, disk_id: str, now: float, not_before: float
) -> None:
    node_id = await session.scalar(select(Disk.node_id).where(Disk.disk_id == disk_id))
    await enqueue_placements(
        session,
        [{"chunk_id": chunk_id, "disk_id": disk_id, "node_id": node_id or ""}],
        now,
        not_before,
    )
