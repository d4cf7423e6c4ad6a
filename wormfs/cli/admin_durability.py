"""``wormfs admin`` durability commands: repair, scrub, drains, decommission, rebalance.

Layer: cli (a client of the coordinator's durability routes, ``wormfs.wire.repair``
through ``wormfs.clients.repair.DurabilityClient``). ``wormfs.cli.admin`` adds these topics to its
parser and hands them here. Output is for people: one fact per line, sizes in MB, times in
seconds; ``--json`` prints the wire struct instead for scripts.

    wormfs admin repair status | list [--limit N] | pause | resume
    wormfs admin scrub [start] [--shallow] [--disk ID]... [--wait]  |  scrub status
    wormfs admin disk drain|undrain DISK_ID
    wormfs admin node drain|undrain NODE_ID  |  node decommission NODE_ID [--timeout S]
    wormfs admin drain status
    wormfs admin rebalance [--max-moves N] [--tolerance F]
"""

from __future__ import annotations

import argparse
import asyncio
import time
from typing import Any

import msgspec

from wormfs.clients.repair import DurabilityClient
from wormfs.wire.repair import (
    DrainStatus,
    RepairStatus,
    ScrubStatus,
    StartRebalance,
    StartScrub,
)

TOPICS = ("repair", "scrub", "disk", "node", "drain", "rebalance")
POLL = 1.0


def add_durability_arguments(sub: Any) -> None:
    """Add the durability topics to ``wormfs admin``'s subparsers."""
    repair = sub.add_parser("repair", help="repair queue: progress, ETA, pause and resume")
    repair.add_argument(
        "action", choices=["status", "list", "pause", "resume"], nargs="?", default="status"
    )
    repair.add_argument("--limit", type=int, default=50, help="entries shown by `list`")
    repair.add_argument("--json", action="store_true")

    scrub = sub.add_parser("scrub", help="scrub now (shallow and deep), or show scrub status")
    scrub.add_argument("action", choices=["start", "status"], nargs="?", default="start")
    scrub.add_argument("--shallow", action="store_true", help="inventory check only")
    scrub.add_argument("--disk", action="append", default=[], help="only this disk (repeat)")
    scrub.add_argument("--wait", action="store_true", help="wait until it finished")
    scrub.add_argument("--json", action="store_true")

    disk = sub.add_parser(
        "disk",
        help="drain a disk (move its chunks away) or undo it; forget a dead one once repaired",
    )
    disk.add_argument("action", choices=["drain", "undrain", "forget"])
    disk.add_argument("disk_id")
    disk.add_argument("--json", action="store_true")

    node = sub.add_parser("node", help="drain or decommission a node (every disk of it)")
    node.add_argument("action", choices=["drain", "undrain", "decommission"])
    node.add_argument("node_id")
    node.add_argument("--timeout", type=float, default=3600.0, help="decommission: give up")
    node.add_argument("--json", action="store_true")

    drain = sub.add_parser("drain", help="progress of drains")
    drain.add_argument("action", choices=["status"], nargs="?", default="status")
    drain.add_argument("--json", action="store_true")

    rebalance = sub.add_parser("rebalance", help="move chunks from fuller to emptier disks")
    rebalance.add_argument("--max-moves", type=int, default=10_000)
    rebalance.add_argument("--tolerance", type=float, default=0.05)
    rebalance.add_argument("--json", action="store_true")


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


async def run_durability(args: argparse.Namespace, client: DurabilityClient) -> int:
    topic = args.admin_command
    result: Any
    lines: list[str]
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
            while args.wait and result.running:
                await asyncio.sleep(POLL)
                result = await client.scrub_status()
        lines = show_scrub(result)
    elif topic in ("disk", "node"):
        if args.action == "forget":
            result = await client.forget_disk(args.disk_id)
            lines = [
                f"disk {result.disk_id} forgotten; {result.gc_entries_dropped} pending chunk "
                "deletes on it dropped"
            ]
        else:
            if args.action == "decommission":
                result = await _decommission(client, args.node_id, args.timeout)
            else:
                ident = args.disk_id if topic == "disk" else args.node_id
                result = await client.drain(topic + "s", ident, undo=args.action == "undrain")
            lines = show_drains(result)
    elif topic == "drain":
        result = await client.drain_status()
        lines = show_drains(result)
    else:
        result = await client.rebalance(
            StartRebalance(max_moves=args.max_moves, tolerance=args.tolerance)
        )
        lines = [
            f"{result.queued_moves} chunk moves queued (mean disk usage "
            f"{result.mean_used_fraction:.1%}); follow them with `wormfs admin repair status`"
        ]
    if args.json:
        print(msgspec.json.encode(result).decode())
    else:
        print("\n".join(lines))
    return 0


async def _decommission(client: DurabilityClient, node_id: str, timeout: float) -> DrainStatus:
    """Drain every disk of the node and wait until all are drained (then it can go)."""
    status = await client.drain("nodes", node_id)
    deadline = time.monotonic() + timeout
    mine = {d.disk_id for d in status.disks if d.node_id == node_id}
    while True:
        left = [d for d in status.disks if d.disk_id in mine and d.state != "drained"]
        if not left:
            print(f"node {node_id} is decommissioned: it holds no chunks; it may be stopped")
            return status
        if time.monotonic() > deadline:
            raise TimeoutError(f"node {node_id} still has {len(left)} disks draining")
        await asyncio.sleep(POLL)
        status = await client.drain_status()
