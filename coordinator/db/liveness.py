"""When a node is live and a disk usable: the one predicate, in SQL, and the disks placement sees.

Layer: coordinator database package. Contract:

* ``NODE_LIVE``: the node reported itself online and its last heartbeat is at or after the
  bind parameter ``horizon`` (now - ``node_offline_after``). A stale heartbeat counts as
  offline at once, before the liveness task marks the node offline.
* ``DISK_READABLE``: the disk is online or full on a live node (its chunks can be read).
* ``DISK_WRITABLE``: the disk is online on a live node and not drained or being drained
  (``disk_care.drain_state``): it may take new chunks.
* ``disk_candidates(tx, now, offline_after)`` lists every known disk with its node for
  placement, ``online`` meaning ``DISK_WRITABLE``.

Every query that asks "is it up" selects one of these expressions (labelled) instead of
re-stating the rule; rows above never recompute it.
"""

from __future__ import annotations

from sqlalchemy import ColumnElement, bindparam, func, select

from wormfs.coordinator.db.tables import disk_care, disks, nodes
from wormfs.coordinator.db.tx import Tx
from wormfs.coordinator.placement import DiskCandidate

NODE_LIVE: ColumnElement[bool] = (nodes.c.state == "online") & (
    nodes.c.last_heartbeat >= bindparam("horizon")
)
DISK_READABLE: ColumnElement[bool] = NODE_LIVE & disks.c.state.in_(("online", "full"))
# A disk without a care row has never been drained (outer join: drain_state NULL).
DISK_WRITABLE: ColumnElement[bool] = (
    NODE_LIVE & (disks.c.state == "online") & (func.coalesce(disk_care.c.drain_state, "") == "")
)

DISKS_WITH_NODES = disks.join(nodes, nodes.c.node_id == disks.c.node_id).outerjoin(
    disk_care, disk_care.c.disk_id == disks.c.disk_id
)

_CANDIDATES = select(
    disks.c.disk_id,
    nodes.c.node_id,
    nodes.c.address,
    disks.c.free_bytes,
    nodes.c.rack,
    nodes.c.zone,
    DISK_WRITABLE.label("writable"),
).select_from(DISKS_WITH_NODES)


def horizon(now: float, offline_after: float) -> dict[str, float]:
    """The bind parameters of the predicates above."""
    return {"horizon": now - offline_after}


def disk_candidates(tx: Tx, now: float, offline_after: float) -> list[DiskCandidate]:
    return [
        DiskCandidate(
            disk_id=r.disk_id,
            node_id=r.node_id,
            node_address=r.address,
            free_bytes=r.free_bytes,
            online=bool(r.writable),
            rack=r.rack,
            zone=r.zone,
        )
        for r in tx.all(_CANDIDATES, horizon(now, offline_after))
    ]
