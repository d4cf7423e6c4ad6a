"""The coordinator process: aiohttp application factory and entry point.

Layer: coordinator, the top. Contract:

* ``create_app(config, secret)`` builds the application: the internal middleware
  (authentication with the cluster secret, domain errors as ``ErrorBody``), the routes of
  ``wormfs.wire.coordinator`` (``handlers``), and two cleanup contexts:
  1. the metadata database: open (SQLite parent directories created), ``alembic upgrade
     head``, take the leader epoch, make sure the root user (and the configured root key)
     exists; the engine is disposed on shutdown;
  2. background jobs: an HTTP session for storage nodes, the liveness loop and the GC loop,
     cancelled on shutdown.
  State lives on the app under typed ``AppKey``s; there are no globals.
* ``run(config, secret, ready_file)`` serves it with ``wormfs.bootstrap.serve`` until SIGTERM.

Embedded mode only for now: this coordinator is the leader as soon as it starts. ZooKeeper
election will call ``Database.become_leader`` when elected and stop serving writes when not.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
from aiohttp import web

from wormfs.bootstrap import serve
from wormfs.config import CoordinatorConfig
from wormfs.coordinator.db.database import open_database
from wormfs.coordinator.db.repo import Repository
from wormfs.coordinator.handlers import REPO, add_routes
from wormfs.coordinator.tasks import GarbageCollector, liveness_loop, liveness_period
from wormfs.internalauth import Verifier
from wormfs.internalhttp import internal_middleware
from wormfs.wire.common import MAX_JSON_BODY

log = logging.getLogger(__name__)

CONFIG = web.AppKey("config", CoordinatorConfig)
SECRET = web.AppKey("secret", bytes)
GC = web.AppKey("gc", GarbageCollector)
ROOT_USER_ID = web.AppKey("root_user_id", str)


async def _database_ctx(app: web.Application) -> AsyncIterator[None]:
    config = app[CONFIG]
    db = await open_database(config.database_url)
    try:
        await db.become_leader()
        repo = Repository.build(db, config)
        app[ROOT_USER_ID] = await repo.identity.ensure_root(
            config.root_access_key, config.root_secret_key
        )
        app[REPO] = repo
        yield
    finally:
        await db.close()


async def _background_ctx(app: web.Application) -> AsyncIterator[None]:
    config = app[CONFIG]
    repo = app[REPO]
    async with aiohttp.ClientSession() as session:
        collector = GarbageCollector(repo, session, app[SECRET], retry_after=config.gc_interval)
        app[GC] = collector
        tasks = [
            asyncio.create_task(
                liveness_loop(
                    repo, liveness_period(config.heartbeat_interval, config.node_offline_after)
                ),
                name="coordinator-liveness",
            ),
            asyncio.create_task(collector.loop(config.gc_interval), name="coordinator-gc"),
        ]
        try:
            yield
        finally:
            for task in tasks:
                task.cancel()
            for task in tasks:
                with contextlib.suppress(asyncio.CancelledError):
                    await task


async def create_app(config: CoordinatorConfig, secret: bytes) -> web.Application:
    app = web.Application(
        middlewares=[internal_middleware(Verifier(secret))], client_max_size=MAX_JSON_BODY
    )
    app[CONFIG] = config
    app[SECRET] = secret
    app.cleanup_ctx.append(_database_ctx)
    app.cleanup_ctx.append(_background_ctx)
    add_routes(app)
    return app


def run(config: CoordinatorConfig, secret: bytes, ready_file: Path | None) -> None:
    """Serve the coordinator on ``config.listen`` until SIGTERM or SIGINT."""

    async def factory() -> web.Application:
        return await create_app(config, secret)

    serve(factory, config.listen.host, config.listen.port, ready_file)
