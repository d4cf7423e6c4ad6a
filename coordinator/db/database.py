"""The metadata database handle: engine set-up, migrations, transactions, fencing.

Layer: coordinator database package, below the repositories. One code path for both engines:
SQLite (aiosqlite, the embedded default) and PostgreSQL (asyncpg, for several hosts). Contract:

* ``open_database(url)`` creates the async engine (parent directories of a SQLite file
  included), runs ``alembic upgrade head`` and returns a ``Database``.
* ``Database.read()`` / ``Database.write()`` are async context managers yielding a session
  inside one transaction; leaving the block commits, an exception rolls back. Every
  repository operation is exactly one such transaction.
* Leadership: ``become_leader()`` takes the next leader epoch; afterwards every ``write()``
  checks, inside its own transaction, that the epoch in the database is still ours
  (``StaleLeaderError`` otherwise), so a deposed coordinator's late write changes nothing.
  ``refuse_writes(reason)`` closes the write gate (``NotLeaderError``) without touching the
  database: a follower, or a leader whose ZooKeeper connection is suspended; ``step_down``
  also forgets the epoch. A fresh handle accepts unfenced writes (tools, tests).
* Errors: driver errors meaning "the database is not usable right now" (locked, I/O error,
  connection lost, lock or idle timeout) become ``UnavailableError``. ``retry_races`` re-runs a
  whole repository operation that lost a race on PostgreSQL (two commits to one key: unique
  violation; a row deleted under us; serialization failure or deadlock) a few times before
  answering ``UnavailableError``; other SQLAlchemy errors are mapped by the repositories or
  surface as a 500.

Fencing, and why it is correct under concurrency:

* PostgreSQL (READ COMMITTED, writes run concurrently): the last statement of every write
  transaction is ``SELECT leader_epoch FROM cluster_meta WHERE id = 1 FOR SHARE``, and the
  share lock is held until COMMIT. ``become_leader`` updates that row, which needs an exclusive
  lock: it waits for every write transaction that has already passed its check to commit, and
  every check that comes later waits for the bump and then reads the new epoch (a locking read
  sees the newest committed row version). So each write is ordered entirely before or entirely
  after the bump: no write of the old leader commits after the new leader took over. Share
  locks do not conflict with each other, so a leader's writes still run in parallel. A
  coordinator frozen mid-transaction (SIGSTOP, a partition) would hold its share lock and stall
  the next leader's bump, so connections set ``idle_in_transaction_session_timeout``: the
  server ends such a session after ``PG_IDLE_IN_TRANSACTION_MS`` and its transaction rolls back.
* SQLite: write transactions are serialised (in-process by an asyncio lock, across processes
  by SQLite's single writer lock, taken at ``BEGIN IMMEDIATE``), so checking the epoch at the
  start is enough: nobody can bump it before we commit.

Reads on PostgreSQL run at REPEATABLE READ, so a transaction that issues several statements
(a listing page walking batches) sees one snapshot, as a SQLite transaction does; read-only
REPEATABLE READ transactions never fail with serialization errors.

SQLite is opened in WAL mode with ``synchronous=FULL``: a commit is acknowledged only after
the WAL is fsynced, which invariant 1 (no acknowledged write is lost) needs even across power
loss (``NORMAL`` may lose the last transactions). Foreign keys are enforced. The driver's own
implicit BEGIN handling is switched off and a BEGIN is emitted per transaction (IMMEDIATE for
writes), so reads inside a transaction see one snapshot and DDL is transactional. In-process, write
transactions are serialised by a lock: SQLite has one writer anyway, and waiting on an asyncio
lock never blocks the loop, unlike waiting on SQLite's busy handler.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import os
import random
import socket
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, ParamSpec, TypeVar

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, event, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm.exc import StaleDataError

from wormfs.coordinator.db.direct import DirectSql, EngineRunner, Operation, SqliteFileRunner
from wormfs.coordinator.db.models import ClusterMeta
from wormfs.errors import NotLeaderError, StaleLeaderError, UnavailableError

log = logging.getLogger(__name__)

P = ParamSpec("P")
T = TypeVar("T")

MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "migrations"
SQLITE_BUSY_TIMEOUT_MS = 10_000
WRITE_OPTION = "wormfs_write"  # execution option marking the engine view for writes

PG_POOL_SIZE = 16
PG_MAX_OVERFLOW = 16
PG_CONNECT_TIMEOUT = 10.0
PG_IDLE_IN_TRANSACTION_MS = 10_000  # see "Fencing" above
PG_LEADER_LOCK_TIMEOUT = "15s"  # how long become_leader waits for in-flight writes
# pg_advisory_xact_lock key serialising migrations of coordinators that start together.
MIGRATION_LOCK_KEY = 0x576F_726D_4653  # "WormFS"

RACE_ATTEMPTS = 6
RACE_BACKOFF = 0.002  # seconds; doubled per attempt, with jitter
# SQLSTATEs of a lost race: unique_violation, foreign_key_violation, serialization_failure,
# deadlock_detected. Only on PostgreSQL: SQLite serialises writers, so there they are bugs.
RACE_SQLSTATES = frozenset({"23505", "23503", "40001", "40P01"})
# SQLSTATE classes and codes meaning "not usable right now": connection exception (08),
# insufficient resources (53), operator intervention (57: shutdown, statement timeout),
# lock_not_available (55P03), idle_in_transaction_session_timeout (25P03).
UNAVAILABLE_CLASSES = frozenset({"08", "53", "57"})
UNAVAILABLE_SQLSTATES = frozenset({"55P03", "25P03"})


def _is_sqlite(url: str) -> bool:
    return make_url(url).get_backend_name() == "sqlite"


def _sqlite_file(url: str) -> Path | None:
    database = make_url(url).database
    if not database or database == ":memory:" or database.startswith("file:"):
        return None
    return Path(database)


def _install_sqlite_hooks(engine: AsyncEngine) -> None:
    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Take transaction control away from the driver (see the module docstring).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=FULL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(conn: Connection) -> None:
        # A write transaction takes the write lock at BEGIN (IMMEDIATE): one that started as a
        # reader could not become a writer once another process committed (SQLITE_BUSY,
        # which the busy handler does not wait out); IMMEDIATE waits its turn instead.
        immediate = conn.get_execution_options().get(WRITE_OPTION, False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


async def create_engine(url: str) -> AsyncEngine:
    """An async engine for ``url``; a SQLite file's parent directories are created."""
    if _is_sqlite(url):
        path = _sqlite_file(url)
        if path is not None:
            await asyncio.to_thread(path.parent.mkdir, parents=True, exist_ok=True)
        engine = create_async_engine(url)
        _install_sqlite_hooks(engine)
        return engine
    return create_async_engine(
        url,
        pool_size=PG_POOL_SIZE,
        max_overflow=PG_MAX_OVERFLOW,
        # A server restart leaves dead connections in the pool; test each on checkout.
        pool_pre_ping=True,
        connect_args={
            "timeout": PG_CONNECT_TIMEOUT,
            "server_settings": {
                "application_name": "wormfs-coordinator",
                "idle_in_transaction_session_timeout": str(PG_IDLE_IN_TRANSACTION_MS),
            },
        },
    )


