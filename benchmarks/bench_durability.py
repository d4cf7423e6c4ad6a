"""Benchmark, durability: degraded GET throughput and the repair rate, on real processes.

A cluster of ``--nodes`` storage nodes with ``--disks`` disks each (``tests/integration/
cluster.py``: coordinator, nodes, one gateway, all on loopback) holds ``--objects`` objects of
``--size`` MiB written with the default profile (4+2, 1 MiB stripes, 64 MiB segments).

0. GET latency of a 1 MiB object, idle and while a requested deep scrub runs at its IO
   budget (``--scrub-rate`` MB/s per disk).
1. GET throughput (object bytes/s, ``--readers`` concurrent boto3 readers, every object read
   ``--rounds`` times) healthy, with one disk lost, and with m = 2 disks lost (on different
   nodes; a disk is taken from under its node by renaming its directory, and given back
   between runs); the three cases alternate ``--repeat`` times and the medians are reported.
   Repair is paused (``/v1/repair/pause``) so the reads really are degraded.
2. Repair: the queue is resumed (``/v1/repair/resume``) and the coordinator rebuilds every
   chunk of the two lost disks with no rate limit (``repair_concurrency`` rebuilds at once);
   the rate is chunk bytes rebuilt per second of wall time from the resume to the last switch,
   read from
   ``/v1/repair/status`` (the same figures ``wormfs admin repair status`` shows), while
   ``--readers`` readers keep GETting (foreground traffic served meanwhile, reported too).

The repair rows also give chunk MB rebuilt per CPU-second of the cluster's processes (from
/proc), a figure that does not depend on what else the machine runs.

Everything shares this machine's cores (client, gateway, nodes, coordinator), so absolute
figures are lower than on separate hosts; the degraded/healthy ratio is the point of part 1.
Output: one JSON object per line, then a markdown table.

Run: ``.venv/bin/python benchmarks/bench_durability.py [--objects 16 --size 64]``
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from integration.cluster import Cluster

MIB = 1024 * 1024

CONFIG = """
heartbeat_interval = 0.5
node_offline_after = 3.0
gc_interval = 1.0
gc_delay = 5.0

