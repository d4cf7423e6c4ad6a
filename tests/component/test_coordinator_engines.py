"""The metadata database on both engines (SQLite and PostgreSQL): migrations of an empty and of
a populated database, leader fencing under concurrent writes, lost races retried instead of
answered with a 500."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from component.coordinator_harness import make_bucket, make_config, put, register, running
from infra.postgres import MigratedDatabases
from sqlalchemy import Connection, inspect, select, text

from wormfs.coordinator.db.database import (
    Database,
    alembic_config,
    create_engine,
    migrate,
    open_database,
)
from wormfs.coordinator.db.models import Base, ClusterMeta, User
from wormfs.errors import NotLeaderError, StaleLeaderError
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
        async with db.engine.connect() as conn:
            assert await conn.run_sync(_schema_diff) == []
            version = await conn.scalar(text("SELECT version_num FROM alembic_version"))
            assert version == await conn.run_sync(_head)
            assert set(await conn.run_sync(lambda c: inspect(c).get_table_names())) >= {
                "objects",
                "cluster_meta",
            }
        async with db.read() as session:  # revision 0002 seeds the fencing row
            meta = await session.get(ClusterMeta, 1)
            assert meta is not None and meta.leader_epoch == 0
    finally:
        await db.close()


async def test_upgrade_populated_database_from_first_revision(empty_database_url: str) -> None:
    """A database written at revision 0001 (no fencing row yet) upgrades to head with every
    row kept, then serves a coordinator that sees the old data."""
    engine = await create_engine(empty_database_url)
    try:

        def to_first(connection: Connection) -> None:
            command.upgrade(alembic_config(connection), "0001")

        async with engine.begin() as conn:
            await conn.run_sync(to_first)
            await conn.execute(
                text(
                    "INSERT INTO buckets (name, owner_id, created, region, settings) "
                    "VALUES ('old-bucket', 'owner-a', 1.0, 'us-east-1', '{}')"
                )
            )
            await conn.execute(
                text("INSERT INTO users (user_id, display_name, created) VALUES ('u1', 'ann', 2)")
            )
        await migrate(engine)
        await migrate(engine)  # idempotent
        async with engine.connect() as conn:
            assert await conn.scalar(text("SELECT count(*) FROM buckets")) == 1
            assert await conn.scalar(text("SELECT leader_epoch FROM cluster_meta")) == 0
            assert await conn.run_sync(_schema_diff) == []
    finally:
        await engine.dispose()
    async with running(make_config(empty_database_url)) as r:
        assert (await r.client.get_bucket("old-bucket")).owner_id == "owner-a"
        assert r.repo.db.epoch == 1
        await register(r.client, "n1", 6)
        await put(r.client, "old-bucket", "new-key", size=10)


async def test_late_write_of_a_deposed_leader_changes_nothing(database_url: str) -> None:
    first = await open_database(database_url)
    second = Database(await create_engine(database_url))
    try:
        assert await first.become_leader("first") == 1
        started = asyncio.Event()
        proceed = asyncio.Event()

        async def slow_write() -> None:
            async with first.write() as session:
                session.add(User(user_id="late", display_name="late", created=time.time()))
                await session.flush()
                started.set()
                await proceed.wait()  # the new leader takes over meanwhile

        writer = asyncio.create_task(slow_write())
        await started.wait()
        if first.dialect == "sqlite":
            # SQLite has one writer: the bump waits for this transaction, which then commits
            # legitimately (it began and ended before the bump).
            proceed.set()
            await writer
            assert await second.become_leader("second") == 2
        else:
            assert await second.become_leader("second") == 2  # not blocked: no lock held yet
            proceed.set()
            with pytest.raises(StaleLeaderError):
                await writer
            async with second.read() as session:
                assert await session.get(User, "late") is None
        with pytest.raises(StaleLeaderError):
            async with first.write() as session:
                session.add(User(user_id="later", display_name="x", created=time.time()))
        async with second.read() as session:
            assert await session.get(User, "later") is None
    finally:
        await first.close()
        await second.close()


async def test_fencing_under_concurrent_writes(database_url: str) -> None:
    """Writes race an epoch bump: each either commits or fails with StaleLeaderError, and
    exactly the committed ones are in the database."""
    first = await open_database(database_url)
    second = Database(await create_engine(database_url))
    try:
        await first.become_leader("first")
        committed: list[str] = []
        refused: list[str] = []

        async def write(i: int) -> None:
            user_id = f"u{i:04d}"
            try:
                async with first.write() as session:
                    session.add(User(user_id=user_id, display_name="x", created=time.time()))
                    await asyncio.sleep(0.003)
            except StaleLeaderError:
                refused.append(user_id)
            else:
                committed.append(user_id)

        for i in range(5):  # before the bump: these commit
            await write(i)
        bump = asyncio.create_task(second.become_leader("second"))
        writes: list[asyncio.Task[None]] = []
        while not bump.done() or len(writes) < 10:  # writes in flight across the bump...
            writes.append(asyncio.create_task(write(len(writes) + 5)))
            await asyncio.sleep(0.002)
        for _ in range(5):  # ...and after it: these are fenced
            writes.append(asyncio.create_task(write(len(writes) + 5)))
        await asyncio.gather(bump, *writes)
        async with second.read() as session:
            present = set(await session.scalars(select(User.user_id).where(User.user_id != "")))
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
            async with db.write():
                pass
        async with db.read():  # reads stay open
            pass
        await db.become_leader("me")
        db.accept_writes()
        db.refuse_writes("suspended")
        with pytest.raises(NotLeaderError, match="suspended"):
            async with db.write():
                pass
        db.accept_writes()
        async with db.write() as session:
            session.add(User(user_id="ok", display_name="ok", created=time.time()))
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
        async with db.read() as session:
            level = await session.scalar(text("SHOW transaction_isolation"))
            idle = await session.scalar(text("SHOW idle_in_transaction_session_timeout"))
        assert level == "repeatable read"  # one snapshot per read transaction
        assert idle == "10s"  # a frozen coordinator cannot hold the fencing row for long
        async with db.write() as session:
            level = await session.scalar(text("SHOW transaction_isolation"))
        assert level == "read committed"
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
