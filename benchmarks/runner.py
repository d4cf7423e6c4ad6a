"""Benchmark, S3 end to end: WormFS side by side with a peer store, in one run, on one machine.

Starts WormFS exactly as ``make run`` does (``.venv/bin/wormfs server`` with its defaults, over
a temp ``WORMFS_DATA_DIR`` and a free ``WORMFS_S3_ADDRESS``; root keys read from the
``credentials.json`` it writes) and a peer through its scripts in ``--peers-dir`` (default
``../shared/peers`` next to the repo: Swift by default, ``--peer ceph`` for Ceph RGW,
``--peer none`` for WormFS alone). Then, cell by cell, it runs the same workload against
WormFS and the peer alternately, A B A B (``--reps`` runs each), with one pool of client
processes (``--processes``, default the core count; each an asyncio + aiohttp client, see
``s3bench/``), and writes:

* every run as one JSON line (target, op, size, concurrency, ops/s, MB/s, p50/p99 ms, errors,
  CPU cores and CPU ms per operation of each WormFS process role and of the client, and the
  machine's CPU pressure during the run) to ``build/bench/s3-<stamp>.jsonl``;
* a markdown report (environment, table with the ratio per cell, the issue's targets met or
  not, WormFS's CPU per operation, gateway RSS) to ``build/bench/s3-<stamp>.md``, to stdout,
  and with ``--update-doc FILE`` between the s3bench markers of FILE (docs/performance.md,
  "S3 end to end"; nothing else in FILE is touched).

The table keeps the better of the runs per store and cell (``s3bench.report``); MB is 10^6
bytes. Objects for GET/HEAD/LIST are the ones the PUT cells wrote (topped up, untimed, when a
cell needs more); DELETE removes them; what is left is deleted (untimed) once no later cell
needs that size. Finally, on WormFS only, ``--rss-concurrency`` concurrent PUTs of
``--rss-size`` (default 32 x 64 MiB, ``--rss-rounds`` 1 round) run while the gateway
workers' summed ``VmRSS`` is sampled every 0.1 s (the workers are found as the server's
children in ``/proc``); ``--rss-size 1GiB`` gives the issue's 32 x 1 GiB (about 50 GB of
chunks per round on this machine's disk, several minutes). The peak over the whole run is
reported too.

Evidence for bottlenecks: ``--profile REGEX`` records py-spy profiles (``--gil``) of every
WormFS process during the WormFS runs of the matching cells and prints a text summary of
each (``s3bench.profiling``); ``--wormfs-env NAME=VALUE`` starts wormfs server with extra
environment for experiments (the report then says it is not ``make run``'s defaults);
``--sse AES256`` gives WormFS's bucket a default encryption, so every object is sealed (the
cost of server-side encryption, docs/performance.md).

Everything started here is stopped here, whatever happens: the peer by its down script,
WormFS by SIGTERM to the PID started, the client processes by their own PIDs.

Default suite: 4 KiB PUT/GET at 1 and 32 clients, GET at 64, HEAD, LIST (1000-key pages),
mixed (45 % GET, 30 % HEAD, 15 % PUT, 10 % DELETE) and DELETE at 32; 1 MiB PUT/GET at 16;
64 MiB PUT/GET at 1 and 8; 8 s per run after 1 s of warm-up (none for 64 MiB and up), two
runs per store: 11 to 13 minutes with Swift on this 2-core machine, start-up included.
``--large`` adds 1 GiB PUT/GET at 4 clients (4 to 6 minutes more, as every run waits for its
last 1 GiB operation). ``--quick``: fewer cells, one 3 s run per store, 8 x 64 MiB for RSS:
about 2 minutes.

Run: ``.venv/bin/python benchmarks/runner.py [--quick] [--peer swift|ceph|none]``
(``make bench`` runs the default suite and updates docs/performance.md).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import time
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

sys.path.insert(0, str(Path(__file__).resolve().parent))

from s3bench.pool import START_DELAY, CellResult, ClientPool
from s3bench.profiling import Recorder, cpu_by_role, cpu_stall_us, summarize
from s3bench.report import (
    BEGIN_MARK,
    KIB,
    MIB,
    RSS_TARGET_MB,
    Cell,
    cpu_table,
    environment,
    load_average,
    parse_size,
    results_table,
    size_label,
    targets_table,
    update_doc,
)
from s3bench.stores import PEERS, Peer, RssSampler, WormFSServer, s3_request
from s3bench.workload import Endpoint, ProcessTask

REPO = Path(__file__).resolve().parent.parent
GIB = 1024 * MIB
RSS_TARGET_PUTS = 32  # the RSS target is for 32 concurrent 1 GiB PUTs
FILL_DURATION = 3600.0  # untimed fills and cleanups stop on their operation count, not time
FILL_CONCURRENCY = 32
BIG = 64 * MIB  # objects this large or larger: no warm-up (one op is long), fewer pool objects


@dataclass(frozen=True)
class CellPlan:
    """One cell of the suite: operation, object size (keys per page for LIST), clients."""

    op: str
    size: int
    concurrency: int
    warmup: float
    duration: float

    @property
    def cell(self) -> Cell:
        return (self.op, self.size, self.concurrency)

    @property
    def name(self) -> str:
        size = f"{self.size}keys" if self.op == "list" else size_label(self.size).replace(" ", "")
        return f"{self.op}-{size}-c{self.concurrency}"

    @property
    def object_size(self) -> int:
        """Size of the objects the cell touches (LIST pages through the 4 KiB objects)."""
        return 4 * KIB if self.op == "list" else self.size


def suite(args: argparse.Namespace) -> list[CellPlan]:
    d, w = args.duration, args.warmup

    def plan(op: str, size: int, conc: int) -> CellPlan:
        return CellPlan(op, size, conc, 0.0 if size >= BIG else w, d)

    k4, m1, m64 = 4 * KIB, MIB, 64 * MIB
    if args.quick:
        cells = [
            plan("put", k4, 32),
            plan("get", k4, 32),
            plan("head", k4, 32),
            plan("list", args.list_page, 8),
            plan("mixed", k4, 32),
            plan("delete", k4, 32),
            plan("put", m64, 8),
            plan("get", m64, 8),
        ]
    else:
        cells = [
            plan("put", k4, 1),
            plan("put", k4, 32),
            plan("get", k4, 1),
            plan("get", k4, 32),
            plan("get", k4, 64),
            plan("head", k4, 32),
            plan("list", args.list_page, 8),
            plan("mixed", k4, 32),
            plan("delete", k4, 32),
            plan("put", m1, 16),
            plan("get", m1, 16),
            plan("put", m64, 1),
            plan("put", m64, 8),
            plan("get", m64, 1),
            plan("get", m64, 8),
        ]
    if args.large:
        cells += [plan("put", GIB, 4), plan("get", GIB, 4)]
    if args.cells:
        wanted = re.compile(args.cells)
        cells = [c for c in cells if wanted.search(c.name)]
    return cells


def pool_size(size: int, concurrency: int, quick: bool) -> int:
    """How many objects a GET/HEAD cell reads from (at least one per client)."""
    if size >= BIG:
        return max(concurrency, 4)
    if size >= MIB:
        return max(2 * concurrency, 64)
    return max(4 * concurrency, 128 if quick else 512)


@dataclass
class Bench:
    """One benchmark run: the stores, the client pool, the keys each store holds, the output."""

    args: argparse.Namespace
    pool: ClientPool
    targets: list[Endpoint]
    bucket: str
    jsonl: TextIO
    wormfs: WormFSServer
    peer: Peer | None
    results: list[CellResult] = field(default_factory=list)
    keys: dict[tuple[str, int], list[str]] = field(default_factory=dict)
    seq: int = 0

    def store(self, target: Endpoint, size: int) -> list[str]:
        return self.keys.setdefault((target.name, size), [])

    def task(self, plan: CellPlan, **extra: Any) -> ProcessTask:
        self.seq += 1
        base: dict[str, Any] = dict(
            endpoint=self.targets[0],
            bucket=self.bucket,
            op=plan.op,
            size=plan.object_size,
            workers=0,
            start_at=0.0,
            warmup=plan.warmup,
            duration=plan.duration,
            seed=self.seq,
        )
        base.update(extra)
        return ProcessTask(**base)

    def untimed(self, target: Endpoint, op: str, size: int, count: int, keys: list[str]) -> None:
        """PUT ``count`` objects (fill) or DELETE ``keys`` (cleanup), as fast as it goes."""
        if op == "put":
            if count <= 0:
                return
            prefix = f"o/{size_label(size).replace(' ', '')}/fill{self.seq}"
            concurrency = min(FILL_CONCURRENCY if size < BIG else 8, count)
        else:
            if not keys:
                return
            prefix = ""
            concurrency = min(FILL_CONCURRENCY, len(keys))
            count = len(keys)
        plan = CellPlan(op, size, concurrency, 0.0, FILL_DURATION)
        template = self.task(
            plan, key_prefix=prefix, keys=tuple(keys), max_ops=count if op == "put" else 0
        )
        print(f"  ({target.name}: {op} {count} x {size_label(size)}, untimed)", flush=True)
        result = self.pool.run_cell(target, template, concurrency)
        if result.errors:
            print(f"  ({target.name}: {result.errors} errors: {result.first_error})", flush=True)
        stored = self.store(target, size)
        if op == "put":
            stored.extend(result.written)
        else:
            gone = set(result.deleted)
            stored[:] = [k for k in stored if k not in gone]

    def prepare(self, plan: CellPlan, target: Endpoint) -> dict[str, Any]:
        """Untimed set-up for one run; the task fields that depend on the store's keys."""
        size = plan.object_size
        stored = self.store(target, size)
        wanted = pool_size(size, plan.concurrency, self.args.quick)
        if plan.op in ("get", "head", "mixed"):
            self.untimed(target, "put", size, wanted - len(stored), [])
            return {"keys": tuple(stored[:wanted]), "key_prefix": f"o/mixed/s{self.seq}"}
        if plan.op == "list":
            self.untimed(target, "put", size, plan.size - len(stored), [])
            return {"list_prefix": "o/4KiB/", "list_max": plan.size}
        if plan.op == "delete":
            if not stored:
                self.untimed(target, "put", size, wanted, [])
            return {"keys": tuple(stored)}
        label = size_label(size).replace(" ", "")
        return {"key_prefix": f"o/{label}/{plan.name}/s{self.seq}"}

    def run_plan(self, plan: CellPlan, index: int, total: int) -> None:
        for rep in range(1, self.args.reps + 1):
            for target in self.targets:
                extra = self.prepare(plan, target)
                template = self.task(plan, **extra)
                result = self.measured(plan, target, template, rep)
                result.size = plan.size  # LIST: keys per page, as the table shows it
                self.record(result, plan, index, total)
                stored = self.store(target, plan.object_size)
                stored.extend(result.written)
                if result.deleted:
                    gone = set(result.deleted)
                    stored[:] = [k for k in stored if k not in gone]

    def measured(
        self, plan: CellPlan, target: Endpoint, template: ProcessTask, rep: int
    ) -> CellResult:
        """One timed run, with the CPU cores each process role used (and a profile if asked)."""
        roles = {"client": self.pool.pids}
        if target.name == "wormfs":
            roles |= self.wormfs.roles()
        elif self.peer is not None:
            roles["peer"] = self.peer.pids()
        recorder = None
        wanted = self.args.profile and re.search(self.args.profile, plan.name) is not None
        if target.name == "wormfs" and wanted:
            seconds = START_DELAY + plan.warmup + plan.duration
            label = f"{plan.name}-r{rep}"
            recorder = Recorder(self.args.pyspy, self.args.out_dir / "profiles", label, seconds)
            recorder.start({k: v for k, v in roles.items() if k != "client"})
        before, stall, t0 = cpu_by_role(roles), cpu_stall_us(), time.monotonic()
        result = self.pool.run_cell(target, template, plan.concurrency, rep)
        after, wall = cpu_by_role(roles), time.monotonic() - t0
        result.cpu_pressure = (cpu_stall_us() - stall) / 1e6 / wall
        used = {role: after[role] - before[role] for role in roles}
        result.cores = {role: cpu / wall for role, cpu in used.items()}
        if result.completed:
            result.cpu_ms_per_op = {r: 1e3 * cpu / result.completed for r, cpu in used.items()}
        if recorder is not None:
            for raw in recorder.wait():
                text = summarize(raw, recorder.seconds)
                raw.with_suffix(".txt").write_text(text + "\n")
                print(text, flush=True)
        return result

    def record(self, result: CellResult, plan: CellPlan, index: int, total: int) -> None:
        name = plan.name if total else f"rss-{plan.name}"
        if total:  # the RSS cell is reported on its own, not in the table
            self.results.append(result)
        line = result.record() | {"cell": name, "time": time.strftime("%H:%M:%S")}
        self.jsonl.write(json.dumps(line) + "\n")
        self.jsonl.flush()
        extra = f" errors {result.errors}: {result.first_error}" if result.errors else ""
        step = f"[{index}/{total}]" if total else "[rss]"
        print(
            f"{step} {result.target:<7} {name:<18} rep {result.rep}: "
            f"{result.ops_per_s:9.1f} ops/s {result.mb_per_s:8.1f} MB/s "
            f"p50 {result.p50_ms:8.1f} ms p99 {result.p99_ms:8.1f} ms "
            f"({result.ops} ops in {result.seconds:.1f} s; CPU pressure "
            f"{result.cpu_pressure:.0%}; cores "
            f"{', '.join(f'{k} {v:.2f}' for k, v in result.cores.items())}){extra}",
            flush=True,
        )

    def cleanup(self, size: int) -> None:
        for target in self.targets:
            self.untimed(target, "delete", size, 0, list(self.store(target, size)))


