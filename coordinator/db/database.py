"""The metadata database handle: engine set-up, migrations, transactions, fencing.

Layer: coordinator database package, below the repositories. Contract:

* ``open_database(url)`` creates the async engine (parent directories of a SQLite file
  included), runs ``alembic upgrade head`` and returns a ``Database``.
* ``Database.read()`` / ``Database.write()`` are async context managers yielding a session
  inside one transaction; leaving the block commits, an exception rolls back. Every
  repository operation is exactly one such transaction.
* ``Database.become_leader()`` increments the leader epoch; afterwards every ``write()``
  checks, inside its transaction, that the epoch is still ours (``StaleLeaderError``
  otherwise). That is the fencing hook that ZooKeeper election will drive.
* Driver errors that mean "the database is not usable right now" (locked, I/O error,
  connection lost) become ``UnavailableError``; other SQLAlchemy errors are mapped by the
  repositories or surface as a 500.

SQLite is opened in WAL mode with ``synchronous=FULL``: a commit is acknowledged only after
the WAL is fsynced, which invariant 1 (no acknowledged write is lost) needs even across power
loss (``NORMAL`` may lose the last transactions). Foreign keys are enforced. The driver's own
implicit BEGIN handling is switched off and a plain BEGIN is emitted per transaction, so reads
inside a transaction see one snapshot and DDL is transactional. In-process, write
transactions are serialised by a lock: SQLite has one writer anyway, and waiting on an asyncio
lock never blocks the loop, unlike waiting on SQLite's busy handler.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, event, select
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from wormfs.coordinator.db.models import ClusterMeta
from wormfs.errors import StaleLeaderError, UnavailableError

log = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "migrations"
SQLITE_BUSY_TIMEOUT_MS = 10_000


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
        conn.exec_driver_sql("BEGIN")


async def create_engine(url: str) -> AsyncEngine:
    """An async engine for ``url``; a SQLite file's parent directories are created."""
    path = _sqlite_file(url) if _is_sqlite(url) else None
    if path is not None:
        await asyncio.to_thread(path.parent.mkdir, parents=True, exist_ok=True)
    engine = create_async_engine(url)
    if _is_sqlite(url):
        _install_sqlite_hooks(engine)
    return engine


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
    """Bring the schema to the newest revision (idempotent)."""
    async with engine.begin() as conn:
        await conn.run_sync(_upgrade)


class Database:
    """Transactions over one engine, with write serialisation and leader fencing."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self._sessions = async_sessionmaker(engine, expire_on_commit=False, autoflush=False)
        self._write_lock = asyncio.Lock()
        self._serialise_writes = engine.dialect.name == "sqlite"
        self.epoch: int | None = None

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncSession]:
        try:
            async with self._sessions() as session, session.begin():
                yield session
        except OperationalError as exc:
            raise _unavailable(exc) from exc

    @asynccontextmanager
    async def write(self) -> AsyncIterator[AsyncSession]:
        try:
            if self._serialise_writes:
                async with self._write_lock, self._transaction() as session:
                    yield session
            else:
                async with self._transaction() as session:
                    yield session
        except OperationalError as exc:
            raise _unavailable(exc) from exc

    @asynccontextmanager
    async def _transaction(self) -> AsyncIterator[AsyncSession]:
        async with self._sessions() as session, session.begin():
            if self.epoch is not None:
                current = await session.scalar(
                    select(ClusterMeta.leader_epoch).where(ClusterMeta.id == 1)
                )
                if current != self.epoch:
                    raise StaleLeaderError(
                        f"leader epoch is now {current}, this coordinator holds {self.epoch}"
                    )
            yield session

    async def become_leader(self, leader_id: str | None = None) -> int:
        """Take the next leader epoch; later writes fail once another leader takes one."""
        self.epoch = None  # the bump itself must not be fenced by the old value
        async with self.write() as session:
            meta = await session.get(ClusterMeta, 1)
            if meta is None:
                meta = ClusterMeta(id=1, leader_epoch=0, leader_id="", leader_since=0.0)
                session.add(meta)
            meta.leader_epoch += 1
            meta.leader_id = leader_id or f"{socket.gethostname()}:{os.getpid()}"
            meta.leader_since = time.time()
            epoch = meta.leader_epoch
        self.epoch = epoch
        log.info("coordinator holds leader epoch %d", epoch)
        return epoch

    async def close(self) -> None:
        await self.engine.dispose()


def _unavailable(exc: OperationalError) -> UnavailableError:
    log.warning("metadata database error: %s", exc.orig)
    return UnavailableError(f"metadata database unavailable: {exc.orig}")


async def open_database(url: str) -> Database:
    """Create the engine, migrate to head, and return the handle (not yet leader)."""
    engine = await create_engine(url)
    try:
        await migrate(engine)
    except BaseException:
        await engine.dispose()
        raise
    return Database(engine)
