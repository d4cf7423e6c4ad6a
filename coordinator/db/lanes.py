"""Operations on a SQLite file, in batches on two threads: one hop per batch, group commit.

Layer: coordinator database package, used by ``Database`` for SQLite. Contract:

* ``read(fn)`` runs ``fn(tx)`` in a read transaction (one snapshot) on the reader thread.
* ``write(fn)`` runs ``fn(tx)`` in a write transaction on the writer thread and returns only
  once that transaction is committed (durable: ``synchronous=FULL``). An exception from ``fn``
  undoes everything ``fn`` did and reaches the caller; nothing of it is committed.
* ``exclusive(job)`` runs ``job(connection)`` on the writer thread with no batch beside it
  (the leader-epoch bump), on a connection of its own (``job`` begins its transaction).

Operations queue up while a thread is busy and then run as one batch: one thread hop and one
wake-up per batch, not per operation. A read batch shares one snapshot, begun after every
operation in it was asked for, so each sees every write acknowledged before it was asked.
A write batch is BEGIN IMMEDIATE, the epoch check (fencing), each operation inside its own
SAVEPOINT (a failing one rolls back alone), one COMMIT: one fsync for the whole batch instead
of one per operation. Every operation of a batch is acknowledged only after that COMMIT.
SQLite has one writer anyway; waiting in the queue never blocks the loop, unlike waiting on
SQLite's busy handler. Each thread keeps one connection (WAL readers never wait for the
writer), and runs each batch's BEGIN, savepoints and COMMIT on the driver's connection, not
through SQLAlchemy's transactions (see ``SqliteLanes._connection``).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import queue
import threading
from collections.abc import Awaitable, Callable
from typing import Any, Protocol, TypeVar

from sqlalchemy import Connection, Engine

from wormfs.coordinator.db.engines import WRITE_OPTION, domain_error
from wormfs.coordinator.db.tx import Tx
from wormfs.errors import NotLeaderError

T = TypeVar("T")
Operation = Callable[[Tx], T]
Batch = list[Operation[Any]]
Queued = list[tuple[Operation[Any], asyncio.Future[Any]]]  # operations and their callers
Done = Callable[[Any, BaseException | None], None]  # a job's value or error, on the loop

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


def _begin(tx: Tx, begin: str) -> None:
    if tx.in_driver_transaction:  # a batch before this one could not end its transaction
        _abandon(tx)
    tx.driver_sql(begin)


def _abandon(tx: Tx) -> None:
    """Roll back what is left of a batch's transaction (nothing if it never began)."""
    if tx.in_driver_transaction:
        with contextlib.suppress(Exception):  # a lost connection: the next batch gets a new one
            tx.driver_sql("ROLLBACK")


def _settle(future: asyncio.Future[Any], value: Any, error: BaseException | None) -> None:
    if future.done():  # the caller went away (a write of theirs still happened)
        return
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(value)


