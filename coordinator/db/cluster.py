"""Node registry: storage nodes, their disks, and their liveness.

Layer: coordinator database package; statements in SQLAlchemy Core over ``tables``, each
method one transaction through ``Database.read`` / ``Database.write``. Contract:

* ``register`` upserts a node and its disks (a disk that moved to another node follows it);
  disks of the node that it no longer reports are marked offline. A node's first
  registration racing its retry (PostgreSQL) is re-run by the database and becomes an update.
* ``heartbeat`` refreshes ``last_heartbeat`` and the disks' states and space; a heartbeat from
  an unknown node is ``NotFoundError`` so that the node registers again (e.g. after the
  metadata was restored from a backup).
* ``mark_stale_offline`` (the liveness task) marks nodes offline that ``liveness.NODE_LIVE``
  no longer counts as live (silent for ``offline_after`` seconds). Placement does not wait for
  it: the same predicate treats a stale heartbeat as offline by itself, and a disk reported
  offline or full is excluded at once.
* ``list_nodes`` and ``counts`` answer liveness through ``liveness.NODE_LIVE`` too.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import cast

from sqlalchemy import bindparam, func, insert, select, update

from wormfs.coordinator.db.database import Database
from wormfs.coordinator.db.liveness import NODE_LIVE, horizon
from wormfs.coordinator.db.tables import disks, nodes
from wormfs.coordinator.db.tx import Tx
from wormfs.errors import InvalidInputError, NotFoundError
from wormfs.wire.coordinator import Heartbeat, NodeInfo, NodeList, NodeRegistration, RegisterResult
from wormfs.wire.storage import DiskInfo, DiskState

# UPDATE statements name their WHERE parameters apart from the columns they set
# (SQLAlchemy reserves a column's name for its SET value).
_NODE_EXISTS = select(nodes.c.node_id).where(nodes.c.node_id == bindparam("node_id"))
_INSERT_NODE = insert(nodes)
_UPDATE_NODE = (
    update(nodes)
    .where(nodes.c.node_id == bindparam("which"))
    .values(
        address=bindparam("address"),
        rack=bindparam("rack"),
        zone=bindparam("zone"),
        state="online",
        last_heartbeat=bindparam("now"),
    )
)
_BEAT = (
    update(nodes)
    .where(nodes.c.node_id == bindparam("which"))
    .values(state="online", last_heartbeat=bindparam("now"))
)
_NODE_DISKS = select(disks.c.disk_id, disks.c.node_id, disks.c.state).where(
    (disks.c.node_id == bindparam("node_id"))
    | disks.c.disk_id.in_(bindparam("disk_ids", expanding=True))
)
_INSERT_DISK = insert(disks)
_DISK_COLUMNS = (
    "node_id",
    "path",
    "state",
    "capacity_bytes",
    "free_bytes",
    "used_bytes",
    "chunk_count",
    "error",
    "updated",
)
_UPDATE_DISK = (
    update(disks)
    .where(disks.c.disk_id == bindparam("which"))
    .values({name: bindparam(name) for name in _DISK_COLUMNS})
)
_UNREPORTED = (
    update(disks)
    .where(disks.c.disk_id.in_(bindparam("disk_ids", expanding=True)))
    .values(state="offline", error="not reported by its node", updated=bindparam("now"))
)
_STALE = select(nodes.c.node_id).where(nodes.c.state == "online", ~NODE_LIVE)
_MARK_OFFLINE = (
    update(nodes)
    .where(nodes.c.node_id.in_(bindparam("node_ids", expanding=True)))
    .values(state="offline")
)
_NODES = select(
    nodes.c.node_id,
    nodes.c.address,
    nodes.c.rack,
    nodes.c.zone,
    nodes.c.last_heartbeat,
    NODE_LIVE.label("live"),
).order_by(nodes.c.node_id)
_DISKS = select(
    disks.c.disk_id,
    disks.c.node_id,
    disks.c.path,
    disks.c.state,
    disks.c.capacity_bytes,
    disks.c.free_bytes,
    disks.c.used_bytes,
    disks.c.chunk_count,
    disks.c.error,
).order_by(disks.c.disk_id)
_LIVE_NODES = select(func.count()).select_from(nodes).where(NODE_LIVE)
_LIVE_DISKS = (
    select(func.count())
    .select_from(disks.join(nodes, nodes.c.node_id == disks.c.node_id))
    .where(NODE_LIVE, disks.c.state == "online")
)


def _register(tx: Tx, reg: NodeRegistration, now: float) -> None:
    address = reg.address.rstrip("/")
    if tx.one(_NODE_EXISTS, {"node_id": reg.node_id}) is None:
        tx.run(
            _INSERT_NODE,
            {
                "node_id": reg.node_id,
                "address": address,
                "rack": reg.rack,
                "zone": reg.zone,
                "state": "online",
                "registered": now,
                "last_heartbeat": now,
            },
        )
    else:
        tx.run(
            _UPDATE_NODE,
            {
                "which": reg.node_id,
                "address": address,
                "rack": reg.rack,
                "zone": reg.zone,
                "now": now,
            },
        )
    _update_disks(tx, reg.node_id, reg.disks, now)


def _heartbeat(tx: Tx, node_id: str, beat: Heartbeat, now: float) -> None:
    if not tx.run(_BEAT, {"which": node_id, "now": now}):
        raise NotFoundError(f"node {node_id!r} is not registered; register again")
    _update_disks(tx, node_id, beat.disks, now)


def _update_disks(tx: Tx, node_id: str, reported: Sequence[DiskInfo], now: float) -> None:
    by_id = {d.disk_id: d for d in reported}
    if len(by_id) != len(reported):
        raise InvalidInputError("a disk is listed twice")
    existing = {
        r.disk_id: r for r in tx.all(_NODE_DISKS, {"node_id": node_id, "disk_ids": sorted(by_id)})
    }
    inserts, updates = [], []
    for disk_id, info in by_id.items():
        values = {
            "node_id": node_id,
            "path": info.path,
            "state": info.state,
            "capacity_bytes": info.capacity_bytes,
            "free_bytes": info.free_bytes,
            "used_bytes": info.used_bytes,
            "chunk_count": info.chunk_count,
            "error": info.error,
            "updated": now,
        }
        if disk_id in existing:
            updates.append({"which": disk_id, **values})
        else:
            inserts.append({"disk_id": disk_id, **values})
    tx.run_many(_INSERT_DISK, inserts)
    tx.run_many(_UPDATE_DISK, updates)
    gone = sorted(
        disk_id
        for disk_id, row in existing.items()
        if disk_id not in by_id and row.node_id == node_id and row.state != "offline"
    )
    if gone:
        tx.run(_UNREPORTED, {"disk_ids": gone, "now": now})


def _mark_stale_offline(tx: Tx, now: float, offline_after: float) -> list[str]:
    stale = tx.scalars(_STALE, horizon(now, offline_after))
    if stale:
        tx.run(_MARK_OFFLINE, {"node_ids": stale})
    return stale


def _list_nodes(tx: Tx, now: float, offline_after: float) -> NodeList:
    rows = tx.all(_NODES, horizon(now, offline_after))
    by_node: dict[str, list[DiskInfo]] = {}
    for d in tx.all(_DISKS):
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
                state="online" if n.live else "offline",
                last_heartbeat=n.last_heartbeat,
                disks=by_node.get(n.node_id, []),
                rack=n.rack,
                zone=n.zone,
            )
            for n in rows
        ]
    )


def _counts(tx: Tx, now: float, offline_after: float) -> tuple[int, int]:
    params = horizon(now, offline_after)
    return int(tx.scalar(_LIVE_NODES, params) or 0), int(tx.scalar(_LIVE_DISKS, params) or 0)


class Cluster:
    def __init__(self, db: Database, heartbeat_interval: float, offline_after: float) -> None:
        self._db = db
        self._heartbeat_interval = heartbeat_interval
        self._offline_after = offline_after

    async def register(self, reg: NodeRegistration) -> RegisterResult:
        if not reg.node_id or not reg.address:
            raise InvalidInputError("a node registers with a node_id and an address")
        now = time.time()
        await self._db.write(lambda tx: _register(tx, reg, now))
        return RegisterResult(node_id=reg.node_id, heartbeat_interval=self._heartbeat_interval)

    async def heartbeat(self, node_id: str, beat: Heartbeat) -> RegisterResult:
        now = time.time()
        await self._db.write(lambda tx: _heartbeat(tx, node_id, beat, now))
        return RegisterResult(node_id=node_id, heartbeat_interval=self._heartbeat_interval)

    async def mark_stale_offline(self, now: float | None = None) -> list[str]:
        """Mark nodes silent for ``offline_after`` seconds offline; returns their ids."""
        at = time.time() if now is None else now
        return await self._db.write(lambda tx: _mark_stale_offline(tx, at, self._offline_after))

    async def list_nodes(self) -> NodeList:
        now = time.time()
        return await self._db.read(lambda tx: _list_nodes(tx, now, self._offline_after))

    async def counts(self) -> tuple[int, int]:
        """(nodes online, disks online on live nodes)."""
        now = time.time()
        return await self._db.read(lambda tx: _counts(tx, now, self._offline_after))
