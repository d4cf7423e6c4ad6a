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
from component.db_helpers import on_connection
from sqlalchemy import Connection, inspect, text

from wormfs.coordinator.db import listing, manifests
from wormfs.coordinator.db.database import open_database
from wormfs.coordinator.db.engines import alembic_config, upgrade
from wormfs.coordinator.db.models import Base
from wormfs.errors import StaleLeaderError
from wormfs.wire.coordinator import CreateUpload, CreateUser

pytestmark = pytest.mark.timeout(60)

TABLES = {
    "access_keys",
    "admin_tokens",
    "audit_log",
    "alembic_version",
    "buckets",
    "chunk_placements",
    "cluster_meta",
    "disk_care",
    "disks",
    "gc_queue",
    "object_data",
    "inodes",
    "xattrs",
    "jobs",
    "job_throttles",
    "nodes",
    "objects",
    "parts",
    "pending_writes",
    "profiles",
    "repair_queue",
    "segments",
    "uploads",
    "users",
}


def _url(tmp_path: Path, name: str = "meta/wormfs.db") -> str:
    return f"sqlite:///{tmp_path}/{name}"


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
    await db.close()

    def inspect_schema(conn: Connection) -> None:
        assert _tables(conn) == TABLES
        assert _schema_diff(conn) == []
        assert conn.scalar(text("SELECT version_num FROM alembic_version")) == "0016"

    await on_connection(url, inspect_schema)
    assert (tmp_path / "deep/new/dir/wormfs.db").exists()


async def test_upgrade_populated_database_keeps_data(database_url: str) -> None:
    config = make_config(database_url)
    async with running(config) as r:
        await register(r.client, "n1", 6)
        await make_bucket(r.client, "data")
        manifest = await put(r.client, "data", "k", size=1000)
    # Upgrading a populated database at head is a no-op that keeps every row.
    for _ in range(2):
        db = await open_database(config.database_url)
        await db.close()

    def count(conn: Connection) -> tuple[int, int]:
        return (
            conn.scalar(text("SELECT count(*) FROM objects")) or 0,
            conn.scalar(text("SELECT count(*) FROM chunk_placements")) or 0,
        )

    assert await on_connection(config.database_url, count) == (1, 6)
    async with running(config) as r:
        assert await r.client.get_object("data", "k") == manifest


async def test_downgrade_and_upgrade_again(tmp_path: Path) -> None:
    def down_and_up(connection: Connection) -> tuple[set[str], set[str]]:
        upgrade(connection)
        command.downgrade(alembic_config(connection), "base")
        empty = _tables(connection)
        command.upgrade(alembic_config(connection), "head")
        return empty, _tables(connection)

    empty, full = await on_connection(_url(tmp_path), down_and_up, migrating=True)
    assert empty == {"alembic_version"}
    assert full == TABLES


