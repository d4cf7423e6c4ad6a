"""The metadata database on both engines (SQLite and PostgreSQL): migrations of an empty and of
a populated database, leader fencing under concurrent writes, lost races retried instead of
answered with a 500."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from component.coordinator_harness import make_bucket, make_config, put, register, running
from component.db_helpers import on_connection
from infra.postgres import MigratedDatabases
from sqlalchemy import Connection, func, insert, inspect, select, text

from wormfs.coordinator.db.database import open_database
from wormfs.coordinator.db.engines import alembic_config
from wormfs.coordinator.db.models import Base
from wormfs.coordinator.db.tables import cluster_meta, users
from wormfs.coordinator.db.tx import Tx
from wormfs.errors import NotLeaderError, StaleLeaderError, UnavailableError
from wormfs.wire.coordinator import CreateUser

pytestmark = pytest.mark.timeout(90)


def _schema_diff(connection: Connection) -> list[Any]:
    return list(compare_metadata(MigrationContext.configure(connection), Base.metadata))


def _head(connection: Connection) -> str:
    from alembic.script import ScriptDirectory

    head = ScriptDirectory.from_config(alembic_config(connection)).get_current_head()
    assert head is not None
    return head


async def test_upgrade_empty_database_matches_models(empty_database_url: str) -> None:
    db = await open_database(empty_database_url)
    try:
        # revision 0002 seeds the fencing row
        epoch = await db.read(lambda tx: tx.scalar(select(cluster_meta.c.leader_epoch)))
        assert epoch == 0
    finally:
        await db.close()

    def inspect_schema(conn: Connection) -> None:
        assert _schema_diff(conn) == []
        assert conn.scalar(text("SELECT version_num FROM alembic_version")) == _head(conn)
        assert set(inspect(conn).get_table_names()) >= {"objects", "cluster_meta"}

    await on_connection(empty_database_url, inspect_schema)


async def test_upgrade_populated_database_from_first_revision(empty_database_url: str) -> None:
    """A database written at revision 0001 (no fencing row yet) upgrades to head with every
    row kept, then serves a coordinator that sees the old data."""

    def to_first(connection: Connection) -> None:
        command.upgrade(alembic_config(connection), "0001")
        connection.execute(
            text(
                "INSERT INTO buckets (name, owner_id, created, region, settings) "
                "VALUES ('old-bucket', 'owner-a', 1.0, 'us-east-1', '{}')"
            )
        )
        connection.execute(
            text("INSERT INTO users (user_id, display_name, created) VALUES ('u1', 'ann', 2)")
        )

    await on_connection(empty_database_url, to_first, migrating=True)
    for _ in range(2):  # idempotent
        db = await open_database(empty_database_url)
        await db.close()

    def check(conn: Connection) -> None:
        assert conn.scalar(text("SELECT count(*) FROM buckets")) == 1
        assert conn.scalar(text("SELECT leader_epoch FROM cluster_meta")) == 0
        assert _schema_diff(conn) == []

    await on_connection(empty_database_url, check)
    async with running(make_config(empty_database_url)) as r:
        assert (await r.client.get_bucket("old-bucket")).owner_id == "owner-a"
        assert r.repo.db.epoch == 1
        await register(r.client, "n1", 6)
        await put(r.client, "old-bucket", "new-key", size=10)


def _add_user(user_id: str) -> Callable[[Tx], None]:
    def add(tx: Tx) -> None:
        tx.run(insert(users).values(user_id=user_id, display_name="x", created=time.time()))

    return add


def _user_ids(tx: Tx) -> set[str]:
    return set(tx.scalars(select(users.c.user_id)))


def _linger(tx: Tx, seconds: float) -> None:
    """Keep a write transaction open for a while without holding the event loop: PostgreSQL
    waits on the server; SQLite's operation runs on the writer thread, so it may sleep."""
    if tx.postgres:
        tx.scalar(select(func.pg_sleep(seconds)))
    else:
        time.sleep(seconds)


