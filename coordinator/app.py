"""The coordinator process: aiohttp application factory and entry point.

Layer: coordinator, the top. Contract:

* ``create_app(config, secret)`` builds the application: the internal middleware
  (authentication with the cluster secret, domain errors as ``ErrorBody``), with ZooKeeper the
  leader gate (``leadership.leader_gate``: followers answer ``NotLeaderError``), the routes of
  ``wormfs.wire.coordinator`` (``handlers``) and of ``wormfs.wire.fs`` (``fs_handlers``), and
  three cleanup contexts:
  1. the metadata database: open (SQLite parent directories created), ``alembic upgrade
     head``; alone, take the leader epoch and make sure the root user (and the configured
     root key) exists; with ZooKeeper, refuse writes until elected; the engine is disposed
     on shutdown;
  2. background jobs (``leadership.LeaderJobs``): an HTTP session for storage nodes, the
     liveness loop, the GC loop, repair and scrub; started at once when alone, by the
     election when elected; stopped on shutdown;
  3. the master keyring (``admin.keys.add_keyring``: ``WORMFS_MASTER_KEY`` or the key file
     of ``WORMFS_MASTER_KEY_FILE``, None without either), for ``wormfs admin keys``; then the
     admin plane (``admin.server.admin_ctx``): admin tokens and the audit log, and with
     ``admin_listen`` set the admin listener (``/admin/v1``, the route table of
     ``admin.table``), stopped before the jobs;
  4. with ZooKeeper, the election (``election.Election``), closed (stepping down) first on
     shutdown.
  State lives on the app under typed ``AppKey``s; there are no globals.
* ``start_election(app, url)`` (the ``after_start`` hook of ``serve``) starts campaigning once
  the bound address is known; ``advertise_address`` overrides it.
* ``run(config, secret, ready_file)`` serves it with ``wormfs.runtime.bootstrap.serve`` until
  SIGTERM.

Without ``zookeeper_hosts`` one coordinator runs alone and leads from the start (embedded
mode). With it, several coordinators share one (PostgreSQL) database and ZooKeeper elects one.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
from aiohttp import web

from wormfs.config import CoordinatorConfig
from wormfs.coordinator.admin.keys import add_keyring
from wormfs.coordinator.admin.server import ADMIN_URL, admin_ctx, ensure_configured_token
from wormfs.coordinator.admin.table import MOUNTS, TABLE
from wormfs.coordinator.backup import MetadataBackup
from wormfs.coordinator.backup_api import BACKUP, add_backup_routes
from wormfs.coordinator.db.database import open_database
from wormfs.coordinator.db.repo import Repository
from wormfs.coordinator.durability import Durability
from wormfs.coordinator.durability_api import DURABILITY, add_durability_routes
from wormfs.coordinator.election import ELECTION, Election
from wormfs.coordinator.fs_handlers import add_fs_routes
from wormfs.coordinator.handlers import REPO, add_routes
from wormfs.coordinator.jobs_api import add_job_routes
from wormfs.coordinator.leadership import LeaderJobs, Office, leader_gate
from wormfs.coordinator.lifecycle import LIFECYCLE, LifecycleWorker
from wormfs.coordinator.metrics import add_metrics, mount_metrics
from wormfs.coordinator.profile_handlers import add_profile_routes
from wormfs.coordinator.tasks import GarbageCollector, liveness_loop, liveness_period
from wormfs.internal.auth import Verifier
from wormfs.internal.http import internal_middleware
from wormfs.runtime.bootstrap import serve
from wormfs.wire.common import MAX_JSON_BODY

log = logging.getLogger(__name__)

CONFIG = web.AppKey("config", CoordinatorConfig)
SECRET = web.AppKey("secret", bytes)
GC = web.AppKey("gc", GarbageCollector)
ROOT_USER_ID = web.AppKey("root_user_id", str)
JOBS = web.AppKey("leader_jobs", LeaderJobs)


async def _database_ctx(app: web.Application) -> AsyncIterator[None]:
    config = app[CONFIG]
    db = await open_database(config.database_url)
    try:
        repo = Repository.build(db, config)
        if config.zookeeper_hosts:
            # One of several coordinators: nothing is written before the election says so.
            db.step_down("this coordinator has not been elected leader")
        else:
            await db.become_leader()
            app[ROOT_USER_ID] = await repo.identity.ensure_root(
                config.root_access_key, config.root_secret_key
            )
            await repo.profiles.seed()
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
        period = liveness_period(config.heartbeat_interval, config.node_offline_after)
        lifecycle = LifecycleWorker(repo.db, repo.uploads, config.lifecycle, config.gc_delay)
        app[LIFECYCLE] = lifecycle
        durability = Durability(  # the jobs
            repo.db, config, session, app[SECRET], collector, lifecycle
        )
        app[DURABILITY] = durability
        backup = MetadataBackup(repo.db, config, session, app[SECRET])  # onto the nodes
        app[BACKUP] = backup
        jobs = LeaderJobs(
            {
                "coordinator-liveness": lambda: liveness_loop(repo, period),
                "coordinator-gc": lambda: collector.loop(config.gc_interval),
                "coordinator-lifecycle": lifecycle.loop,
            },
            services=[durability, backup],
        )
        app[JOBS] = jobs
        if not config.zookeeper_hosts:
            jobs.start()  # alone: the leader from the start
        try:
            yield
        finally:
            app.pop(DURABILITY)
            app.pop(BACKUP)
            await jobs.stop()


async def _election_ctx(app: web.Application) -> AsyncIterator[None]:
    config = app[CONFIG]
    if not config.zookeeper_hosts:
        yield
        return
    office = Office(
        app[REPO],
        app[JOBS],
        config.root_access_key,
        config.root_secret_key,
        duties=[lambda: ensure_configured_token(app, config)],
    )
    app[ELECTION] = Election(
        config.zookeeper_hosts,
        config.zookeeper_path,
        config.zookeeper_session_timeout,
        office,
        advertise=config.advertise_address.rstrip("/"),
    )
    try:
        yield
    finally:
        await app[ELECTION].close()


async def start_election(app: web.Application, bound_url: str) -> None:
    """Campaign for leadership (with ZooKeeper) once the server is bound to ``bound_url``."""
    if ELECTION in app:
        # Published with the leader record, so followers can send admin calls there.
        app[ELECTION].admin_address = app.get(ADMIN_URL, "")
        await app[ELECTION].start(bound_url)


async def create_app(
    config: CoordinatorConfig, secret: bytes, ready_file: Path | None = None
) -> web.Application:
    middlewares = [internal_middleware(Verifier(secret))]
    if config.zookeeper_hosts:
        middlewares.append(leader_gate(lambda request: request.app[ELECTION]))
    app = web.Application(middlewares=middlewares, client_max_size=MAX_JSON_BODY)
    app[CONFIG] = config
    app[SECRET] = secret
    app.cleanup_ctx.append(_database_ctx)
    app.cleanup_ctx.append(_background_ctx)
    add_keyring(app)  # a cleanup context: loads the master keyring
    app.cleanup_ctx.append(admin_ctx(config, TABLE, (*MOUNTS, mount_metrics), ready_file))
    app.cleanup_ctx.append(_election_ctx)
    add_routes(app)
    add_fs_routes(app)
    add_durability_routes(app)
    add_job_routes(app)
    add_profile_routes(app)
    add_backup_routes(app)
    add_metrics(app, config)  # /metrics and /metrics/cluster, public GETs
    return app


def run(config: CoordinatorConfig, secret: bytes, ready_file: Path | None) -> None:
    """Serve the coordinator on ``config.listen`` until SIGTERM or SIGINT."""

    async def factory() -> web.Application:
        return await create_app(config, secret, ready_file)

    serve(factory, config.listen.host, config.listen.port, ready_file, after_start=start_election)