def run_rss(bench: Bench, wormfs: WormFSServer, args: argparse.Namespace) -> dict[str, Any]:
    """Concurrent large PUTs on WormFS only, with the gateway workers' RSS sampled."""
    target = next(t for t in bench.targets if t.name == "wormfs")
    pids = wormfs.gateway_pids()
    count = args.rss_concurrency * args.rss_rounds
    plan = CellPlan("put", args.rss_size, args.rss_concurrency, 0.0, FILL_DURATION)
    label = size_label(args.rss_size).replace(" ", "")
    template = bench.task(plan, key_prefix=f"o/{label}/rss", max_ops=count)
    print(
        f"RSS: {count} PUTs of {size_label(args.rss_size)}, {args.rss_concurrency} at a time, "
        f"gateway workers {pids}",
        flush=True,
    )
    with RssSampler(pids) as sampler:
        result = bench.measured(plan, target, template, 1)
    bench.record(result, plan, 0, 0)
    bench.store(target, args.rss_size).extend(result.written)
    out = {
        "op": "rss-put",
        "size": args.rss_size,
        "concurrency": args.rss_concurrency,
        "puts": result.ops,
        "errors": result.errors,
        "mb_per_s": round(result.mb_per_s, 1),
        "gateway_workers": len(pids),
        "rss_before_mb": round(sampler.first / 1e6, 1),
        "rss_peak_mb": round(sampler.peak / 1e6, 1),
        "rss_peak_each_mb": [round(v / 1e6, 1) for v in sampler.peak_each.values()],
        "samples": sampler.samples,
    }
    bench.jsonl.write(json.dumps(out) + "\n")
    return out


