"""``wormfs admin`` durability commands: repair, scrub, drains, decommission, rebalance.

Layer: cli (a client of the coordinator's durability routes, ``wormfs.wire.repair``
through ``wormfs.clients.repair.DurabilityClient``). ``wormfs.cli.admin`` adds these topics to its
parser and hands them here. Output is for people: one fact per line, sizes in MB, times in
seconds; ``--json`` prints the wire struct instead for scripts.

    wormfs admin repair status [--watch] | list [--limit N] | pause | resume
    wormfs admin scrub [start] [--shallow] [--disk ID]... [--wait]  |  scrub status
    wormfs admin disk drain|undrain DISK_ID [--wait]
    wormfs admin node drain|undrain NODE_ID [--wait] |  node decommission NODE_ID [--timeout S]
    wormfs admin drain status
    wormfs admin rebalance [--max-moves N] [--tolerance F] [--wait]
    wormfs admin jobs ...                                  (``wormfs.cli.admin_jobs``)

The drain commands (``run_drains``) take either client (``DrainCalls``): ``wormfs.cli.admin``
sends them through the admin API (``admin_drains``, audited) when an admin address is known,
else through the internal API. Each of these is a job on the server (``wormfs.wire.jobs``).
``repair status --watch``, ``scrub --wait``, ``node decommission`` and ``--wait`` follow their
job with ``wormfs.cli.progress`` (a rich bar on a terminal, one plain line per ``--interval``
when not, JSON lines of the job with ``--json --watch``; ``--json --wait`` prints only the
final struct) and exit 1 when the job failed. ``repair status --watch`` ends once the backlog is
empty.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from typing import Any, Protocol

import msgspec

from wormfs.cli.admin_jobs import add_jobs_arguments, run_jobs
from wormfs.cli.progress import Mode, backlog_empty, exit_code, follow, output_mode
from wormfs.clients.repair import DurabilityClient
from wormfs.wire.jobs import JobInfo
from wormfs.wire.repair import (
    DrainStatus,
    ForgetResult,
    RepairStatus,
    ScrubStatus,
    StartRebalance,
    StartScrub,
)

TOPICS = ("repair", "scrub", "disk", "node", "drain", "rebalance", "jobs")
POLL = 1.0


def _interval(parser: Any) -> None:
    parser.add_argument("--interval", type=float, default=POLL, help="seconds between updates")


def add_durability_arguments(sub: Any) -> None:
    """Add the durability topics to ``wormfs admin``'s subparsers."""
    repair = sub.add_parser("repair", help="repair queue: progress, ETA, pause and resume")
    repair.add_argument(
        "action", choices=["status", "list", "pause", "resume"], nargs="?", default="status"
    )
    repair.add_argument("--limit", type=int, default=50, help="entries shown by `list`")
    repair.add_argument("--watch", action="store_true", help="status: follow until repaired")
    _interval(repair)
    repair.add_argument("--json", action="store_true")

    scrub = sub.add_parser("scrub", help="scrub now (shallow and deep), or show scrub status")
    scrub.add_argument("action", choices=["start", "status"], nargs="?", default="start")
    scrub.add_argument("--shallow", action="store_true", help="inventory check only")
    scrub.add_argument("--disk", action="append", default=[], help="only this disk (repeat)")
    scrub.add_argument("--wait", action="store_true", help="wait until it finished")
    _interval(scrub)
    scrub.add_argument("--json", action="store_true")

    disk = sub.add_parser(
        "disk",
        help="drain a disk (move its chunks away) or undo it; forget a dead one once repaired",
    )
    # list and show are answered by the admin API (wormfs.cli.admin_api).
    disk.add_argument("action", choices=["drain", "undrain", "forget", "list", "show"])
    disk.add_argument("disk_id", nargs="?", help="(list: none)")
    disk.add_argument("--node", help="list: only the disks of this node")
    disk.add_argument("--state", help="list: online|offline|full|draining|drained|unreadable")
    disk.add_argument("--wait", action="store_true", help="drain: wait until drained")
    _interval(disk)
    disk.add_argument("--json", action="store_true")

    node = sub.add_parser("node", help="drain or decommission a node (every disk of it)")
    node.add_argument("action", choices=["drain", "undrain", "decommission", "list", "show"])
    node.add_argument("node_id", nargs="?", help="(list: none)")
    node.add_argument("--timeout", type=float, default=3600.0, help="decommission: give up")
    node.add_argument("--wait", action="store_true", help="drain: wait until drained")
    _interval(node)
    node.add_argument("--json", action="store_true")

    drain = sub.add_parser("drain", help="progress of drains")
    drain.add_argument("action", choices=["status"], nargs="?", default="status")
    drain.add_argument("--json", action="store_true")

    rebalance = sub.add_parser("rebalance", help="move chunks from fuller to emptier disks")
    rebalance.add_argument("--max-moves", type=int, default=10_000)
    rebalance.add_argument("--tolerance", type=float, default=0.05)
    rebalance.add_argument("--wait", action="store_true", help="wait until the moves are done")
    _interval(rebalance)
    rebalance.add_argument("--json", action="store_true")
    add_jobs_arguments(sub)


