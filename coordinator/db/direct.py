"""Direct SQL for the request hot path: one thread hop per batch, group commit on SQLite.

Layer: coordinator database package, beside ``Database`` (which owns one ``DirectSql``).
The ORM costs about 3 ms of CPU per small request on SQLite (a thread hop per statement
through aiosqlite, plus the ORM's own bookkeeping); plain SQL in one hop costs a tenth of that.
So the operations every S3 request makes (a bucket's facts, an object's manifest, a small
inline PUT, a DELETE) are written as plain synchronous functions of a ``Sql`` handle, and
``DirectSql`` runs each one as a whole inside one transaction. Contract:

* ``read(fn)`` runs ``fn(sql)`` in a read transaction (one snapshot) and returns its result.
* ``write(fn)`` runs ``fn(sql)`` in a write transaction and returns only once that
  transaction is durable (committed with ``synchronous=FULL`` on SQLite). An exception from
  ``fn`` undoes everything ``fn`` did and reaches the caller; nothing of it is committed.
* Fencing and the write gate are the ``Database``'s: a write is refused (``NotLeaderError``)
  while the gate is closed, and fails with ``StaleLeaderError`` if the leader epoch in the
  database is no longer ours, exactly as ORM writes do.
* Driver errors meaning "not usable right now" become ``UnavailableError``.
* ``in_session(session, fn)`` runs the same functions inside an ORM transaction, so that ORM
  code shares them instead of repeating their SQL.

Queries are written once, with ``?`` placeholders, in SQL both engines accept; the PostgreSQL
handle renumbers them to ``$1..$n``. JSON columns come back as text on SQLite and decoded on
PostgreSQL: ``json_value`` takes either.

SQLite file databases (the embedded default): one reader thread and one writer thread, each
with its own connection (WAL readers never wait for the writer). Operations queue up while a
thread is busy and then run as one batch: one thread hop and one wake-up per batch, not per
operation. A read batch shares one snapshot, begun after every operation in it was asked
for. A write batch is BEGIN IMMEDIATE, the epoch check, each operation inside its own
SAVEPOINT (a failing one rolls back alone), one COMMIT — one fsync for the whole batch
instead of one per operation (group commit). Every operation of a batch is acknowledged only
after that COMMIT. While a batch runs, the ``Database``'s write lock is held, so ORM writes
and direct writes never interleave.

PostgreSQL (and a SQLite database that is not a plain file): each operation runs on a pooled
connection of the async engine through ``AsyncConnection.run_sync`` (the greenlet bridge, no
thread): reads at REPEATABLE READ, writes at READ COMMITTED ending with the epoch check
``FOR SHARE`` (see ``database.py``), re-run whole when they lose a race (``retry_races``).
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import sqlite3
from collections.abc import Awaitable, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Protocol, TypeVar

from sqlalchemy import Connection
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from wormfs.errors import NotLeaderError, StaleLeaderError, UnavailableError

log = logging.getLogger(__name__)

T = TypeVar("T")
Row = tuple[Any, ...]
Operation = Callable[["Sql"], T]

BATCH_MAX = 128  # operations per group commit
SQLITE_BUSY_TIMEOUT_MS = 10_000
EPOCH_QUERY = "SELECT leader_epoch FROM cluster_meta WHERE id = 1"


class Sql(Protocol):
    """A transaction's statements: ``?`` placeholders, positional parameters."""

    dialect: str

    def one(self, query: str, *params: Any) -> Row | None: ...

    def all(self, query: str, *params: Any) -> list[Row]: ...

    def run(self, query: str, *params: Any) -> int: ...


def json_value(value: Any) -> Any:
    """A JSON column's value as read on either engine (text on SQLite, decoded on PG)."""
    return json.loads(value) if isinstance(value, str | bytes) else value


class SqliteSql:
    """``Sql`` over a ``sqlite3`` connection (stdlib driver, autocommit mode)."""

    dialect = "sqlite"

    def __init__(self, connection: sqlite3.Connection) -> None:
        self._con = connection

    def one(self, query: str, *params: Any) -> Row | None:
        row: Row | None = self._con.execute(query, params).fetchone()
        return row

    def all(self, query: str, *params: Any) -> list[Row]:
        return self._con.execute(query, params).fetchall()

    def run(self, query: str, *params: Any) -> int:
        return self._con.execute(query, params).rowcount


