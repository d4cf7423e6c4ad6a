"""``wormfs admin status``: is the cluster up, and has any of its processes been restarted?

Layer: cli. Prints the coordinator's health (leader or not, storage nodes and disks online),
then, for a ``wormfs server`` data dir, the server's status file ``run/server.json``
(``wormfs.runtime.children``): each child process with its PID, state, restarts and how it
last ended. The coordinator itself knows nothing of the server; a restart shows only here and
in the server's log. Exit status 1 when the coordinator does not answer, or the server whose
status file is there is gone (killed: its children stop with it).
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from pathlib import Path
from typing import Any

import aiohttp

from wormfs.clients.coordinator import CoordinatorClient
from wormfs.errors import WormError

HEALTH_TIMEOUT = 5.0


def read_server_status(data_dir: Path) -> dict[str, Any] | None:
    """The server's status file, or None when no ``wormfs server`` runs over ``data_dir``."""
    try:
        status: dict[str, Any] = json.loads((data_dir / "run" / "server.json").read_text())
    except (OSError, ValueError):
        return None
    return status


def _ago(stamp: float, now: float) -> str:
    seconds = max(0, int(now - stamp))
    if seconds < 120:
        return f"{seconds} s ago"
    if seconds < 7200:
        return f"{seconds // 60} min ago"
    return f"{seconds // 3600} h ago"


def show_server(status: dict[str, Any], now: float) -> list[str]:
    children = status.get("children", [])
    restarted = sum(1 for c in children if c.get("restarts"))
    lines = [
        f"server:       pid {status.get('pid')}, started {_ago(status.get('started', now), now)}, "
        f"S3 at {status.get('endpoint')}; "
        + (f"{restarted} of {len(children)} processes restarted" if restarted else "no restarts")
    ]
    if status.get("admin_url"):
        lines.append(f"admin API:    {status['admin_url']}/admin/v1/")
    for child in children:
        line = f"  {child['name']:<18} pid {child.get('pid') or '-':<8} {child['state']:<11}"
        if child.get("restarts"):
            line += (
                f" restarts {child['restarts']}, last {_ago(child['last_restart'] or now, now)}"
                f" ({child.get('last_exit')})"
            )
        lines.append(line.rstrip())
    return lines


async def coordinator_health(url: str, secret: bytes) -> str:
    """The coordinator's health as one line; raises when it does not answer."""
    async with aiohttp.ClientSession() as session:
        client = CoordinatorClient(session, url, secret, failover_timeout=HEALTH_TIMEOUT)
        async with asyncio.timeout(HEALTH_TIMEOUT):
            health = await client.health()
    role = "leader" if health.leader else "not the leader"
    nodes = _count(health.nodes_online, "storage node")
    return f"coordinator:  {url} ({role}), {nodes} and {_count(health.disks_online, 'disk')} online"


def _count(n: int, what: str) -> str:
    return f"{n} {what}" if n == 1 else f"{n} {what}s"


def run_status(data_dir: Path, url: str | None, secret: bytes | None) -> int:
    code = 0
    if url is None or secret is None:
        print("coordinator:  not found (no run/coordinator.json: not running, or restarting)")
        code = 1
    else:
        try:
            print(asyncio.run(coordinator_health(url, secret)))
        except (WormError, aiohttp.ClientError, OSError, TimeoutError) as exc:
            print(f"coordinator:  {url} does not answer ({exc})")
            code = 1
    status = read_server_status(data_dir)
    if status is not None and not _alive(status.get("pid")):
        print(f"server:       not running (pid {status.get('pid')} is gone; its status is stale)")
        return 1
    if status is not None:
        print("\n".join(show_server(status, time.time())))
    return code


def _alive(pid: object) -> bool:
    if not isinstance(pid, int) or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process: alive
    return True