async def test_late_write_of_a_deposed_leader_changes_nothing(database_url: str) -> None:
    first = await open_database(database_url)
    second = await open_database(database_url)
    try:
        assert await first.become_leader("first") == 1
        started = threading.Event()

        def slow_write(tx: Tx) -> None:
            _add_user("late")(tx)
            started.set()
            _linger(tx, 1.0)  # the new leader takes over meanwhile

        writer = asyncio.create_task(first.write(slow_write))
        assert await asyncio.to_thread(started.wait, 30)
        assert await second.become_leader("second") == 2
        if first.dialect == "sqlite":
            # SQLite has one writer: the bump waited for this transaction, which committed
            # legitimately (it began and ended before the bump).
            await writer
            assert "late" in await second.read(_user_ids)
        else:
            # Not blocked: the writer takes its share lock only at the end, and then finds
            # the new epoch.
            with pytest.raises(StaleLeaderError):
                await writer
            assert "late" not in await second.read(_user_ids)
        with pytest.raises(StaleLeaderError):
            await first.write(_add_user("later"))
        assert "later" not in await second.read(_user_ids)
    finally:
        await first.close()
        await second.close()


async def test_fencing_under_concurrent_writes(database_url: str) -> None:
    """Writes race an epoch bump: each either commits or fails with StaleLeaderError, and
    exactly the committed ones are in the database."""
    first = await open_database(database_url)
    second = await open_database(database_url)
    try:
        await first.become_leader("first")
        committed: list[str] = []
        refused: list[str] = []

        async def write(i: int) -> None:
            user_id = f"u{i:04d}"

            def lingering(tx: Tx) -> None:
                _add_user(user_id)(tx)
                if tx.postgres:  # SQLite's writes are serialised anyway; lingering there
                    _linger(tx, 0.003)  # would only starve the other handle's bump

            try:
                await first.write(lingering)
            except StaleLeaderError:
                refused.append(user_id)
            else:
                committed.append(user_id)

        for i in range(5):  # before the bump: these commit
            await write(i)
        bump = asyncio.create_task(second.become_leader("second"))
        writes: list[asyncio.Task[None]] = []
        # Writes in flight across the bump (bounded, whatever the bump's pace)...
        while (not bump.done() or len(writes) < 10) and len(writes) < 400:
            writes.append(asyncio.create_task(write(len(writes) + 5)))
            await asyncio.sleep(0.002)
        for _ in range(5):  # ...and after it: these are fenced
            writes.append(asyncio.create_task(write(len(writes) + 5)))
        await asyncio.gather(bump, *writes)
        present = await second.read(_user_ids)
        assert present == set(committed)
        assert len(refused) >= 5 and len(committed) >= 5
        assert len(committed) + len(refused) == len(writes) + 5
    finally:
        await first.close()
        await second.close()


async def test_write_gate(database_url: str) -> None:
    db = await open_database(database_url)
    try:
        db.step_down("not elected")
        with pytest.raises(NotLeaderError, match="not elected"):
            await db.write(_add_user("no"))
        assert await db.read(_user_ids) == set()  # reads stay open
        await db.become_leader("me")
        db.accept_writes()
        db.refuse_writes("suspended")
        with pytest.raises(NotLeaderError, match="suspended"):
            await db.write(_add_user("no"))
        db.accept_writes()
        await db.write(_add_user("ok"))
        assert await db.read(_user_ids) == {"ok"}
    finally:
        await db.close()


async def test_lost_races_are_retried(database_url: str) -> None:
    """Concurrent first registrations of one node and concurrent overwrites of one key:
    no 500s (PostgreSQL's unique violations are retried; SQLite serialises them)."""
    async with running(make_config(database_url, node_offline_after=3600.0)) as r:
        await asyncio.gather(*(register(r.client, "n1", 6) for _ in range(8)))
        await asyncio.gather(*(register(r.client, f"n{i}", 6) for i in range(2, 5)))
        await make_bucket(r.client, "bkt")
        results = await asyncio.gather(*(put(r.client, "bkt", "hot", size=10) for _ in range(20)))
        current = await r.client.get_object("bkt", "hot")
        assert current.version_id in {m.version_id for m in results}
        assert len((await r.client.list_objects("bkt")).objects) == 1
        users = await asyncio.gather(
            *(r.client.create_user(CreateUser(display_name=f"u{i}")) for i in range(10))
        )
        assert len({u.user_id for u in users}) == 10


