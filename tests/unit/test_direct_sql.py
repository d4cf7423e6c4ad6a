"""The direct-SQL runner on a SQLite file (coordinator/db/direct.py): batches, savepoints,
group commit, the write gate and fencing — against a real SQLite file, with a stand-in for
the Database's gate."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from wormfs.coordinator.db.direct import Operation, Sql, SqliteFileRunner, json_value
from wormfs.errors import NotLeaderError, StaleLeaderError, UnavailableError


class Gate:
    def __init__(self) -> None:
        self.epoch: int | None = None
        self._refusal: str | None = None
        self._lock = asyncio.Lock()

    @property
    def refusal(self) -> str | None:
        return self._refusal

    @property
    def write_lock(self) -> asyncio.Lock:
        return self._lock


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
async def runner(db_file: Path) -> AsyncIterator[tuple[SqliteFileRunner, Gate]]:
    gate = Gate()
    r = SqliteFileRunner(db_file, gate)
    yield r, gate
    await r.close()


def put(key: str, value: str) -> Operation[int]:
    def op(sql: Sql) -> int:
        return sql.run("INSERT INTO kv (k, v) VALUES (?, ?)", key, value)

    return op


def get(key: str) -> Operation[str | None]:
    def op(sql: Sql) -> str | None:
        row = sql.one("SELECT v FROM kv WHERE k = ?", key)
        return None if row is None else str(row[0])

    return op


async def test_concurrent_writes_batch_and_failures_roll_back_alone(
    runner: tuple[SqliteFileRunner, Gate], db_file: Path
) -> None:
    r, _ = runner

    def two_then_fail(sql: Sql) -> None:
        sql.run("INSERT INTO kv (k, v) VALUES ('half', 'done')")
        raise ValueError("this operation fails after a write of its own")

    ops = [r.write(put(f"k{i}", str(i))) for i in range(50)]
    ops.append(r.write(two_then_fail))
    ops.append(r.write(put("k3", "duplicate")))  # a primary key clash
    results = await asyncio.gather(*ops, return_exceptions=True)
    assert results[:50] == [1] * 50
    assert isinstance(results[50], ValueError)
    assert isinstance(results[51], sqlite3.IntegrityError)
    # Everything acknowledged is durable and visible to another connection; the failed
    # operations left nothing behind.
    con = sqlite3.connect(db_file)
    rows = dict(con.execute("SELECT k, v FROM kv").fetchall())
    con.close()
    assert rows == {f"k{i}": str(i) for i in range(50)}
    assert await r.read(get("k3")) == "3"
    assert await r.read(get("half")) is None


async def test_reads_see_every_acknowledged_write(runner: tuple[SqliteFileRunner, Gate]) -> None:
    r, _ = runner
    for i in range(20):
        await r.write(put(f"x{i}", "v"))
        reads = await asyncio.gather(*(r.read(get(f"x{j}")) for j in range(i + 1)))
        assert reads == ["v"] * (i + 1)


async def test_write_gate_and_fencing(runner: tuple[SqliteFileRunner, Gate]) -> None:
    r, gate = runner
    gate._refusal = "a follower"
    with pytest.raises(NotLeaderError):
        await r.write(put("a", "1"))
    gate._refusal = None
    gate.epoch = 6  # the database says 7: another coordinator took over
    results = await asyncio.gather(
        *(r.write(put(f"f{i}", "late")) for i in range(5)),
        return_exceptions=True,
    )
    assert all(isinstance(x, StaleLeaderError) for x in results)
    gate.epoch = 7
    assert await r.write(put("a", "1")) == 1
    assert await r.read(lambda sql: sql.all("SELECT k FROM kv ORDER BY k")) == [("a",)]


async def test_locked_database_is_unavailable(
    runner: tuple[SqliteFileRunner, Gate], db_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    r, _ = runner
    monkeypatch.setattr("wormfs.coordinator.db.direct.SQLITE_BUSY_TIMEOUT_MS", 50)
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


def test_json_value_takes_text_or_decoded() -> None:
    assert json_value('{"a": 1}') == {"a": 1}
    assert json_value({"a": 1}) == {"a": 1}
