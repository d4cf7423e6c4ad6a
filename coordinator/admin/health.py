"""The health and cluster resources: the one word with its reasons, and the cluster's numbers.

Layer: coordinator admin package, a resource module (``ROUTES``). Contract:

* ``GET /admin/v1/health`` (no auth; a follower answers it locally): ``status`` is
  ``unavailable`` (503) when this coordinator cannot serve (not the leader and none known, or
  the database refuses reads) or some segment has fewer than k good chunks; ``degraded`` (200)
  when any node is down, any disk offline or failed, any segment has fewer than k+m good
  chunks or the repair queue is not empty; else ``healthy`` (200). ``reasons`` lists every
  cause, machine-readable: ``{kind, target, detail}`` with kind one of ``node_down``,
  ``disk_offline``, ``disk_full``, ``segments_degraded``, ``segments_unrecoverable``,
  ``repair_backlog``, ``no_leader``, ``no_storage``, ``metadata_backup_stale`` (degraded:
  the metadata backup is more than 3 x ``backup_lag`` behind, ``admin.metadata``),
  ``job_failed`` (degraded: one reason per durability job that ended ``failed`` in the last
  hour, newest first and at most ``FAILED_JOBS_SHOWN``; target the job id, detail its kind,
  target, end time and last failure).
* ``GET /admin/v1/cluster``: leader and ZooKeeper state, raw and usable capacity (usable: raw
  times k / (k + m) of the default profile), bytes used, object count and bytes, node and
  disk counts (all and online), the default profile and the version.
"""

from __future__ import annotations

import asyncio
import time
from importlib import metadata
from typing import Literal

import msgspec

from wormfs.coordinator.admin.metadata import stale_reason
from wormfs.coordinator.admin.routes import AdminCall, Route
from wormfs.coordinator.election import ELECTION
from wormfs.errors import WormError

HealthStatus = Literal["healthy", "degraded", "unavailable"]
ReasonKind = Literal[
    "node_down",
    "disk_offline",
    "disk_full",
    "segments_degraded",
    "segments_unrecoverable",
    "repair_backlog",
    "no_leader",
    "no_storage",
    "metadata_backup_stale",
    "job_failed",
]
FAILED_JOBS_WINDOW = 3600.0  # seconds: a failed job is a reason for an hour after it ended
FAILED_JOBS_SHOWN = 20


class Reason(msgspec.Struct, frozen=True):
    kind: ReasonKind
    target: str  # a node id, a disk id, or "cluster"
    detail: str


class Health(msgspec.Struct, frozen=True):
    status: HealthStatus
    reasons: list[Reason]
    leader: bool  # this coordinator is the active one
    checked_at: float


class Profile(msgspec.Struct, frozen=True):
    codec: str
    k: int
    m: int
    stripe_size: int
    segment_size: int


class ClusterView(msgspec.Struct, frozen=True):
    leader: bool
    leader_address: str  # the active coordinator's internal address ("" when unknown)
    zookeeper: str  # "none" (embedded), or the election's role and connection state
    nodes: int
    nodes_online: int
    disks: int
    disks_online: int
    raw_capacity_bytes: int
    usable_capacity_bytes: int
    used_bytes: int
    free_bytes: int
    objects: int
    object_bytes: int
    default_profile: Profile
    version: str


def _is_leader(call: AdminCall) -> bool:
    election = call.core.get(ELECTION)
    return election.serving if election is not None else call.repo.db.epoch is not None


