"""HTTP handlers of the coordinator's internal job routes (``wormfs.wire.jobs``).

Layer: coordinator, the top. Each handler parses the request, calls the jobs service
(``job_service.JobService``) of the running leader's durability bundle and answers with the
wire struct; domain errors travel up to ``wormfs.internal.http.internal_middleware`` as
everywhere. While the background jobs are not running (not the leader, or stopping) these
routes answer ``NotLeaderError``, as the other durability routes do.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from aiohttp import web

from wormfs.coordinator.durability_api import DURABILITY
from wormfs.coordinator.job_service import JobService
from wormfs.errors import InvalidInputError, NotLeaderError
from wormfs.internal.http import json_response, read_json
from wormfs.wire.jobs import MAX_PAGE, StartJob, Throttle


def job_service(request: web.Request) -> JobService:
    durability = request.app.get(DURABILITY)
    if durability is None:
        raise NotLeaderError("the durability jobs run on the active coordinator only")
    return durability.jobs


def _int(request: web.Request, name: str, default: int, low: int, high: int) -> int:
    raw = request.query.get(name, str(default))
    if not raw.isdigit() or not low <= int(raw) <= high:
        raise InvalidInputError(f"{name} must be within {low}..{high}")
    return int(raw)


async def list_jobs(request: web.Request) -> web.Response:
    answer = await job_service(request).list(
        kind=request.query.get("kind") or None,
        state=request.query.get("state") or None,
        limit=_int(request, "limit", 50, 1, MAX_PAGE),
        after=request.query.get("after") or None,
    )
    return json_response(answer)


async def start_job(request: web.Request) -> web.Response:
    body = await read_json(request, StartJob)
    return json_response(await job_service(request).start(body))


async def get_job(request: web.Request) -> web.Response:
    return json_response(await job_service(request).get(request.match_info["job_id"]))


def _control(action: str) -> Callable[[web.Request], Awaitable[web.Response]]:
    async def handler(request: web.Request) -> web.Response:
        job_id = request.match_info["job_id"]
        return json_response(await job_service(request).control(job_id, action))

    return handler


async def list_throttles(request: web.Request) -> web.Response:
    return json_response(await job_service(request).throttles())


async def put_throttle(request: web.Request) -> web.Response:
    body = await read_json(request, Throttle)
    kind = request.match_info["kind"]
    return json_response(await job_service(request).set_throttle(kind, body))


def add_job_routes(app: web.Application) -> None:
    # The static throttle paths come before ``{job_id}``, which would match them too.
    app.router.add_routes(
        [
            web.get("/v1/jobs/throttles", list_throttles),
            web.put("/v1/jobs/throttles/{kind}", put_throttle),
            web.get("/v1/jobs", list_jobs),
            web.post("/v1/jobs", start_job),
            web.get("/v1/jobs/{job_id}", get_job),
            web.post("/v1/jobs/{job_id}/pause", _control("pause")),
            web.post("/v1/jobs/{job_id}/resume", _control("resume")),
            web.post("/v1/jobs/{job_id}/cancel", _control("cancel")),
        ]
    )
