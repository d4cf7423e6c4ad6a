"""The event-loop blocking guard itself (invariant 5): a handler that blocks the loop fails.

The guard of ``tests/conftest.py`` watches WormFS's packages; these handlers live in this test
module, so each test adds a guard that watches this module too. A handler that sleeps or reads
a file in the loop thread answers 500 with ``BlockingError`` in the server's log; the same work
moved to an executor answers 200. The daemons' switch (``WORMFS_BLOCKING_GUARD``) is read from
the environment given to ``blocking_guard_from_environment``.
"""

from __future__ import annotations

import asyncio
import logging
import sys
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient
from blockbuster import BlockingError

from wormfs.runtime.bootstrap import (
    BLOCKING_GUARD_VARIABLE,
    blocking_guard,
    blocking_guard_from_environment,
)

Client = Callable[[web.Application], Awaitable[TestClient]]


@pytest.fixture
def guard_this_module() -> Iterator[None]:
    guard = blocking_guard(sys.modules[__name__])
    guard.activate()
    try:
        yield
    finally:
        guard.deactivate()


def _app(path: Path) -> web.Application:
    async def sleeps(request: web.Request) -> web.Response:
        time.sleep(0.01)  # noqa: ASYNC251 (the bug under test: a blocking sleep in the loop)
        return web.Response(text="slept")

    async def reads(request: web.Request) -> web.Response:
        return web.Response(body=path.read_bytes())  # noqa: ASYNC240 (the bug under test)

    async def offloaded(request: web.Request) -> web.Response:
        await asyncio.to_thread(time.sleep, 0.01)
        return web.Response(body=await asyncio.to_thread(path.read_bytes))

    app = web.Application()
    app.router.add_get("/sleeps", sleeps)
    app.router.add_get("/reads", reads)
    app.router.add_get("/offloaded", offloaded)
    return app


@pytest.mark.usefixtures("guard_this_module")
async def test_a_blocking_handler_fails_under_the_guard(
    aiohttp_client: Client, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    data = tmp_path / "data.bin"
    await asyncio.to_thread(data.write_bytes, b"payload")
    client = await aiohttp_client(_app(data))
    with caplog.at_level(logging.ERROR, logger="aiohttp.server"):
        for path in ("/sleeps", "/reads"):
            response = await client.get(path)
            assert response.status == 500, path
    blocked = [r for r in caplog.records if r.exc_info and r.exc_info[0] is BlockingError]
    assert len(blocked) == 2
    assert "time.sleep" in str(blocked[0].exc_info[1])  # type: ignore[index]
    response = await client.get("/offloaded")
    assert (response.status, await response.read()) == (200, b"payload")


def test_the_daemons_switch_is_read_from_the_environment() -> None:
    assert blocking_guard_from_environment({}) is None
    assert blocking_guard_from_environment({BLOCKING_GUARD_VARIABLE: "0"}) is None
    guard = blocking_guard_from_environment({BLOCKING_GUARD_VARIABLE: "1"})
    assert guard is not None
    try:

        async def blocks() -> None:
            time.sleep(0)  # noqa: ASYNC251 (not WormFS code: the guard lets it pass)

        asyncio.run(blocks())
    finally:
        guard.deactivate()
