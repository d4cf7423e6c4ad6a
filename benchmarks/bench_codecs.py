"""Benchmark, codec layer: single-thread encode/decode throughput of WormFS's erasure codecs.

Measures, on one thread (one core), the codecs exactly as the data plane calls them
(``wormfs.erasure.get_codec``: ISA-L ``isal_rs_vand`` through pyeclib, and ``zfec``):

* ``encode``       one stripe -> k+m fragments;
* ``decode_data``  the stripe from its k data fragments (the normal read path);
* ``decode_lost``  the stripe with m data fragments lost (4+2: fragments 0 and 1; 8+4: 0..3),
                   rebuilt from the remaining data fragments and all parity fragments;

for 4+2 and 8+4 at stripe sizes of 1 MiB and 256 KiB, plus CRC32C (``crc32c``, the per-block
checksum of the chunk format) and MD5 (``hashlib``, the S3 ETag) over 1 MiB buffers for scale.

Throughput is stripe (object) bytes per second in GB/s (10^9 bytes). Every figure is the median
of ``--repeat`` timed repetitions (``time.perf_counter``), each running a fixed iteration count
calibrated to last at least ``--min-time`` seconds. Each repetition is also timed by the
thread's CPU clock (``gbps_cpu``, in parentheses in the table): on a shared machine the wall
figure drops when other processes take the core, the CPU figure much less so. Output: one
JSON object per line on stdout, then a markdown table (``--format`` picks either or both).
With defaults a run takes under a minute.

Memory matters here: glibc by default returns large freed buffers to the kernel, so codecs
that allocate fragments of 256 KiB and more fault in fresh pages on every call.
``--tune-malloc`` fixes malloc's thresholds first (``wormfs.runtime.malloc.tune_malloc``, which the
storage node applies at start-up) to show the difference.

Run: ``.venv/bin/python benchmarks/bench_codecs.py [--repeat 5] [--min-time 0.2]``
"""

from __future__ import annotations

import argparse
import gc
import hashlib
import json
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from importlib import metadata

import crc32c

from wormfs.erasure import get_codec
from wormfs.runtime.malloc import tune_malloc

MIB = 1024 * 1024
CODEC_IDS = ("isal_rs_vand", "zfec")
GEOMETRIES = ((4, 2), (8, 4))
STRIPE_SIZES = (MIB, 256 * 1024)
HASH_BUFFER = MIB
MAX_REPEAT = 50
MAX_MIN_TIME = 5.0


@dataclass(frozen=True)
class Timing:
    """GB/s of each repetition by wall clock (``perf_counter``) and by thread CPU time."""

    wall: list[float]
    cpu: list[float]
    iterations: int


@dataclass(frozen=True)
class Result:
    """One measured operation; ``gbps`` is the median over repetitions."""

    bench: str
    op: str
    codec: str
    k: int
    m: int
    stripe_size: int
    lost: list[int]
    gbps: float
    gbps_min: float
    gbps_max: float
    gbps_cpu: float
    repeat: int
    iterations: int


def measure(fn: Callable[[], object], nbytes: int, repeat: int, min_time: float) -> Timing:
    """Time ``repeat`` runs of ``fn`` (``nbytes`` per call), by wall clock and thread CPU."""
    fn()  # warm caches and lazily built tables
    iterations = 1
    while True:
        start = time.perf_counter()
        for _ in range(iterations):
            fn()
        elapsed = time.perf_counter() - start
        if elapsed >= min_time:
            break
        iterations *= 2 if elapsed < min_time / 4 else max(2, int(min_time / elapsed) + 1)
    wall: list[float] = []
    cpu: list[float] = []
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        for _ in range(repeat):
            cpu_start = time.thread_time()
            start = time.perf_counter()
            for _ in range(iterations):
                fn()
            elapsed = time.perf_counter() - start
            cpu_elapsed = time.thread_time() - cpu_start
            wall.append(nbytes * iterations / elapsed / 1e9)
            cpu.append(nbytes * iterations / max(cpu_elapsed, 1e-9) / 1e9)
    finally:
        if gc_was_enabled:
            gc.enable()
    return Timing(wall=wall, cpu=cpu, iterations=iterations)


def result(
    bench: str,
    op: str,
    timing: Timing,
    *,
    codec: str = "",
    k: int = 0,
    m: int = 0,
    stripe_size: int = 0,
    lost: list[int] | None = None,
) -> Result:
    rates = timing.wall
    return Result(
        bench=bench,
        op=op,
        codec=codec,
        k=k,
        m=m,
        stripe_size=stripe_size,
        lost=lost or [],
        gbps=round(statistics.median(rates), 3),
        gbps_min=round(min(rates), 3),
        gbps_max=round(max(rates), 3),
        gbps_cpu=round(statistics.median(timing.cpu), 3),
        repeat=len(rates),
        iterations=timing.iterations,
    )


