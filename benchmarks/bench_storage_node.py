"""Benchmark, storage-node layer: chunk PUT/GET throughput and CPU cost of one real node process.

Starts ``python -m wormfs.storage_node`` on loopback over six disk directories in a temp dir
(the coordinator URL points at a closed port: registration fails fast and retries in the
background, which costs the node nothing measurable), then drives it with the real
``wormfs.clients.storage.StorageClient`` from ``--concurrency`` asyncio workers (default 16)
in this process. Runs, each ``--duration`` seconds after ``--warmup`` seconds not measured:

* ``put-256k``, ``put-1m``, ``put-16m``  durable chunk PUTs whose payload (fragment bytes, one
  segment per chunk) is about 256 KiB / 1 MiB / 16 MiB (16 MiB is a full 64 MiB segment at
  4+2: what large objects write), sent one fragment (block) per body piece as the data plane
  sends them; MB/s received;
* ``get-256k``, ``get-1m``, ``get-16m``  whole-chunk verified GETs of chunks written before
  (served from the page cache: this measures the node, not the disk); MB/s sent;
* ``put-4k``  small durable PUTs (4 KiB payload): PUTs per second, fsync-bound.

Chunk ids are drawn so that they fall into ``--subdirs`` (8) of the node's 1000 chunk
directories, which the warm-up creates: the runs measure a node past its first few thousand
chunks per disk, not the one-time creation (and fsync) of each directory.

The node's CPU time comes from ``/proc/<pid>/stat`` (utime + stime of all its threads) before
and after each run; ``node_core_s_per_gb`` is node CPU seconds per 10^9 payload bytes. Time
spent waiting for the disk is not CPU time, so it is excluded by construction. The target for
the PUT runs is at most 0.5 core-seconds per GB. The client's own CPU time is reported too: on
a small machine the client and the node share the cores, so throughput says less than the
CPU cost per byte.

Payload sizes: the chunk profile is ``--codec`` ``--k``+``--m`` at ``--stripe-size`` (default
isal_rs_vand 4+2, 1 MiB stripes), and each run picks the largest segment length whose chunk
payload is at most the target, so blocks are real fragment sizes (262224 bytes for ISA-L 4+2).

The node process is stopped by its PID (SIGTERM, then SIGKILL) and the temp dir removed, on
success, error or interrupt. With defaults a run takes about a minute and a half.
``--profile py-spy`` / ``--profile perf`` record the node during each measured window.

Run: ``.venv/bin/python benchmarks/bench_storage_node.py [--duration 10] [--concurrency 16]``
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import secrets
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import asdict, dataclass, field
from importlib import metadata
from pathlib import Path
from types import FrameType

import aiohttp
import uvloop

from wormfs.clients.storage import StorageClient
from wormfs.format.chunkformat import ChunkHeader
from wormfs.format.layout import Profile
from wormfs.ids import new_id
from wormfs.wire.storage import ChunkRef

KIB = 1024
MIB = 1024 * KIB
SECRET_ENV = "WORMFS_BENCH_STORAGE_SECRET"
CLOSED_COORDINATOR = "http://127.0.0.1:9"  # nothing listens there: registration fails fast
DISKS = 6
READY_TIMEOUT = 30.0
STOP_TIMEOUT = 15.0
MAX_DURATION = 60.0
MAX_WARMUP = 10.0
MAX_CONCURRENCY = 256
KEEP_FOR_GET = 256  # chunks per size kept for the GET runs (and at most KEEP_BYTES_FOR_GET)
KEEP_BYTES_FOR_GET = 1 << 30
TARGET_CORE_S_PER_GB = 0.5
CLK_TCK = os.sysconf("SC_CLK_TCK")
SUBDIRS = 1000  # chunk directories per disk (the node's on-disk layout, storage_node/chunkfiles)

# run name -> (kind, target payload bytes)
RUNS: dict[str, tuple[str, int]] = {
    "put-256k": ("put", 256 * KIB),
    "put-1m": ("put", MIB),
    "put-16m": ("put", 16 * MIB),
    "get-256k": ("get", 256 * KIB),
    "get-1m": ("get", MIB),
    "get-16m": ("get", 16 * MIB),
    "put-4k": ("put", 4 * KIB),
}


@dataclass(frozen=True)
class CpuTimes:
    user: float
    system: float

    @property
    def total(self) -> float:
        return self.user + self.system


def process_cpu(pid: int) -> CpuTimes:
    """CPU seconds used so far by process ``pid`` (all threads), from ``/proc/<pid>/stat``."""
    with open(f"/proc/{pid}/stat") as f:
        stat = f.read()
    # The command name (field 2) may hold spaces: split after its closing parenthesis.
    fields = stat[stat.rindex(")") + 2 :].split()
    return CpuTimes(user=int(fields[11]) / CLK_TCK, system=int(fields[12]) / CLK_TCK)


def context_switches(pid: int) -> int:
    """Voluntary + involuntary context switches of all threads of ``pid`` so far."""
    total = 0
    for task in os.listdir(f"/proc/{pid}/task"):
        with contextlib.suppress(OSError), open(f"/proc/{pid}/task/{task}/status") as f:
            for line in f:
                name, _, value = line.partition(":")
                if name.endswith("ctxt_switches"):
                    total += int(value)
    return total


# ---- the node process -------------------------------------------------------------------------
@dataclass
class NodeProcess:
    """One storage-node child process; only its own PID is ever signalled."""

    root: Path
    secret: str
    process: subprocess.Popen[bytes] | None = None
    address: str = ""

    @property
    def disks(self) -> list[Path]:
        return [self.root / f"disk{i}" for i in range(1, DISKS + 1)]

    @property
    def ready_file(self) -> Path:
        return self.root / "node.ready"

    @property
    def log_file(self) -> Path:
        return self.root / "node.log"

    @property
    def pid(self) -> int:
        if self.process is None:
            raise RuntimeError("node not started")
        return self.process.pid

    def start(self, log_level: str) -> None:
        args = [sys.executable, "-m", "wormfs.storage_node", "--host", "127.0.0.1", "--port", "0"]
        for disk in self.disks:
            args += ["--disk", str(disk)]
        args += [
            "--ready-file",
            str(self.ready_file),
            "--coordinator-url",
            CLOSED_COORDINATOR,
            "--secret-env",
            SECRET_ENV,
            "--log-level",
            log_level,
        ]
        env = {**os.environ, SECRET_ENV: self.secret, "PYTHONSAFEPATH": "1"}
        with self.log_file.open("ab") as log:
            self.process = subprocess.Popen(
                args, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=self.root
            )

    async def wait_ready(self) -> str:
        assert self.process is not None
        deadline = time.monotonic() + READY_TIMEOUT
        while not self.ready_file.exists():
            if self.process.poll() is not None:
                raise RuntimeError(f"node exited with {self.process.returncode}:\n{self.logs()}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"node not ready in {READY_TIMEOUT}s:\n{self.logs()}")
            await asyncio.sleep(0.05)
        info = json.loads(self.ready_file.read_text())
        if info["pid"] != self.process.pid:
            raise RuntimeError("ready file names another process")
        self.address = str(info["address"])
        return self.address

    def stop(self) -> None:
        """SIGTERM by PID, wait, then SIGKILL by PID if it is still there."""
        process = self.process
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=STOP_TIMEOUT)

    def logs(self) -> str:
        try:
            return self.log_file.read_text(errors="replace")[-4000:]
        except OSError:
            return ""


@contextlib.contextmanager
def running_node(log_level: str, parent: str | None) -> Iterator[NodeProcess]:
    root = Path(tempfile.mkdtemp(prefix="wormfs-bench-node-", dir=parent))
    node = NodeProcess(root=root, secret=secrets.token_hex(16))
    try:
        node.start(log_level)
        yield node
    finally:
        try:
            node.stop()
        finally:
            shutil.rmtree(root, ignore_errors=True)


# ---- workload -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class ChunkShape:
    """A segment length whose chunk payload is close to (at most) a target size."""

    profile: Profile
    segment_length: int
    blocks: list[int]  # fragment bytes per block
    subdirs: int = 0  # chunk ids fall in this many subdirectories (0: anywhere)

    @property
    def payload(self) -> int:
        return sum(self.blocks)

    def header(self) -> ChunkHeader:
        return ChunkHeader(
            chunk_id=chunk_id_in(self.subdirs),
            version_id=new_id(),
            part_number=1,
            segment_index=0,
            fragment_index=0,
            profile=self.profile,
            segment_offset=0,
            segment_length=self.segment_length,
            bucket="bench",
            key="bench/object",
        )


def chunk_id_in(subdirs: int) -> str:
    """A random chunk id; with ``subdirs``, one whose directory is among the first ``subdirs``.

    The node files chunk ``id`` under ``chunks/NNN`` with ``NNN = (id[:8] * 1000) >> 32`` and
    creates (and fsyncs) each of the 1000 directories on first use. A fresh node is therefore
    slower for its first few thousand chunks per disk than ever after; keeping the ids in a
    few directories lets the warm-up create them, so that the runs measure the steady state.
    """
    chunk_id = new_id()
    if not subdirs:
        return chunk_id
    subdir = secrets.randbelow(subdirs)
    lo = -(-subdir * 2**32 // SUBDIRS)
    hi = -(-(subdir + 1) * 2**32 // SUBDIRS) - 1
    prefix = f"{lo + secrets.randbelow(hi - lo + 1):08x}"
    return prefix + chunk_id[8:]


def shape_for(profile: Profile, target: int, subdirs: int) -> ChunkShape:
    """The largest segment length whose payload is at most ``target`` (binary search)."""

    def payload(length: int) -> int:
        return header_for(profile, length).payload_size

    lo, hi = 1, target * profile.k + profile.stripe_size
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if payload(mid) <= target:
            lo = mid
        else:
            hi = mid - 1
    header = header_for(profile, lo)
    blocks = [header.fragment_size(j) for j in range(header.block_count)]
    return ChunkShape(profile=profile, segment_length=lo, blocks=blocks, subdirs=subdirs)


def header_for(profile: Profile, segment_length: int) -> ChunkHeader:
    return ChunkHeader(
        chunk_id="0" * 32,
        version_id="0" * 32,
        part_number=1,
        segment_index=0,
        fragment_index=0,
        profile=profile,
        segment_offset=0,
        segment_length=segment_length,
        bucket="bench",
        key="bench/object",
    )


@dataclass
class Tally:
    ops: int = 0
    payload_bytes: int = 0
    errors: int = 0
    latencies: list[float] = field(default_factory=list)
    first_error: str = ""


@dataclass(frozen=True)
class RunResult:
    bench: str
    run: str
    kind: str
    payload: int
    blocks: int
    concurrency: int
    seconds: float
    ops: int
    errors: int
    ops_per_s: float
    mb_per_s: float
    p50_ms: float
    p99_ms: float
    node_cpu_s: float
    node_user_s: float
    node_system_s: float
    node_cpu_util: float
    node_core_s_per_gb: float
    node_core_ms_per_op: float
    node_switches_per_op: float
    client_cpu_s: float


def body_pieces(shape: ChunkShape) -> list[bytes]:
    """Random payload cut into one piece per block (made once, sent by every request)."""
    payload = os.urandom(shape.payload)
    pieces: list[bytes] = []
    offset = 0
    for size in shape.blocks:
        pieces.append(payload[offset : offset + size])
        offset += size
    return pieces


async def fragment_body(pieces: list[bytes]) -> AsyncIterator[bytes]:
    for piece in pieces:
        yield piece


async def run_workload(
    name: str,
    kind: str,
    shape: ChunkShape,
    client: StorageClient,
    node: NodeProcess,
    disk_ids: list[str],
    stored: list[ChunkRef],
    args: argparse.Namespace,
) -> tuple[RunResult, str]:
    """Run one workload for warmup + duration; measure the window after the warmup.

    Returns the result and the first error seen (empty when none).
    """
    pieces = body_pieces(shape)
    tally = Tally()
    measuring = False
    loop = asyncio.get_running_loop()
    start = loop.time()
    warm_end = start + args.warmup
    end = warm_end + args.duration

    async def one_put(worker: int, seq: int) -> None:
        header = shape.header()
        disk_id = disk_ids[(worker + seq) % len(disk_ids)]
        await client.put_chunk(node.address, disk_id, header, fragment_body(pieces))
        if len(stored) < min(KEEP_FOR_GET, KEEP_BYTES_FOR_GET // shape.payload):
            stored.append(ChunkRef(disk_id=disk_id, chunk_id=header.chunk_id))

    async def one_get(worker: int, seq: int) -> None:
        ref = stored[(worker * 7919 + seq) % len(stored)]
        async with client.open_chunk(node.address, ref.disk_id, ref.chunk_id) as reader:
            for block in range(reader.first, reader.last + 1):
                await reader.read_block(block)

    op = one_put if kind == "put" else one_get

    async def worker(index: int) -> None:
        seq = 0
        while loop.time() < end:
            began = loop.time()
            counted = measuring
            try:
                await op(index, seq)
            except Exception as exc:  # count and go on: one failure must not hide the rest
                if counted:
                    tally.errors += 1
                    tally.first_error = tally.first_error or repr(exc)
            else:
                if counted:
                    tally.ops += 1
                    tally.payload_bytes += shape.payload
                    tally.latencies.append(loop.time() - began)
            seq += 1

    tasks = [asyncio.create_task(worker(i)) for i in range(args.concurrency)]
    await asyncio.sleep(max(0.0, warm_end - loop.time()))
    measuring = True
    profilers = start_profilers(name, node.pid, args)
    node_before = process_cpu(node.pid)
    switches_before = context_switches(node.pid)
    client_before = time.process_time()
    t0 = time.perf_counter()
    try:
        await asyncio.gather(*tasks)
    finally:
        seconds = time.perf_counter() - t0
        await asyncio.to_thread(stop_profilers, profilers)
    node_after = process_cpu(node.pid)
    switches = context_switches(node.pid) - switches_before
    client_cpu = time.process_time() - client_before
    user = node_after.user - node_before.user
    system = node_after.system - node_before.system
    cpu = user + system
    lat = sorted(tally.latencies) or [0.0]
    return RunResult(
        bench="storage_node",
        run=name,
        kind=kind,
        payload=shape.payload,
        blocks=len(shape.blocks),
        concurrency=args.concurrency,
        seconds=round(seconds, 3),
        ops=tally.ops,
        errors=tally.errors,
        ops_per_s=round(tally.ops / seconds, 1),
        mb_per_s=round(tally.payload_bytes / seconds / 1e6, 1),
        p50_ms=round(statistics.median(lat) * 1000, 2),
        p99_ms=round(lat[min(len(lat) - 1, int(len(lat) * 0.99))] * 1000, 2),
        node_cpu_s=round(cpu, 2),
        node_user_s=round(user, 2),
        node_system_s=round(system, 2),
        node_cpu_util=round(cpu / seconds, 2),
        node_core_s_per_gb=round(cpu / (tally.payload_bytes / 1e9), 3)
        if tally.payload_bytes
        else 0.0,
        node_core_ms_per_op=round(cpu * 1000 / tally.ops, 3) if tally.ops else 0.0,
        node_switches_per_op=round(switches / tally.ops, 1) if tally.ops else 0.0,
        client_cpu_s=round(client_cpu, 2),
    ), tally.first_error


def start_profilers(name: str, pid: int, args: argparse.Namespace) -> list[subprocess.Popen[bytes]]:
    """Profile the node for the measured window: py-spy (Python stacks, sampled without
    pausing the node) and/or perf (native and kernel stacks), as ``--profile`` asks."""
    if not args.profile:
        return []
    out = Path(args.profile_dir)
    out.mkdir(parents=True, exist_ok=True)
    seconds = str(max(1, int(args.duration)))
    commands: list[list[str]] = []
    if "py-spy" in args.profile:
        py_spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
        output = str(out / f"{name}.pyspy.txt")
        commands.append(
            [
                py_spy,
                "record",
                "--pid",
                str(pid),
                "--duration",
                seconds,
                "--rate",
                "250",
                "--nonblocking",
                "--gil",
                "--format",
                "raw",
                "--output",
                output,
            ]
        )
    if "perf" in args.profile:
        output = str(out / f"{name}.perf.data")
        perf = ["perf", "record", "-F", "499", "-g", "-p", str(pid), "-o", output]
        commands.append([*perf, "--", "sleep", seconds])
    started: list[subprocess.Popen[bytes]] = []
    for cmd in commands:
        try:
            started.append(
                subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            )
        except OSError as exc:  # not installed: measure without it
            print(f"# {name}: cannot start {cmd[0]}: {exc}", file=sys.stderr)
    return started


def stop_profilers(profilers: list[subprocess.Popen[bytes]]) -> None:
    """Wait for each profiler to write its output; stop a late one by its PID."""
    for proc in profilers:
        try:
            proc.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(timeout=STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


async def fill(
    shape: ChunkShape,
    client: StorageClient,
    node: NodeProcess,
    disk_ids: list[str],
    stored: list[ChunkRef],
    want: int,
) -> None:
    """Write chunks until ``stored`` holds ``want`` (for a GET run with no PUT run before)."""
    pieces = body_pieces(shape)
    while len(stored) < want:
        header = shape.header()
        disk_id = disk_ids[len(stored) % len(disk_ids)]
        await client.put_chunk(node.address, disk_id, header, fragment_body(pieces))
        stored.append(ChunkRef(disk_id=disk_id, chunk_id=header.chunk_id))


# ---- report -------------------------------------------------------------------------------------
def environment() -> dict[str, str]:
    model = ""
    with contextlib.suppress(OSError), open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    env = {
        "cpu": model or platform.processor(),
        "cores": str(os.cpu_count()),
        "python": platform.python_version(),
        "loadavg_1m": f"{os.getloadavg()[0]:.2f}",
    }
    for dist in ("aiohttp", "uvloop", "crc32c", "msgspec"):
        try:
            env[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            env[dist] = "missing"
    return env


def markdown(results: list[RunResult]) -> str:
    rows = [
        "| run | payload | ops/s | MB/s | p50 ms | p99 ms | node CPU util "
        "| node core-s/GB | node core-ms/op | node switches/op | client CPU s |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in results:
        rows.append(
            f"| {r.run} | {r.payload} | {r.ops_per_s:.0f} | {r.mb_per_s:.1f} | {r.p50_ms:.1f} "
            f"| {r.p99_ms:.1f} | {r.node_cpu_util:.2f} | {r.node_core_s_per_gb:.3f} "
            f"| {r.node_core_ms_per_op:.3f} | {r.node_switches_per_op:.1f} | {r.client_cpu_s:.1f} |"
        )
    puts = [r for r in results if r.kind == "put" and r.payload >= 256 * KIB]
    if puts:
        worst = max(r.node_core_s_per_gb for r in puts)
        verdict = "meets" if worst <= TARGET_CORE_S_PER_GB else "misses"
        rows += [
            "",
            f"PUT cost: worst {worst:.3f} node core-s/GB; {verdict} the target of "
            f"{TARGET_CORE_S_PER_GB} core-s/GB.",
        ]
    return "\n".join(rows)


# ---- main ---------------------------------------------------------------------------------------
async def bench(args: argparse.Namespace) -> list[RunResult]:
    profile = Profile(codec=args.codec, k=args.k, m=args.m, stripe_size=args.stripe_size)
    results: list[RunResult] = []
    with running_node(args.node_log_level, args.tmp_dir) as node:
        await node.wait_ready()
        connector = aiohttp.TCPConnector(limit=args.concurrency * 2)
        async with aiohttp.ClientSession(connector=connector) as session:
            client = StorageClient(session, node.secret.encode())
            disk_ids = [d.disk_id for d in (await client.disks(node.address)).disks]
            if len(disk_ids) != DISKS:
                raise RuntimeError(f"node serves {len(disk_ids)} disks, expected {DISKS}")
            stored: dict[int, list[ChunkRef]] = {}
            for name in args.runs:
                kind, target = RUNS[name]
                shape = shape_for(profile, target, args.subdirs)
                refs = stored.setdefault(target, [])
                if kind == "get":
                    await fill(shape, client, node, disk_ids, refs, args.concurrency * 4)
                result, first_error = await run_workload(
                    name, kind, shape, client, node, disk_ids, refs, args
                )
                results.append(result)
                if args.format in ("json", "both"):
                    print(json.dumps(asdict(result)), flush=True)
                if first_error:
                    print(f"# {name}: first error: {first_error}", file=sys.stderr)
    return results


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--duration", type=float, default=10.0, help="measured seconds per run")
    parser.add_argument("--warmup", type=float, default=1.0, help="unmeasured seconds per run")
    parser.add_argument("--concurrency", type=int, default=16, help="concurrent client workers")
    parser.add_argument(
        "--runs",
        default=",".join(RUNS),
        help=f"comma-separated subset of {','.join(RUNS)}",
    )
    parser.add_argument("--codec", default="isal_rs_vand")
    parser.add_argument("--k", type=int, default=4)
    parser.add_argument("--m", type=int, default=2)
    parser.add_argument("--stripe-size", type=int, default=MIB)
    parser.add_argument(
        "--subdirs",
        type=int,
        default=8,
        help="keep chunk ids in this many of the 1000 chunk directories (0: anywhere)",
    )
    parser.add_argument("--tmp-dir", help="parent of the node's temp dir (default: system temp)")
    parser.add_argument("--node-log-level", default="WARNING")
    parser.add_argument(
        "--profile",
        action="append",
        choices=("py-spy", "perf"),
        help="profile the node during each measured window (repeatable)",
    )
    parser.add_argument(
        "--profile-dir",
        default=str(Path(tempfile.gettempdir()) / "wormfs-bench-profiles"),
        help="where profiles go",
    )
    parser.add_argument("--format", choices=("json", "markdown", "both"), default="both")
    args = parser.parse_args(argv)
    args.runs = [r for r in args.runs.split(",") if r]
    unknown = [r for r in args.runs if r not in RUNS]
    if unknown:
        parser.error(f"unknown runs {unknown}; known: {list(RUNS)}")
    if not 0.5 <= args.duration <= MAX_DURATION:
        parser.error(f"--duration must be within 0.5..{MAX_DURATION}")
    if not 0 <= args.warmup <= MAX_WARMUP:
        parser.error(f"--warmup must be within 0..{MAX_WARMUP}")
    if not 0 <= args.subdirs <= SUBDIRS:
        parser.error(f"--subdirs must be within 0..{SUBDIRS}")
    if not 1 <= args.concurrency <= MAX_CONCURRENCY:
        parser.error(f"--concurrency must be within 1..{MAX_CONCURRENCY}")
    return args


def _terminate(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt  # unwind through the finally blocks: stop the node, remove the dir


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, _terminate)
    if args.format in ("json", "both"):
        print(json.dumps({"bench": "environment", **environment()}), flush=True)
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        results = runner.run(bench(args))
    if args.format in ("markdown", "both"):
        if args.format == "both":
            print()
        print(markdown(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