@functools.lru_cache(maxsize=256)
def _numbered(query: str) -> str:
    """``?`` placeholders as ``$1..$n`` (our queries hold no other question marks)."""
    pieces = query.split("?")
    out = [pieces[0]]
    for n, piece in enumerate(pieces[1:], start=1):
        out.append(f"${n}{piece}")
    return "".join(out)


class DriverSql:
    """``Sql`` over a synchronous SQLAlchemy ``Connection`` (inside ``run_sync``)."""

    def __init__(self, connection: Connection) -> None:
        self._con = connection
        self.dialect = connection.dialect.name
        self._numbered = self.dialect == "postgresql"

    def _execute(self, query: str, params: Sequence[Any]) -> Any:
        text = _numbered(query) if self._numbered else query
        return self._con.exec_driver_sql(text, tuple(params))

    def one(self, query: str, *params: Any) -> Row | None:
        row = self._execute(query, params).first()
        return None if row is None else tuple(row)

    def all(self, query: str, *params: Any) -> list[Row]:
        return [tuple(r) for r in self._execute(query, params).all()]

    def run(self, query: str, *params: Any) -> int:
        return int(self._execute(query, params).rowcount)


async def in_session(session: AsyncSession, fn: Operation[T]) -> T:
    """Run ``fn`` inside an ORM session's transaction (for ORM code sharing these functions)."""
    return await session.run_sync(lambda sync_session: fn(DriverSql(sync_session.connection())))


def check_epoch(sql: Sql, epoch: int | None, lock: bool = False) -> None:
    if epoch is None:
        return
    row = sql.one(EPOCH_QUERY + (" FOR SHARE" if lock else ""))
    current = row[0] if row else None
    if current != epoch:
        raise StaleLeaderError(f"leader epoch is now {current}, this coordinator holds {epoch}")


class Gate(Protocol):
    """What ``DirectSql`` needs of its ``Database``: the write gate, epoch and lock."""

    epoch: int | None

    @property
    def refusal(self) -> str | None: ...

    @property
    def write_lock(self) -> asyncio.Lock: ...


def _connect_sqlite(path: Path) -> sqlite3.Connection:
    con = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    con.execute("PRAGMA journal_mode=WAL")
    con.execute("PRAGMA synchronous=FULL")  # see database.py: invariant 1 across power loss
    con.execute("PRAGMA foreign_keys=ON")
    con.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    return con


class _Outcome:
    __slots__ = ("error", "value")

    def __init__(self, value: Any = None, error: BaseException | None = None) -> None:
        self.value = value
        self.error = error


Batch = list[Operation[Any]]


class _Lane:
    """Queued operations run in batches on one thread: one hop and one wake-up per batch.

    ``execute`` performs a batch (the hop, and whatever must surround it) and answers one
    outcome per operation, or raises when the whole batch failed."""

    def __init__(self, execute: Callable[[Batch], Awaitable[list[_Outcome]]]) -> None:
        self._execute = execute
        self._queue: list[tuple[Operation[Any], asyncio.Future[Any]]] = []
        self._draining: asyncio.Task[None] | None = None

    async def run(self, fn: Operation[T]) -> T:
        future: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        self._queue.append((fn, future))
        if self._draining is None:
            self._draining = asyncio.create_task(self._drain())
        return await future

    async def _drain(self) -> None:
        try:
            while self._queue:
                batch, self._queue = self._queue[:BATCH_MAX], self._queue[BATCH_MAX:]
                try:
                    outcomes = await self._execute([fn for fn, _ in batch])
                except sqlite3.OperationalError as exc:
                    outcomes = [_Outcome(error=_unavailable(exc)) for _ in batch]
                except Exception as exc:  # the whole batch failed: every caller hears why
                    outcomes = [_Outcome(error=exc) for _ in batch]
                for (_, future), outcome in zip(batch, outcomes, strict=True):
                    if future.done():  # the caller went away (its write still happened)
                        continue
                    if outcome.error is not None:
                        future.set_exception(outcome.error)
                    else:
                        future.set_result(outcome.value)
        finally:
            self._draining = None

    async def idle(self) -> None:
        if self._draining is not None:
            await asyncio.shield(self._draining)


