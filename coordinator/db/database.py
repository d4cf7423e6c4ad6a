"""The one door into the metadata database: transactions, the write gate, fencing, retries.

Layer: coordinator database package, below the aggregate modules. Every statement of the
coordinator — request path and background jobs alike — runs through here. Contract:

* ``open_database(url)`` creates the engine (parent directories of a SQLite file included),
  runs ``alembic upgrade head`` and returns a ``Database``.
* ``read(fn)`` / ``write(fn)`` run the synchronous operation ``fn(tx)`` (``tx.Tx``) as one
  transaction and return its result; an exception from ``fn`` rolls back everything it did
  and reaches the caller. One repository operation is exactly one such call. A write returns
  only once its transaction is durable.
* Leadership: ``become_leader()`` takes the next leader epoch; afterwards every write checks,
  inside its own transaction, that the epoch in the database is still ours
  (``StaleLeaderError`` otherwise), so a deposed coordinator's late write changes nothing.
  ``refuse_writes(reason)`` closes the write gate (``NotLeaderError``) without touching the
  database: a follower, or a leader whose ZooKeeper connection is suspended; ``step_down``
  also forgets the epoch. A fresh handle accepts unfenced writes (tools, tests).
* Errors: driver errors meaning "the database is not usable right now" (locked, I/O error,
  connection lost, lock or idle timeout) become ``UnavailableError``. On PostgreSQL a write
  that lost a race (two commits to one key: unique violation; a row deleted under us:
  foreign key; serialization failure or deadlock) is re-run whole a few times — safe, since
  the failed attempt rolled back entirely and ``fn`` re-reads what it depends on — before the
  caller hears ``UnavailableError`` (try again later), never a 500.

How each engine runs an operation:

* SQLite: ``lanes.SqliteLanes`` — a reader thread and a group-committing writer thread, one
  hop per batch of queued operations, each write operation in its own SAVEPOINT.
* PostgreSQL: each operation on a pooled connection through ``AsyncConnection.run_sync``:
  reads at REPEATABLE READ (a listing page that walks several batches sees one snapshot, as
  on SQLite; read-only REPEATABLE READ transactions never fail with serialization errors),
  writes at READ COMMITTED, concurrently.

Fencing, and why it is correct under concurrency:

* PostgreSQL: the last statement of every write transaction is ``SELECT leader_epoch FROM
  cluster_meta WHERE id = 1 FOR SHARE``, and the share lock is held until COMMIT.
  ``become_leader`` updates that row, which needs an exclusive lock: it waits for every write
  transaction that has already passed its check to commit, and every check that comes later
  waits for the bump and then reads the new epoch (a locking read sees the newest committed
  row version). So each write is ordered entirely before or entirely after the bump: no
  write of the old leader commits after the new leader took over. Share locks do not conflict
  with each other, so a leader's writes still run in parallel. A coordinator frozen
  mid-transaction (SIGSTOP, a partition) would hold its share lock and stall the next
  leader's bump, so connections set ``idle_in_transaction_session_timeout``
  (``engines.PG_IDLE_IN_TRANSACTION_MS``): the server ends such a session and its
  transaction rolls back.
* SQLite: write transactions are serialised (in-process by the writer thread, across
  processes by SQLite's write lock taken at BEGIN IMMEDIATE), so checking the epoch at the
  start is enough: nobody can bump it before we commit.
"""

from __future__ import annotations

import asyncio
import logging
import os
import random
import socket
import time
from typing import Any, TypeVar

from sqlalchemy import Connection, Engine, bindparam, insert, select, text, update
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine

from wormfs.coordinator.db import engines
from wormfs.coordinator.db.lanes import Operation, SqliteLanes
from wormfs.coordinator.db.tables import cluster_meta
from wormfs.coordinator.db.tx import Tx
from wormfs.errors import NotLeaderError, StaleLeaderError, UnavailableError

log = logging.getLogger(__name__)

T = TypeVar("T")

PG_LEADER_LOCK_TIMEOUT = "15s"  # how long become_leader waits for in-flight writes
RACE_ATTEMPTS = 6
RACE_BACKOFF = 0.002  # seconds; doubled per attempt, with jitter

_EPOCH = select(cluster_meta.c.leader_epoch).where(cluster_meta.c.id == 1)
_EPOCH_SHARED = _EPOCH.with_for_update(read=True)  # FOR SHARE, held until COMMIT
_EPOCH_EXCLUSIVE = _EPOCH.with_for_update()
_SEED_META = insert(cluster_meta).values(id=1, leader_epoch=0, leader_id="", leader_since=0.0)
_BUMP = (
    update(cluster_meta)
    .where(cluster_meta.c.id == 1)
    .values(
        leader_epoch=bindparam("epoch"),
        leader_id=bindparam("leader_id"),
        leader_since=bindparam("since"),
    )
)


def _bump_epoch(tx: Tx, leader_id: str) -> int:
    """The epoch bump itself (unfenced): the row is seeded if a database lacks it."""
    current = tx.scalar(_EPOCH_EXCLUSIVE if tx.postgres else _EPOCH)
    if current is None:  # a database migrated before revision 0002 seeded the row
        tx.run(_SEED_META)
        current = 0
    epoch = int(current) + 1
    tx.run(_BUMP, {"epoch": epoch, "leader_id": leader_id, "since": time.time()})
    return epoch