class _Thread:
    """One thread of its own running the jobs handed to it, in order.

    The hop costs less than ``loop.run_in_executor`` (no ``concurrent.futures.Future``, its
    condition variable and done-callbacks, nor ``asyncio.wrap_future`` chaining it to an
    asyncio future): the job is put on a ``SimpleQueue``, and its outcome handed back by one
    ``call_soon_threadsafe``. It matters because under HTTP load most batches hold a single
    read, so the hop is paid about once per request. Started at the first job; ``stop``
    (blocking: not on the loop) ends it once the jobs before it are done."""

    def __init__(self, name: str) -> None:
        self._name = name
        self._jobs: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None

    def submit(self, done: Done, job: Callable[..., Any], *args: Any) -> None:
        """Run ``job(*args)`` on the thread, then ``done(value, error)`` on the running loop."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._serve, name=self._name, daemon=True)
            self._thread.start()
        self._jobs.put((asyncio.get_running_loop(), done, job, args))

    async def run(self, job: Callable[..., T], *args: Any) -> T:
        future: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        self.submit(functools.partial(_settle, future), job, *args)
        return await future

    def _serve(self) -> None:
        while (item := self._jobs.get()) is not None:
            loop, done, job, args = item
            value, error = None, None
            try:
                value = job(*args)
            except BaseException as exc:
                error = exc
            del item, job, args
            with contextlib.suppress(RuntimeError):  # a closed loop: nobody waits any more
                loop.call_soon_threadsafe(done, value, error)
            del done, value, error

    def stop(self) -> None:
        if self._thread is not None:
            self._jobs.put(None)
            self._thread.join()
            self._thread = None


def _deliver(batch: Queued, outcomes: list[_Outcome]) -> None:
    for (_, future), outcome in zip(batch, outcomes, strict=True):
        _settle(future, outcome.value, outcome.error)


class _Lane:
    """Queued operations run in batches: one hop and one wake-up per batch.

    ``execute`` performs a batch (the hop, and whatever must surround it) and answers one
    outcome per operation, or raises when the whole batch failed."""

    def __init__(self, execute: Callable[[Batch], Awaitable[list[_Outcome]]]) -> None:
        self._execute = execute
        self._queue: Queued = []
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
                _deliver(batch, outcomes)
        finally:
            self._draining = None

    async def idle(self) -> None:
        if self._draining is not None:
            await asyncio.shield(self._draining)


class _HopLane:
    """A ``_Lane`` for batches that need nothing on the loop but the hop (reads): the thread's
    answer settles the batch and starts the next one, with no task per batch (creating and
    stepping one costs the loop about as much as the hop itself)."""

    def __init__(self, thread: _Thread, job: Callable[[Batch], list[_Outcome]]) -> None:
        self._thread = thread
        self._job = job
        self._queue: Queued = []
        self._running: Queued | None = None  # the batch on the thread
        self._idle: list[asyncio.Future[None]] = []  # who waits for the lane to be idle

    async def run(self, fn: Operation[T]) -> T:
        future: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        self._queue.append((fn, future))
        if self._running is None:
            self._start()
        return await future

    def _start(self) -> None:
        batch, self._queue = self._queue[:BATCH_MAX], self._queue[BATCH_MAX:]
        self._running = batch
        self._thread.submit(self._done, self._job, [fn for fn, _ in batch])

    def _done(self, outcomes: list[_Outcome] | None, error: BaseException | None) -> None:
        batch, self._running = self._running or [], None
        if error is not None or outcomes is None:  # the whole batch failed: everyone hears why
            failure = domain_error(error) if isinstance(error, Exception) else error
            outcomes = [_Outcome(error=failure) for _ in batch]
        _deliver(batch, outcomes)
        if self._queue:
            self._start()
            return
        for waiter in self._idle:
            if not waiter.done():
                waiter.set_result(None)
        self._idle.clear()

    async def idle(self) -> None:
        if self._running is not None:
            waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            self._idle.append(waiter)
            await waiter


class SqliteLanes:
    """A reader thread and a group-committing writer thread over one SQLite engine (which
    ``close`` disposes of)."""

    def __init__(self, engine: Engine, gate: Gate) -> None:
        self._engine = engine
        self._gate = gate
        self._read_con: Connection | None = None
        self._write_con: Connection | None = None
        self._reader = _Thread("sql-read")
        self._writer = _Thread("sql-write")
        self._reads = _HopLane(self._reader, self._read_job)
        self._writes = _Lane(self._write_batch)
        self._exclusive = asyncio.Lock()  # a batch or an exclusive job on the writer, not both
        self._read_prepared: dict[Any, Any] = {}  # statements prepared, per thread (tx.Tx)
        self._write_prepared: dict[Any, Any] = {}

    async def read(self, fn: Operation[T]) -> T:
        return await self._reads.run(fn)

    async def write(self, fn: Operation[T]) -> T:
        return await self._writes.run(fn)

    async def exclusive(self, job: Callable[[Connection], T]) -> T:
        async with self._exclusive:
            return await self._writer.run(self._exclusive_job, job)

    async def _write_batch(self, fns: Batch) -> list[_Outcome]:
        refusal = self._gate.refusal  # the gate may have closed while these waited
        if refusal is not None:
            raise NotLeaderError(refusal)
        async with self._exclusive:
            return await self._writer.run(self._write_job, fns, self._gate.epoch)

    def _connection(self, write: bool) -> Connection:
        """A lane's connection. SQLAlchemy's ``Connection`` is left inside one transaction of
        its own for as long as the lane keeps it (begun here and ended at once on the
        driver), so that it never begins or ends one by itself: the lane runs each batch's
        transaction on the driver (``_read_job``, ``_write_job``), and ``Tx`` runs the
        statements it cannot prepare through this ``Connection``, inside that transaction.
        BEGIN and COMMIT through SQLAlchemy (the ``begin`` event's BEGIN is a whole
        execution: events, an execution context) cost 13 us per transaction against 1.3 us
        on the driver, once per batch, and under HTTP load most read batches hold a single
        read."""
        con = self._engine.connect()
        if write:
            con = con.execution_options(**{WRITE_OPTION: True})
        con.begin()  # emits BEGIN (engines.sqlite_engine), ended on the next line
        Tx(con).driver_sql("COMMIT")
        return con

    def _reader_tx(self) -> Tx:
        if self._read_con is None or self._read_con.invalidated:
            self._read_con = self._replace(self._read_con, write=False)
        return Tx(self._read_con, self._read_prepared)

    def _writer_tx(self) -> Tx:
        if self._write_con is None or self._write_con.invalidated:
            self._write_con = self._replace(self._write_con, write=True)
        return Tx(self._write_con, self._write_prepared)

    def _replace(self, lost: Connection | None, write: bool) -> Connection:
        if lost is not None:  # invalidated after a lost connection: a new one from the pool
            lost.close()
        return self._connection(write)

    def _exclusive_job(self, job: Callable[[Connection], T]) -> T:
        # A connection of its own, with SQLAlchemy's transactions as usual (see _connection).
        with self._engine.connect().execution_options(**{WRITE_OPTION: True}) as con:
            return job(con)

    def _read_job(self, fns: Batch) -> list[_Outcome]:
        tx = self._reader_tx()
        # One snapshot for the batch; COMMIT of a read transaction only ends the snapshot.
        _begin(tx, "BEGIN")
        try:
            outcomes = [_attempt(fn, tx) for fn in fns]
        except BaseException:
            _abandon(tx)
            raise
        tx.driver_sql("COMMIT")
        return outcomes

    def _write_job(self, fns: Batch, epoch: int | None) -> list[_Outcome]:
        tx = self._writer_tx()
        _begin(tx, "BEGIN IMMEDIATE")
        try:
            # Writers are serialised (this thread in-process, SQLite's write lock taken at
            # BEGIN IMMEDIATE across processes): nobody can bump the epoch before we commit,
            # so checking it first is enough.
            self._gate.check_epoch(tx, epoch)
            outcomes = []
            for fn in fns:
                tx.driver_sql("SAVEPOINT op")
                outcome = _attempt(fn, tx)
                if outcome.error is not None:
                    tx.driver_sql("ROLLBACK TO op")  # undo this operation alone
                tx.driver_sql("RELEASE op")
                outcomes.append(outcome)
            tx.driver_sql("COMMIT")
        except BaseException:
            _abandon(tx)
            raise
        return outcomes

    async def close(self) -> None:
        await self._reads.idle()
        await self._writes.idle()
        if self._read_con is not None:
            await self._reader.run(self._read_con.close)
        if self._write_con is not None:
            await self._writer.run(self._write_con.close)
        self._read_con = self._write_con = None
        # Joining the (idle) threads is still a wait: not on the loop.
        await asyncio.to_thread(self._reader.stop)
        await asyncio.to_thread(self._writer.stop)
        await asyncio.to_thread(self._engine.dispose)
