"""Coordinator metadata database: restarts, Alembic migrations, schema drift, SQLite settings,
leader fencing, and the listing's access path."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from component.coordinator_harness import (
    make_bucket,
    make_config,
    put,
    put_part,
    register,
    running,
)
from sqlalchemy import Connection, false, inspect, select, text, true
from sqlalchemy.dialects import sqlite

from wormfs.coordinator.db.database import (
    Database,
    alembic_config,
    create_engine,
    migrate,
    open_database,
)
from wormfs.coordinator.db.models import Base, ObjectVersion
from wormfs.errors import StaleLeaderError
from wormfs.wire.coordinator import CreateUpload, CreateUser

pytestmark = pytest.mark.timeout(60)

TABLES = {
    "access_keys",
    "alembic_version",
    "buckets",
    "chunk_placements",
    "cluster_meta",
    "disk_care",
    "disks",
    "gc_queue",
    "object_data",
    "nodes",
    "objects",
    "parts",
    "pending_writes",
    "repair_queue",
    "segments",
    "uploads",
    "users",
}


def _url(tmp_path: Path, name: str = "meta/wormfs.db") -> str:
    return f"sqlite+aiosqlite:///{tmp_path}/{name}"


async def test_restart_keeps_everything(database_url: str) -> None:
    config = make_config(database_url)
    async with running(config) as r:
        c = r.client
        await register(c, "n1", 6)
        user = await c.create_user(CreateUser(display_name="dora"))
        await make_bucket(c, "keep", owner=user.user_id)
        manifest = await put(c, "keep", "dir/file", size=70_000)
        upload = await c.create_upload(CreateUpload(bucket="keep", key="mp", owner_id="o"))
        part = await put_part(c, "keep", "mp", upload.upload_id, 1, 10)
        overwritten = await put(c, "keep", "old", size=10)
        await put(c, "keep", "old", size=10)
        queued = await r.gc_entries()
        assert queued
        del overwritten
    async with running(config) as r:
        c = r.client
        assert await c.get_object("keep", "dir/file") == manifest
        assert [o.key for o in (await c.list_objects("keep")).objects] == ["dir/file", "old"]
        assert (await c.get_access_key(user.access_keys[0].access_key)).user_id == user.user_id
        assert (await c.get_bucket("keep")).owner_display_name == "dora"
        assert (await c.list_parts(upload.upload_id)).parts == [part]
        assert [n.node_id for n in (await c.list_nodes()).nodes] == ["n1"]
        assert await r.gc_entries() == queued
        assert r.repo.db.epoch == 2  # each start takes the next leader epoch


def _schema_diff(connection: Connection) -> list[Any]:
    context = MigrationContext.configure(connection)
    return list(compare_metadata(context, Base.metadata))


def _tables(connection: Connection) -> set[str]:
    return set(inspect(connection).get_table_names())


async def test_upgrade_empty_database_matches_models(tmp_path: Path) -> None:
    url = _url(tmp_path, "deep/new/dir/wormfs.db")  # parent directories are created
    db = await open_database(url)
    try:
        async with db.engine.connect() as conn:
            assert await conn.run_sync(_tables) == TABLES
            assert await conn.run_sync(_schema_diff) == []
            version = await conn.scalar(text("SELECT version_num FROM alembic_version"))
            assert version == "0004"
    finally:
        await db.close()
    assert (tmp_path / "deep/new/dir/wormfs.db").exists()


async def test_upgrade_populated_database_keeps_data(database_url: str) -> None:
    config = make_config(database_url)
    async with running(config) as r:
        await register(r.client, "n1", 6)
        await make_bucket(r.client, "data")
        manifest = await put(r.client, "data", "k", size=1000)
    # Upgrading a populated database at head is a no-op that keeps every row.
    engine = await create_engine(config.database_url)
    try:
        await migrate(engine)
        await migrate(engine)
        async with engine.connect() as conn:
            assert await conn.scalar(text("SELECT count(*) FROM objects")) == 1
            assert await conn.scalar(text("SELECT count(*) FROM chunk_placements")) == 6
    finally:
        await engine.dispose()
    async with running(config) as r:
        assert await r.client.get_object("data", "k") == manifest


async def test_downgrade_and_upgrade_again(tmp_path: Path) -> None:
    engine = await create_engine(_url(tmp_path))
    try:
        await migrate(engine)

        def down_and_up(connection: Connection) -> tuple[set[str], set[str]]:
            command.downgrade(alembic_config(connection), "base")
            empty = _tables(connection)
            command.upgrade(alembic_config(connection), "head")
            return empty, _tables(connection)

        async with engine.begin() as conn:
            empty, full = await conn.run_sync(down_and_up)
        assert empty == {"alembic_version"}
        assert full == TABLES
    finally:
        await engine.dispose()


async def test_sqlite_settings(tmp_path: Path) -> None:
    db = await open_database(_url(tmp_path))
    try:
        async with db.read() as session:
            assert (await session.scalar(text("PRAGMA journal_mode"))) == "wal"
            assert (await session.scalar(text("PRAGMA synchronous"))) == 2  # FULL
            assert (await session.scalar(text("PRAGMA foreign_keys"))) == 1
    finally:
        await db.close()


async def test_leader_fencing(database_url: str) -> None:
    url = database_url
    first = await open_database(url)
    second = Database(await create_engine(url))
    try:
        assert await first.become_leader("first") == 1
        async with first.write():
            pass
        assert await second.become_leader("second") == 2
        with pytest.raises(StaleLeaderError):
            async with first.write():
                pass
        async with second.write():
            pass
        async with first.read():  # reads are not fenced
            pass
    finally:
        await first.close()
        await second.close()


async def test_listing_is_an_index_range_scan(tmp_path: Path) -> None:
    # The statement the listing issues (see db/listing.py), as SQLite plans it.
    query = (
        select(ObjectVersion.key)
        .where(
            ObjectVersion.bucket == "x",
            ObjectVersion.is_latest == true(),
            ObjectVersion.is_delete_marker == false(),
            ObjectVersion.key >= "a/",
            ObjectVersion.key < "a0",
        )
        .order_by(ObjectVersion.key)
        .limit(10)
    )
    sql = str(query.compile(dialect=sqlite.dialect(), compile_kwargs={"literal_binds": True}))
    db = await open_database(_url(tmp_path))
    try:
        async with db.read() as session:
            plan = " ".join(
                str(row[-1]) for row in await session.execute(text("EXPLAIN QUERY PLAN " + sql))
            )
    finally:
        await db.close()
    assert (
        "ix_objects_listing (bucket=? AND is_latest=? AND is_delete_marker=? AND key>? AND key<?)"
        in plan
    )
    assert "TEMP B-TREE" not in plan  # no sort: the index gives key order