class _PostgresRunner:
    """Each operation on a pooled connection of the async engine (see the module docstring)."""

    def __init__(self, engine: AsyncEngine, database: Database) -> None:
        self._engine = engine
        self._read_engine = engine.execution_options(isolation_level="REPEATABLE READ")
        self._database = database
        self._prepared: dict[Any, Any] = {}  # statements prepared for the dialect (tx.Tx)

    async def read(self, fn: Operation[T]) -> T:
        def job(connection: Connection) -> T:
            with connection.begin():
                return fn(Tx(connection, self._prepared))

        async with self._read_engine.connect() as conn:
            return await conn.run_sync(job)

    async def write_once(self, fn: Operation[T], epoch: int | None) -> T:
        def job(connection: Connection) -> T:
            with connection.begin():
                tx = Tx(connection, self._prepared)
                result = fn(tx)
                self._database.check_epoch(tx, epoch)  # last: FOR SHARE until COMMIT
                return result

        async with self._engine.connect() as conn:
            return await conn.run_sync(job)

    async def bump(self, leader_id: str) -> int:
        def job(connection: Connection) -> int:
            with connection.begin():
                # Waits for in-flight write transactions (their FOR SHARE locks); bounded.
                connection.execute(text(f"SET LOCAL lock_timeout = '{PG_LEADER_LOCK_TIMEOUT}'"))
                return _bump_epoch(Tx(connection), leader_id)

        async with self._engine.connect() as conn:
            return await conn.run_sync(job)

    async def close(self) -> None:
        await self._engine.dispose()


class Database:
    """Transactions over one engine, with the write gate, leader fencing and retries."""

    def __init__(self, dialect: str) -> None:
        self.dialect = dialect
        self.epoch: int | None = None
        self._refusal: str | None = None  # why writes are refused right now; None: accepted
        self._sqlite: SqliteLanes | None = None
        self._postgres: _PostgresRunner | None = None

    @classmethod
    def over_sqlite(cls, engine: Engine) -> Database:
        db = cls("sqlite")
        db._sqlite = SqliteLanes(engine, db)
        return db

    @classmethod
    def over_postgres(cls, engine: AsyncEngine) -> Database:
        db = cls("postgresql")
        db._postgres = _PostgresRunner(engine, db)
        return db

    # ---- the gate ---------------------------------------------------------------------------
    @property
    def refusal(self) -> str | None:
        return self._refusal

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

    def check_epoch(self, tx: Tx, epoch: int | None) -> None:
        """Fencing: ``StaleLeaderError`` unless the database's epoch is ``epoch`` (None:
        unfenced). On PostgreSQL the row stays share-locked until COMMIT."""
        if epoch is None:
            return
        current = tx.scalar(_EPOCH_SHARED if tx.postgres else _EPOCH)
        if current != epoch:
            raise StaleLeaderError(f"leader epoch is now {current}, this coordinator holds {epoch}")

    # ---- transactions -----------------------------------------------------------------------
    async def read(self, fn: Operation[T]) -> T:
        """``fn(tx)`` in one read transaction (one snapshot)."""
        if self._sqlite is not None:
            return await self._sqlite.read(fn)
        assert self._postgres is not None
        try:
            return await self._postgres.read(fn)
        except (DBAPIError, OSError, TimeoutError) as exc:
            raise engines.domain_error(exc) from exc

    async def write(self, fn: Operation[T]) -> T:
        """``fn(tx)`` in one fenced write transaction, acknowledged once durable."""
        if self._refusal is not None:
            raise NotLeaderError(self._refusal)
        if self._sqlite is not None:
            return await self._sqlite.write(fn)
        assert self._postgres is not None
        for n in range(RACE_ATTEMPTS):
            try:
                return await self._postgres.write_once(fn, self.epoch)
            except (DBAPIError, OSError, TimeoutError) as exc:
                if not engines.is_race(exc):
                    raise engines.domain_error(exc) from exc
                log.info("a write lost a race (%s); retrying", engines.sqlstate(exc))
                if n == RACE_ATTEMPTS - 1:
                    raise UnavailableError(
                        "the metadata kept changing concurrently; try again"
                    ) from exc
                await asyncio.sleep(random.uniform(0, RACE_BACKOFF * 2**n))
        raise AssertionError("unreachable")

    async def become_leader(self, leader_id: str | None = None) -> int:
        """Take the next leader epoch; later writes of older epochs fail (fencing).

        Does not open the write gate: the caller does, once it is ready to lead.
        """
        self.epoch = None  # the bump itself must not be fenced by the old value
        who = leader_id or f"{socket.gethostname()}:{os.getpid()}"
        try:
            if self._sqlite is not None:
                epoch = await self._sqlite.exclusive(lambda con: _bump_in(con, who))
            else:
                assert self._postgres is not None
                epoch = await self._postgres.bump(who)
        except (DBAPIError, OSError, TimeoutError) as exc:
            raise engines.domain_error(exc) from exc
        self.epoch = epoch
        log.info("coordinator holds leader epoch %d", epoch)
        return epoch

    async def close(self) -> None:
        if self._sqlite is not None:
            await self._sqlite.close()
        if self._postgres is not None:
            await self._postgres.close()


def _bump_in(connection: Connection, leader_id: str) -> int:
    with connection.begin():
        return _bump_epoch(Tx(connection), leader_id)


async def open_database(url: str) -> Database:
    """Create the engine, migrate to head, and return the handle (not yet leader)."""
    if engines.is_sqlite(url):
        path = engines.sqlite_file(url)
        await asyncio.to_thread(path.parent.mkdir, parents=True, exist_ok=True)
        sync_engine = engines.sqlite_engine(path)
        try:
            await asyncio.to_thread(engines.migrate_sqlite, sync_engine)
        except BaseException:
            sync_engine.dispose()
            raise
        return Database.over_sqlite(sync_engine)
    engine = engines.postgres_engine(url)
    try:
        await engines.migrate_postgres(engine)
    except BaseException:
        await engine.dispose()
        raise
    return Database.over_postgres(engine)
