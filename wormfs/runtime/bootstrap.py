"""Process bootstrap shared by every daemon: logging, uvloop, serving an aiohttp app, stopping.

``serve`` binds (port 0 picks a free port), then writes a ready file — one JSON object with the
real address and the PID, written atomically — so that supervisors and tests learn the address
without guessing ports. SIGTERM and SIGINT stop the process cleanly: the site stops accepting,
in-flight requests finish (bounded by ``shutdown_timeout``), cleanup contexts run, exit 0.

``blocking_guard`` is invariant 5 made checkable: a blockbuster (a test-only dependency) that
raises ``BlockingError`` when code of WormFS's packages calls ``time.sleep``, blocking file or
socket I/O or sqlite3 in an event-loop thread. The tests turn it on around in-process apps, and
set ``WORMFS_BLOCKING_GUARD=1`` for the processes they start: ``serve`` reads it once at
start-up, so a blocking call in a daemon's loop fails that request with a logged traceback,
which the tests' log scan reports.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import signal
import socket
import ssl
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING

import uvloop
from aiohttp import web

from wormfs.runtime.logs import LogFormat
from wormfs.runtime.logs import configure as configure_logs

if TYPE_CHECKING:
    from blockbuster import BlockBuster

log = logging.getLogger(__name__)

BLOCKING_GUARD_VARIABLE = "WORMFS_BLOCKING_GUARD"
# Where the guard looks: a blocking call is reported when one of these packages is on the
# stack, so aiohttp's, SQLAlchemy's or the test runner's own start-up work is not blamed.
GUARDED_PACKAGES = (
    "wormfs",
    "wormfs.gateway",
    "wormfs.storage_node",
    "wormfs.coordinator",
    "wormfs.fuse",
)

AppFactory = Callable[[], Awaitable[web.Application]]
# Called once the site is bound, with the app and its base URL (e.g. a storage node registers
# with the coordinator only once it knows its own address).
AfterStart = Callable[[web.Application, str], Awaitable[None]]


def setup_logging(name: str, level: str = "INFO", fmt: LogFormat = "text") -> None:
    """Log records to standard error as text lines or JSON (``wormfs.runtime.logs``)."""
    configure_logs(name, level, fmt)


# Code (file suffix, function names) inside which any blocking call is fine, and why. (Logging
# to stderr needs no entry: blockbuster itself lets writes to stdout/stderr and ttys through.)
ALLOWED_ANYWHERE_IN: tuple[tuple[str, tuple[str, ...]], ...] = (
    # A module imported lazily from the loop reads its files and runs its top-level code once
    # per process (SQLAlchemy loads its dialects so): not per-request work.
    ("<frozen importlib._bootstrap>", ("_find_and_load",)),
    # Alembic reads (and imports) its migration scripts when the coordinator migrates its
    # database at start-up, before the site is bound, or when an operator (or a migration
    # test) moves the schema: never per request.
    ("alembic/command.py", ("upgrade", "downgrade", "stamp", "current", "check")),
    # asyncpg looks in the home directory (~/.pgpass, ~/.postgresql/ certificates: stats and
    # small reads) while parsing its connection arguments, once per new pooled connection.
    ("asyncpg/connect_utils.py", ("_parse_connect_dsn_and_args",)),
)


def blocking_guard(*extra_modules: str | ModuleType) -> BlockBuster:
    """A blocking-call guard over WormFS's packages (and ``extra_modules``), not yet active.

    Only what is fine in a loop thread is allowed; see the comments at each exception.
    """
    # Imported here: blockbuster is a test dependency, never needed to run a daemon.
    from blockbuster import BlockBuster

    guard = BlockBuster([*GUARDED_PACKAGES, *extra_modules])
    for where, functions in ALLOWED_ANYWHERE_IN:
        for wrapped in guard.functions.values():
            wrapped.can_block_in(where, functions)
    # SQLAlchemy resolves a SQLite file's path (getcwd) once, when the engine is created at
    # start-up, before anything is served: a syscall that never waits on a disk.
    for name in ("os.path.abspath", "os.getcwd"):
        guard.functions[name].can_block_in("sqlalchemy/engine/create.py", "create_engine")
    return guard


def blocking_guard_from_environment(environ: Mapping[str, str]) -> BlockBuster | None:
    """The guard, activated, when ``WORMFS_BLOCKING_GUARD=1`` (set by the tests' harnesses)."""
    if environ.get(BLOCKING_GUARD_VARIABLE, "") != "1":
        return None
    try:
        guard = blocking_guard()
    except ImportError as exc:
        raise SystemExit(f"{BLOCKING_GUARD_VARIABLE}=1 needs blockbuster installed: {exc}") from exc
    guard.activate()
    log.warning("blocking-call guard on: a blocking call in the event loop fails its caller")
    return guard


def write_ready_file(path: Path, info: dict[str, object]) -> None:
    """Atomically publish ``info`` at ``path`` (temp file + rename)."""
    tmp = path.with_name(path.name + f".{os.getpid()}.tmp")
    tmp.write_text(json.dumps(info))
    os.replace(tmp, path)


def admin_ready_file(ready_file: Path) -> Path:
    """Where a coordinator with an admin listener publishes that listener's address, beside
    its own ready file (``run/coordinator.json`` -> ``run/coordinator.admin.json``)."""
    return ready_file.with_name(ready_file.stem + ".admin.json")


def bound_port(runner: web.AppRunner) -> int:
    for address in runner.addresses:
        if isinstance(address, tuple):
            return int(address[1])
    raise RuntimeError("the server did not bind a TCP port")


async def _serve(
    factory: AppFactory,
    host: str,
    port: int,
    ready_file: Path | None,
    reuse_port: bool,
    sock: socket.socket | None,
    after_start: AfterStart | None,
    ssl_context: ssl.SSLContext | None = None,
) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    app = await factory()
    runner = web.AppRunner(app, handle_signals=False, access_log=None, shutdown_timeout=10.0)
    await runner.setup()
    site: web.BaseSite
    if sock is not None:
        site = web.SockSite(runner, sock, ssl_context=ssl_context)
    else:
        site = web.TCPSite(
            runner,
            host,
            port,
            reuse_port=reuse_port or None,
            backlog=1024,
            ssl_context=ssl_context,
        )
    await site.start()
    actual = bound_port(runner)
    scheme = "https" if ssl_context is not None else "http"
    url = f"{scheme}://{host}:{actual}"
    log.info("serving on %s", url)
    if after_start is not None:
        await after_start(app, url)
    if ready_file is not None:
        info: dict[str, object] = {"address": url, "host": host, "port": actual, "pid": os.getpid()}
        # File I/O stays off the loop (invariant 5), even this once.
        await asyncio.to_thread(write_ready_file, ready_file, info)
    try:
        await stop.wait()
        log.info("stopping")
    finally:
        await runner.cleanup()
        log.info("stopped")


def serve(
    factory: AppFactory,
    host: str,
    port: int,
    ready_file: Path | None = None,
    *,
    reuse_port: bool = False,
    sock: socket.socket | None = None,
    after_start: AfterStart | None = None,
    ssl_context: ssl.SSLContext | None = None,
) -> None:
    """Run ``factory()``'s app on uvloop until SIGTERM/SIGINT (HTTPS with ``ssl_context``)."""
    guard = blocking_guard_from_environment(os.environ)
    try:
        with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
            runner.run(
                _serve(factory, host, port, ready_file, reuse_port, sock, after_start, ssl_context)
            )
    finally:
        if guard is not None:
            guard.deactivate()
