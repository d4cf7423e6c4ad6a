"""Engines for the metadata database: connecting, PRAGMAs, migrations, driver-error meanings.

Layer: coordinator database package, below ``Database``. Written once here for both engines:

* SQLite (the embedded default) is a file, opened by a *synchronous* SQLAlchemy engine over
  the standard library's driver, in WAL mode with ``synchronous=FULL``: a commit is
  acknowledged only after the WAL is fsynced, which invariant 1 (no acknowledged write is
  lost) needs even across power loss (``NORMAL`` may lose the last transactions). Foreign
  keys are enforced. The driver's implicit BEGIN handling is switched off and a BEGIN is
  emitted per transaction — IMMEDIATE for writes (the ``WRITE_OPTION`` execution option) — so
  a read sees one snapshot, DDL is transactional, and a writer takes the write lock up front
  instead of failing to upgrade a read lock (SQLITE_BUSY, which the busy handler does not
  wait out). ``Database`` runs its statements on threads of its own, never on the loop.
  URLs: ``sqlite:///PATH`` (``sqlite+aiosqlite:///PATH`` is accepted for older configs); an
  in-memory database is refused, the metadata must survive the process.
* PostgreSQL (several hosts) is an async engine over asyncpg; statements run through
  ``AsyncConnection.run_sync`` (the greenlet bridge). Connections set
  ``idle_in_transaction_session_timeout`` so that a coordinator frozen mid-transaction cannot
  stall the next leader's epoch bump for long (see ``database.py``, "Fencing").
* ``migrate_*`` bring the schema to Alembic's head; coordinators that start together on
  PostgreSQL take an advisory lock first, so the second finds the schema at head.
* ``is_race`` / ``is_unavailable`` say what a driver error means; ``unavailable`` turns it
  into the domain's ``UnavailableError``.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, cast

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, Engine, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from wormfs.errors import InvalidInputError, UnavailableError

log = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "migrations"
SQLITE_BUSY_TIMEOUT_MS = 10_000
WRITE_OPTION = "wormfs_write"  # execution option: this connection begins write transactions

PG_POOL_SIZE = 16
PG_MAX_OVERFLOW = 16
PG_CONNECT_TIMEOUT = 10.0
PG_IDLE_IN_TRANSACTION_MS = 10_000  # see "Fencing" in database.py
# pg_advisory_xact_lock key serialising migrations of coordinators that start together.
MIGRATION_LOCK_KEY = 0x576F_726D_4653  # "WormFS"

# SQLSTATEs of a lost race: unique_violation, foreign_key_violation, serialization_failure,
# deadlock_detected. Only on PostgreSQL: SQLite serialises writers, so there they are bugs.
RACE_SQLSTATES = frozenset({"23505", "23503", "40001", "40P01"})
# SQLSTATE classes and codes meaning "not usable right now": connection exception (08),
# insufficient resources (53), operator intervention (57: shutdown, statement timeout),
# lock_not_available (55P03), idle_in_transaction_session_timeout (25P03),
# read_only_sql_transaction (25006: a standby, or a primary demoted under us, refuses writes
# until a failover points the URL at the new primary).
UNAVAILABLE_CLASSES = frozenset({"08", "53", "57"})
UNAVAILABLE_SQLSTATES = frozenset({"55P03", "25P03", "25006"})
SQLITE_DRIVERS = frozenset({"sqlite", "sqlite+pysqlite", "sqlite+aiosqlite"})


def is_sqlite(url: str) -> bool:
    return make_url(url).get_backend_name() == "sqlite"


def sqlite_file(url: str) -> Path:
    """The database file a SQLite URL names (``InvalidInputError`` for anything else)."""
    parsed = make_url(url)
    if parsed.drivername not in SQLITE_DRIVERS:
        raise InvalidInputError(f"unsupported SQLite driver {parsed.drivername!r}: use sqlite://")
    database = parsed.database
    if not database or database == ":memory:" or database.startswith("file:"):
        raise InvalidInputError(
            f"the metadata database must be a file (sqlite:///PATH), not {url!r}"
        )
    return Path(database)


def sqlite_engine(path: Path) -> Engine:
    """A synchronous engine over the SQLite file ``path`` (see the module docstring)."""
    # check_same_thread off: each connection is used by one thread at a time, but the pool
    # may close it from another.
    engine = create_engine(f"sqlite:///{path}", connect_args={"check_same_thread": False})

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # transactions are ours (see above)
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=FULL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        immediate = conn.get_execution_options().get(WRITE_OPTION, False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

    return engine


def postgres_engine(url: str) -> AsyncEngine:
    return create_async_engine(
        url,
        pool_size=PG_POOL_SIZE,
        max_overflow=PG_MAX_OVERFLOW,
        # A server restart leaves dead connections in the pool; test each on checkout.
        pool_pre_ping=True,
        connect_args={
            "timeout": PG_CONNECT_TIMEOUT,
            "server_settings": {
                "application_name": "wormfs-coordinator",
                "idle_in_transaction_session_timeout": str(PG_IDLE_IN_TRANSACTION_MS),
            },
        },
    )


def alembic_config(connection: Connection | None = None, url: str | None = None) -> Config:
    """An Alembic config for our migrations, bound to ``connection`` (or ``url``)."""
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    if url is not None:
        cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    if connection is not None:
        cfg.attributes["connection"] = connection
    return cfg


def upgrade(connection: Connection) -> None:
    """``alembic upgrade head`` inside ``connection``'s transaction."""
    command.upgrade(alembic_config(connection), "head")


