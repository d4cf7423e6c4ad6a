"""Benchmark client, fan-out: several client processes, one cell at a time, figures merged.

``ClientPool`` starts ``processes`` client processes once (``spawn``: clean interpreters, no
inherited event loop) and keeps them for the whole run; each draws its random payload block
once. ``run_cell`` splits a cell's concurrency over the processes (as evenly as possible; a
process with no worker sits the cell out), sends each its ``ProcessTask`` with a common start
time a little in the future, waits for every answer (bounded), and merges the answers into one
``CellResult``: ops/s and MB/s (10^6 bytes) summed over workers, latency percentiles over
every sample of every process, errors, and the keys written or deleted.

The pool stops its processes by their ``Process`` objects (their own PIDs), never by name.
"""

from __future__ import annotations

import math
import multiprocessing
import time
from dataclasses import asdict, dataclass, field, replace
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from typing import Any

from .workload import Endpoint, ProcessResult, ProcessTask, serve

START_DELAY = 0.5  # seconds between sending a cell and its common start (processes wake up)
ANSWER_GRACE = 600.0  # seconds past a cell's planned end before a missing answer is an error
STOP_TIMEOUT = 10.0


@dataclass
class CellResult:
    """One run of one cell against one endpoint, as written to the JSON lines."""

    target: str
    op: str
    size: int
    concurrency: int
    processes: int
    rep: int
    seconds: float
    ops: int
    errors: int
    ops_per_s: float
    mb_per_s: float
    p50_ms: float
    p99_ms: float
    first_error: str = ""
    keys_per_list: float = 0.0
    by_op: dict[str, int] = field(default_factory=dict)
    completed: int = 0  # successful operations, warm-up included
    cores: dict[str, float] = field(default_factory=dict)  # CPU cores used, by process role
    cpu_ms_per_op: dict[str, float] = field(default_factory=dict)  # by role, warm-up included
    cpu_pressure: float = 0.0  # share of the run during which some task waited for a core
    written: list[str] = field(default_factory=list, repr=False)
    deleted: list[str] = field(default_factory=list, repr=False)

    def record(self) -> dict[str, Any]:
        """The JSON-lines record (no key lists)."""
        out = asdict(self)
        del out["written"], out["deleted"]
        numbers = ("seconds", "ops_per_s", "mb_per_s", "p50_ms", "p99_ms", "keys_per_list")
        for name in (*numbers, "cpu_pressure"):
            out[name] = round(out[name], 3)
        out["cores"] = {role: round(value, 2) for role, value in self.cores.items()}
        out["cpu_ms_per_op"] = {role: round(v, 3) for role, v in self.cpu_ms_per_op.items()}
        return out


def percentile(sorted_values: list[float], q: float) -> float:
    """Nearest-rank percentile of an ascending list (0.0 when empty)."""
    if not sorted_values:
        return 0.0
    rank = max(1, math.ceil(q * len(sorted_values)))
    return sorted_values[rank - 1]