class SqliteFileRunner:
    """A reader thread and a group-committing writer thread over a SQLite file, each with
    its own connection, each running what queued up while it was busy as one batch."""

    def __init__(self, path: Path, gate: Gate) -> None:
        self._path = path
        self._gate = gate
        self._read_con: sqlite3.Connection | None = None
        self._write_con: sqlite3.Connection | None = None
        self._reader = ThreadPoolExecutor(1, thread_name_prefix="sql-read")
        self._writer = ThreadPoolExecutor(1, thread_name_prefix="sql-write")
        self._reads = _Lane(self._read_batch)
        self._writes = _Lane(self._write_batch)

    async def read(self, fn: Operation[T]) -> T:
        return await self._reads.run(fn)

    async def write(self, fn: Operation[T]) -> T:
        return await self._writes.run(fn)

    async def _read_batch(self, fns: Batch) -> list[_Outcome]:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._reader, self._read_job, fns)

    async def _write_batch(self, fns: Batch) -> list[_Outcome]:
        refusal = self._gate.refusal
        if refusal is not None:
            raise NotLeaderError(refusal)
        loop = asyncio.get_running_loop()
        async with self._gate.write_lock:
            return await loop.run_in_executor(self._writer, self._write_job, fns, self._gate.epoch)

    def _read_job(self, fns: Batch) -> list[_Outcome]:
        if self._read_con is None:
            self._read_con = _connect_sqlite(self._path)
        con = self._read_con
        sql = SqliteSql(con)
        # One snapshot for the batch: every operation in it was queued before it began, so
        # each sees every write acknowledged before it was asked for.
        con.execute("BEGIN")
        try:
            return [_attempt(fn, sql) for fn in fns]
        finally:
            con.execute("COMMIT")  # a read transaction: COMMIT only ends the snapshot

    def _write_job(self, fns: Batch, epoch: int | None) -> list[_Outcome]:
        if self._write_con is None:
            self._write_con = _connect_sqlite(self._path)
        con = self._write_con
        sql = SqliteSql(con)
        con.execute("BEGIN IMMEDIATE")
        try:
            check_epoch(sql, epoch)
            outcomes = []
            for fn in fns:
                con.execute("SAVEPOINT op")
                outcome = _attempt(fn, sql)
                if outcome.error is not None:
                    con.execute("ROLLBACK TO op")  # undo this operation alone
                con.execute("RELEASE op")
                outcomes.append(outcome)
            con.execute("COMMIT")
        except BaseException:
            if con.in_transaction:
                con.execute("ROLLBACK")
            raise
        return outcomes

    async def close(self) -> None:
        await self._reads.idle()
        await self._writes.idle()
        self._reader.shutdown(wait=True)
        self._writer.shutdown(wait=True)
        for con in (self._read_con, self._write_con):
            if con is not None:
                con.close()
        self._read_con = self._write_con = None


def _attempt(fn: Operation[Any], sql: Sql) -> _Outcome:
    try:
        return _Outcome(value=fn(sql))
    except sqlite3.OperationalError as exc:  # locked, I/O error: not this operation's fault
        return _Outcome(error=_unavailable(exc))
    except Exception as exc:
        return _Outcome(error=exc)


class EngineRunner:
    """Each operation on a pooled connection of the async engine (PostgreSQL, SQLite in
    memory); see the module docstring."""

    def __init__(self, engine: AsyncEngine, write_engine: AsyncEngine, gate: Gate) -> None:
        self._engine = write_engine
        self._gate = gate
        self._postgres = engine.dialect.name == "postgresql"
        self._read_engine = (
            engine.execution_options(isolation_level="REPEATABLE READ")
            if self._postgres
            else engine
        )

    async def read(self, fn: Operation[T]) -> T:
        def job(connection: Connection) -> T:
            with connection.begin():
                return fn(DriverSql(connection))

        async with self._read_engine.connect() as conn:
            return await conn.run_sync(job)

    async def write(self, fn: Operation[T]) -> T:
        """One attempt; the ``Database`` re-runs it when it lost a race."""
        refusal = self._gate.refusal
        if refusal is not None:
            raise NotLeaderError(refusal)
        epoch = self._gate.epoch

        def job(connection: Connection) -> T:
            with connection.begin():
                sql = DriverSql(connection)
                if not self._postgres:
                    check_epoch(sql, epoch)
                result = fn(sql)
                if self._postgres:
                    check_epoch(sql, epoch, lock=True)  # FOR SHARE until COMMIT: fencing
                return result

        if self._postgres:
            async with self._engine.connect() as conn:
                return await conn.run_sync(job)
        async with self._gate.write_lock, self._engine.connect() as conn:
            return await conn.run_sync(job)

    async def close(self) -> None:
        return None


def _unavailable(exc: BaseException) -> UnavailableError:
    log.warning("metadata database error: %r", exc)
    return UnavailableError(f"metadata database unavailable: {exc}")


DirectSql = SqliteFileRunner | EngineRunner