def _mb(nbytes: float) -> str:
    return f"{nbytes / 1e6:,.1f} MB"


def _when(stamp: float | None) -> str:
    if stamp is None:
        return "never"
    return f"{time.time() - stamp:,.0f}s ago"


def show_repair(status: RepairStatus) -> list[str]:
    eta = "-" if status.eta_seconds is None else f"{status.eta_seconds:,.0f}s"
    lines = [
        f"state:            {'paused' if status.paused else 'running'}",
        f"queued:           {status.queued} chunks ({_mb(status.queued_bytes)}), "
        f"{status.running} rebuilding",
        f"fewest surviving: {'-' if status.min_surviving is None else status.min_surviving}",
        f"repaired:         {status.repaired_chunks} chunks ({_mb(status.repaired_bytes)}) "
        f"since {_when(status.since)}; {status.failed_attempts} failed attempts",
        f"rate:             {_mb(status.rate_bytes_per_s)}/s (limit "
        f"{_mb(status.rate_limit_bytes_per_s) + '/s' if status.rate_limit_bytes_per_s else 'none'}"
        f", {status.concurrency} at once)",
        f"eta:              {eta}",
    ]
    if status.by_reason:
        lines.append(
            "by reason:        " + ", ".join(f"{r.reason} {r.chunks}" for r in status.by_reason)
        )
    return lines


def show_scrub(status: ScrubStatus) -> list[str]:
    state = "running" if status.running else ("finished" if status.finished_at else "idle")
    lines = [
        f"requested scrub:  {state} (asked {_when(status.requested_at)})",
        f"found:            {status.found_missing} missing, {status.found_corrupt} corrupt, "
        f"{status.found_orphans} orphan chunks",
    ]
    for d in status.disks:
        lines.append(
            f"disk {d.disk_id}: {_mb(d.bytes_verified)} in {d.chunks_verified} chunks verified "
            f"since {_when(d.verified_since)}; shallow {_when(d.last_shallow)}, deep walk "
            f"{'in progress' if d.deep_cursor else 'done ' + _when(d.last_deep_finished)}; "
            f"found {d.missing_found} missing, {d.corrupt_found} corrupt, "
            f"{d.orphans_found} orphans"
        )
    return lines


def show_drains(status: DrainStatus) -> list[str]:
    if not status.disks:
        return ["no disk is draining or drained"]
    return [
        f"disk {d.disk_id} (node {d.node_id}): {d.state}, {d.chunks_left} chunks left"
        for d in status.disks
    ]


def _wait_mode(args: argparse.Namespace) -> Mode | None:
    """How a --wait shows progress: not at all with --json (only the final struct)."""
    return None if args.json else output_mode(False)


class JobSource(Protocol):
    async def job(self, job_id: str) -> JobInfo: ...


class DrainCalls(JobSource, Protocol):
    """What the drain commands need: ``DurabilityClient`` (internal API) or
    ``admin_drains.ApiDrains`` (the admin API, audited)."""

    async def drain(self, kind: str, ident: str, undo: bool = False) -> DrainStatus: ...
    async def decommission(self, node_id: str) -> DrainStatus: ...
    async def forget_disk(self, disk_id: str) -> ForgetResult: ...
    async def drain_status(self) -> DrainStatus: ...


