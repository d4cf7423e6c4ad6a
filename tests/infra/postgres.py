"""A throwaway PostgreSQL server on loopback, for tests and benchmarks.

Test infrastructure (not installed). ``PostgresServer.start()`` runs ``initdb`` into a fresh
temp dir, starts ``postgres`` on a free loopback port (also a Unix socket in the temp dir, never
the system's), waits until it accepts connections and returns; ``stop()`` stops it by its PID
(SIGINT = fast shutdown, SIGKILL after a bounded wait) and removes the directory. Nothing else
on the machine is touched: no system cluster, no service manager.

PostgreSQL refuses to run as root, so when the tests run as root the server runs as the
``postgres`` user (created by Debian's ``postgresql-common``) through ``Popen(user=...)``, which
switches user in the child before ``exec``: the PID we hold is the postmaster's own. The temp
dir is created directly under the system temp dir (pytest's ``tmp_path`` is mode 0700 root) and
handed to that user.

``MigratedDatabases`` hands each test a database already migrated to head and, after the test,
resets it (truncate, then restore the rows the migrations seeded) for the next one: creating
and migrating a database costs about a second, a reset a few milliseconds.

A non-durable server (the default, for tests) runs with ``fsync=off``: the tests check logic,
not power-loss durability, and fsync-free commits keep the suite fast. Benchmarks start a
durable one (PostgreSQL's defaults) so that commit numbers mean something.
"""

from __future__ import annotations

import asyncio
import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg

START_TIMEOUT = 30.0
STOP_TIMEOUT = 15.0
BINDIR_ENV = "WORMFS_PG_BINDIR"
SUPERUSER = "postgres"


class PostgresUnavailable(RuntimeError):
    """The PostgreSQL server binaries (or a user to run them as) are not on this machine."""


def find_bindir() -> Path:
    """$WORMFS_PG_BINDIR, else the newest ``/usr/lib/postgresql/<version>/bin``."""
    candidates: list[Path] = []
    if os.environ.get(BINDIR_ENV):
        candidates.append(Path(os.environ[BINDIR_ENV]))
    versions = sorted(
        Path("/usr/lib/postgresql").glob("*/bin"),
        key=lambda p: [int(x) for x in re.findall(r"\d+", p.parent.name)] or [0],
        reverse=True,
    )
    candidates += versions
    for bindir in candidates:
        if (bindir / "initdb").exists() and (bindir / "postgres").exists():
            return bindir
    raise PostgresUnavailable(
        "PostgreSQL server binaries not found (looked in /usr/lib/postgresql/*/bin and "
        f"${BINDIR_ENV}); install Debian's 'postgresql' package (make system-deps does)"
    )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _run_as() -> tuple[str | None, int, int]:
    """(user name or None for 'as we are', uid, gid) to run the server as."""
    if os.geteuid() != 0:
        return None, os.getuid(), os.getgid()
    try:
        entry = pwd.getpwnam(SUPERUSER)
    except KeyError:
        raise PostgresUnavailable(
            f"running as root but there is no {SUPERUSER!r} user to run PostgreSQL as"
        ) from None
    return SUPERUSER, entry.pw_uid, entry.pw_gid


@dataclass
class PostgresServer:
    durable: bool = False
    bindir: Path = field(default_factory=find_bindir)
    root: Path | None = None
    port: int = 0
    process: subprocess.Popen[bytes] | None = None

    @property
    def data_dir(self) -> Path:
        assert self.root is not None
        return self.root / "data"

    @property
    def log_path(self) -> Path:
        assert self.root is not None
        return self.root / "server.log"

    def url(self, database: str = "postgres") -> str:
        """A SQLAlchemy URL for ``database`` on this server (asyncpg driver)."""
        return f"postgresql+asyncpg://{SUPERUSER}@127.0.0.1:{self.port}/{database}"

    def dsn(self, database: str = "postgres") -> str:
        """A plain libpq/asyncpg DSN for ``database``."""
        return f"postgresql://{SUPERUSER}@127.0.0.1:{self.port}/{database}"

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-5000:]
        except OSError:
            return ""

    def start(self) -> PostgresServer:
        user, uid, gid = _run_as()
        self.root = Path(tempfile.mkdtemp(prefix="wormfs-pg-"))
        try:
            os.chown(self.root, uid, gid)
            subprocess.run(
                [
                    str(self.bindir / "initdb"),
                    "-D",
                    str(self.data_dir),
                    "-U",
                    SUPERUSER,
                    "-A",
                    "trust",  # loopback only, throwaway cluster
                    "-E",
                    "UTF8",
                    "--no-locale",
                    "--no-sync",
                ],
                user=user,
                group=gid if user else None,
                check=True,
                capture_output=True,
                timeout=START_TIMEOUT,
            )
            for _attempt in range(3):  # a free port can be taken before we bind it
                self.port = free_port()
                if self._start_server(user, gid):
                    return self
            raise RuntimeError(f"PostgreSQL did not start:\n{self.log()}")
        except BaseException:
            self.stop()
            raise

    def _start_server(self, user: str | None, gid: int) -> bool:
        settings = {
            "listen_addresses": "127.0.0.1",
            "port": str(self.port),
            "unix_socket_directories": str(self.root),
            "max_connections": "200",
            "shared_buffers": "128MB",
        }
        if not self.durable:
            settings.update(fsync="off", synchronous_commit="off", full_page_writes="off")
        args = [str(self.bindir / "postgres"), "-D", str(self.data_dir)]
        for name, value in settings.items():
            args += ["-c", f"{name}={value}"]
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                args,
                user=user,
                group=gid if user else None,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                self.process = None
                return False
            ready = subprocess.run(
                [str(self.bindir / "pg_isready"), "-q", "-h", "127.0.0.1", "-p", str(self.port)],
                check=False,
                timeout=10,
            )
            if ready.returncode == 0:
                return True
            time.sleep(0.1)
        self._signal_stop()
        return False

    def _signal_stop(self) -> None:
        process = self.process
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGINT)  # fast shutdown: roll back and exit
        try:
            process.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    def stop(self) -> None:
        """Stop the server (by its PID) and remove its directory."""
        self._signal_stop()
        self.process = None
        if self.root is not None:
            shutil.rmtree(self.root, ignore_errors=True)
            self.root = None