def render(
    args: argparse.Namespace,
    env: dict[str, str],
    cells: list[Cell],
    bench: Bench,
    peer: Peer | None,
    rss: dict[str, Any] | None,
    run_peak_mb: float,
    loads: tuple[str, str],
    elapsed: float,
) -> str:
    peer_name = peer.spec.name if peer else None
    peer_label = peer.spec.label if peer else "peer"
    pressures = sorted(r.cpu_pressure for r in bench.results)
    suite_name = "quick" if args.quick else "default"
    if args.cells:
        suite_name += f" (cells matching {args.cells!r})"
    lines = [
        f"Run of {env['date']} ({suite_name} suite, "
        f"{elapsed / 60:.1f} min): `{' '.join(['benchmarks/runner.py', *sys.argv[1:]])}`",
        "",
        f"- Machine: {env['machine']}; Linux {env['kernel']}; "
        f"load average at start / end: {loads[0]} / {loads[1]}"
        + (
            "; CPU pressure during the runs (share of the time some runnable task waited for "
            f"a core, /proc/pressure/cpu): median {_median(pressures):.0%}, "
            f"{pressures[0]:.0%} to {pressures[-1]:.0%}."
            if pressures
            else "."
        ),
        f"- WormFS {env['wormfs']} as `make run` starts it (`wormfs server`: coordinator on "
        "SQLite, one storage node over six data directories, gateway workers); "
        f"Python {env['python']}; {env['libraries']}.",
    ]
    if args.sse:
        lines.append(
            f"- **Every WormFS object sealed**: the bucket's default encryption is {args.sse}."
        )
    if args.wormfs_env:
        lines.append(
            f"- **Not `make run`'s defaults**: wormfs server ran with {', '.join(args.wormfs_env)}."
        )
    if peer:
        lines.append(
            f"- Peer: {peer.spec.label} {peer.version()} from Debian's packages, started by "
            f"`{peer.spec.up}` (EC 4+2)."
        )
    lines += [
        f"- Client: {bench.pool.processes} processes of asyncio + aiohttp with a SigV4 signer "
        "(UNSIGNED-PAYLOAD for every store), on the same machine; "
        f"{args.duration:g} s per run after {args.warmup:g} s of warm-up "
        "(none for 64 MiB and up); "
        f"{args.reps} run(s) per store and cell, alternating, best run shown; MB = 10^6 bytes; "
        "latency per request, first byte sent to last byte read.",
        "",
        results_table(cells, bench.results, peer_name, peer_label),
        "",
        "Targets of the performance issue (same run):",
        "",
        targets_table(bench.results, peer_name, peer_label),
        "",
        "CPU per operation (best run; each process's CPU time from /proc over the run's "
        "operations, warm-up included; the ceiling is what the machine's cores could do with "
        "nothing else running, client included):",
        "",
        cpu_table(cells, bench.results, os.cpu_count() or 1, peer_name, peer_label),
        "",
    ]
    if rss:
        verdict = "met" if rss["rss_peak_mb"] <= RSS_TARGET_MB else "missed"
        if rss["concurrency"] < RSS_TARGET_PUTS:
            verdict = f"not judged (the target is for {RSS_TARGET_PUTS} concurrent PUTs)"
        elif rss["size"] < GIB:
            verdict += (
                f" (the target is for {RSS_TARGET_PUTS} x 1 GiB; measured with smaller objects)"
            )
        lines.append(
            f"Gateway RSS (sum of VmRSS of the {rss['gateway_workers']} gateway workers, sampled "
            f"every 0.1 s) during {rss['puts']} PUTs of {size_label(rss['size'])}, "
            f"{rss['concurrency']} at a time ({rss['mb_per_s']} MB/s, {rss['errors']} errors): "
            f"peak **{rss['rss_peak_mb']:.0f} MB** (idle before: {rss['rss_before_mb']:.0f} MB; "
            f"per worker: {', '.join(f'{v:.0f}' for v in rss['rss_peak_each_mb'])} MB); "
            f"target <= {RSS_TARGET_MB} MB: {verdict}."
        )
    if run_peak_mb:
        lines.append(f"Peak gateway RSS over the whole run: {run_peak_mb:.0f} MB.")
    return "\n".join(lines) + "\n"


