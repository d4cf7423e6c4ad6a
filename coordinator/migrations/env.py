"""Alembic environment for the coordinator's metadata schema.

Layer: coordinator database package (migrations). Two ways in:

* the coordinator at start-up (``wormfs.coordinator.db.engines.migrate_sqlite`` /
  ``migrate_postgres``) hands its sync connection over in ``config.attributes["connection"]``;
  the migration joins that connection's transaction;
* a developer runs ``alembic -c coordinator/migrations/alembic.ini -x url=URL upgrade head``
  (or ``sqlalchemy.url`` in the ini); then the coordinator's own engine for that URL is
  created here and the same migration runs through it.

``render_as_batch`` lets later revisions alter SQLite tables (copy-and-move) with the same
operations that alter PostgreSQL tables in place.
"""

from __future__ import annotations

import asyncio

from alembic import context
from sqlalchemy import Connection

from wormfs.coordinator.db import engines
from wormfs.coordinator.db.models import Base

config = context.config
target_metadata = Base.metadata


def _configure(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=True,
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


async def _run_with_url(url: str) -> None:
    if engines.is_sqlite(url):
        sync_engine = engines.sqlite_engine(engines.sqlite_file(url))
        try:
            with engines.sqlite_migration(sync_engine) as conn:
                _configure(conn)
        finally:
            sync_engine.dispose()
        return
    engine = engines.postgres_engine(url)
    try:
        async with engine.begin() as async_conn:
            await async_conn.run_sync(_configure)
    finally:
        await engine.dispose()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _configure(connection)
        return
    url = context.get_x_argument(as_dictionary=True).get("url") or config.get_main_option(
        "sqlalchemy.url"
    )
    if not url:
        raise RuntimeError("give the database URL with -x url=... or sqlalchemy.url")
    asyncio.run(_run_with_url(url))


def run_migrations_offline() -> None:
    url = context.get_x_argument(as_dictionary=True).get("url") or config.get_main_option(
        "sqlalchemy.url"
    )
    context.configure(url=url, target_metadata=target_metadata, literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
