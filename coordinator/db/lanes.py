"""Operations on a SQLite file, in batches on two threads: one hop per batch, group commit.

Layer: coordinator database package, used by ``Database`` for SQLite. Contract:

* ``read(fn)`` runs ``fn(tx)`` in a read transaction (one snapshot) on the reader thread.
* ``write(fn)`` runs ``fn(tx)`` in a write transaction on the writer thread and returns only
  once that transaction is committed (durable: ``synchronous=FULL``). An exception from ``fn``
  undoes everything ``fn`` did and reaches the caller; nothing of it is committed.
* ``exclusive(job)`` runs ``job(connection)`` on the writer thread with no batch beside it
  (the leader-epoch bump).

Operations queue up while a thread is busy and then run as one batch: one thread hop and one
wake-up per batch, not per operation. A read batch shares one snapshot, begun after every
operation in it was asked for, so each sees every write acknowledged before it was asked.
A write batch is BEGIN IMMEDIATE, the epoch check (fencing), each operation inside its own
SAVEPOINT (a failing one rolls back alone), one COMMIT: one fsync for the whole batch instead
of one per operation. Every operation of a batch is acknowledged only after that COMMIT.
SQLite has one writer anyway; waiting in the queue never blocks the loop, unlike waiting on
SQLite's busy handler. Each thread keeps one connection (WAL readers never wait for the
writer).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Protocol, TypeVar

from sqlalchemy import Connection, Engine

from wormfs.coordinator.db.engines import WRITE_OPTION, domain_error
from wormfs.coordinator.db.tx import Tx
from wormfs.errors import NotLeaderError

T = TypeVar("T")
Operation = Callable[[Tx], T]
Batch = list[Operation[Any]]

BATCH_MAX = 128  # operations per group commit


class Gate(Protocol):
    """What the writer needs of its ``Database``: the write gate and the epoch to fence with."""

    epoch: int | None

    @property
    def refusal(self) -> str | None: ...

    def check_epoch(self, tx: Tx, epoch: int | None) -> None: ...


class _Outcome:
    __slots__ = ("error", "value")

    def __init__(self, value: Any = None, error: BaseException | None = None) -> None:
        self.value = value
        self.error = error


def _attempt(fn: Operation[Any], tx: Tx) -> _Outcome:
    try:
        return _Outcome(value=fn(tx))
    except Exception as exc:
        return _Outcome(error=domain_error(exc))


class _Lane:
    """Queued operations run in batches: one hop and one wake-up per batch.

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
                except Exception as exc:  # the whole batch failed: every caller hears why
                    error = domain_error(exc)
                    outcomes = [_Outcome(error=error) for _ in batch]
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


class SqliteLanes:
    """A reader thread and a group-committing writer thread over one SQLite engine (which
    ``close`` disposes of)."""

    def __init__(self, engine: Engine, gate: Gate) -> None:
        self._engine = engine
        self._gate = gate
        self._read_con: Connection | None = None
        self._write_con: Connection | None = None
        self._reader = ThreadPoolExecutor(1, thread_name_prefix="sql-read")
        self._writer = ThreadPoolExecutor(1, thread_name_prefix="sql-write")
        self._reads = _Lane(self._read_batch)
        self._writes = _Lane(self._write_batch)
        self._exclusive = asyncio.Lock()  # a batch or an exclusive job on the writer, not both
        self._read_prepared: dict[Any, Any] = {}  # statements prepared, per thread (tx.Tx)
        self._write_prepared: dict[Any, Any] = {}

    async def read(self, fn: Operation[T]) -> T:
        return await self._reads.run(fn)

    async def write(self, fn: Operation[T]) -> T:
        return await self._writes.run(fn)

    async def exclusive(self, job: Callable[[Connection], T]) -> T:
        loop = asyncio.get_running_loop()
        async with self._exclusive:
            return await loop.run_in_executor(self._writer, lambda: job(self._writer_connection()))

    async def _read_batch(self, fns: Batch) -> list[_Outcome]:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._reader, self._read_job, fns)

    async def _write_batch(self, fns: Batch) -> list[_Outcome]:
        refusal = self._gate.refusal  # the gate may have closed while these waited
        if refusal is not None:
            raise NotLeaderError(refusal)
        loop = asyncio.get_running_loop()
        async with self._exclusive:
            return await loop.run_in_executor(self._writer, self._write_job, fns, self._gate.epoch)

    def _reader_connection(self) -> Connection:
        if self._read_con is None:
            self._read_con = self._engine.connect()
        return self._read_con

    def _writer_connection(self) -> Connection:
        if self._write_con is None:
            self._write_con = self._engine.connect().execution_options(**{WRITE_OPTION: True})
        return self._write_con

    def _read_job(self, fns: Batch) -> list[_Outcome]:
        con = self._reader_connection()
        tx = Tx(con, self._read_prepared)
        # One snapshot for the batch; COMMIT of a read transaction only ends the snapshot.
        with con.begin():
            return [_attempt(fn, tx) for fn in fns]

    def _write_job(self, fns: Batch, epoch: int | None) -> list[_Outcome]:
        con = self._writer_connection()
        tx = Tx(con, self._write_prepared)
        with con.begin():
            # Writers are serialised (this thread in-process, SQLite's write lock taken at
            # BEGIN IMMEDIATE across processes): nobody can bump the epoch before we commit,
            # so checking it first is enough.
            self._gate.check_epoch(tx, epoch)
            # Savepoints straight on the driver's connection: SQLAlchemy's begin_nested()
            # costs more than a small operation itself, and nothing above needs to know.
            cursor = con.connection.cursor()
            try:
                outcomes = []
                for fn in fns:
                    cursor.execute("SAVEPOINT op")
                    outcome = _attempt(fn, tx)
                    if outcome.error is not None:
                        cursor.execute("ROLLBACK TO op")  # undo this operation alone
                    cursor.execute("RELEASE op")
                    outcomes.append(outcome)
            finally:
                cursor.close()
        return outcomes

    async def close(self) -> None:
        await self._reads.idle()
        await self._writes.idle()
        loop = asyncio.get_running_loop()
        if self._read_con is not None:
            await loop.run_in_executor(self._reader, self._read_con.close)
        if self._write_con is not None:
            await loop.run_in_executor(self._writer, self._write_con.close)
        self._read_con = self._write_con = None
        # Joining the (idle) threads is still a wait: not on the loop.
        await asyncio.to_thread(self._reader.shutdown, wait=True)
        await asyncio.to_thread(self._writer.shutdown, wait=True)
        await asyncio.to_thread(self._engine.dispose)
