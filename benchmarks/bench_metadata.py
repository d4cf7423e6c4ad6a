"""Benchmark, coordinator metadata: commits per second, manifest reads per second, and
ListObjectsV2 paging over a million keys, on SQLite and on PostgreSQL; optionally A/B against
another checkout in the same run.

Every measurement goes through a real coordinator process (``python -m wormfs.cli
coordinator``, a fresh process on a fresh database for every measurement and round) over its
HTTP API with the real client (``CoordinatorClient``), so the figures include HTTP, JSON,
the SQL layer and the database, as a gateway sees them. This process imports only the wire
structs and the client (stable across checkouts), never the coordinator's own code: the schema
is always created by the coordinator under test (its migrations run at start-up).

* ``commits``: ``--workers`` concurrent writers each repeat BeginWrite + CommitObject of a
  small object (one segment of 4 KiB on 4+2 placement) until ``--commits`` are done. Reported:
  commits per second, and the latency of one begin+commit pair (p50, p99).
* ``reads``: SETUP (not measured) commits ``--read-objects`` chunked objects (as in
  ``commits``) and as many small inline objects (PutInline, 4 KiB of bytes stored with the
  manifest, as a GET of a small object reads them). Then, for each kind in turn, ``--workers``
  concurrent readers ask for manifests (GetObject of the coordinator's API, keys taken round
  robin) until ``--reads`` are done. Reported per kind (``chunked``, ``inline``): reads per
  second and the latency of one read (p50, p99).
* ``listing``: SETUP (not measured): a coordinator migrates a fresh database and creates the
  buckets through its API; it is stopped and 1,000,000 current object versions per layout are
  bulk-loaded straight into the ``objects`` table with SQL (SQLite: one executemany
  transaction; PostgreSQL: COPY), then ANALYZE. That database is a template, made once per
  checkout: every round runs on a fresh copy of it (a file copy; ``CREATE DATABASE ...
  TEMPLATE``). Three layouts, each in its own bucket:
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
time the coordinator process spent per commit, read or page (from /proc), which does not, and
for commits and reads the part of it its loop thread spent (the rest went to its other threads:
on SQLite the reader and the writer of ``coordinator/db/lanes.py``).

A/B: with ``--baseline-python PATH`` (the python of another checkout's virtualenv) every
measurement runs A B A B against that checkout, and the run ends with a table of the medians
and B/A; how the sides are chosen and checked, and how the table is read, is in
``metadata_ab.py``.

PostgreSQL runs on a throwaway durable server (fsync on: PostgreSQL's defaults) started by
``tests/infra/postgres.py`` on loopback; SQLite runs in WAL mode with synchronous=FULL, as the
coordinator always opens it. Output: one JSON object per result line, then markdown tables.

Run: ``.venv/bin/python benchmarks/bench_metadata.py [--engines sqlite,postgresql]
[--commits 3000] [--reads 20000] [--read-objects 1000] [--workers 16] [--keys 1000000]
[--skip-commits] [--skip-reads] [--skip-listing]``

A/B (before/after in one run), with the "before" checkout in a worktree::

    git worktree add /tmp/baseline <commit>
    python3 -m venv /tmp/baseline/.venv
    /tmp/baseline/.venv/bin/pip install -c /tmp/baseline/constraints.txt \\
        -e '/tmp/baseline[postgres]'
    .venv/bin/python benchmarks/bench_metadata.py \\
        --baseline-python /tmp/baseline/.venv/bin/python --rounds 3
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import shutil
import sqlite3
import statistics
import sys
import tempfile
import time
import traceback
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))  # the throwaway PostgreSQL server of the test suite
sys.path.insert(0, str(ROOT / "benchmarks"))

from infra.postgres import PostgresServer, create_database, psql  # noqa: E402
from metadata_ab import (  # noqa: E402
    SECRET,
    Side,
    ab_markdown,
    ab_summary,
    cpu_seconds,
    describe,
    markdown,
)

from wormfs.clients.coordinator import CoordinatorClient  # noqa: E402
from wormfs.wire.coordinator import (  # noqa: E402
    BeginWrite,
    CommitObject,
    CreateBucket,
    NodeRegistration,
    PartRecord,
    PutInline,
)
from wormfs.wire.storage import DiskInfo  # noqa: E402

GIB = 1024**3
PAGE = 1000
OBJECT_SIZE = 4096
PROFILE_JSON = json.dumps({"codec": "isal_rs_vand", "k": 4, "m": 2, "stripe_size": 1048576})


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]


def emit(result: dict[str, Any]) -> None:
    print(json.dumps(result), flush=True)


def session_for(workers: int) -> aiohttp.ClientSession:
    return aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=workers * 2))


async def timed(
    pid: int, total: int, workers: int, one: Any
) -> tuple[float, tuple[float, float], list[float]]:
    """Run ``await one(i)`` for i in 0..total-1 from ``workers`` concurrent tasks: (wall
    seconds, coordinator CPU seconds (the whole process, its loop thread), per-call
    latencies)."""
    latencies: list[float] = []
    counter = iter(range(total))

    async def worker() -> None:
        for i in counter:
            started = time.perf_counter()
            await one(i)
            latencies.append(time.perf_counter() - started)

    started = time.perf_counter()
    cpu, loop = cpu_seconds(pid), cpu_seconds(pid, pid)
    await asyncio.gather(*(worker() for _ in range(workers)))
    elapsed = time.perf_counter() - started
    return elapsed, (cpu_seconds(pid) - cpu, cpu_seconds(pid, pid) - loop), latencies


def summary(
    total: int, elapsed: float, cpu: tuple[float, float], latencies: list[float], unit: str
) -> dict[str, Any]:
    """One measurement's figures; the CPU time is the coordinator's, the whole process and its
    loop thread (the rest is its other threads: SQLite's reader and writer, executors)."""
    return {
        "seconds": round(elapsed, 2),
        f"{unit}s_per_s": round(total / elapsed, 1),
        "p50_ms": round(percentile(latencies, 50) * 1000, 2),
        "p99_ms": round(percentile(latencies, 99) * 1000, 2),
        f"coordinator_cpu_ms_per_{unit}": round(cpu[0] * 1000 / total, 3),
        f"coordinator_loop_cpu_ms_per_{unit}": round(cpu[1] * 1000 / total, 3),
    }


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


async def prepare(client: CoordinatorClient, buckets: tuple[str, ...] = ("bench",)) -> None:
    """Two nodes of six disks each (placement for 4+2), and the buckets, owned by "bench"."""
    for node in ("n1", "n2"):
        await client.register_node(
            NodeRegistration(node_id=node, address="http://127.0.0.1:9", disks=disks(node))
        )
    for bucket in buckets:
        await client.create_bucket(bucket, CreateBucket(owner_id="bench"))


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


async def put_inline_one(client: CoordinatorClient, key: str) -> None:
    data = os.urandom(OBJECT_SIZE)
    etag = '"' + hashlib.md5(data).hexdigest() + '"'
    await client.put_inline(
        PutInline(bucket="bench", key=key, owner_id="bench", size=len(data), etag=etag, data=data)
    )


async def bench_commits(address: str, pid: int, total: int, workers: int) -> dict[str, Any]:
    async with session_for(workers) as session:
        client = CoordinatorClient(session, address, SECRET)
        await prepare(client)
        for i in range(min(50, total)):  # warm-up: connections, statement caches
            await commit_one(client, f"warm/{i}")
        elapsed, cpu, latencies = await timed(
            pid, total, workers, lambda i: commit_one(client, f"obj/{i:08d}")
        )
    return {
        "commits": total,
        "workers": workers,
        **summary(total, elapsed, cpu, latencies, "commit"),
    }


# ---- manifest reads per second ---------------------------------------------------------------
READ_KINDS = {"chunked": commit_one, "inline": put_inline_one}  # kind -> how SETUP writes one


async def bench_reads(
    address: str, pid: int, objects: int, total: int, workers: int
) -> list[dict[str, Any]]:
    results = []
    async with session_for(workers) as session:
        client = CoordinatorClient(session, address, SECRET)
        await prepare(client)
        for kind, write in READ_KINDS.items():  # SETUP, not measured
            keys = [f"{kind}/{i:07d}" for i in range(objects)]
            await timed(pid, objects, workers, lambda i, w=write, k=keys: w(client, k[i]))
        for kind in READ_KINDS:
            keys = [f"{kind}/{i:07d}" for i in range(objects)]
            first = await client.get_object("bench", keys[0])  # warm-up, and a sanity check
            if (first.inline is not None) != (kind == "inline") or (not first.parts) == (
                kind == "chunked"
            ):
                raise RuntimeError(f"{kind} object read back as {first!r}")
            for i in range(min(50, objects)):
                await client.get_object("bench", keys[i])

            async def read(i: int, keys: list[str] = keys) -> None:
                await client.get_object("bench", keys[i % len(keys)])

            elapsed, cpu, latencies = await timed(pid, total, workers, read)
            results.append(
                {
                    "kind": kind,
                    "objects": objects,
                    "reads": total,
                    "workers": workers,
                    **summary(total, elapsed, cpu, latencies, "read"),
                }
            )
    return results


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


LISTINGS = {  # layout -> (bucket, prefix, delimiter)
    "flat": ("flat", "", ""),
    "mixed": ("mixed", "data/", "/"),
    "dirs": ("dirs", "", "/"),
}


def load_sqlite(path: Path, keys: int) -> None:
    conn = sqlite3.connect(path)
    try:
        conn.execute("PRAGMA synchronous=OFF")  # setup only; the coordinator reopens it FULL
        with conn:
            for layout, (bucket, _, _) in LISTINGS.items():
                conn.executemany(
                    f"INSERT INTO objects ({', '.join(COLUMNS)}) "
                    f"VALUES ({', '.join('?' for _ in COLUMNS)})",
                    rows(bucket, layout, keys),
                )
        conn.execute("ANALYZE")
    finally:
        conn.close()


async def load_postgres(dsn: str, keys: int) -> None:
    import asyncpg

    conn = await asyncpg.connect(dsn)
    try:
        for layout, (bucket, _, _) in LISTINGS.items():
            await conn.copy_records_to_table(
                "objects", records=rows(bucket, layout, keys), columns=COLUMNS
            )
        await conn.execute("ANALYZE")
    finally:
        await conn.close()


@dataclass
class Databases:
    """Fresh databases of one engine: empty ones, and copies of a side's listing template."""

    engine: str
    work: Path
    postgres: PostgresServer | None
    templates: dict[str, tuple[str, float]]  # side label -> (file or database, setup seconds)

    def fresh(self, name: str) -> str:
        if self.engine == "sqlite":
            return f"sqlite+aiosqlite:///{self.work / name}.db"
        assert self.postgres is not None
        return str(create_database(self.postgres, name.lower()))

    async def listing_template(self, side: Side, keys: int) -> tuple[str, float]:
        """The side's listing database: migrated by that side's coordinator, which also
        creates the buckets, then bulk-loaded (made once per side, see the docstring)."""
        if side.label in self.templates:
            return self.templates[side.label]
        started = time.perf_counter()
        name = f"listing_template_{side.label.lower()}"
        url = self.fresh(name)
        buckets = tuple(bucket for bucket, _, _ in LISTINGS.values())
        with side.coordinator(self.work / f"{self.engine}-{name}", url) as c:
            async with aiohttp.ClientSession() as session:
                await prepare(CoordinatorClient(session, c.address, SECRET), buckets)
        if self.engine == "sqlite":
            template = str(self.work / f"{name}.db")
            await asyncio.to_thread(load_sqlite, Path(template), keys)
        else:
            assert self.postgres is not None
            template = name
            await load_postgres(self.postgres.dsn(name), keys)
        self.templates[side.label] = (template, time.perf_counter() - started)
        return self.templates[side.label]

    def copy(self, template: str, name: str) -> str:
        if self.engine == "sqlite":
            shutil.copyfile(template, self.work / f"{name}.db")
            return f"sqlite+aiosqlite:///{self.work / name}.db"
        assert self.postgres is not None
        psql(self.postgres, f'CREATE DATABASE "{name.lower()}" TEMPLATE "{template}"')
        return str(self.postgres.url(name.lower()))

    def drop(self, name: str) -> None:
        if self.engine == "sqlite":
            for suffix in (".db", ".db-wal", ".db-shm"):
                (self.work / f"{name}{suffix}").unlink(missing_ok=True)
        else:
            assert self.postgres is not None
            psql(self.postgres, f'DROP DATABASE IF EXISTS "{name.lower()}" WITH (FORCE)')


# ---- listing: the measurement ----------------------------------------------------------------
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
async def run_round(
    side: Side, number: int, args: argparse.Namespace, dbs: Databases
) -> list[dict[str, Any]]:
    """Every measurement once for one side, each on a fresh coordinator and database."""
    results: list[dict[str, Any]] = []
    engine = dbs.engine
    tag = f"{side.label}{number}"
    base = {"engine": engine, "side": side.label, "round": number}

    def add(result: dict[str, Any]) -> None:
        results.append(result)
        emit(result)

    if not args.skip_commits:
        url = dbs.fresh(f"commits_{tag}")
        with side.coordinator(dbs.work / f"{engine}-commits-{tag}", url) as c:
            result = await bench_commits(c.address, c.pid, args.commits, args.workers)
        add({"bench": "commits", **base, **result})

    if not args.skip_reads:
        url = dbs.fresh(f"reads_{tag}")
        with side.coordinator(dbs.work / f"{engine}-reads-{tag}", url) as c:
            reads = await bench_reads(c.address, c.pid, args.read_objects, args.reads, args.workers)
        for result in reads:
            add({"bench": "reads", **base, **result})

    if not args.skip_listing:
        template, setup = await dbs.listing_template(side, args.keys)
        name = f"listing_{tag}"
        url = dbs.copy(template, name)
        try:
            with side.coordinator(dbs.work / f"{engine}-listing-{tag}", url) as c:
                for layout in LISTINGS:
                    result = await bench_listing(c.address, c.pid, layout)
                    add(
                        {
                            "bench": "listing",
                            **base,
                            "keys": args.keys,
                            "setup_s": round(setup, 1),
                            **result,
                        }
                    )
        finally:
            dbs.drop(name)
    return results


async def run_engine(
    engine: str,
    sides: list[Side],
    args: argparse.Namespace,
    postgres: PostgresServer | None,
    work: Path,
    results: list[dict[str, Any]],
) -> None:
    """Rounds 1..n of every side, alternating: A1 B1 A2 B2 ...; appends to ``results``."""
    dbs = Databases(engine, work, postgres, {})
    for number in range(1, args.rounds + 1):
        for side in sides:
            results += await run_round(side, number, args, dbs)


async def main_async(args: argparse.Namespace) -> None:
    engines = [e.strip() for e in args.engines.split(",") if e.strip()]
    sides = [Side("B", args.python, args.module)]
    if args.baseline_python:
        sides.insert(0, Side("A", args.baseline_python, args.baseline_module))
    if args.rounds is None:
        args.rounds = 2 if args.baseline_python else 1
    work = Path(tempfile.mkdtemp(prefix="wormfs-bench-meta-"))
    postgres = None
    failed = False
    checkouts: list[str] = []
    results: list[dict[str, Any]] = []
    try:
        checkouts = [f"{side.label} = {describe(side, work)}" for side in sides]
        for line in checkouts:
            print(line, flush=True)
        if "postgresql" in engines:
            postgres = PostgresServer(durable=True).start()
        for engine in engines:
            await run_engine(engine, sides, args, postgres, work, results)
    except Exception:  # report what was measured before the failure, then fail
        traceback.print_exc()
        failed = True
    finally:
        if postgres is not None:
            postgres.stop()
        shutil.rmtree(work, ignore_errors=True)
    ab = ab_summary(results)
    for row in ab:
        emit(row)
    print()
    print(markdown(results, show_run=len(sides) > 1 or args.rounds > 1))
    if ab:
        print(ab_markdown(ab, checkouts))
    if failed:
        raise SystemExit("the benchmark failed (traceback above); partial results only")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--engines", default="sqlite,postgresql")
    parser.add_argument("--commits", type=int, default=3000)
    parser.add_argument("--reads", type=int, default=20000, help="manifest reads per kind")
    parser.add_argument("--read-objects", type=int, default=1000, help="objects per kind")
    parser.add_argument("--workers", type=int, default=16)
    parser.add_argument("--keys", type=int, default=1_000_000)
    parser.add_argument("--skip-commits", action="store_true")
    parser.add_argument("--skip-reads", action="store_true")
    parser.add_argument("--skip-listing", action="store_true")
    parser.add_argument(
        "--baseline-python",
        help='side "A": the python of another checkout\'s venv (/tmp/baseline/.venv/bin/python)',
    )
    parser.add_argument(
        "--python",
        default=sys.executable,
        help='side "B": the python that starts the coordinators (default: this one, this tree)',
    )
    parser.add_argument(
        "--module",
        default="wormfs.cli",
        help='side "B": the module that `python -m MODULE coordinator ...` starts',
    )
    parser.add_argument("--baseline-module", default="wormfs.cli", help='the same for side "A"')
    parser.add_argument(
        "--rounds", type=int, help="rounds per side (default 2 with --baseline-python, else 1)"
    )
    asyncio.run(main_async(parser.parse_args()))


if __name__ == "__main__":
    main()
