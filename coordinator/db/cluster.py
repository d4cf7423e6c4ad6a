"""Node registry: storage nodes, their disks, liveness, and the disks placement may use.

Layer: coordinator database package. Contract:

* ``register`` upserts a node and its disks (a disk that moved to another node follows it);
  disks of the node that it no longer reports are marked offline.
* ``heartbeat`` refreshes ``last_heartbeat`` and the disks' states and space; a heartbeat from
  an unknown node is ``NotFoundError`` so that the node registers again (e.g. after the
  metadata was restored from a backup).
* ``mark_stale_offline`` (the liveness task) marks nodes offline after ``offline_after``
  seconds of silence. Placement does not wait for it: ``writes.disk_candidates`` treats a stale
  heartbeat as offline by itself, and a disk reported offline or full is excluded at once.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import cast

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from wormfs.coordinator.db.database import Database, retry_races
from wormfs.coordinator.db.models import Disk, Node
from wormfs.errors import InvalidInputError, NotFoundError
from wormfs.wire.coordinator import Heartbeat, NodeInfo, NodeList, NodeRegistration, RegisterResult
from wormfs.wire.storage import DiskInfo, DiskState


def _node_live(node: Node, now: float, offline_after: float) -> bool:
    return node.state == "online" and node.last_heartbeat >= now - offline_after


class Cluster:
    def __init__(self, db: Database, heartbeat_interval: float, offline_after: float) -> None:
        self._db = db
        self._heartbeat_interval = heartbeat_interval
        self._offline_after = offline_after

    @retry_races  # a node's first registration racing its retry (PostgreSQL)
    async def register(self, reg: NodeRegistration) -> RegisterResult:
        if not reg.node_id or not reg.address:
            raise InvalidInputError("a node registers with a node_id and an address")
        now = time.time()
        async with self._db.write() as session:
            node = await session.get(Node, reg.node_id)
            if node is None:
                node = Node(node_id=reg.node_id, registered=now)
                session.add(node)
            node.address = reg.address.rstrip("/")
            node.rack = reg.rack
            node.zone = reg.zone
            node.state = "online"
            node.last_heartbeat = now
            await session.flush()
            await self._update_disks(session, reg.node_id, reg.disks, now)
        return RegisterResult(node_id=reg.node_id, heartbeat_interval=self._heartbeat_interval)

    @retry_races
    async def heartbeat(self, node_id: str, beat: Heartbeat) -> RegisterResult:
        now = time.time()
        async with self._db.write() as session:
            node = await session.get(Node, node_id)
            if node is None:
                raise NotFoundError(f"node {node_id!r} is not registered; register again")
            node.state = "online"
            node.last_heartbeat = now
            await self._update_disks(session, node_id, beat.disks, now)
        return RegisterResult(node_id=node_id, heartbeat_interval=self._heartbeat_interval)

    async def _update_disks(
        self, session: AsyncSession, node_id: str, disks: Sequence[DiskInfo], now: float
    ) -> None:
        reported = {d.disk_id: d for d in disks}
        if len(reported) != len(disks):
            raise InvalidInputError("a disk is listed twice")
        existing = {
            d.disk_id: d
            for d in await session.scalars(
                select(Disk).where((Disk.node_id == node_id) | Disk.disk_id.in_(sorted(reported)))
            )
        }
        for disk_id, info in reported.items():
            row = existing.get(disk_id)
            if row is None:
                row = Disk(disk_id=disk_id)
                session.add(row)
            row.node_id = node_id
            row.path = info.path
            row.state = info.state
            row.capacity_bytes = info.capacity_bytes
            row.free_bytes = info.free_bytes
            row.used_bytes = info.used_bytes
            row.chunk_count = info.chunk_count
            row.error = info.error
            row.updated = now
        for disk_id, row in existing.items():
            if disk_id not in reported and row.node_id == node_id and row.state != "offline":
                row.state = "offline"
                row.error = "not reported by its node"
                row.updated = now

    async def mark_stale_offline(self, now: float | None = None) -> list[str]:
        """Mark nodes silent for ``offline_after`` seconds offline; returns their ids."""
        now = time.time() if now is None else now
        horizon = now - self._offline_after
        async with self._db.write() as session:
            stale = list(
                await session.scalars(
                    select(Node.node_id).where(
                        Node.state == "online", Node.last_heartbeat < horizon
                    )
                )
            )
            if stale:
                await session.execute(
                    update(Node).where(Node.node_id.in_(stale)).values(state="offline")
                )
        return stale

    async def list_nodes(self) -> NodeList:
        now = time.time()
        async with self._db.read() as session:
            nodes = list(await session.scalars(select(Node).order_by(Node.node_id)))
            disks = list(await session.scalars(select(Disk).order_by(Disk.disk_id)))
        by_node: dict[str, list[DiskInfo]] = {}
        for d in disks:
            by_node.setdefault(d.node_id, []).append(
                DiskInfo(
                    disk_id=d.disk_id,
                    path=d.path,
                    state=cast(DiskState, d.state),  # stored from a DiskState
                    capacity_bytes=d.capacity_bytes,
                    free_bytes=d.free_bytes,
                    used_bytes=d.used_bytes,
                    chunk_count=d.chunk_count,
                    error=d.error,
                )
            )
        return NodeList(
            nodes=[
                NodeInfo(
                    node_id=n.node_id,
                    address=n.address,
                    state="online" if _node_live(n, now, self._offline_after) else "offline",
                    last_heartbeat=n.last_heartbeat,
                    disks=by_node.get(n.node_id, []),
                    rack=n.rack,
                    zone=n.zone,
                )
                for n in nodes
            ]
        )

    async def counts(self) -> tuple[int, int]:
        """(nodes online, disks online on live nodes)."""
        horizon = time.time() - self._offline_after
        live = (Node.state == "online") & (Node.last_heartbeat >= horizon)
        async with self._db.read() as session:
            nodes = await session.scalar(select(func.count()).select_from(Node).where(live))
            disks = await session.scalar(
                select(func.count())
                .select_from(Disk)
                .join(Node, Node.node_id == Disk.node_id)
                .where(live, Disk.state == "online")
            )
        return int(nodes or 0), int(disks or 0)