def split(total: int, parts: int) -> list[int]:
    """``total`` spread over ``parts`` as evenly as possible, larger shares first."""
    return [total // parts + (1 if i < total % parts else 0) for i in range(parts)]


def merge(
    target: str,
    template: ProcessTask,
    concurrency: int,
    rep: int,
    results: list[ProcessResult],
) -> CellResult:
    """One ``CellResult`` from the answers of every process that took part."""
    workers = [w for r in results for w in r.workers]
    latencies = sorted(x for r in results for x in r.latencies)
    ops = sum(w.ops for w in workers)
    errors = sum(w.errors for w in workers)
    active = [w for w in workers if w.seconds > 0]
    ops_per_s = sum(w.ops / w.seconds for w in active)
    mb_per_s = sum(w.bytes / w.seconds for w in active) / 1e6
    seconds = max((w.seconds for w in workers), default=0.0)
    by_op: dict[str, int] = {}
    for r in results:
        for name, count in r.by_op.items():
            by_op[name] = by_op.get(name, 0) + count
    first_error = next((r.crashed for r in results if r.crashed), "") or next(
        (r.first_error for r in results if r.first_error), ""
    )
    listed = sum(r.listed_keys for r in results)
    return CellResult(
        target=target,
        op=template.op,
        size=template.size,
        concurrency=concurrency,
        processes=len(results),
        rep=rep,
        seconds=seconds,
        ops=ops,
        errors=errors + sum(1 for r in results if r.crashed),
        ops_per_s=ops_per_s,
        mb_per_s=mb_per_s,
        p50_ms=percentile(latencies, 0.50) * 1e3,
        p99_ms=percentile(latencies, 0.99) * 1e3,
        first_error=first_error,
        keys_per_list=listed / ops if template.op == "list" and ops else 0.0,
        by_op=by_op,
        completed=sum(r.completed for r in results),
        written=[k for r in results for k in r.written],
        deleted=[k for r in results for k in r.deleted],
    )


class ClientPool:
    """A fixed set of client processes that run cells on request."""

    def __init__(self, processes: int) -> None:
        if processes < 1:
            raise ValueError("at least one client process")
        ctx = multiprocessing.get_context("spawn")
        self._conns: list[Connection] = []
        self._procs: list[BaseProcess] = []
        for i in range(processes):
            parent, child = ctx.Pipe()
            proc = ctx.Process(target=serve, args=(child,), name=f"s3bench-client-{i}")
            proc.daemon = True
            proc.start()
            child.close()
            self._conns.append(parent)
            self._procs.append(proc)

    @property
    def processes(self) -> int:
        return len(self._procs)

    @property
    def pids(self) -> list[int]:
        return [p.pid for p in self._procs if p.pid is not None]

    def run_cell(
        self,
        endpoint: Endpoint,
        template: ProcessTask,
        concurrency: int,
        rep: int = 1,
    ) -> CellResult:
        """Run ``template`` with ``concurrency`` workers in all over the pool's processes.

        ``template`` carries everything but the per-process fields (workers, start time, key
        split, seed); GET/HEAD processes all get every key, each starting elsewhere; DELETE
        processes get disjoint shares of the keys; PUT processes write under their own prefix.
        ``template.max_ops`` is a total, split like the workers.
        """
        shares = split(concurrency, self.processes)
        op_shares = split(template.max_ops, self.processes) if template.max_ops else None
        start_at = time.time() + START_DELAY
        stride = max(1, len(template.keys) // max(concurrency, 1))
        sent: list[Connection] = []
        first_worker = 0
        for i, (conn, workers) in enumerate(zip(self._conns, shares, strict=True)):
            if workers == 0 or (op_shares is not None and op_shares[i] == 0):
                continue
            keys = template.keys
            if template.op == "delete":
                keys = template.keys[i :: self.processes]
            task = replace(
                template,
                endpoint=endpoint,
                workers=workers,
                start_at=start_at,
                key_prefix=f"{template.key_prefix}/p{i}" if template.key_prefix else "",
                keys=keys,
                key_offset=first_worker * stride,
                key_stride=stride,
                max_ops=op_shares[i] if op_shares else 0,
                seed=template.seed * 1000 + i,
            )
            conn.send(task)
            sent.append(conn)
            first_worker += workers
        deadline = start_at + template.warmup + template.duration + ANSWER_GRACE
        results = []
        for conn in sent:
            if not conn.poll(max(0.0, deadline - time.time())):
                raise TimeoutError(f"a client process did not answer {template.op} in time")
            results.append(conn.recv())
        return merge(endpoint.name, template, concurrency, rep, results)

    def close(self) -> None:
        """Ask every process to stop; terminate (by PID) any that does not."""
        for conn in self._conns:
            try:
                conn.send(None)
            except (BrokenPipeError, OSError):
                pass
        for proc in self._procs:
            proc.join(STOP_TIMEOUT)
            if proc.is_alive():
                proc.terminate()
                proc.join(STOP_TIMEOUT)
        for conn in self._conns:
            conn.close()

    def __enter__(self) -> ClientPool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
