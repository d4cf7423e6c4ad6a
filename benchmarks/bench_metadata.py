"""Benchmark, coordinator metadata: commits per second, and ListObjectsV2 paging over a
million keys, on SQLite and on PostgreSQL.

Every measurement goes through a real coordinator process (``python -m wormfs.cli
coordinator``) over its HTTP API with the real client (``CoordinatorClient``), so the figures
include HTTP, JSON, SQLAlchemy and the database, as a gateway sees them.

* ``commits``: ``--workers`` concurrent writers each repeat BeginWrite + CommitObject of a
  small object (one segment of 4 KiB on 4+2 placement) until ``--commits`` are done. Reported:
  commits per second, and the latency of one begin+commit pair (p50, p99).
* ``listing``: SETUP (not measured) bulk-loads 1,000,000 current object versions straight into
  the ``objects`` table with SQL (SQLite: one executemany transaction; PostgreSQL: COPY), then
  ANALYZE. Two layouts, each in its own bucket:
    - ``flat``:   ``obj/0000000`` .. ``obj/0999999``, listed without a delimiter (1,000 pages);
    - ``mixed``:  under ``data/``, 900,000 plain keys and 10,000 "directories" of 10 keys each,
                  listed with prefix ``data/`` and delimiter ``/`` (910 pages, about 11 common
                  prefixes per page, each one an index seek past its keys);
    - ``dirs``:   100,000 directories of 10 keys (``d000000/f0`` ..), listed at the root with
                  delimiter ``/``: every entry is a common prefix (100 pages), the worst case
                  for the roll-up.
  Then every page of 1,000 is requested in order, first to last (``start_after`` = the
  previous page's ``next_marker``), and each page's latency is recorded. Reported per
  layout: p50 and p99 per position band (first 10% of pages, middle 80%, last 10%) and over
  all pages. The target is p99 < 50 ms, flat from the first page to the last.

Wall-clock figures depend on everything else the machine runs; each result also gives the CPU
time the coordinator process spent per commit or per page (from /proc), which does not.

PostgreSQL runs on a throwaway durable server (fsync on: PostgreSQL's defaults) started by
``tests/infra/postgres.py`` on loopback; SQLite runs in WAL mode with synchronous=FULL, as the
coordinator always opens it. Output: one JSON object per result line, then markdown tables.

Run: ``.venv/bin/python benchmarks/bench_metadata.py [--engines sqlite,postgresql]
[--commits 3000] [--workers 16] [--keys 1000000] [--skip-listing] [--skip-commits]``
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))  # the throwaway PostgreSQL server of the test suite

from infra.postgres import PostgresServer, create_database  # noqa: E402

from wormfs.clients.coordinator import CoordinatorClient  # noqa: E402
from wormfs.coordinator.db.database import open_database  # noqa: E402
from wormfs.wire.coordinator import (  # noqa: E402
    BeginWrite,
    CommitObject,
    CreateBucket,
    NodeRegistration,
    PartRecord,
)
from wormfs.wire.storage import DiskInfo  # noqa: E402

SECRET = b"bench-metadata-secret"
GIB = 1024**3
PAGE = 1000
OBJECT_SIZE = 4096
PROFILE_JSON = json.dumps({"codec": "isal_rs_vand", "k": 4, "m": 2, "stripe_size": 1048576})


# ---- a coordinator process -------------------------------------------------------------------
@dataclass
class CoordinatorProcess:
    root: Path
    database_url: str
    process: subprocess.Popen[bytes] | None = None
    address: str = ""

    def start(self) -> CoordinatorProcess:
        config = self.root / "coordinator.toml"
        config.write_text("node_offline_after = 3600.0\ngc_interval = 3600.0\n")
        ready = self.root / "coordinator.ready.json"
        env = dict(os.environ, WORMFS_CLUSTER_SECRET=SECRET.decode(), PYTHONSAFEPATH="1")
        with (self.root / "coordinator.log").open("ab") as log:
            self.process = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "wormfs.cli",
                    "coordinator",
                    "--port",
                    "0",
                    "--config",
                    str(config),
                    "--database-url",
                    self.database_url,
                    "--ready-file",
                    str(ready),
                    "--log-level",
                    "WARNING",
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
            )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError((self.root / "coordinator.log").read_text()[-3000:])
            if ready.exists():
                info = json.loads(ready.read_text())
                if info.get("pid") == self.process.pid:
                    self.address = str(info["address"])
                    return self
            time.sleep(0.05)
        raise RuntimeError("coordinator did not start")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


@dataclass
class Engine:
    name: str
    url_for: Any  # (name) -> database URL

    def url(self, name: str) -> str:
        return str(self.url_for(name))


def cpu_seconds(pid: int) -> float:
    """User + system CPU time a process has used so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]


