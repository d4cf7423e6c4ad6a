"""The nodes and disks resources, and their drain, undrain, decommission and forget actions.

Layer: coordinator admin package, a resource module (``ROUTES``). Lists are by id, paged in
memory (a cluster has hundreds of disks, not millions). The actions call the same
``Durability`` service as the internal ``/v1`` routes (``coordinator.durability_api``), so a
drain started here is the same drain job the CLI sees; they need the leader's jobs
(``NotLeader``, 503, elsewhere). ``GET /drains`` answers every draining or drained disk
with its progress, as the actions do (``wormfs admin`` follows a drain with it).
"""

from __future__ import annotations

import time
from typing import Literal

import msgspec

from wormfs.coordinator.admin.paging import Page, PageQuery, page_after
from wormfs.coordinator.admin.routes import AdminCall, Handler, Route, admin_post
from wormfs.coordinator.db import care
from wormfs.coordinator.db.admin_views import DiskView
from wormfs.errors import NotFoundError
from wormfs.wire.repair import DrainStatus, ForgetResult

DiskStateFilter = Literal["online", "offline", "full", "draining", "drained", "unreadable"]


class NodeView(msgspec.Struct, frozen=True):
    node_id: str
    address: str
    state: Literal["online", "offline"]
    last_heartbeat: float
    heartbeat_age_seconds: float
    rack: str
    zone: str
    disks: int
    disks_online: int
    capacity_bytes: int
    used_bytes: int
    draining_disks: int


class NodeDetail(msgspec.Struct, frozen=True):
    node: NodeView
    disks: list[DiskView]


class DiskQuery(PageQuery, frozen=True, kw_only=True):
    node: str | None = None
    state: DiskStateFilter | None = None


async def _node_views(call: AdminCall) -> tuple[list[NodeView], list[DiskView]]:
    now = time.time()
    nodes = (await call.repo.cluster.list_nodes()).nodes
    disks = await call.views.disks(now)
    views = []
    for n in nodes:
        mine = [d for d in disks if d.node_id == n.node_id]
        views.append(
            NodeView(
                node_id=n.node_id,
                address=n.address,
                state=n.state,
                last_heartbeat=n.last_heartbeat,
                heartbeat_age_seconds=max(0.0, now - n.last_heartbeat),
                rack=n.rack,
                zone=n.zone,
                disks=len(mine),
                disks_online=sum(1 for d in mine if d.readable),
                capacity_bytes=sum(d.capacity_bytes for d in mine),
                used_bytes=sum(d.used_bytes for d in mine),
                draining_disks=sum(1 for d in mine if d.drain_state == "draining"),
            )
        )
    return views, disks


async def list_nodes(call: AdminCall) -> Page[NodeView]:
    views, _ = await _node_views(call)
    return page_after(views, lambda n: [n.node_id], call.query)


async def get_node(call: AdminCall) -> NodeDetail:
    node_id = call.path("node_id")
    views, disks = await _node_views(call)
    for view in views:
        if view.node_id == node_id:
            return NodeDetail(node=view, disks=[d for d in disks if d.node_id == node_id])
    raise NotFoundError(f"no node {node_id!r}")


def _disk_matches(disk: DiskView, q: DiskQuery) -> bool:
    if q.node is not None and disk.node_id != q.node:
        return False
    if q.state is None:
        return True
    if q.state in ("draining", "drained"):
        return disk.drain_state == q.state
    if q.state == "unreadable":
        return not disk.readable
    return disk.state == q.state


async def list_disks(call: AdminCall) -> Page[DiskView]:
    q: DiskQuery = call.query
    disks = [d for d in await call.views.disks(time.time()) if _disk_matches(d, q)]
    return page_after(disks, lambda d: [d.disk_id], q)


async def get_disk(call: AdminCall) -> DiskView:
    disk_id = call.path("disk_id")
    for disk in await call.views.disks(time.time()):
        if disk.disk_id == disk_id:
            return disk
    raise NotFoundError(f"no disk {disk_id!r}")


async def _node_disks(call: AdminCall) -> tuple[str, list[str]]:
    node_id = call.path("node_id")
    disks = await call.durability.care.node_disks(node_id)
    if not disks:
        raise NotFoundError(f"no node {node_id!r} with disks")
    return node_id, disks


async def drain_node(call: AdminCall) -> DrainStatus:
    node_id, disks = await _node_disks(call)
    return await call.durability.drain("drain", node_id, disks, True)


async def undrain_node(call: AdminCall) -> DrainStatus:
    node_id, disks = await _node_disks(call)
    return await call.durability.drain("drain", node_id, disks, False)


async def decommission_node(call: AdminCall) -> DrainStatus:
    node_id, disks = await _node_disks(call)
    return await call.durability.drain("decommission", node_id, disks, True)


async def _known_disk(call: AdminCall) -> str:
    return (await get_disk(call)).disk_id


async def drain_disk(call: AdminCall) -> DrainStatus:
    disk_id = await _known_disk(call)
    return await call.durability.drain("drain", disk_id, [disk_id], True)


async def undrain_disk(call: AdminCall) -> DrainStatus:
    disk_id = await _known_disk(call)
    return await call.durability.drain("drain", disk_id, [disk_id], False)


async def forget_disk(call: AdminCall) -> ForgetResult:
    d = call.durability
    disk_id, now = call.path("disk_id"), time.time()
    offline_after = d.node_offline_after
    return await d.db.write(lambda tx: care.forget_disk(tx, disk_id, now, offline_after))


async def drain_status(call: AdminCall) -> DrainStatus:
    return await call.durability.care.drain_status()


def _action(path: str, handler: Handler, summary: str, action: str, tag: str) -> Route:
    """An action answering the drain state (or, for forget, what was dropped)."""
    response = ForgetResult if action == "disk.forget" else DrainStatus
    return admin_post(path, handler, summary, action, response, tag)


ROUTES = (
    Route(
        "GET",
        "/nodes",
        list_nodes,
        "Storage nodes with state, heartbeat age, disks and capacity, by node id",
        query=PageQuery,
        response=Page[NodeView],
        tag="nodes",
    ),
    Route(
        "GET",
        "/nodes/{node_id}",
        get_node,
        "One storage node and its disks",
        response=NodeDetail,
        tag="nodes",
    ),
    _action(
        "/nodes/{node_id}/drain", drain_node, "Drain every disk of a node", "node.drain", "nodes"
    ),
    _action(
        "/nodes/{node_id}/undrain",
        undrain_node,
        "Stop draining a node's disks",
        "node.undrain",
        "nodes",
    ),
    _action(
        "/nodes/{node_id}/decommission",
        decommission_node,
        "Decommission a node: drain its disks as one decommission job",
        "node.decommission",
        "nodes",
    ),
    Route(
        "GET",
        "/drains",
        drain_status,
        "Every draining or drained disk with the chunks left on it",
        response=DrainStatus,
        tag="disks",
    ),
    Route(
        "GET",
        "/disks",
        list_disks,
        "Disks by disk id, filtered by node and state",
        query=DiskQuery,
        response=Page[DiskView],
        tag="disks",
    ),
    Route("GET", "/disks/{disk_id}", get_disk, "One disk", response=DiskView, tag="disks"),
    _action("/disks/{disk_id}/drain", drain_disk, "Drain a disk", "disk.drain", "disks"),
    _action(
        "/disks/{disk_id}/undrain", undrain_disk, "Stop draining a disk", "disk.undrain", "disks"
    ),
    _action(
        "/disks/{disk_id}/forget",
        forget_disk,
        "Forget a dead disk once no placement names it",
        "disk.forget",
        "disks",
    ),
)