async def _wait(client: JobSource, job_id: str | None, args: argparse.Namespace) -> int:
    """Follow the job until it ends; 1 if it failed."""
    if job_id is None:
        return 0
    mode = _wait_mode(args)
    if mode is None:
        job = await client.job(job_id)
        while job.state in ("running", "paused"):
            await asyncio.sleep(args.interval)
            job = await client.job(job_id)
    else:
        job = await follow(lambda: client.job(job_id), mode=mode, interval=args.interval)
    return exit_code(job)


async def run_durability(args: argparse.Namespace, client: DurabilityClient) -> int:
    topic = args.admin_command
    result: Any
    lines: list[str]
    code = 0
    if topic == "jobs":
        return await run_jobs(args, client)
    if topic == "repair" and args.action == "status" and args.watch:
        job: JobInfo = await follow(
            lambda: client.job("repair"), backlog_empty, output_mode(args.json), args.interval
        )
        if not args.json:
            print("\n".join(show_repair(await client.repair_status())))
        return exit_code(job)
    if topic == "repair":
        if args.action == "list":
            result = await client.repair_queue(args.limit)
            lines = [
                f"{e.chunk_id} disk {e.disk_id} fragment {e.fragment_index}: {e.reason}, "
                f"{e.surviving} surviving, {e.attempts} attempts"
                f"{', rebuilding' if e.running else ''}"
                f"{'; ' + e.last_error if e.last_error else ''}"
                for e in result.entries
            ] or ["the repair queue is empty"]
        else:
            action = {
                "status": client.repair_status,
                "pause": client.pause_repair,
                "resume": client.resume_repair,
            }[args.action]
            result = await action()
            lines = show_repair(result)
    elif topic == "scrub":
        if args.action == "status":
            result = await client.scrub_status()
        else:
            result = await client.scrub(StartScrub(deep=not args.shallow, disk_ids=args.disk))
            if args.wait:
                code = await _wait(client, result.job_id, args)
                result = await client.scrub_status()
        lines = show_scrub(result)
    elif topic in ("disk", "node"):
        return await run_drains(args, client)
    elif topic == "drain":
        result = await client.drain_status()
        lines = show_drains(result)
    else:
        result = await client.rebalance(
            StartRebalance(max_moves=args.max_moves, tolerance=args.tolerance)
        )
        lines = [
            f"{result.queued_moves} chunk moves queued (mean disk usage "
            f"{result.mean_used_fraction:.1%}) as job {result.job_id}; follow them with "
            f"`wormfs admin jobs show {result.job_id} --watch`"
        ]
        if args.wait:
            code = await _wait(client, result.job_id, args)
    _show(args, result, lines)
    return code


def _show(args: argparse.Namespace, result: Any, lines: list[str]) -> None:
    print(msgspec.json.encode(result).decode() if args.json else "\n".join(lines))


async def run_drains(args: argparse.Namespace, client: DrainCalls) -> int:
    """``disk drain|undrain|forget`` and ``node drain|undrain|decommission``."""
    result: Any
    code = 0
    if args.action == "forget":
        result = await client.forget_disk(args.disk_id)
        lines = [
            f"disk {result.disk_id} forgotten; {result.gc_entries_dropped} pending chunk "
            "deletes on it dropped"
        ]
    else:
        if args.action == "decommission":
            result, code = await _decommission(client, args)
        else:
            topic = args.admin_command
            ident = args.disk_id if topic == "disk" else args.node_id
            result = await client.drain(topic + "s", ident, undo=args.action == "undrain")
            if args.wait and args.action == "drain":
                code = await _wait(client, result.job_id, args)
                result = await client.drain_status()
        lines = show_drains(result)
    _show(args, result, lines)
    return code


async def _decommission(client: DrainCalls, args: argparse.Namespace) -> tuple[DrainStatus, int]:
    """Drain every disk of the node as a decommission job and follow it until it ends (then
    the node can go)."""
    node_id = args.node_id
    started = await client.decommission(node_id)
    try:
        async with asyncio.timeout(args.timeout):
            code = await _wait(client, started.job_id, args)
    except TimeoutError:
        raise TimeoutError(
            f"node {node_id} is still draining after {args.timeout:.0f}s (job {started.job_id}"
            " goes on; follow it with `wormfs admin jobs show ID --watch`)"
        ) from None
    status = await client.drain_status()
    mine = [d for d in status.disks if d.node_id == node_id]
    if code == 0 and mine and all(d.state == "drained" for d in mine):
        print(f"node {node_id} is decommissioned: it holds no chunks; it may be stopped")
    return status, code
