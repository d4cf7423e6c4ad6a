"""The jobs resource: durability jobs (repair, scrub, gc, rebalance, drain, decommission).

Layer: coordinator admin package, a resource module (``ROUTES``) over the jobs service of the
leader (``job_service.JobService``, reached through ``call.durability.jobs``), the same one
the internal ``/v1/jobs`` routes and the web UI call; the structs are ``wormfs.wire.jobs``'s.
Listing and reading need a read token; starting, pausing, resuming, cancelling and
throttling need an admin token and each writes one audit row (``job.start``, ``job.pause``,
``job.resume``, ``job.cancel``, ``job.throttle``) naming the job (``jobs/{id}``) or the
kind (``jobs/throttles/{kind}``).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from wormfs.coordinator.admin.paging import Page, PageQuery, cursor_key, encode_cursor
from wormfs.coordinator.admin.routes import AdminCall, Route
from wormfs.errors import InvalidInputError
from wormfs.wire.jobs import (
    JobInfo,
    JobKind,
    JobState,
    KindThrottle,
    StartJob,
    Throttle,
    ThrottleList,
)


class JobsQuery(PageQuery, frozen=True, kw_only=True):
    kind: JobKind | None = None
    state: JobState | None = None


async def list_jobs(call: AdminCall) -> Page[JobInfo]:
    q: JobsQuery = call.query
    after = cursor_key(q)
    if after is not None and (len(after) != 1 or not isinstance(after[0], str)):
        raise InvalidInputError("cursor is not one this API gave out")
    answer = await call.durability.jobs.list(
        q.kind, q.state, q.limit, str(after[0]) if after else None
    )
    next_cursor = encode_cursor([answer.next_after]) if answer.next_after else None
    return Page(items=answer.jobs, next_cursor=next_cursor)


async def get_job(call: AdminCall) -> JobInfo:
    return await call.durability.jobs.get(call.path("job_id"))


async def start_job(call: AdminCall) -> JobInfo:
    req: StartJob = call.body
    call.target = f"jobs/{req.kind}"
    job = await call.durability.jobs.start(req)
    call.target = f"jobs/{job.job_id}"
    return job


def _control(action: str) -> Callable[[AdminCall], Awaitable[JobInfo]]:
    async def handler(call: AdminCall) -> JobInfo:
        job_id = call.path("job_id")
        call.target = f"jobs/{job_id}"
        return await call.durability.jobs.control(job_id, action)

    handler.__name__ = f"{action}_job"
    return handler


async def list_throttles(call: AdminCall) -> ThrottleList:
    return await call.durability.jobs.throttles()


async def set_throttle(call: AdminCall) -> KindThrottle:
    return await call.durability.jobs.set_throttle(call.path("kind"), call.body)


def _control_route(action: str, summary: str) -> Route:
    return Route(
        "POST",
        f"/jobs/{{job_id}}/{action}",
        _control(action),
        summary,
        scope="admin",
        response=JobInfo,
        action=f"job.{action}",
        tag="jobs",
    )


# The throttle paths come before ``/jobs/{job_id}``, which would match them too.
ROUTES = (
    Route(
        "GET",
        "/jobs/throttles",
        list_throttles,
        "The throttle of every job kind (0: no limit, or the configured default)",
        response=ThrottleList,
        tag="jobs",
    ),
    Route(
        "PUT",
        "/jobs/throttles/{kind}",
        set_throttle,
        "Set the throttle of a job kind (items/s, bytes/s, concurrency); applies at once",
        scope="admin",
        request=Throttle,
        response=KindThrottle,
        action="job.throttle",
        tag="jobs",
    ),
    Route(
        "GET",
        "/jobs",
        list_jobs,
        "Durability jobs, newest first, with progress, rate and ETA; filter by kind and state",
        query=JobsQuery,
        response=Page[JobInfo],
        tag="jobs",
    ),
    Route(
        "POST",
        "/jobs",
        start_job,
        "Start a scrub or a rebalance, or a repair scan now (answers the standing repair job)",
        scope="admin",
        request=StartJob,
        response=JobInfo,
        status=201,
        action="job.start",
        tag="jobs",
    ),
    Route(
        "GET",
        "/jobs/{job_id}",
        get_job,
        "One job: state, progress, rate, ETA, failures, throttle",
        response=JobInfo,
        tag="jobs",
    ),
    _control_route("pause", "Pause a job (repair, gc, scrub, drain, decommission)"),
    _control_route("resume", "Resume a paused job"),
    _control_route(
        "cancel", "Cancel a job (a standing repair or gc job is paused instead: it cannot end)"
    ),
)