@contextmanager
def sqlite_migration(engine: Engine) -> Iterator[Connection]:
    """A connection in one write transaction with foreign keys off, for migrations.

    A migration that rebuilds a table (SQLite's create-copy-drop-rename, the only way to change
    some declarations) must not have the DROP cascade to the rows that refer to the old table;
    the migration checks ``PRAGMA foreign_key_check`` before it commits. The pragma is a no-op
    inside a transaction, so it is set on the driver connection before BEGIN and restored
    after, whatever happens."""
    with engine.connect().execution_options(**{WRITE_OPTION: True}) as conn:
        raw = cast(sqlite3.Connection, conn.connection.dbapi_connection)
        raw.execute("PRAGMA foreign_keys=OFF")
        try:
            with conn.begin():
                yield conn
        finally:
            raw.execute("PRAGMA foreign_keys=ON")


def migrate_sqlite(engine: Engine) -> None:
    """Bring a SQLite file to the newest revision (idempotent; blocking: run it off the loop)."""
    with sqlite_migration(engine) as conn:
        upgrade(conn)


async def migrate_postgres(engine: AsyncEngine) -> None:
    """Bring the schema to the newest revision (idempotent), one coordinator at a time."""
    async with engine.begin() as conn:
        await conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK_KEY})
        await conn.run_sync(upgrade)


def sqlstate(exc: BaseException) -> str:
    """The SQLSTATE of a PostgreSQL driver error ("" for anything else)."""
    return str(getattr(getattr(exc, "orig", None), "sqlstate", None) or "")


def is_race(exc: BaseException) -> bool:
    """True if ``exc`` means a concurrent transaction got there first (PostgreSQL)."""
    return isinstance(exc, DBAPIError) and sqlstate(exc) in RACE_SQLSTATES


def is_unavailable(exc: BaseException) -> bool:
    """True if ``exc`` means "the database is not usable right now" (locked, I/O error,
    connection lost, lock or idle timeout): the request may succeed later."""
    if isinstance(exc, OSError | TimeoutError):  # connecting failed (asyncpg raises these)
        return True
    if not isinstance(exc, DBAPIError):
        return False
    if isinstance(exc, OperationalError | InterfaceError) or exc.connection_invalidated:
        return True
    state = sqlstate(exc)
    return state[:2] in UNAVAILABLE_CLASSES or state in UNAVAILABLE_SQLSTATES


def unavailable(exc: BaseException) -> UnavailableError:
    detail = getattr(exc, "orig", None) or exc
    log.warning("metadata database error: %r", detail)
    return UnavailableError(f"metadata database unavailable: {detail}")


def domain_error(exc: BaseException) -> BaseException:
    """The error a caller hears for ``exc``: ``UnavailableError`` for driver errors meaning
    "not now", ``exc`` itself otherwise (a domain error, or a bug that becomes a 500)."""
    return unavailable(exc) if is_unavailable(exc) else exc