def psql(server: PostgresServer, sql: str, database: str = "postgres") -> str:
    """Run one SQL command through ``psql`` (autocommit, so CREATE/DROP DATABASE work)."""
    result = subprocess.run(
        [str(server.bindir / "psql"), server.dsn(database), "-v", "ON_ERROR_STOP=1", "-Atc", sql],
        check=True,
        capture_output=True,
        text=True,
        timeout=60,
    )
    return result.stdout


def create_database(server: PostgresServer, name: str) -> str:
    """Create an empty database ``name``; returns its SQLAlchemy URL."""
    psql(server, f'CREATE DATABASE "{name}"')
    return server.url(name)


def drop_database(server: PostgresServer, name: str) -> None:
    """Drop ``name``, disconnecting any session still on it (PostgreSQL 13+)."""
    psql(server, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


class MigratedDatabases:
    """Databases at the newest schema, lent to one test at a time and reset in between."""

    def __init__(self, server: PostgresServer) -> None:
        self._server = server
        self._free: list[str] = []
        self._seeds: dict[str, list[tuple[Any, ...]]] = {}
        self._head: str = ""
        self._count = 0

    async def take(self) -> str:
        """The URL of a migrated database with only the migrations' own rows in it."""
        if self._free:
            return self._server.url(self._free.pop())
        from wormfs.coordinator.db.database import open_database

        self._count += 1
        name = f"wormfs_pool_{os.getpid()}_{self._count}"
        await asyncio.to_thread(create_database, self._server, name)
        db = await open_database(self._server.url(name))
        await db.close()
        if not self._head:
            conn = await asyncpg.connect(self._server.dsn(name))
            try:
                self._head = str(await conn.fetchval("SELECT version_num FROM alembic_version"))
                for table in await self._tables(conn):
                    self._seeds[table] = [
                        tuple(r) for r in await conn.fetch(f'SELECT * FROM "{table}"')
                    ]
            finally:
                await conn.close()
        return self._server.url(name)

    @staticmethod
    async def _tables(conn: asyncpg.Connection) -> list[str]:
        rows = await conn.fetch(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public' "
            "AND tablename <> 'alembic_version' ORDER BY tablename"
        )
        return [str(r["tablename"]) for r in rows]

    async def give_back(self, url: str) -> None:
        """Reset the database behind ``url`` and keep it for the next test; a database whose
        schema a test changed (not at head any more) is dropped instead."""
        name = url.rsplit("/", 1)[1]
        conn = await asyncpg.connect(self._server.dsn(name))
        try:
            head = await conn.fetchval("SELECT version_num FROM alembic_version")
            tables = await self._tables(conn)
            if head != self._head or set(tables) != set(self._seeds):
                reusable = False
            else:
                quoted = ", ".join(f'"{t}"' for t in tables)
                async with conn.transaction():
                    await conn.execute(f"TRUNCATE {quoted} RESTART IDENTITY CASCADE")
                    for table, rows in self._seeds.items():
                        if rows:
                            await conn.copy_records_to_table(table, records=rows)
                reusable = True
        finally:
            await conn.close()
        if reusable:
            self._free.append(name)
        else:
            await asyncio.to_thread(drop_database, self._server, name)
