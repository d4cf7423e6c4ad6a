"""HTTP handlers of the coordinator's durability routes (``wormfs.wire.repair``).

Layer: coordinator, the top. Each handler parses the request, calls the ``Durability`` bundle
of the running leader and answers with the wire struct; domain errors travel up to
``wormfs.internal.http.internal_middleware`` as everywhere. While the background jobs are not
running (not the leader, or stopping) these routes answer ``NotLeaderError``. Pause and
resume of repair, scrubs, drains, decommissions and rebalances go through the jobs service
(``Durability.jobs``), so these routes and ``/v1/jobs`` show one state.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable

from aiohttp import web

from wormfs.coordinator.db import care
from wormfs.coordinator.durability import Durability
from wormfs.errors import InvalidInputError, NotLeaderError
from wormfs.internal.http import json_response, read_json
from wormfs.wire.jobs import StartJob
from wormfs.wire.repair import (
    BadChunkReport,
    RebalanceResult,
    RepairQueueList,
    StartRebalance,
    StartScrub,
)

DURABILITY = web.AppKey("durability", Durability)


def _durability(request: web.Request) -> Durability:
    durability = request.app.get(DURABILITY)
    if durability is None:
        raise NotLeaderError("the durability jobs run on the active coordinator only")
    return durability


async def repair_status(request: web.Request) -> web.Response:
    return json_response(await _durability(request).repair.status())


async def repair_queue(request: web.Request) -> web.Response:
    raw = request.query.get("limit", "1000")
    if not raw.isdigit() or not 1 <= int(raw) <= 100_000:
        raise InvalidInputError("limit must be within 1..100000")
    entries = await _durability(request).queue.entries(int(raw))
    return json_response(RepairQueueList(entries=entries))


async def repair_pause(request: web.Request) -> web.Response:
    d = _durability(request)
    await d.jobs.control("repair", "pause")
    return json_response(await d.repair.status())


async def repair_resume(request: web.Request) -> web.Response:
    d = _durability(request)
    await d.jobs.control("repair", "resume")
    return json_response(await d.repair.status())


async def repair_report(request: web.Request) -> web.Response:
    report = await read_json(request, BadChunkReport)
    return json_response(await _durability(request).report(report.chunks))


async def scrub_start(request: web.Request) -> web.Response:
    req = await read_json(request, StartScrub)
    d = _durability(request)
    await d.jobs.start(StartJob(kind="scrub", deep=req.deep, disk_ids=req.disk_ids))
    return json_response(await d.scrub.status())


async def scrub_status(request: web.Request) -> web.Response:
    return json_response(await _durability(request).scrub.status())


def _drain(
    draining: bool, kind: str, job_kind: str = "drain"
) -> Callable[[web.Request], Awaitable[web.Response]]:
    async def handler(request: web.Request) -> web.Response:
        d = _durability(request)
        if kind == "node":
            target = request.match_info["node_id"]
            disks = await d.care.node_disks(target)
        else:
            target = request.match_info["disk_id"]
            disks = [target]
        return json_response(await d.drain(job_kind, target, disks, draining))

    return handler


async def forget_disk(request: web.Request) -> web.Response:
    d = _durability(request)
    disk_id = request.match_info["disk_id"]
    offline_after = d.node_offline_after
    now = time.time()
    result = await d.db.write(lambda tx: care.forget_disk(tx, disk_id, now, offline_after))
    return json_response(result)


async def drain_status(request: web.Request) -> web.Response:
    return json_response(await _durability(request).care.drain_status())


async def rebalance(request: web.Request) -> web.Response:
    req = await read_json(request, StartRebalance)
    job = await _durability(request).jobs.start(
        StartJob(kind="rebalance", max_moves=req.max_moves, tolerance=req.tolerance)
    )
    return json_response(
        RebalanceResult(
            queued_moves=job.total_items or 0,
            mean_used_fraction=job.params["mean_used_fraction"],
            job_id=job.job_id,
        )
    )


def add_durability_routes(app: web.Application) -> None:
    app.router.add_routes(
        [
            web.get("/v1/repair/status", repair_status),
            web.get("/v1/repair/queue", repair_queue),
            web.post("/v1/repair/pause", repair_pause),
            web.post("/v1/repair/resume", repair_resume),
            web.post("/v1/repair/report", repair_report),
            web.post("/v1/scrub", scrub_start),
            web.get("/v1/scrub/status", scrub_status),
            web.post("/v1/disks/{disk_id}/drain", _drain(True, "disk")),
            web.post("/v1/disks/{disk_id}/undrain", _drain(False, "disk")),
            web.post("/v1/disks/{disk_id}/forget", forget_disk),
            web.post("/v1/nodes/{node_id}/drain", _drain(True, "node")),
            web.post("/v1/nodes/{node_id}/undrain", _drain(False, "node")),
            web.post("/v1/nodes/{node_id}/decommission", _drain(True, "node", "decommission")),
            web.get("/v1/drain/status", drain_status),
            web.post("/v1/rebalance", rebalance),
        ]
    )
