"""Every statement of the coordinator, checked against the real schema on both engines.

The coordinator's statements are SQLAlchemy Core constructs over the declared tables, kept
as module-level constants of ``wormfs.coordinator.db`` (or dicts of them, as the listings'
batch variants). This test finds all of them, compiles each for the engine's dialect, and has
the engine itself prepare it (SQLite: ``EXPLAIN``, which compiles to bytecode against the
schema; PostgreSQL: ``EXPLAIN``, which parses, resolves and plans it) with NULL (or 1 for
integers) bound to every parameter. A misspelt column, a type the engine rejects, or SQL one
engine does not speak fails here rather than on the request that first runs it. Statements
only one engine speaks say so with the execution option ``wormfs_dialect``.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Iterator
from typing import Any

import pytest
from component.db_helpers import on_connection
from sqlalchemy import Connection, Executable, Insert, Integer, insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.sql.elements import ClauseElement

import wormfs.coordinator.db as db_package
from wormfs.coordinator.db import manifests, tables, versions
from wormfs.coordinator.db.database import open_database
from wormfs.coordinator.db.tx import Tx

pytestmark = pytest.mark.timeout(120)


def _found(value: Any) -> Iterator[Executable]:
    if isinstance(value, Executable) and isinstance(value, ClauseElement):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _found(item)


def statements() -> dict[str, Executable]:
    """Every module-level statement of the database package, by ``module.name``."""
    seen: dict[int, str] = {}
    out: dict[str, Executable] = {}
    for info in pkgutil.iter_modules(db_package.__path__):
        module = importlib.import_module(f"{db_package.__name__}.{info.name}")
        for name, value in vars(module).items():
            for n, statement in enumerate(_found(value)):
                if id(statement) not in seen:
                    seen[id(statement)] = name
                    out[f"{info.name}.{name}" + (f"[{n}]" if isinstance(value, dict) else "")] = (
                        statement
                    )
    return out


def _prepare(connection: Connection, statement: Any) -> None:
    only = statement.get_execution_options().get("wormfs_dialect")
    if only is not None and only != connection.dialect.name:
        return
    params: dict[str, Any] = {}
    column_keys = None
    if isinstance(statement, Insert) and not statement._values:
        column_keys = [c.key for c in statement.table.columns]
        params = dict.fromkeys(column_keys)
    for bind in statement.compile().binds.values():
        value = 1 if isinstance(bind.type, Integer) else None
        params[bind.key] = [value] if bind.expanding else value
    compiled = statement.compile(dialect=connection.dialect, column_keys=column_keys)
    state = compiled.construct_expanded_state(params)
    args = state.positional_parameters if compiled.positional else state.parameters
    connection.exec_driver_sql(
        "EXPLAIN " + state.statement, tuple(args) if compiled.positional else args
    )


def test_the_package_keeps_its_statements_as_constants() -> None:
    found = statements()
    # The door's own, the hot path's and the background jobs' statements are all there.
    for name in ("database._EPOCH", "manifests._CURRENT", "gc._DUE", "listing._SUMMARY"):
        assert name in found
    assert len(found) >= 60, sorted(found)


async def test_every_statement_prepares_against_the_schema(database_url: str) -> None:
    db = await open_database(database_url)  # the schema at head
    await db.close()
    failures: list[str] = []

    def prepare_all(connection: Connection) -> None:
        for name, statement in statements().items():
            savepoint = connection.begin_nested()
            try:
                _prepare(connection, statement)
            except Exception as exc:
                failures.append(f"{name}: {exc}")
            finally:
                savepoint.rollback()

    await on_connection(database_url, prepare_all)
    assert failures == [], "\n".join(failures)


async def test_prepared_statements_answer_as_sqlalchemy_does(database_url: str) -> None:
    """``Tx`` runs prepared statements on the driver's cursor; its rows, types and errors
    must be exactly what ``Connection.execute`` gives for the same statement."""
    db = await open_database(database_url)
    await db.close()

    def compare(connection: Connection) -> None:
        tx = Tx(connection)
        version = {
            "bucket": "b",
            "key": "k",
            "version_id": "v1",
            "is_latest": True,
            "is_delete_marker": False,
            "size": 3,
            "etag": '"e"',
            "content_type": "text/plain",
            "user_metadata": {"a": "ü"},
            "system_metadata": {},
            "checksum_algorithm": None,
            "checksum_value": None,
            "checksum_type": None,
            "profile": {"codec": "x", "k": 4, "m": 2, "stripe_size": 1024},
            "storage_class": "STANDARD",
            "owner_id": "o",
            "created": 1.5,
            "last_modified": 2.25,
            "state": "committed",
        }
        connection.execute(
            insert(tables.buckets).values(
                name="b", owner_id="o", created=1.0, region="r", settings={}
            )
        )
        object_id = tx.scalar(versions._INSERT_VERSION, version)
        tx.run(manifests._INSERT_DATA, {"object_id": object_id, "data": b"\x00\xff"})
        params = {"bucket": "b", "key": "k"}
        [prepared] = tx.all(manifests._CURRENT, params)
        [reference] = connection.execute(manifests._CURRENT, params).all()
        assert tuple(prepared) == tuple(reference)
        assert prepared._fields == tuple(reference._fields)
        assert prepared.user_metadata == {"a": "ü"} and prepared.is_latest is True
        assert prepared.last_modified == 2.25 and bytes(prepared.data) == b"\x00\xff"
        with pytest.raises(IntegrityError):  # the same error class as SQLAlchemy raises
            tx.scalar(versions._INSERT_VERSION, version)

    await on_connection(database_url, compare)
