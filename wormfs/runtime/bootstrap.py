"""Process bootstrap shared by every daemon: logging, uvloop, serving an aiohttp app, stopping.

``serve`` binds (port 0 picks a free port), then writes a ready file — one JSON object with the
real address and the PID, written atomically — so that supervisors and tests learn the address
without guessing ports. SIGTERM and SIGINT stop the process cleanly: the site stops accepting,
in-flight requests finish (bounded by ``shutdown_timeout``), cleanup contexts run, exit 0.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import signal
import socket
import ssl
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path

import uvloop
from aiohttp import web

log = logging.getLogger(__name__)

AppFactory = Callable[[], Awaitable[web.Application]]
# Called once the site is bound, with the app and its base URL (e.g. a storage node registers
# with the coordinator only once it knows its own address).
AfterStart = Callable[[web.Application, str], Awaitable[None]]


def setup_logging(name: str, level: str = "INFO") -> None:
    logging.basicConfig(
        level=getattr(logging, level.upper(), logging.INFO),
        format=f"%(asctime)s {name}[%(process)d] %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)


def write_ready_file(path: Path, info: dict[str, object]) -> None:
    """Atomically publish ``info`` at ``path`` (temp file + rename)."""
    tmp = path.with_name(path.name + f".{os.getpid()}.tmp")
    tmp.write_text(json.dumps(info))
    os.replace(tmp, path)


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
        write_ready_file(
            ready_file, {"address": url, "host": host, "port": actual, "pid": os.getpid()}
        )
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
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        runner.run(
            _serve(factory, host, port, ready_file, reuse_port, sock, after_start, ssl_context)
        )
