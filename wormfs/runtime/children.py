"""``wormfs server``'s children: when one that died is started again, and what is said about it.

Layer: runtime (used by ``wormfs.runtime.supervisor``). Contract:

* ``RestartPolicy``: a child that dies is started again after a delay that begins at
  ``first_delay`` (0.5 s) and doubles, up to ``max_delay`` (10 s), each time it dies again
  soon; a child that had stayed up ``reset_after`` (30 s) starts again from ``first_delay``.
  At most ``max_restarts`` (5) restarts of one child fall within any ``window`` (60 s): the
  next death gives up, and the server stops everything and exits non-zero. So a child that
  cannot start at all is given up after about 20 s (delays 0.5 + 1 + 2 + 4 + 8 s), while a
  child killed now and then is back within a second each time. ``max_restarts`` 0 restarts
  nothing: the first death stops the cluster.
* ``Child``: one child process and what the supervisor knows of it: its command line (a
  listening child other than a gateway keeps, across restarts, the port it bound first, so
  the address the others were given stays right), its state (``starting``, ``running``,
  ``restarting``), its restarts and how it last ended (``describe_exit``).
* ``write_status(path, ...)``: ``run/server.json``, the server's status for ``wormfs admin
  status`` (the server's PID, when it started, the S3 endpoint, and per child its PID, state,
  restarts and last exit), rewritten atomically on every change.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from wormfs.runtime.bootstrap import write_ready_file


@dataclass(frozen=True)
class RestartPolicy:
    max_restarts: int = 5
    window: float = 60.0
    first_delay: float = 0.5
    max_delay: float = 10.0
    reset_after: float = 30.0

    def delay(self, child: Child, now: float) -> float | None:
        """The delay before ``child``, dead at ``now``, starts again; None: give up."""
        while child.recent and child.recent[0] <= now - self.window:
            child.recent.popleft()
        if len(child.recent) >= self.max_restarts:
            return None
        if child.delay == 0 or now - child.started_at >= self.reset_after:
            child.delay = self.first_delay
        else:
            child.delay = min(child.delay * 2, self.max_delay)
        return child.delay


def describe_exit(returncode: int) -> str:
    """``exit status 1`` or ``killed by signal 9 (SIGKILL)`` (Popen's negative codes)."""
    if returncode >= 0:
        return f"exit status {returncode}"
    try:
        name = f" ({signal.Signals(-returncode).name})"
    except ValueError:
        name = ""
    return f"killed by signal {-returncode}{name}"


@dataclass
class Child:
    name: str
    args: list[str]  # after ``python -m wormfs.cli``, without --ready-file
    ready_file: Path
    # A mount may end on its own (unmounted from outside, exit 0) without stopping anything.
    optional: bool = False
    # Restart on the port bound first (the coordinator and the nodes start on port 0).
    sticky_port: bool = False
    # A mount: its mount point, unmounted (lazily) before a restart, since a mount process
    # that died leaves it "not connected".
    mountpoint: Path | None = None
    process: subprocess.Popen[bytes] | None = None
    address: str = ""
    state: str = "starting"
    started_at: float = 0.0  # time.monotonic() of the last start
    restart_at: float = 0.0  # while restarting: when to start again
    delay: float = 0.0  # the last delay before a restart (0: none yet)
    recent: deque[float] = field(default_factory=deque)  # monotonic times of recent restarts
    restarts: int = 0
    last_exit: str = ""
    last_restart: float = 0.0  # wall clock, for the status

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process is not None else None

    def bound(self, address: str, port: int) -> None:
        """The child is ready at ``address``; a sticky port is reused from now on."""
        self.address = address
        self.state = "running"
        if self.sticky_port and "--port" in self.args:
            self.args[self.args.index("--port") + 1] = str(port)

    def died(self, returncode: int, delay: float, now: float) -> None:
        self.last_exit = describe_exit(returncode)
        self.process = None
        self.state = "restarting"
        self.restart_at = now + delay

    def restarted(self, now: float) -> None:
        self.recent.append(now)
        self.restarts += 1
        self.last_restart = time.time()

    def status(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "pid": self.pid,
            "state": self.state,
            "address": self.address,
            "restarts": self.restarts,
            "last_exit": self.last_exit,
            "last_restart": self.last_restart or None,
        }


def write_status(
    path: Path, started: float, endpoint: str, children: list[Child], admin_url: str = ""
) -> None:
    """Publish the server's status at ``path`` (``run/server.json``), atomically;
    ``admin_url`` is the admin API's base URL ("" until the coordinator has bound it)."""
    write_ready_file(
        path,
        {
            "pid": os.getpid(),
            "started": started,
            "endpoint": endpoint,
            "admin_url": admin_url,
            "children": [child.status() for child in children],
        },
    )