async def test_postgres_connection_settings(postgres_databases: MigratedDatabases) -> None:
    url = await postgres_databases.take()
    db = await open_database(url)
    try:
        level = await db.read(lambda tx: tx.scalar(text("SHOW transaction_isolation")))
        idle = await db.read(lambda tx: tx.scalar(text("SHOW idle_in_transaction_session_timeout")))
        assert level == "repeatable read"  # one snapshot per read transaction
        assert idle == "10s"  # a frozen coordinator cannot hold the fencing row for long
        level = await db.write(lambda tx: tx.scalar(text("SHOW transaction_isolation")))
        assert level == "read committed"
    finally:
        await db.close()
        await postgres_databases.give_back(url)


async def test_a_read_only_postgres_is_unavailable(postgres_databases: MigratedDatabases) -> None:
    """A database that refuses writes (a standby the URL points at, a primary demoted under
    the coordinator) is "unavailable" (a 503 the client retries), not a bug (a 500)."""
    url = await postgres_databases.take()
    db = await open_database(url)

    def write_on_a_standby(tx: Tx) -> None:
        tx.run(text("SET TRANSACTION READ ONLY"))  # what every transaction on a standby is
        _add_user("refused")(tx)

    try:
        with pytest.raises(UnavailableError, match="read-only transaction"):
            await db.write(write_on_a_standby)
        assert await db.read(_user_ids) == set()
    finally:
        await db.close()
        await postgres_databases.give_back(url)


def _reference_listing(
    keys: list[str], prefix: str, delimiter: str, start_after: str, max_keys: int
) -> tuple[list[str], list[str], bool]:
    """S3's ListObjectsV2 by brute force: (keys, common prefixes, truncated)."""
    entries: list[tuple[str, bool]] = []  # (key or common prefix, is_prefix), in order
    for key in sorted(k for k in keys if k.startswith(prefix)):
        rest = key[len(prefix) :]
        found = rest.find(delimiter) if delimiter else -1
        entry = (prefix + rest[: found + len(delimiter)], True) if found >= 0 else (key, False)
        if entries and entries[-1] == entry:
            continue
        if entry[0] <= start_after:
            continue
        entries.append(entry)
    page = entries[:max_keys]
    return (
        [e for e, p in page if not p],
        [e for e, p in page if p],
        len(entries) > max_keys,
    )


async def test_listing_pages_agree_with_a_reference(database_url: str) -> None:
    import random

    rng = random.Random(7)
    parts = ["a", "b", "a/", "b/", "c/d/", "x", "%", "_", "é"]
    keys = sorted(
        {"".join(rng.choice(parts) for _ in range(rng.randint(1, 5))) for _ in range(200)}
    )
    async with running(make_config(database_url, node_offline_after=3600.0)) as r:
        await register(r.client, "n1", 6)
        await make_bucket(r.client, "ref")
        await asyncio.gather(*(put(r.client, "ref", k, size=1) for k in keys))
        for prefix, delimiter in [("", ""), ("", "/"), ("a", "/"), ("a/", "/"), ("b", "")]:
            for page_size in (1, 7, 1000) if delimiter else (7, 1000):
                marker = ""
                walked: list[str] = []
                while True:
                    page = await r.client.list_objects(
                        "ref", prefix, delimiter, start_after=marker, max_keys=page_size
                    )
                    want = _reference_listing(keys, prefix, delimiter, marker, page_size)
                    got = (
                        [o.key for o in page.objects],
                        page.common_prefixes,
                        page.is_truncated,
                    )
                    assert got == want, (prefix, delimiter, page_size, marker)
                    walked += got[0] + got[1]
                    if not page.is_truncated:
                        break
                    assert page.next_marker is not None
                    marker = page.next_marker
                full = _reference_listing(keys, prefix, delimiter, "", 10**6)
                assert sorted(walked) == sorted(full[0] + full[1])
