"""The SQLite lanes under ``Database`` (coordinator/db/lanes.py): batches, savepoints, group
commit, the write gate and fencing — against a real SQLite file, with a stand-in for the
Database's gate."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest
from sqlalchemy import (
    Column,
    Connection,
    Integer,
    MetaData,
    String,
    Table,
    bindparam,
    insert,
    select,
    text,
)
from sqlalchemy.exc import IntegrityError

from wormfs.coordinator.db import engines
from wormfs.coordinator.db.lanes import SqliteLanes
from wormfs.coordinator.db.tx import Tx
from wormfs.errors import NotLeaderError, StaleLeaderError, UnavailableError

schema = MetaData()
kv = Table("kv", schema, Column("k", String, primary_key=True), Column("v", String))
cluster_meta = Table(
    "cluster_meta", schema, Column("id", Integer, primary_key=True), Column("leader_epoch", Integer)
)
_PUT = insert(kv)
_GET = select(kv.c.v).where(kv.c.k == bindparam("k"))
_EPOCH = select(cluster_meta.c.leader_epoch).where(cluster_meta.c.id == 1)


class Gate:
    def __init__(self) -> None:
        self.epoch: int | None = None
        self.refusal: str | None = None

    def check_epoch(self, tx: Tx, epoch: int | None) -> None:
        if epoch is not None and tx.scalar(_EPOCH) != epoch:
            raise StaleLeaderError("another leader")


@pytest.fixture
def db_file(tmp_path: Path) -> Path:
    path = tmp_path / "meta.db"
    con = sqlite3.connect(path)
    con.executescript(
        "PRAGMA journal_mode=WAL;"
        "CREATE TABLE cluster_meta (id INTEGER PRIMARY KEY, leader_epoch INTEGER);"
        "INSERT INTO cluster_meta VALUES (1, 7);"
        "CREATE TABLE kv (k TEXT PRIMARY KEY, v TEXT NOT NULL);"
    )
    con.close()
    return path


@pytest.fixture
async def lanes(db_file: Path) -> AsyncIterator[tuple[SqliteLanes, Gate]]:
    gate = Gate()
    engine = engines.sqlite_engine(db_file)
    lanes = SqliteLanes(engine, gate)
    yield lanes, gate
    await lanes.close()
    await asyncio.to_thread(engine.dispose)


def put(key: str, value: str) -> Callable[[Tx], int]:
    return lambda tx: tx.run(_PUT, {"k": key, "v": value})


def get(key: str) -> Callable[[Tx], str | None]:
    return lambda tx: tx.scalar(_GET, {"k": key})


async def test_concurrent_writes_batch_and_failures_roll_back_alone(
    lanes: tuple[SqliteLanes, Gate], db_file: Path
) -> None:
    r, _ = lanes

    def write_then_fail(tx: Tx) -> None:
        tx.run(_PUT, {"k": "half", "v": "done"})
        raise ValueError("this operation fails after a write of its own")

    ops = [r.write(put(f"k{i}", str(i))) for i in range(50)]
    ops.append(r.write(write_then_fail))
    ops.append(r.write(put("k3", "duplicate")))  # a primary key clash
    results = await asyncio.gather(*ops, return_exceptions=True)
    assert results[:50] == [1] * 50
    assert isinstance(results[50], ValueError)
    assert isinstance(results[51], IntegrityError)
    # Everything acknowledged is durable and visible to another connection; the failed
    # operations left nothing behind.
    con = sqlite3.connect(db_file)
    rows = dict(con.execute("SELECT k, v FROM kv").fetchall())
    con.close()
    assert rows == {f"k{i}": str(i) for i in range(50)}
    assert await r.read(get("k3")) == "3"
    assert await r.read(get("half")) is None


async def test_reads_see_every_acknowledged_write(lanes: tuple[SqliteLanes, Gate]) -> None:
    r, _ = lanes
    for i in range(20):
        await r.write(put(f"x{i}", "v"))
        reads = await asyncio.gather(*(r.read(get(f"x{j}")) for j in range(i + 1)))
        assert reads == ["v"] * (i + 1)


async def test_write_gate_and_fencing(lanes: tuple[SqliteLanes, Gate]) -> None:
    r, gate = lanes
    gate.refusal = "a follower"
    with pytest.raises(NotLeaderError):
        await r.write(put("a", "1"))
    gate.refusal = None
    gate.epoch = 6  # the database says 7: another coordinator took over
    results = await asyncio.gather(
        *(r.write(put(f"f{i}", "late")) for i in range(5)),
        return_exceptions=True,
    )
    assert all(isinstance(x, StaleLeaderError) for x in results)
    gate.epoch = 7
    assert await r.write(put("a", "1")) == 1
    assert await r.read(lambda tx: tx.scalars(select(kv.c.k).order_by(kv.c.k))) == ["a"]


async def test_locked_database_is_unavailable(
    lanes: tuple[SqliteLanes, Gate], db_file: Path
) -> None:
    r, _ = lanes
    await r.read(get("warm"))  # the lanes' connections exist already
    await r.write(lambda tx: tx.run(text("PRAGMA busy_timeout=50")))
    # Another process holds SQLite's write lock: the batch cannot begin in time.
    blocker = sqlite3.connect(db_file, isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")
    try:
        with pytest.raises(UnavailableError):
            await r.write(put("b", "1"))
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()
    assert await r.write(put("b", "1")) == 1


async def test_an_exclusive_job_runs_alone(lanes: tuple[SqliteLanes, Gate]) -> None:
    r, _ = lanes

    def bump(connection: Connection) -> int:
        with connection.begin():
            tx = Tx(connection)
            tx.run(text("UPDATE cluster_meta SET leader_epoch = leader_epoch + 1"))
            return int(tx.scalar(_EPOCH))

    writes = [r.write(put(f"e{i}", "v")) for i in range(10)]
    epoch, *done = await asyncio.gather(r.exclusive(bump), *writes)
    assert epoch == 8 and done == [1] * 10