def emit(result: dict[str, Any]) -> None:
    print(json.dumps(result), flush=True)


# ---- commits per second ----------------------------------------------------------------------
def disks(node: str) -> list[DiskInfo]:
    return [
        DiskInfo(
            disk_id=f"{node}-d{i}",
            path=f"/bench/{node}/{i}",
            state="online",
            capacity_bytes=200 * GIB,
            free_bytes=100 * GIB,
            used_bytes=100 * GIB,
        )
        for i in range(6)
    ]


async def commit_one(client: CoordinatorClient, key: str) -> None:
    grant = await client.begin_write(BeginWrite(bucket="bench", key=key, size=OBJECT_SIZE))
    etag = '"' + uuid.uuid4().hex + '"'
    await client.commit_object(
        CommitObject(
            write_id=grant.write_id,
            bucket="bench",
            key=key,
            version_id=grant.version_id,
            owner_id="bench",
            size=OBJECT_SIZE,
            etag=etag,
            profile=grant.profile,
            parts=[PartRecord(part_number=1, size=OBJECT_SIZE, etag=etag, segments=grant.segments)],
        )
    )


async def bench_commits(address: str, pid: int, total: int, workers: int) -> dict[str, Any]:
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=workers * 2)) as session:
        client = CoordinatorClient(session, address, SECRET)
        for node in ("n1", "n2"):
            await client.register_node(
                NodeRegistration(node_id=node, address="http://127.0.0.1:9", disks=disks(node))
            )
        await client.create_bucket("bench", CreateBucket(owner_id="bench"))
        for i in range(min(50, total)):  # warm-up: connections, statement caches
            await commit_one(client, f"warm/{i}")
        latencies: list[float] = []
        counter = iter(range(total))

        async def worker() -> None:
            for i in counter:
                started = time.perf_counter()
                await commit_one(client, f"obj/{i:08d}")
                latencies.append(time.perf_counter() - started)

        started = time.perf_counter()
        cpu = cpu_seconds(pid)
        await asyncio.gather(*(worker() for _ in range(workers)))
        elapsed = time.perf_counter() - started
        cpu = cpu_seconds(pid) - cpu
    return {
        "commits": total,
        "workers": workers,
        "seconds": round(elapsed, 2),
        "commits_per_s": round(total / elapsed, 1),
        "p50_ms": round(percentile(latencies, 50) * 1000, 2),
        "p99_ms": round(percentile(latencies, 99) * 1000, 2),
        "coordinator_cpu_ms_per_commit": round(cpu * 1000 / total, 2),
    }