def alembic_config(connection: Connection | None = None, url: str | None = None) -> Config:
    """An Alembic config for our migrations, bound to ``connection`` (or ``url``)."""
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    if url is not None:
        cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    if connection is not None:
        cfg.attributes["connection"] = connection
    return cfg


def _upgrade(connection: Connection) -> None:
    command.upgrade(alembic_config(connection), "head")


async def migrate(engine: AsyncEngine) -> None:
    """Bring the schema to the newest revision (idempotent).

    On PostgreSQL, coordinators starting together take a transaction-scoped advisory lock
    first: the second waits, then finds the schema at head and does nothing.
    """
    async with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            await conn.execute(
                text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK_KEY}
            )
        await conn.run_sync(_upgrade)


def _sqlstate(exc: BaseException) -> str:
    return str(getattr(getattr(exc, "orig", None), "sqlstate", None) or "")


def is_race(exc: BaseException) -> bool:
    """True if ``exc`` means a concurrent transaction got there first (PostgreSQL)."""
    if isinstance(exc, StaleDataError):  # a row we loaded was deleted by a concurrent commit
        return True
    return isinstance(exc, DBAPIError) and _sqlstate(exc) in RACE_SQLSTATES


def _is_unavailable(exc: BaseException) -> bool:
    if isinstance(exc, OSError | TimeoutError):  # connecting failed (asyncpg raises these)
        return True
    if not isinstance(exc, DBAPIError):
        return False
    if isinstance(exc, OperationalError | InterfaceError) or exc.connection_invalidated:
        return True
    state = _sqlstate(exc)
    return state[:2] in UNAVAILABLE_CLASSES or state in UNAVAILABLE_SQLSTATES


