"""``wormfs admin jobs``: the durability jobs the coordinator keeps (``wormfs.wire.jobs``).

Layer: cli. When an admin address is known (``--admin-url``, the data dir) the commands go
through the admin REST API (``ApiJobs``: ``/admin/v1/jobs``, with the bearer token, so that
pause, resume, cancel and throttle are audited as ``job.*`` like every admin call); with only
``--coordinator-url``, through the coordinator's internal ``/v1/jobs`` routes
(``wormfs.clients.repair.DurabilityClient``). Both answer the same structs.
``wormfs.cli.admin_durability`` adds the topic to ``wormfs admin``'s parser and hands it
here. Progress is drawn by ``wormfs.cli.progress``.

    wormfs admin jobs list [--kind K] [--state S] [--limit N] [--all] [--json]
    wormfs admin jobs show JOB_ID [--watch] [--interval S] [--json]
    wormfs admin jobs pause|resume|cancel JOB_ID [--json]
    wormfs admin jobs throttle KIND [--items-per-s N] [--bytes-per-s N] [--concurrency N]
    wormfs admin jobs throttles [--json]

``show --watch`` follows the job until it ends (a standing job: until its backlog is empty)
and exits 1 when it failed; ``--json`` prints one JSON document (JSON lines with --watch).
"""

from __future__ import annotations

import argparse
from typing import Any, Protocol
from urllib.parse import quote

import msgspec

from wormfs.cli.admin_api import AdminApi, add_connection_arguments, over_admin_api
from wormfs.cli.progress import backlog_empty, exit_code, finished, follow, job_line, output_mode
from wormfs.wire.jobs import (
    KINDS,
    MAX_PAGE,
    STATES,
    JobInfo,
    JobList,
    KindThrottle,
    Throttle,
    ThrottleList,
)


class JobCalls(Protocol):
    """What the jobs commands ask of the coordinator (``DurabilityClient`` or ``ApiJobs``)."""

    async def jobs(
        self, kind: str | None, state: str | None, limit: int, after: str | None = None
    ) -> JobList: ...

    async def job(self, job_id: str) -> JobInfo: ...

    async def control_job(self, job_id: str, action: str) -> JobInfo: ...

    async def throttles(self) -> ThrottleList: ...

    async def set_throttle(self, kind: str, throttle: Throttle) -> KindThrottle: ...


class ApiJobs:
    """The jobs commands' calls over ``/admin/v1/jobs`` (``coordinator/admin/jobs.py``). A
    page's ``next_after`` carries the API's opaque cursor."""

    def __init__(self, api: AdminApi) -> None:
        self._api = api

    async def jobs(
        self, kind: str | None, state: str | None, limit: int, after: str | None = None
    ) -> JobList:
        query = {"limit": str(limit)}
        for name, value in (("kind", kind), ("state", state), ("cursor", after)):
            if value:
                query[name] = value
        page = await self._api.call("GET", "/jobs", params=query)
        jobs = msgspec.convert(page["items"], list[JobInfo])
        return JobList(jobs=jobs, next_after=page.get("next_cursor"))

    async def job(self, job_id: str) -> JobInfo:
        return msgspec.convert(await self._api.call("GET", f"/jobs/{_seg(job_id)}"), JobInfo)

    async def control_job(self, job_id: str, action: str) -> JobInfo:
        done = await self._api.call("POST", f"/jobs/{_seg(job_id)}/{action}")
        return msgspec.convert(done, JobInfo)

    async def throttles(self) -> ThrottleList:
        return msgspec.convert(await self._api.call("GET", "/jobs/throttles"), ThrottleList)

    async def set_throttle(self, kind: str, throttle: Throttle) -> KindThrottle:
        body = msgspec.to_builtins(throttle)
        done = await self._api.call("PUT", f"/jobs/throttles/{_seg(kind)}", body)
        return msgspec.convert(done, KindThrottle)


def _seg(ident: str) -> str:
    return quote(ident, safe="")