[durability]
repair_delay = {repair_delay}
repair_scan_interval = 0.5
repair_rate_mb = 0
repair_concurrency = {concurrency}
scrub_rate_mb = {scrub_rate}
scrub_batch_mb = 16
"""


def _read_all(cluster: Cluster, keys: list[str], readers: int, rounds: int) -> float:
    """Object bytes per second over ``rounds`` reads of every key."""
    clients = [cluster.s3() for _ in range(readers)]
    work = [k for _ in range(rounds) for k in keys]

    def get(i: int) -> int:
        body = clients[i % readers].get_object(Bucket="bench", Key=work[i])["Body"]
        total = 0
        while chunk := body.read(MIB):
            total += len(chunk)
        return total

    started = time.perf_counter()
    with ThreadPoolExecutor(readers) as pool:
        total = sum(pool.map(get, range(len(work))))
    return total / (time.perf_counter() - started)


def _disk_id(cluster: Cluster, node: int, disk: int) -> str:
    marker = json.loads((cluster.disk_path(node, disk) / ".wormfs-disk").read_text())
    return str(marker["disk_id"])


def _hide_disk(cluster: Cluster, node: int, disk: int) -> Path:
    """Take a disk away from under its node (reversibly: the directory is renamed)."""
    path = cluster.disk_path(node, disk)
    hidden = path.with_name(path.name + ".hidden")
    path.rename(hidden)
    return hidden


def _disk_states(cluster: Cluster) -> dict[str, str]:
    nodes = cluster.coordinator_get("/v1/nodes")["nodes"]
    return {d["disk_id"]: d["state"] for n in nodes for d in n["disks"]}


def _wait_state(cluster: Cluster, disk_ids: list[str], state: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        states = _disk_states(cluster)
        if all(states.get(d) == state for d in disk_ids):
            return
        time.sleep(0.1)
    raise TimeoutError(f"disks {disk_ids} not {state} in {timeout}s")


def _degraded_reads(
    cluster: Cluster, keys: list[str], args: argparse.Namespace
) -> list[dict[str, Any]]:
    """GET throughput with 0, 1 and 2 disks lost, interleaved ``--repeat`` times (medians).

    The machine is shared, so the three cases alternate and each figure is the median of its
    repetitions: a burst of outside load then hits all three alike.
    """
    lost = [(1, 2), (2, 3)]
    ids = [_disk_id(cluster, n, d) for n, d in lost]
    rates: dict[int, list[float]] = {0: [], 1: [], 2: []}
    for _ in range(args.repeat):
        for count in (0, 1, 2):
            hidden = [_hide_disk(cluster, n, d) for n, d in lost[:count]]
            try:
                if count:
                    _wait_state(cluster, ids[:count], "offline")
                rates[count].append(_read_all(cluster, keys, args.readers, args.rounds))
            finally:
                for (n, d), path in zip(lost[:count], hidden, strict=True):
                    path.rename(cluster.disk_path(n, d))
            if count:
                _wait_state(cluster, ids[:count], "online")
    healthy = statistics.median(rates[0])
    return [
        {
            "case": "get, healthy" if c == 0 else f"get, {c} disk{'s' if c > 1 else ''} lost",
            "mb_per_s": statistics.median(rates[c]) / 1e6,
            "of_healthy": statistics.median(rates[c]) / healthy,
            "runs_mb_per_s": [round(r / 1e6) for r in rates[c]],
        }
        for c in (0, 1, 2)
    ]


def _scrub_latency(cluster: Cluster, key: str, samples: int) -> dict[str, Any]:
    """Median GET latency of one object idle and during a deep scrub (its IO budget on)."""
    s3 = cluster.s3()

    def latency() -> float:
        t0 = time.perf_counter()
        s3.get_object(Bucket="bench", Key=key)["Body"].read()
        return time.perf_counter() - t0

    idle = [latency() for _ in range(samples)]
    cluster.coordinator_post("/v1/scrub", {"deep": True})
    busy = []
    while cluster.coordinator_get("/v1/scrub/status")["running"] and len(busy) < 10 * samples:
        busy.append(latency())
    status = cluster.coordinator_get("/v1/scrub/status")
    verified = sum(d["bytes_verified"] for d in status["disks"])
    return {
        "case": "get latency during a deep scrub",
        "idle_ms": statistics.median(idle) * 1e3,
        "scrub_ms": statistics.median(busy) * 1e3 if busy else None,
        "scrub_samples": len(busy),
        "verified_mb": verified / 1e6,
    }


def _cpu_seconds(cluster: Cluster) -> float:
    """User + system CPU time of every live cluster process (all threads), from /proc."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for proc in cluster.procs.values():
        if proc.process is None or proc.process.poll() is not None:
            continue
        try:
            fields = Path(f"/proc/{proc.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / tick  # utime, stime
    return total


def _repair(
    cluster: Cluster,
    lost: list[tuple[int, int]],
    keys: list[str],
    size: int,
    args: argparse.Namespace,
    foreground_reads: bool,
) -> dict[str, Any]:
    """Lose the chunks of ``lost`` disks (repair paused until they are queued), resume, and
    time the rebuild. With GETs running the disks fail (rebuilt on other disks); without,
    their chunk files are deleted under healthy disks and found by a shallow scrub (rebuilt
    in place: after the first case too few spare disks are left for every segment)."""
    cluster.coordinator_post("/v1/repair/pause")
    before = cluster.coordinator_get("/v1/repair/status")
    chunks = sum(len(cluster.chunk_files(n, d)) for n, d in lost)
    ids = [_disk_id(cluster, n, d) for n, d in lost]
    if foreground_reads:
        for n, d in lost:
            cluster.fail_disk(n, d)
        _wait_state(cluster, ids, "offline")
    else:
        for n, d in lost:
            cluster.delete_chunks(n, d)
        cluster.coordinator_post("/v1/scrub", {"deep": False})
    deadline = time.monotonic() + 60
    while cluster.coordinator_get("/v1/repair/status")["queued"] < chunks:
        if time.monotonic() > deadline:
            raise TimeoutError("lost disks were not queued for repair")
        time.sleep(0.1)
    stop = threading.Event()
    served = [0, 0.0]

    def foreground() -> None:
        t0 = time.perf_counter()
        while not stop.is_set():
            served[0] += int(_read_all(cluster, keys[:2], 1, 1) > 0) * 2 * size
        served[1] = time.perf_counter() - t0

    thread = threading.Thread(target=foreground)
    if foreground_reads:
        thread.start()
    status: dict[str, Any] = {}
    deadline = time.monotonic() + args.timeout
    cpu_start = _cpu_seconds(cluster)
    t_start = time.perf_counter()
    cluster.coordinator_post("/v1/repair/resume")
    while time.monotonic() < deadline:
        status = cluster.coordinator_get("/v1/repair/status")
        if status["queued"] == 0 and status["repaired_chunks"] > before["repaired_chunks"]:
            break
        time.sleep(0.05)
    span = time.perf_counter() - t_start
    cpu = _cpu_seconds(cluster) - cpu_start
    stop.set()
    if foreground_reads:
        thread.join()
    repaired = status.get("repaired_bytes", 0) - before["repaired_bytes"]
    return {
        "case": (
            f"repair of 2 failed disks, {args.concurrency} at once, GETs running"
            if foreground_reads
            else f"repair of 2 disks' deleted chunks, {args.concurrency} at once, no GETs"
        ),
        "chunks": status.get("repaired_chunks", 0) - before["repaired_chunks"],
        "mb": repaired / 1e6,
        "seconds": span,
        "mb_per_s": repaired / span / 1e6 if span > 0 else 0.0,
        "foreground_get_mb_per_s": served[0] / served[1] / 1e6 if served[1] else 0.0,
        # Machine-load-independent: chunk MB rebuilt per CPU-second the cluster's processes
        # used meanwhile (GET serving included when GETs run).
        "cpu_seconds": cpu,
        "mb_per_cpu_s": repaired / 1e6 / cpu if cpu > 0 else 0.0,
    }


def run(args: argparse.Namespace) -> list[dict[str, Any]]:
    cluster = Cluster(
        nodes=args.nodes,
        disks_per_node=args.disks,
        coordinator_config=CONFIG.format(
            repair_delay=1.0, concurrency=args.concurrency, scrub_rate=args.scrub_rate
        ),
    )
    results: list[dict[str, Any]] = []
    try:
        cluster.start()
        # Held back until part 2: lost disks are queued, nothing is rebuilt.
        cluster.coordinator_post("/v1/repair/pause")
        s3 = cluster.s3()
        s3.create_bucket(Bucket="bench")
        payload = os.urandom(args.size * MIB)
        keys = [f"obj-{i:03d}" for i in range(args.objects)]
        started = time.perf_counter()
        for key in keys:
            s3.put_object(Bucket="bench", Key=key, Body=payload)
        put_rate = len(keys) * len(payload) / (time.perf_counter() - started)
        results.append({"case": "put (one writer)", "mb_per_s": put_rate / 1e6})
        s3.put_object(Bucket="bench", Key="small", Body=os.urandom(MIB))
        results.append(_scrub_latency(cluster, "small", args.samples))
        results += _degraded_reads(cluster, keys, args)

        # Repair of two lost disks with readers running, then of two more on an idle cluster.
        results.append(_repair(cluster, [(1, 2), (2, 3)], keys, len(payload), args, True))
        results.append(_repair(cluster, [(3, 2), (1, 3)], keys, len(payload), args, False))
    finally:
        cluster.cleanup()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--nodes", type=int, default=3)
    parser.add_argument("--disks", type=int, default=3)
    parser.add_argument("--objects", type=int, default=16)
    parser.add_argument("--size", type=int, default=64, help="MiB per object")
    parser.add_argument("--readers", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--concurrency", type=int, default=6, help="repair_concurrency")
    parser.add_argument("--timeout", type=float, default=600.0)
    parser.add_argument("--repeat", type=int, default=3, help="interleaved degraded-read runs")
    parser.add_argument("--samples", type=int, default=20, help="latency samples, idle")
    parser.add_argument("--scrub-rate", type=float, default=50.0, help="scrub_rate_mb")
    args = parser.parse_args()
    results = run(args)
    for r in results:
        print(json.dumps(r))
    print()
    print("| case | MB/s | of healthy | notes |")
    print("| --- | ---: | ---: | --- |")
    for r in results:
        if "idle_ms" in r:
            print(
                f"| {r['case']} | | | median {r['idle_ms']:.0f} ms idle, "
                f"{r['scrub_ms']:.0f} ms scrubbing ({r['scrub_samples']} GETs; "
                f"{r['verified_mb']:.0f} MB verified) |"
            )
            continue
        ratio = f"{r['of_healthy']:.0%}" if "of_healthy" in r else ""
        notes = ""
        if "runs_mb_per_s" in r:
            notes = "runs: " + ", ".join(str(x) for x in r["runs_mb_per_s"])
        if "chunks" in r:
            notes = f"{r['chunks']} chunks, {r['mb']:.0f} MB in {r['seconds']:.1f} s"
            if r["foreground_get_mb_per_s"]:
                notes += f"; GETs meanwhile {r['foreground_get_mb_per_s']:.0f} MB/s"
        print(f"| {r['case']} | {r['mb_per_s']:.0f} | {ratio} | {notes} |")


if __name__ == "__main__":
    main()
