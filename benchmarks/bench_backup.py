"""Benchmark, metadata backup: PUT throughput with the continuous backup on and off.

Two clusters in turn (``tests/integration/cluster.py``: coordinator on SQLite, one node of six
disks, one gateway, all on loopback), one with the backup shipping every ``--lag`` seconds
(shorter than the default 10 s, to charge it more), one with it off; ``--threads`` boto3
clients PUT ``--objects`` objects of ``--size`` bytes each (inline by default: the commit
path the backup's snapshots share the database with), rounds alternating ``--repeat`` times.
Output: one JSON line per run, then the median PUT/s of each mode and the overhead.

Run: ``.venv/bin/python benchmarks/bench_backup.py [--objects 1500 --threads 8]``
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from integration.cluster import Cluster


def _run(enabled: bool, args: argparse.Namespace) -> float:
    config = f"[backup]\nenabled = {'true' if enabled else 'false'}\nbackup_lag = {args.lag}\n"
    cluster = Cluster(root=Path(tempfile.mkdtemp(prefix="wormfs-bb-")), coordinator_config=config)
    cluster.start()
    try:
        s3 = cluster.s3()
        s3.create_bucket(Bucket="bench")
        body = b"x" * args.size
        per = args.objects // args.threads

        def worker(t: int) -> None:
            client = cluster.s3()
            for i in range(per):
                client.put_object(Bucket="bench", Key=f"{t}/{i}", Body=body)

        started = time.perf_counter()
        with ThreadPoolExecutor(args.threads) as pool:
            list(pool.map(worker, range(args.threads)))
        rate = per * args.threads / (time.perf_counter() - started)
        status = cluster.coordinator_get("/v1/metadata/backup")
        print(json.dumps({"backup": enabled, "puts_per_s": round(rate, 1), "status": status}))
        return rate
    finally:
        cluster.cleanup()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--objects", type=int, default=1500)
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--size", type=int, default=4096)
    parser.add_argument("--lag", type=float, default=1.0)
    parser.add_argument("--repeat", type=int, default=2)
    args = parser.parse_args()
    on: list[float] = []
    off: list[float] = []
    for _ in range(args.repeat):
        off.append(_run(False, args))
        on.append(_run(True, args))
    a, b = statistics.median(off), statistics.median(on)
    print(f"| backup off | {a:.0f} PUT/s |\n| backup on (lag {args.lag} s) | {b:.0f} PUT/s |")
    print(f"overhead: {100 * (a - b) / a:.1f} %")


if __name__ == "__main__":
    main()