# ---- listing: bulk load (setup) --------------------------------------------------------------
def layout_keys(layout: str, keys: int) -> Iterator[str]:
    """The keys of one layout, in any order (see the module docstring)."""
    if layout == "flat":
        for i in range(keys):
            yield f"obj/{i:07d}"
    elif layout == "mixed":
        dirs = keys // 100  # 1% of the names are directories of 10 keys
        step = (keys - dirs * 10) // dirs if dirs else 0
        leaf = 0
        for _dir in range(dirs):
            for _ in range(step):
                yield f"data/{leaf:07d}"
                leaf += 1
            for k in range(10):
                yield f"data/{leaf:07d}/part-{k}"
            leaf += 1
        while leaf < keys - dirs * 10 + dirs:
            yield f"data/{leaf:07d}"
            leaf += 1
    elif layout == "dirs":
        for d in range(keys // 10):
            for k in range(10):
                yield f"d{d:06d}/f{k}"
    else:
        raise ValueError(layout)


def rows(bucket: str, layout: str, keys: int) -> Iterator[tuple[Any, ...]]:
    now = time.time()
    for key in layout_keys(layout, keys):
        yield (
            bucket,
            key,
            uuid.uuid4().hex,
            True,
            False,
            1234,
            '"0123456789abcdef0123456789abcdef"',
            "application/octet-stream",
            "{}",
            "{}",
            "STANDARD",
            PROFILE_JSON,
            "bench",
            now,
            now,
            "committed",
        )


COLUMNS = (
    "bucket",
    "key",
    "version_id",
    "is_latest",
    "is_delete_marker",
    "size",
    "etag",
    "content_type",
    "user_metadata",
    "system_metadata",
    "storage_class",
    "profile",
    "owner_id",
    "created",
    "last_modified",
    "state",
)


def bucket_row(name: str) -> tuple[Any, ...]:
    return (name, "bench", time.time(), "us-east-1", "{}")


async def load_sqlite(path: Path, layouts: dict[str, str], keys: int) -> None:
    db = await open_database(f"sqlite+aiosqlite:///{path}")  # schema by the migrations
    await db.close()
    conn = sqlite3.connect(path)
    try:
        conn.execute("PRAGMA synchronous=OFF")  # setup only; the coordinator reopens it FULL
        with conn:
            for bucket, layout in layouts.items():
                conn.execute(
                    "INSERT INTO buckets (name, owner_id, created, region, settings) "
                    "VALUES (?, ?, ?, ?, ?)",
                    bucket_row(bucket),
                )
                conn.executemany(
                    f"INSERT INTO objects ({', '.join(COLUMNS)}) "
                    f"VALUES ({', '.join('?' for _ in COLUMNS)})",
                    rows(bucket, layout, keys),
                )
        conn.execute("ANALYZE")
    finally:
        conn.close()


async def load_postgres(url: str, dsn: str, layouts: dict[str, str], keys: int) -> None:
    import asyncpg

    db = await open_database(url)
    await db.close()
    conn = await asyncpg.connect(dsn)
    try:
        for bucket, layout in layouts.items():
            await conn.execute(
                "INSERT INTO buckets (name, owner_id, created, region, settings) "
                "VALUES ($1, $2, $3, $4, $5)",
                *bucket_row(bucket),
            )
            await conn.copy_records_to_table(
                "objects", records=rows(bucket, layout, keys), columns=COLUMNS
            )
        await conn.execute("ANALYZE")
    finally:
        await conn.close()


# ---- listing: the measurement ----------------------------------------------------------------
LISTINGS = {  # layout -> (bucket, prefix, delimiter)
    "flat": ("flat", "", ""),
    "mixed": ("mixed", "data/", "/"),
    "dirs": ("dirs", "", "/"),
}


async def bench_listing(address: str, pid: int, layout: str) -> dict[str, Any]:
    bucket, prefix, delimiter = LISTINGS[layout]
    async with aiohttp.ClientSession() as session:
        client = CoordinatorClient(session, address, SECRET)
        await client.list_objects(bucket, prefix=prefix, delimiter=delimiter)  # warm-up
        latencies: list[float] = []
        entries = 0
        marker = ""
        cpu = cpu_seconds(pid)
        while True:
            started = time.perf_counter()
            page = await client.list_objects(
                bucket, prefix=prefix, delimiter=delimiter, start_after=marker, max_keys=PAGE
            )
            latencies.append(time.perf_counter() - started)
            entries += len(page.objects) + len(page.common_prefixes)
            if not page.is_truncated:
                break
            assert page.next_marker is not None
            marker = page.next_marker
        cpu = cpu_seconds(pid) - cpu
    n = len(latencies)
    tenth = max(1, n // 10)
    bands = {
        "first10": latencies[:tenth],
        "middle": latencies[tenth:-tenth],
        "last10": latencies[-tenth:],
    }
    result: dict[str, Any] = {
        "layout": layout,
        "prefix": prefix,
        "delimiter": delimiter,
        "pages": n,
        "entries": entries,
        "p50_ms": round(statistics.median(latencies) * 1000, 2),
        "p99_ms": round(percentile(latencies, 99) * 1000, 2),
        "max_ms": round(max(latencies) * 1000, 2),
        "coordinator_cpu_ms_per_page": round(cpu * 1000 / n, 2),
    }
    for band, values in bands.items():
        if values:
            result[f"{band}_p50_ms"] = round(statistics.median(values) * 1000, 2)
            result[f"{band}_p99_ms"] = round(percentile(values, 99) * 1000, 2)
    return result


# ---- driver ----------------------------------------------------------------------------------
async def run_engine(
    engine: str, args: argparse.Namespace, postgres: PostgresServer | None, work: Path
) -> list[dict[str, Any]]:
    results: list[dict[str, Any]] = []

    def database(name: str) -> str:
        if engine == "sqlite":
            return f"sqlite+aiosqlite:///{work / name}.db"
        assert postgres is not None
        return create_database(postgres, name)

    if not args.skip_commits:
        root = work / f"{engine}-commits"
        root.mkdir()
        coordinator = CoordinatorProcess(root, database("commits")).start()
        try:
            assert coordinator.process is not None
            result = await bench_commits(
                coordinator.address, coordinator.process.pid, args.commits, args.workers
            )
        finally:
            coordinator.stop()
        results.append({"bench": "commits", "engine": engine, **result})
        emit(results[-1])

    if not args.skip_listing:
        layouts = {bucket: layout for layout, (bucket, _, _) in LISTINGS.items()}
        loaded = time.perf_counter()
        if engine == "sqlite":
            path = work / "listing.db"
            url = f"sqlite+aiosqlite:///{path}"
            await load_sqlite(path, layouts, args.keys)
        else:
            assert postgres is not None
            url = create_database(postgres, "listing")
            await load_postgres(url, postgres.dsn("listing"), layouts, args.keys)
        setup = time.perf_counter() - loaded
        root = work / f"{engine}-listing"
        root.mkdir()
        coordinator = CoordinatorProcess(root, url).start()
        try:
            for layout in LISTINGS:
                assert coordinator.process is not None
                result = await bench_listing(coordinator.address, coordinator.process.pid, layout)
                results.append(
                    {
                        "bench": "listing",
                        "engine": engine,
                        "keys": args.keys,
                        "setup_s": round(setup, 1),
                        **result,
                    }
                )
                emit(results[-1])
        finally:
            coordinator.stop()
    return results


def markdown(results: list[dict[str, Any]]) -> str:
    lines = []
    commits = [r for r in results if r["bench"] == "commits"]
    if commits:
        lines += [
            "| engine | workers | commits/s | p50 ms | p99 ms | coordinator CPU ms/commit |",
            "| --- | ---: | ---: | ---: | ---: | ---: |",
        ]
        lines += [
            f"| {r['engine']} | {r['workers']} | {r['commits_per_s']} | {r['p50_ms']} | "
            f"{r['p99_ms']} | {r['coordinator_cpu_ms_per_commit']} |"
            for r in commits
        ]
        lines.append("")
    listings = [r for r in results if r["bench"] == "listing"]
    if listings:
        lines += [
            "| engine | layout | pages | p50 / p99 first 10% | p50 / p99 middle | "
            "p50 / p99 last 10% | p50 / p99 / max all (ms) | coordinator CPU ms/page |",
            "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |",
        ]
        for r in listings:
            bands = " | ".join(
                f"{r.get(b + '_p50_ms', '-')} / {r.get(b + '_p99_ms', '-')}"
                for b in ("first10", "middle", "last10")
            )
            lines.append(
                f"| {r['engine']} | {r['layout']} | {r['pages']} | {bands} | "
                f"{r['p50_ms']} / {r['p99_ms']} / {r['max_ms']} | "
                f"{r['coordinator_cpu_ms_per_page']} |"
            )
    return "\n".join(lines)


async def main_async(args: argparse.Namespace) -> None:
    engines = [e.strip() for e in args.engines.split(",") if e.strip()]
    work = Path(tempfile.mkdtemp(prefix="wormfs-bench-meta-"))
    postgres = PostgresServer(durable=True).start() if "postgresql" in engines else None
    results: list[dict[str, Any]] = []
    try:
        for engine in engines:
            results += await run_engine(engine, args, postgres, work)
    finally:
        if postgres is not None:
            postgres.stop()
        shutil.rmtree(work, ignore_errors=True)
    print()
    print(markdown(results))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--engines", default="sqlite,postgresql")
    parser.add_argument("--commits", type=int, default=3000)
    parser.add_argument("--workers", type=int, default=16)
    parser.add_argument("--keys", type=int, default=1_000_000)
    parser.add_argument("--skip-commits", action="store_true")
    parser.add_argument("--skip-listing", action="store_true")
    asyncio.run(main_async(parser.parse_args()))


if __name__ == "__main__":
    main()