def _sse_rule(algorithm: str) -> bytes:
    """A PutBucketEncryption document: every object of the bucket sealed with ``algorithm``."""
    return (
        "<ServerSideEncryptionConfiguration><Rule><ApplyServerSideEncryptionByDefault>"
        f"<SSEAlgorithm>{algorithm}</SSEAlgorithm></ApplyServerSideEncryptionByDefault>"
        "</Rule></ServerSideEncryptionConfiguration>"
    ).encode()


def _median(values: list[float]) -> float:
    return values[len(values) // 2] if values else 0.0


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    p.add_argument("--peer", choices=[*PEERS, "none"], default="swift")
    p.add_argument("--peers-dir", type=Path, default=REPO.parent / "shared" / "peers")
    p.add_argument("--keep-peer", action="store_true", help="leave the peer running at the end")
    p.add_argument("--wormfs-bin", type=Path, default=REPO / ".venv" / "bin" / "wormfs")
    p.add_argument(
        "--wormfs-env",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="extra environment for wormfs server (experiments; the report says so)",
    )
    p.add_argument("--work-dir", default=None, help="parent of WormFS's temp data dir")
    p.add_argument("--processes", type=int, default=max(2, os.cpu_count() or 2))
    p.add_argument("--duration", type=float, default=None, help="seconds per run (default 8)")
    p.add_argument("--warmup", type=float, default=None, help="seconds of warm-up (default 1)")
    p.add_argument("--reps", type=int, default=None, help="runs per store and cell (default 2)")
    p.add_argument("--quick", action="store_true", help="a smoke run: a few cells, 3 s, 1 rep")
    p.add_argument("--large", action="store_true", help="add 1 GiB PUT/GET cells (4 clients)")
    p.add_argument("--cells", default="", help="regex over cell names, e.g. 'put-4KiB|get-64'")
    p.add_argument("--list-page", type=int, default=None, help="LIST page (default 1000)")
    p.add_argument("--rss-size", type=parse_size, default=None, help="default 64MiB")
    p.add_argument("--rss-concurrency", type=int, default=None, help="default 32 (quick: 8)")
    p.add_argument("--rss-rounds", type=int, default=1)
    p.add_argument("--no-rss", action="store_true")
    p.add_argument("--profile", default="", help="regex: py-spy the WormFS runs of these cells")
    p.add_argument("--pyspy", type=Path, default=REPO / ".venv" / "bin" / "py-spy")
    p.add_argument("--out-dir", type=Path, default=REPO / "build" / "bench")
    p.add_argument("--update-doc", type=Path, default=None, help="markdown file with markers")
    p.add_argument(
        "--sse",
        choices=["AES256", "aws:kms"],
        default=None,
        help="the benchmark bucket's default encryption on WormFS (every object sealed)",
    )
    args = p.parse_args(argv)
    quick = args.quick
    for name, default, quick_default in (
        ("duration", 8.0, 3.0),
        ("warmup", 1.0, 0.5),
        ("reps", 2, 1),
        ("list_page", 1000, 100),
        ("rss_size", 64 * MIB, 64 * MIB),
        ("rss_concurrency", 32, 8),
    ):
        if getattr(args, name) is None:
            setattr(args, name, quick_default if quick else default)
    if not 0 < args.duration <= 600 or not 0 <= args.warmup <= 60 or not 1 <= args.reps <= 10:
        p.error("--duration in (0, 600], --warmup in [0, 60], --reps in [1, 10]")
    if any("=" not in item for item in args.wormfs_env):
        p.error("--wormfs-env takes NAME=VALUE")
    if not 1 <= args.processes <= 64 or not 1 <= args.rss_concurrency <= 256:
        p.error("--processes in [1, 64], --rss-concurrency in [1, 256]")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    began = time.monotonic()
    stamp = time.strftime("%Y%m%d-%H%M%S")
    args.out_dir.mkdir(parents=True, exist_ok=True)
    jsonl_path = args.out_dir / f"s3-{stamp}.jsonl"
    md_path = args.out_dir / f"s3-{stamp}.md"
    env = environment(REPO)
    loads_start = load_average()
    plans = suite(args)
    if not plans and args.no_rss:
        print("no cell matches --cells, and --no-rss: nothing to do", file=sys.stderr)
        return 2
    print(f"{len(plans)} cells x {args.reps} reps; results in {jsonl_path}", flush=True)
    extra_env = dict(item.split("=", 1) for item in args.wormfs_env)
    wormfs = WormFSServer(args.wormfs_bin, args.work_dir, extra_env=extra_env)
    peer = None
    if args.peer != "none":
        peer = Peer(PEERS[args.peer], args.peers_dir.resolve(), args.out_dir / f"peer-{stamp}.log")
    with ExitStack() as stack, jsonl_path.open("w") as jsonl:
        # Stop what was started, in reverse order, whatever happens below.
        pool = stack.enter_context(ClientPool(args.processes))
        print("starting WormFS (wormfs server) ...", flush=True)
        stack.callback(lambda: print(f"WormFS stopped ({wormfs.stop()})", flush=True))
        targets = [wormfs.start()]
        print(f"WormFS at {targets[0].url}, gateway workers {wormfs.gateway_pids()}", flush=True)
        if peer is not None:
            print(f"starting {peer.spec.label} ({peer.spec.up}) ...", flush=True)
            if not args.keep_peer:
                stack.callback(_stop_peer(peer))
            targets.append(peer.start())
        whole_run = stack.enter_context(RssSampler(wormfs.gateway_pids(), interval=0.5))
        bench = Bench(args, pool, targets, f"s3bench-{stamp}", jsonl, wormfs, peer)
        for target in targets:
            status = s3_request(target, "PUT", f"/{bench.bucket}")
            if status != 200:
                raise RuntimeError(f"CreateBucket on {target.name}: HTTP {status}")
        if args.sse:
            status = s3_request(
                targets[0], "PUT", f"/{bench.bucket}", query="encryption=", body=_sse_rule(args.sse)
            )
            if status != 200:
                raise RuntimeError(f"PutBucketEncryption on WormFS: HTTP {status}")
        last_use = {plan.object_size: i for i, plan in enumerate(plans)}
        for i, plan in enumerate(plans):
            bench.run_plan(plan, i + 1, len(plans))
            if last_use[plan.object_size] == i:
                bench.cleanup(plan.object_size)
        rss = None if args.no_rss else run_rss(bench, wormfs, args)
        whole_run.sample()
        for size in {size for _, size in bench.keys}:
            bench.cleanup(size)
        for target in targets:
            s3_request(target, "DELETE", f"/{bench.bucket}")
        report = render(
            args,
            env,
            [p.cell for p in plans],
            bench,
            peer,
            rss,
            whole_run.peak / 1e6,
            (loads_start, load_average()),
            time.monotonic() - began,
        )
    md_path.write_text(report)
    print("\n" + report)
    print(f"markdown: {md_path}\nJSON lines: {jsonl_path}")
    if args.update_doc is not None:
        if update_doc(args.update_doc, report):
            print(f"updated the S3 end to end section of {args.update_doc}")
        else:
            print(f"{args.update_doc} has no '{BEGIN_MARK}' markers: left untouched")
    return 0


def _stop_peer(peer: Peer) -> Callable[[], None]:
    def stop() -> None:
        print(f"stopping {peer.spec.label} ({peer.spec.down})", flush=True)
        peer.stop()

    return stop


if __name__ == "__main__":
    sys.exit(main())