def _unavailable(exc: BaseException) -> UnavailableError:
    detail = getattr(exc, "orig", None) or exc
    log.warning("metadata database error: %r", detail)
    return UnavailableError(f"metadata database unavailable: {detail}")


def retry_races(operation: Callable[P, Awaitable[T]]) -> Callable[P, Awaitable[T]]:
    """Re-run a whole repository operation (one transaction) that lost a race.

    Safe because the failed attempt rolled back entirely and the operation re-reads what it
    depends on. After ``RACE_ATTEMPTS`` lost races the caller gets ``UnavailableError`` (try
    again later), never a 500.
    """

    @functools.wraps(operation)
    async def attempt(*args: P.args, **kwargs: P.kwargs) -> T:
        for n in range(RACE_ATTEMPTS):
            try:
                return await operation(*args, **kwargs)
            except (DBAPIError, StaleDataError) as exc:
                if not is_race(exc):
                    raise
                log.info("%s lost a race (%s); retrying", operation.__qualname__, _sqlstate(exc))
                if n == RACE_ATTEMPTS - 1:
                    raise UnavailableError(
                        f"{operation.__name__}: the metadata kept changing concurrently; try again"
                    ) from exc
                await asyncio.sleep(random.uniform(0, RACE_BACKOFF * 2**n))
        raise AssertionError("unreachable")

    return attempt