def bench_codec(
    codec_id: str, k: int, m: int, stripe_size: int, repeat: int, min_time: float
) -> list[Result]:
    """Encode, decode from data fragments, decode with m data fragments lost."""
    codec = get_codec(codec_id, k, m)
    stripe = os.urandom(stripe_size)
    fragments = codec.encode(stripe)
    data_only = {i: fragments[i] for i in range(k)}
    lost = list(range(min(m, k)))
    degraded = {i: fragments[i] for i in range(k + m) if i not in lost}
    # Correctness first: a fast wrong codec is worth nothing.
    if codec.decode(data_only, stripe_size) != stripe:
        raise RuntimeError(f"{codec_id} {k}+{m}: decode from data fragments is wrong")
    if codec.decode(degraded, stripe_size) != stripe:
        raise RuntimeError(f"{codec_id} {k}+{m}: decode with {lost} lost is wrong")
    ops: list[tuple[str, Callable[[], object], list[int]]] = [
        ("encode", lambda: codec.encode(stripe), []),
        ("decode_data", lambda: codec.decode(data_only, stripe_size), []),
        ("decode_lost", lambda: codec.decode(degraded, stripe_size), lost),
    ]
    out: list[Result] = []
    for op, fn, lost_ids in ops:
        out.append(
            result(
                "codec",
                op,
                measure(fn, stripe_size, repeat, min_time),
                codec=codec_id,
                k=k,
                m=m,
                stripe_size=stripe_size,
                lost=lost_ids,
            )
        )
    return out


def bench_hashes(repeat: int, min_time: float) -> list[Result]:
    buf = os.urandom(HASH_BUFFER)
    crc = measure(lambda: crc32c.crc32c(buf), len(buf), repeat, min_time)
    md5 = measure(lambda: hashlib.md5(buf).digest(), len(buf), repeat, min_time)
    return [
        result("hash", "crc32c", crc, stripe_size=len(buf)),
        result("hash", "md5", md5, stripe_size=len(buf)),
    ]


def environment() -> dict[str, str]:
    """Machine and library versions, for the record."""
    model = ""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    env = {
        "cpu": model or platform.processor(),
        "cores": str(os.cpu_count()),
        "python": platform.python_version(),
        "loadavg_1m": f"{os.getloadavg()[0]:.2f}",
    }
    for dist in ("pyeclib", "zfec", "crc32c"):
        try:
            env[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            env[dist] = "missing"
    return env


def size_label(n: int) -> str:
    return f"{n // MIB} MiB" if n % MIB == 0 else f"{n // 1024} KiB"


def markdown(results: list[Result]) -> str:
    """Two figures per cell: wall-clock median, then (in parentheses) the thread-CPU median."""
    rows = [
        "| codec | k+m | stripe | encode GB/s | decode (data) GB/s | decode (m data lost) GB/s |",
        "| --- | --- | --- | ---: | ---: | ---: |",
    ]
    table: dict[tuple[str, int, int, int], dict[str, Result]] = {}
    for r in results:
        if r.bench == "codec":
            table.setdefault((r.codec, r.k, r.m, r.stripe_size), {})[r.op] = r

    def cell(r: Result) -> str:
        return f"{r.gbps:.2f} ({r.gbps_cpu:.2f})"

    for (codec, k, m, stripe), ops in table.items():
        rows.append(
            f"| {codec} | {k}+{m} | {size_label(stripe)} | {cell(ops['encode'])} "
            f"| {cell(ops['decode_data'])} | {cell(ops['decode_lost'])} |"
        )
    rows += ["", "| checksum (1 MiB buffers) | GB/s |", "| --- | ---: |"]
    for r in results:
        if r.bench == "hash":
            rows.append(f"| {r.op} | {cell(r)} |")
    return "\n".join(rows)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--repeat", type=int, default=5, help="timed repetitions (median)")
    parser.add_argument("--min-time", type=float, default=0.2, help="seconds per repetition")
    parser.add_argument("--codec", action="append", choices=CODEC_IDS, help="default: all")
    parser.add_argument("--format", choices=("json", "markdown", "both"), default="both")
    parser.add_argument(
        "--tune-malloc",
        action="store_true",
        help="fix glibc's malloc thresholds first, as the storage node does (runtime.malloc)",
    )
    args = parser.parse_args(argv)
    if not 1 <= args.repeat <= MAX_REPEAT:
        parser.error(f"--repeat must be within 1..{MAX_REPEAT}")
    if not 0.01 <= args.min_time <= MAX_MIN_TIME:
        parser.error(f"--min-time must be within 0.01..{MAX_MIN_TIME}")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    tuned = tune_malloc() if args.tune_malloc else False
    results: list[Result] = []
    for codec_id in args.codec or CODEC_IDS:
        for k, m in GEOMETRIES:
            for stripe_size in STRIPE_SIZES:
                results += bench_codec(codec_id, k, m, stripe_size, args.repeat, args.min_time)
    results += bench_hashes(args.repeat, args.min_time)
    if args.format in ("json", "both"):
        print(json.dumps({"bench": "environment", **environment(), "malloc_tuned": str(tuned)}))
        for r in results:
            print(json.dumps(asdict(r)))
    if args.format in ("markdown", "both"):
        if args.format == "both":
            print()
        print(markdown(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