async def _reasons(call: AdminCall, now: float) -> list[Reason]:
    reasons: list[Reason] = []
    nodes = (await call.repo.cluster.list_nodes()).nodes
    down = {n.node_id for n in nodes if n.state != "online"}
    for node in sorted(nodes, key=lambda n: n.node_id):
        if node.node_id in down:
            age = now - node.last_heartbeat
            reasons.append(Reason("node_down", node.node_id, f"no heartbeat for {age:.0f} s"))
    disks = await call.views.disks(now)
    for disk in disks:
        if disk.node_id in down:
            continue  # its node's reason says it
        if disk.state == "offline" or not disk.readable:
            detail = disk.error or "the node reports the disk offline"
            reasons.append(Reason("disk_offline", disk.disk_id, detail))
        elif disk.state == "full":
            reasons.append(Reason("disk_full", disk.disk_id, f"{disk.free_bytes} bytes free"))
    if not any(d.readable for d in disks):
        reasons.append(Reason("no_storage", "cluster", "no storage node has a readable disk"))
    risk = await call.views.segment_risk(now)
    if risk.unrecoverable:
        detail = f"{risk.unrecoverable} segments have fewer than k good chunks"
        reasons.append(Reason("segments_unrecoverable", "cluster", detail))
    if risk.degraded:
        counts = ", ".join(f"{n} missing: {c}" for n, c in risk.by_missing.items())
        detail = f"{risk.degraded} segments have fewer than k+m good chunks ({counts})"
        reasons.append(Reason("segments_degraded", "cluster", detail))
    queued = await call.views.repair_backlog()
    if queued:
        reasons.append(Reason("repair_backlog", "cluster", f"{queued} chunks queued for repair"))
    stale = stale_reason(call)
    if stale is not None:
        reasons.append(Reason("metadata_backup_stale", "cluster", stale))
    failed = await call.views.failed_jobs(now - FAILED_JOBS_WINDOW, FAILED_JOBS_SHOWN)
    for job in failed:
        what = f"{job.kind} {job.target}".strip()
        ended = time.strftime("%H:%M:%S UTC", time.gmtime(job.finished_at))
        detail = f"{what} failed at {ended}: {job.last_failure or 'no failure recorded'}"
        reasons.append(Reason("job_failed", job.job_id, detail))
    return reasons


async def health(call: AdminCall) -> Health:
    now = time.time()
    leader = _is_leader(call)
    try:
        reasons = await _reasons(call, now)
    except WormError as exc:  # the database cannot be read here: nothing can be served
        reasons = [Reason("no_leader", "cluster", exc.message)]
    fatal = {"segments_unrecoverable", "no_leader", "no_storage"}
    if any(r.kind in fatal for r in reasons):
        status: HealthStatus = "unavailable"
        call.status = 503
    elif reasons:
        status = "degraded"
    else:
        status = "healthy"
    return Health(status=status, reasons=reasons, leader=leader, checked_at=now)


def installed_version() -> str:
    """The installed distribution's version (reads its metadata: a file, so not on the loop)."""
    try:
        return metadata.version("wormfs")
    except metadata.PackageNotFoundError:
        return "0"


async def cluster(call: AdminCall) -> ClusterView:
    now = time.time()
    nodes = (await call.repo.cluster.list_nodes()).nodes
    disks = await call.views.disks(now)
    usage = await call.views.usage(None)
    coding = call.config.coding
    readable = [d for d in disks if d.readable]
    raw = sum(d.capacity_bytes for d in readable)
    election = call.core.get(ELECTION)
    if election is None:
        zookeeper, leader_address = "none", ""
    else:
        role = "leading" if election.serving else "following"
        zookeeper = f"{role}, {'connected' if election.connected else 'disconnected'}"
        leader_address = election.leader_address
    return ClusterView(
        leader=_is_leader(call),
        leader_address=leader_address,
        zookeeper=zookeeper,
        nodes=len(nodes),
        nodes_online=sum(1 for n in nodes if n.state == "online"),
        disks=len(disks),
        disks_online=len(readable),
        raw_capacity_bytes=raw,
        usable_capacity_bytes=raw * coding.k // (coding.k + coding.m),
        used_bytes=sum(d.used_bytes for d in readable),
        free_bytes=sum(d.free_bytes for d in readable),
        objects=usage.objects,
        object_bytes=usage.bytes,
        default_profile=Profile(
            codec=coding.codec,
            k=coding.k,
            m=coding.m,
            stripe_size=coding.stripe_size,
            segment_size=coding.segment_size,
        ),
        version=await asyncio.to_thread(installed_version),  # reads the installed metadata
    )


ROUTES = (
    Route(
        "GET",
        "/health",
        health,
        "healthy | degraded | unavailable, with every reason (no token needed; 503 when "
        "unavailable)",
        scope="none",
        response=Health,
        tag="health",
    ),
    Route(
        "GET",
        "/cluster",
        cluster,
        "Leader, ZooKeeper, capacity, usage, node and disk counts, default profile, version",
        response=ClusterView,
        tag="cluster",
    ),
)