async def test_upgrade_to_0006_keeps_every_row_and_ids_are_never_reused(tmp_path: Path) -> None:
    """0006 rebuilds ``objects`` on SQLite (AUTOINCREMENT): parts and inline bytes that refer to
    its rows survive the rebuild (no cascade), and the id of a deleted newest version is never
    handed out again (it was the file's inode number)."""
    url = _url(tmp_path)

    def at_0005(conn: Connection) -> None:
        command.upgrade(alembic_config(conn), "0005")
        conn.execute(
            text(
                "INSERT INTO buckets (name, owner_id, created, region, settings) "
                "VALUES ('b', 'o', 1.0, 'us-east-1', '{}')"
            )
        )
        for n in (1, 2, 3):
            conn.execute(
                text(
                    "INSERT INTO objects (id, bucket, key, version_id, is_latest, "
                    "is_delete_marker, size, etag, content_type, user_metadata, "
                    "system_metadata, profile, storage_class, owner_id, created, "
                    "last_modified, state) VALUES (:id, 'b', :key, :v, 1, 0, 1, 'e', 't', "
                    "'{}', '{}', '{}', 'STANDARD', 'o', 1.0, 1.0, 'committed')"
                ),
                {"id": n, "key": f"k{n}", "v": f"v{n}"},
            )
        conn.execute(text("INSERT INTO object_data (object_id, data) VALUES (1, x'41')"))
        conn.execute(
            text(
                "INSERT INTO parts (object_id, part_number, size, etag, last_modified) "
                "VALUES (2, 1, 1, 'e', 1.0)"
            )
        )

    await on_connection(url, at_0005, migrating=True)

    def to_head(conn: Connection) -> tuple[int, int, int, str]:
        upgrade(conn)
        return (
            conn.scalar(text("SELECT count(*) FROM objects")) or 0,
            conn.scalar(text("SELECT count(*) FROM parts")) or 0,
            conn.scalar(text("SELECT count(*) FROM object_data")) or 0,
            conn.scalar(text("SELECT sql FROM sqlite_master WHERE name = 'objects'")) or "",
        )

    objects, parts, inline, table_sql = await on_connection(url, to_head, migrating=True)
    assert (objects, parts, inline) == (3, 1, 1)
    assert "AUTOINCREMENT" in table_sql

    def reuse(conn: Connection) -> tuple[list[Any], int]:
        assert _schema_diff(conn) == []
        conn.execute(text("DELETE FROM objects WHERE id = 3"))  # the newest version goes
        conn.execute(
            text(
                "INSERT INTO objects (bucket, key, version_id, is_latest, is_delete_marker, "
                "size, etag, content_type, user_metadata, system_metadata, profile, "
                "storage_class, owner_id, created, last_modified, state) VALUES ('b', 'new', "
                "'v4', 1, 0, 1, 'e', 't', '{}', '{}', '{}', 'STANDARD', 'o', 1.0, 1.0, "
                "'committed')"
            )
        )
        indexes = sorted(r.name for r in conn.execute(text("PRAGMA index_list(objects)")))
        return indexes, conn.scalar(text("SELECT id FROM objects WHERE key = 'new'")) or 0

    indexes, new_id = await on_connection(url, reuse)
    assert new_id == 4  # not 3 again
    assert {"ix_objects_listing", "uq_objects_latest", "ix_objects_inode_id"} <= set(indexes)

    def down(conn: Connection) -> tuple[int, int, str]:
        command.downgrade(alembic_config(conn), "0005")
        return (
            conn.scalar(text("SELECT count(*) FROM objects")) or 0,
            conn.scalar(text("SELECT count(*) FROM parts")) or 0,
            conn.scalar(text("SELECT sql FROM sqlite_master WHERE name = 'objects'")) or "",
        )

    objects, parts, table_sql = await on_connection(url, down, migrating=True)
    assert (objects, parts) == (3, 1) and "AUTOINCREMENT" not in table_sql


async def test_sqlite_settings(tmp_path: Path) -> None:
    db = await open_database(_url(tmp_path))
    try:
        # Both of the Database's connections (reader and writer) are set up alike.
        for run in (db.read, db.write):
            settings = await run(
                lambda tx: [
                    tx.scalar(text(f"PRAGMA {name}"))
                    for name in ("journal_mode", "synchronous", "foreign_keys", "busy_timeout")
                ]
            )
            assert settings == ["wal", 2, 1, 10_000]  # synchronous 2: FULL
    finally:
        await db.close()


async def test_leader_fencing(database_url: str) -> None:
    url = database_url
    first = await open_database(url)
    second = await open_database(url)
    nothing = text("SELECT 1")
    try:
        assert await first.become_leader("first") == 1
        await first.write(lambda tx: tx.scalar(nothing))
        assert await second.become_leader("second") == 2
        with pytest.raises(StaleLeaderError):
            await first.write(lambda tx: tx.scalar(nothing))
        await second.write(lambda tx: tx.scalar(nothing))
        assert await first.read(lambda tx: tx.scalar(nothing)) == 1  # reads are not fenced
    finally:
        await first.close()
        await second.close()


async def _plan(tmp_path: Path, statement: Any, params: dict[str, Any]) -> str:
    """How SQLite plans one of the coordinator's statements (EXPLAIN QUERY PLAN)."""
    url = _url(tmp_path)
    db = await open_database(url)  # the schema at head
    await db.close()

    def explain(conn: Connection) -> str:
        compiled = statement.compile(dialect=conn.dialect)
        state = compiled.construct_expanded_state(params)
        query = "EXPLAIN QUERY PLAN " + state.statement
        rows = conn.exec_driver_sql(query, tuple(state.positional_parameters)).all()
        return " ".join(str(row[-1]) for row in rows)

    return await on_connection(url, explain)


async def test_listing_is_an_index_range_scan(tmp_path: Path) -> None:
    # The statement the listing issues for a prefix (see db/listing.py), as SQLite plans it.
    statement = listing._OBJECT_BATCHES[">=", True]
    plan = await _plan(tmp_path, statement, {"bucket": "x", "bound": "a/", "upper": "a0", "n": 10})
    assert (
        "ix_objects_listing (bucket=? AND is_latest=? AND is_delete_marker=? AND key>? AND key<?)"
        in plan
    )
    assert "TEMP B-TREE" not in plan  # no sort: the index gives key order


async def test_current_version_lookup_uses_the_partial_unique_index(tmp_path: Path) -> None:
    # GET and HEAD find the current version through uq_objects_latest: one row, no scan.
    plan = await _plan(tmp_path, manifests._CURRENT, {"bucket": "b", "key": "k"})
    assert "uq_objects_latest (bucket=? AND key=?)" in plan