class Database:
    """Transactions over one engine, with write serialisation and leader fencing."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self.dialect = engine.dialect.name
        self._sqlite = self.dialect == "sqlite"
        self._sessions = async_sessionmaker(
            engine.execution_options(**{WRITE_OPTION: True}),
            expire_on_commit=False,
            autoflush=False,
        )
        read_engine = (
            engine if self._sqlite else engine.execution_options(isolation_level="REPEATABLE READ")
        )
        self._read_sessions = async_sessionmaker(
            read_engine, expire_on_commit=False, autoflush=False
        )
        self._write_lock = asyncio.Lock()
        self.epoch: int | None = None
        self._refusal: str | None = None  # why writes are refused right now; None: accepted
        path = _sqlite_file(str(engine.url)) if self._sqlite else None
        self._direct: DirectSql = (
            SqliteFileRunner(path, self)
            if path is not None
            else EngineRunner(engine, engine.execution_options(**{WRITE_OPTION: True}), self)
        )

    @property
    def refusal(self) -> str | None:
        return self._refusal

    @property
    def write_lock(self) -> asyncio.Lock:
        return self._write_lock

    async def direct_read(self, fn: Operation[T]) -> T:
        """``fn(sql)`` in one read transaction, in one hop (``wormfs.coordinator.db.direct``)."""
        try:
            return await self._direct.read(fn)
        except (DBAPIError, OSError, TimeoutError) as exc:
            if _is_unavailable(exc):
                raise _unavailable(exc) from exc
            raise

    async def direct_write(self, fn: Operation[T]) -> T:
        """``fn(sql)`` in one fenced write transaction, acknowledged once durable; on SQLite
        group-committed with the writes queued beside it (``wormfs.coordinator.db.direct``)."""
        if self._refusal is not None:
            raise NotLeaderError(self._refusal)
        attempt = self._direct.write if self._sqlite else retry_races(self._direct.write)
        try:
            return await attempt(fn)
        except (DBAPIError, OSError, TimeoutError) as exc:
            if _is_unavailable(exc):
                raise _unavailable(exc) from exc
            raise

    @property
    def accepting_writes(self) -> bool:
        return self._refusal is None

    def refuse_writes(self, reason: str) -> None:
        """Close the write gate (a follower; a leader whose ZooKeeper link is suspended)."""
        self._refusal = reason

    def accept_writes(self) -> None:
        self._refusal = None

    def step_down(self, reason: str) -> None:
        """Forget the epoch and refuse writes until ``become_leader`` and ``accept_writes``."""
        self.epoch = None
        self._refusal = reason

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncSession]:
        try:
            async with self._read_sessions() as session, session.begin():
                yield session
        except (DBAPIError, OSError, TimeoutError) as exc:
            if _is_unavailable(exc):
                raise _unavailable(exc) from exc
            raise

    @asynccontextmanager
    async def write(self) -> AsyncIterator[AsyncSession]:
        if self._refusal is not None:
            raise NotLeaderError(self._refusal)
        try:
            if self._sqlite:
                async with self._write_lock, self._transaction() as session:
                    yield session
            else:
                async with self._transaction() as session:
                    yield session
        except (DBAPIError, OSError, TimeoutError) as exc:
            if _is_unavailable(exc):
                raise _unavailable(exc) from exc
            raise

    @asynccontextmanager
    async def _transaction(self) -> AsyncIterator[AsyncSession]:
        epoch = self.epoch
        async with self._sessions() as session, session.begin():
            if epoch is not None and self._sqlite:
                await self._check_epoch(session, epoch, lock=False)
            yield session
            if epoch is not None and not self._sqlite:
                await session.flush()
                await self._check_epoch(session, epoch, lock=True)

    @staticmethod
    async def _check_epoch(session: AsyncSession, epoch: int, lock: bool) -> None:
        query = select(ClusterMeta.leader_epoch).where(ClusterMeta.id == 1)
        if lock:
            query = query.with_for_update(read=True)  # FOR SHARE, held until COMMIT
        current = await session.scalar(query)
        if current != epoch:
            raise StaleLeaderError(f"leader epoch is now {current}, this coordinator holds {epoch}")

    async def become_leader(self, leader_id: str | None = None) -> int:
        """Take the next leader epoch; later writes of older epochs fail (fencing).

        Does not open the write gate: the caller does, once it is ready to lead.
        """
        self.epoch = None  # the bump itself must not be fenced by the old value
        try:
            async with self._write_lock, self._sessions() as session, session.begin():
                if not self._sqlite:
                    # Waits for in-flight write transactions (their FOR SHARE locks); bounded.
                    await session.execute(
                        text(f"SET LOCAL lock_timeout = '{PG_LEADER_LOCK_TIMEOUT}'")
                    )
                meta = await session.get(ClusterMeta, 1, with_for_update=True)
                if meta is None:  # a database migrated before revision 0002 seeded the row
                    meta = ClusterMeta(id=1, leader_epoch=0, leader_id="", leader_since=0.0)
                    session.add(meta)
                meta.leader_epoch += 1
                meta.leader_id = leader_id or f"{socket.gethostname()}:{os.getpid()}"
                meta.leader_since = time.time()
                epoch = meta.leader_epoch
        except (DBAPIError, OSError, TimeoutError) as exc:
            if _is_unavailable(exc):
                raise _unavailable(exc) from exc
            raise
        self.epoch = epoch
        log.info("coordinator holds leader epoch %d", epoch)
        return epoch

    async def close(self) -> None:
        await self._direct.close()
        await self.engine.dispose()


async def open_database(url: str) -> Database:
    """Create the engine, migrate to head, and return the handle (not yet leader)."""
    engine = await create_engine(url)
    try:
        await migrate(engine)
    except BaseException:
        await engine.dispose()
        raise
    return Database(engine)