async def run_jobs_over_api(args: argparse.Namespace) -> int:
    return await over_admin_api(args, lambda api: run_jobs(args, ApiJobs(api)))


def add_jobs_arguments(sub: Any) -> None:
    jobs = sub.add_parser("jobs", help="durability jobs: progress, pause, resume, cancel, throttle")
    actions = jobs.add_subparsers(dest="jobs_command", required=True, metavar="ACTION")
    listing = actions.add_parser("list", help="jobs, newest first")
    listing.add_argument("--kind", choices=KINDS)
    listing.add_argument("--state", choices=STATES)
    listing.add_argument("--limit", type=int, default=20, help=f"per page, at most {MAX_PAGE}")
    listing.add_argument("--all", action="store_true", help="every page")
    listing.add_argument("--json", action="store_true")
    show = actions.add_parser("show", help="one job; --watch follows it until it ends")
    show.add_argument("job_id")
    show.add_argument("--watch", action="store_true")
    show.add_argument("--interval", type=float, default=1.0, help="seconds between updates")
    show.add_argument("--json", action="store_true")
    for action in ("pause", "resume", "cancel"):
        control = actions.add_parser(action, help=f"{action} a job")
        control.add_argument("job_id")
        control.add_argument("--json", action="store_true")
    throttle = actions.add_parser(
        "throttle", help="set the throttle of a job kind (0: no limit / the configured default)"
    )
    throttle.add_argument("kind", choices=("repair", "scrub", "gc"))
    throttle.add_argument("--items-per-s", type=float, default=0.0)
    throttle.add_argument("--bytes-per-s", type=int, default=0)
    throttle.add_argument("--concurrency", type=int, default=0)
    throttle.add_argument("--json", action="store_true")
    throttles = actions.add_parser("throttles", help="the throttle of every job kind")
    throttles.add_argument("--json", action="store_true")
    for parser in actions.choices.values():  # --admin-url, --token
        add_connection_arguments(parser, json=False)


def _done(job: JobInfo) -> bool:
    return backlog_empty(job) if job.standing else finished(job)


async def _list(args: argparse.Namespace, client: JobCalls) -> JobList:
    page = await client.jobs(args.kind, args.state, args.limit)
    jobs = list(page.jobs)
    while args.all and page.next_after:
        page = await client.jobs(args.kind, args.state, args.limit, page.next_after)
        jobs += page.jobs
    return JobList(jobs=jobs, next_after=page.next_after)


async def run_jobs(args: argparse.Namespace, client: JobCalls) -> int:
    action = args.jobs_command
    result: Any
    if action == "list":
        result = await _list(args, client)
        lines = [job_line(j) for j in result.jobs] or ["no jobs"]
        if result.next_after:
            lines.append("(more: --all)")
    elif action == "show" and args.watch:
        job = await follow(
            lambda: client.job(args.job_id),
            _done,
            output_mode(args.json),
            args.interval,
        )
        return exit_code(job)
    elif action == "show":
        result = await client.job(args.job_id)
        lines = [job_line(result)]
    elif action in ("pause", "resume", "cancel"):
        result = await client.control_job(args.job_id, action)
        lines = [job_line(result)]
    elif action == "throttle":
        throttle = Throttle(
            items_per_s=args.items_per_s,
            bytes_per_s=args.bytes_per_s,
            concurrency=args.concurrency,
        )
        result = await client.set_throttle(args.kind, throttle)
        lines = [_throttle_line(result.kind, result.throttle)]
    else:
        result = await client.throttles()
        lines = [_throttle_line(t.kind, t.throttle) for t in result.throttles]
    if args.json:
        print(msgspec.json.encode(result).decode())
    else:
        print("\n".join(lines))
    return exit_code(result) if isinstance(result, JobInfo) else 0


def _throttle_line(kind: str, t: Throttle) -> str:
    return (
        f"{kind}: {t.items_per_s or 'no limit'} items/s, "
        f"{t.bytes_per_s or 'no limit'} bytes/s, concurrency {t.concurrency or 'default'}"
    )
