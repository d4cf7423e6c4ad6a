"""Fixtures shared by every test folder: throwaway PostgreSQL and ZooKeeper servers, and the
``database_url`` fixture that runs the coordinator suites once on SQLite and once on
PostgreSQL (the same tests, one code path).

Every test also gets its tier marker from its folder (``pytest_collection_modifyitems``), so
``pytest -m unit`` (or ``component``, ``integration``, ``fuse``) runs one tier alone; ``slow``
stays a per-test mark. tests/fuse/ is the ``fuse`` tier: real mounts over a real cluster, their
logs scanned as integration tests' are.

Component and integration tests run under the event-loop blocking guard
(``wormfs.runtime.bootstrap.blocking_guard``, invariant 5): in this process around each test, and in
every process the harnesses start, through ``WORMFS_BLOCKING_GUARD=1`` in the environment they
inherit (set in ``pytest_configure``). Integration tests also have their processes' logs
scanned at teardown (``logscan``): a traceback or an ERROR line fails the test unless the test
names it with ``@pytest.mark.expected_log_errors("regex", ...)``.

The servers are session-scoped (started once, on loopback, with temp data dirs, stopped by PID
at the end). When their binaries are missing, the tests that need them fail with a clear
message under CI (``CI=true``: the test command installs them, so a missing binary is a broken
set-up) and are skipped with that message elsewhere.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from blockbuster import BlockBuster
from infra.postgres import (
    MigratedDatabases,
    PostgresServer,
    PostgresUnavailable,
    create_database,
    drop_database,
)
from infra.zookeeper import ZooKeeperServer, ZooKeeperUnavailable
from logscan import fail_on_problems, harness_logs

from wormfs.runtime.bootstrap import BLOCKING_GUARD_VARIABLE, blocking_guard

ENGINES = ("sqlite", "postgresql")
# Folder under tests/ -> tier marker. s3compat drives real processes with real clients, so it
# is integration; infra/ holds helpers only.
TIERS = {
    "unit": "unit",
    "component": "component",
    "integration": "integration",
    "s3compat": "integration",
    "fuse": "fuse",
    "browser": "browser",
}


def pytest_configure(config: pytest.Config) -> None:
    # Every harness copies os.environ into the processes it starts, so one setting here turns
    # the guard on in all of them (the coordinator, nodes, gateways, ``wormfs server``).
    os.environ[BLOCKING_GUARD_VARIABLE] = "1"


@pytest.fixture(autouse=True)
def guard_event_loop(request: pytest.FixtureRequest) -> Iterator[BlockBuster | None]:
    """Fail a component or integration test whose in-process apps block the event loop."""
    node = request.node
    if node.get_closest_marker("component") is None and (
        node.get_closest_marker("integration") is None
    ):
        yield None
        return
    guard = blocking_guard()
    guard.activate()
    try:
        yield guard
    finally:
        guard.deactivate()


@pytest.fixture(autouse=True)
def scan_process_logs(request: pytest.FixtureRequest) -> Iterator[None]:
    """After an integration test (and its own harness fixtures) ends, scan its processes' logs.

    Autouse, so set up before the test's other function fixtures and torn down after them:
    a harness stopped at teardown has written its last lines by the time they are read.
    """
    yield
    node = request.node
    if node.get_closest_marker("integration") is None and node.get_closest_marker("fuse") is None:
        return
    allowed = [
        str(pattern)
        for marker in request.node.iter_markers("expected_log_errors")
        for pattern in marker.args
    ]
    fail_on_problems(request.config, harness_logs(request.node.funcargs.values()), allowed)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    root = Path(__file__).parent
    for item in items:
        try:
            folder = item.path.relative_to(root).parts[0]
        except ValueError:
            continue  # a test outside tests/ (none today): no tier
        tier = TIERS.get(folder)
        if tier is not None:
            item.add_marker(tier)


def _missing(reason: str) -> None:
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(f"{reason} (required under CI)", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    try:
        server = PostgresServer().start()
    except PostgresUnavailable as exc:
        _missing(str(exc))
        raise  # not reached: _missing fails or skips
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def zookeeper_server() -> Iterator[ZooKeeperServer]:
    try:
        server = ZooKeeperServer().start()
    except ZooKeeperUnavailable as exc:
        _missing(str(exc))
        raise
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(params=ENGINES)
def db_engine(request: pytest.FixtureRequest) -> str:
    """The metadata engine a parametrised coordinator test runs on."""
    return str(request.param)


@pytest.fixture(scope="session")
def postgres_databases(postgres_server: PostgresServer) -> MigratedDatabases:
    return MigratedDatabases(postgres_server)


@pytest.fixture
async def database_url(
    db_engine: str, tmp_path: Path, request: pytest.FixtureRequest
) -> AsyncIterator[str]:
    """A metadata database on ``db_engine`` for one test, holding no data (SQLite: a new file;
    PostgreSQL: a database at the newest schema, reset after the test)."""
    if db_engine == "sqlite":
        yield f"sqlite:///{tmp_path}/meta/wormfs.db"
        return
    databases: MigratedDatabases = request.getfixturevalue("postgres_databases")
    url = await databases.take()
    try:
        yield url
    finally:
        await databases.give_back(url)


@pytest.fixture
async def empty_database_url(
    db_engine: str, tmp_path: Path, request: pytest.FixtureRequest
) -> AsyncIterator[str]:
    """A database on ``db_engine`` with no schema at all (for migration tests)."""
    if db_engine == "sqlite":
        yield f"sqlite:///{tmp_path}/meta/wormfs.db"
        return
    server: PostgresServer = request.getfixturevalue("postgres_server")
    name = f"wormfs_{uuid.uuid4().hex[:16]}"
    url = await asyncio.to_thread(create_database, server, name)
    try:
        yield url
    finally:
        await asyncio.to_thread(drop_database, server, name)
