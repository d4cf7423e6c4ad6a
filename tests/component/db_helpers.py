"""Test helpers for the metadata database: a raw connection for set-up and inspection.

Test infrastructure. The coordinator reaches its database only through ``Database``; tests of
migrations and schemas need a plain connection next to it: ``on_connection(url, fn)`` runs
``fn(connection)`` in one transaction on a fresh engine of the coordinator's own kind for
``url`` (``wormfs.coordinator.db.engines``: same PRAGMAs, same drivers), off the event loop;
with ``migrating``, on SQLite the connection is the one migrations get
(``engines.sqlite_migration``: foreign keys off for table rebuilds).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TypeVar

from sqlalchemy import Connection

from wormfs.coordinator.db import engines

T = TypeVar("T")


async def on_connection(url: str, fn: Callable[[Connection], T], migrating: bool = False) -> T:
    if engines.is_sqlite(url):
        path = engines.sqlite_file(url)
        await asyncio.to_thread(path.parent.mkdir, parents=True, exist_ok=True)
        engine = engines.sqlite_engine(path)

        def job() -> T:
            if migrating:
                with engines.sqlite_migration(engine) as conn:
                    return fn(conn)
            with (
                engine.connect().execution_options(**{engines.WRITE_OPTION: True}) as conn,
                conn.begin(),
            ):
                return fn(conn)

        try:
            return await asyncio.to_thread(job)
        finally:
            await asyncio.to_thread(engine.dispose)
    async_engine = engines.postgres_engine(url)
    try:
        async with async_engine.begin() as conn:
            return await conn.run_sync(fn)
    finally:
        await async_engine.dispose()
