"""Benchmark client, workload: what one client process does for one benchmark cell.

A cell is one operation (``put``, ``get``, ``head``, ``delete``, ``list`` or ``mixed``) at one
object size and one concurrency, run for a fixed time against one endpoint. The parent
(``pool.ClientPool``) splits the cell's workers over several client processes and sends each
process a ``ProcessTask``; the process runs the task on a uvloop event loop with one aiohttp
session and ``workers`` concurrent asyncio workers, and answers with a ``ProcessResult``.

Timing. Every process sleeps until the task's wall-clock ``start_at`` so that all of them start
together. Each worker then issues operations back to back: those it *starts* before ``warmup``
seconds have passed are not counted (connections are opened then); it stops starting new ones
``duration`` seconds after the warm-up and lets the one in flight finish. A worker's window runs
from the start of its first counted operation to the end of its last, and its rate is what it
completed in that window divided by the window. The cell's rate is the sum of its workers'
rates: the steady-state throughput at that concurrency, without the quantisation error that
counting whole 64 MiB operations in a fixed window would bring. Latency is per successful
operation (request sent to last body byte read), every sample kept for the percentiles.

Keys. PUTs write ``{key_prefix}/w{worker}/{seq}`` and report every key they wrote (the
runner reads and deletes those later); GET and HEAD cycle over ``keys`` (each worker starting
at its own offset); DELETE consumes ``keys`` (each once; a worker stops early when none are
left); LIST asks for one ListObjectsV2 page of ``list_max`` keys under ``list_prefix``.
``mixed`` draws, per operation, GET 45 %, HEAD 30 %, PUT 15 %, DELETE 10 % (the locust mix):
GET and HEAD read ``keys``, PUT writes new keys, DELETE removes the oldest key this worker put
(or, before it has put any, a key that does not exist, which S3 answers with 204 too).

Payload. Each process draws ``PAYLOAD_BLOCK`` random bytes once, at start; a PUT of at most that
size sends one ``bytes`` slice made once per task, a larger PUT streams the block repeated.
"""

from __future__ import annotations

import asyncio
import collections
import os
import random
import time
from array import array
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from multiprocessing.connection import Connection

import aiohttp
import uvloop

from .client import S3Client
from .sigv4 import SigV4Signer

PAYLOAD_BLOCK = 8 << 20
OPS = ("put", "get", "head", "delete", "list", "mixed")
MIX = (("get", 45), ("head", 30), ("put", 15), ("delete", 10))
ERROR_BACKOFF = 0.05  # seconds a worker waits after a failed operation (no hot spin)
CONNECT_TIMEOUT = 30.0
READ_TIMEOUT = 300.0


@dataclass(frozen=True)
class Endpoint:
    """One S3 endpoint under test and the keys to sign with."""

    name: str
    url: str
    access_key: str
    secret_key: str
    region: str = "us-east-1"


@dataclass(frozen=True)
class ProcessTask:
    """One client process's share of a cell."""

    endpoint: Endpoint
    bucket: str
    op: str
    size: int
    workers: int
    start_at: float  # time.time() at which every process starts
    warmup: float
    duration: float
    key_prefix: str = ""
    keys: tuple[str, ...] = ()
    key_offset: int = 0  # where this process's first worker starts in ``keys`` (GET/HEAD)
    key_stride: int = 1  # distance between two workers' starting points in ``keys``
    list_prefix: str = ""
    list_max: int = 1000
    max_ops: int = 0  # stop after this many operations in this process (0: time only)
    seed: int = 0


@dataclass
class WorkerStats:
    """What one worker completed in its measured window."""

    ops: int = 0
    bytes: int = 0
    errors: int = 0
    seconds: float = 0.0


@dataclass
class ProcessResult:
    """A process's answer: per-worker figures, latency samples, keys written."""

    workers: list[WorkerStats]
    latencies: array[float]
    written: list[str] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    listed_keys: int = 0
    by_op: dict[str, int] = field(default_factory=dict)
    completed: int = 0  # successful operations, warm-up included (for CPU cost per operation)
    first_error: str = ""
    crashed: str = ""


@dataclass
class _Shared:
    """State the workers of one process share (single-threaded: no locks)."""

    task: ProcessTask
    client: S3Client
    body: bytes | memoryview
    latencies: array[float]
    result: ProcessResult
    delete_queue: collections.deque[str]
    issued: int = 0


Call = Callable[[], Awaitable[int]]


def _next_call(
    shared: _Shared, worker: int, seq: int, rng: random.Random, mine: collections.deque[str]
) -> tuple[str, Call] | None:
    """The next operation of ``worker`` (its name and a coroutine factory), or None: stop."""
    task, client = shared.task, shared.client
    bucket = task.bucket
    op = task.op
    if op == "mixed":
        op = rng.choices([m[0] for m in MIX], weights=[m[1] for m in MIX])[0]
    if op == "put":
        key = f"{task.key_prefix}/w{worker}/{seq:09d}"

        async def put() -> int:
            sent = await client.put(bucket, key, shared.body, task.size)
            (mine if task.op == "mixed" else shared.result.written).append(key)
            return sent

        return "put", put
    if op in ("get", "head"):
        if not task.keys:
            raise RuntimeError(f"{op} needs keys to read")
        start = task.key_offset + worker * task.key_stride
        key = task.keys[(start + seq) % len(task.keys)]
        call = client.get if op == "get" else client.head
        return op, lambda: call(bucket, key)
    if op == "delete":
        if task.op == "mixed":
            key = mine.popleft() if mine else f"{task.key_prefix}/missing/w{worker}/{seq}"
        elif shared.delete_queue:
            key = shared.delete_queue.popleft()
        else:
            return None

        async def delete() -> int:
            await client.delete(bucket, key)
            if task.op == "delete":
                shared.result.deleted.append(key)
            return 0

        return "delete", delete
    if op == "list":

        async def listing() -> int:
            shared.result.listed_keys += await client.list(bucket, task.list_prefix, task.list_max)
            return 0

        return "list", listing
    raise ValueError(f"unknown operation {op!r}")


async def _worker(shared: _Shared, worker: int, t_start: float) -> WorkerStats:
    task = shared.task
    stats = WorkerStats()
    measure_from = t_start + task.warmup
    end = measure_from + task.duration
    rng = random.Random(task.seed * 100_003 + worker)
    mine: collections.deque[str] = collections.deque()
    first = last = 0.0
    seq = 0
    while True:
        began = time.perf_counter()
        if began >= end or (task.max_ops and shared.issued >= task.max_ops):
            break
        step = _next_call(shared, worker, seq, rng, mine)
        if step is None:
            break
        name, call = step
        seq += 1
        shared.issued += 1
        ok = True
        moved = 0
        try:
            moved = await call()
        except Exception as exc:  # count it and go on: one failure must not stop the cell
            ok = False
            if not shared.result.first_error:
                shared.result.first_error = f"{type(exc).__name__}: {exc}"[:300]
        finished = time.perf_counter()
        shared.result.completed += ok
        if began >= measure_from:
            if not stats.ops and not stats.errors:
                first = began
            last = finished
            if ok:
                stats.ops += 1
                stats.bytes += moved
                shared.latencies.append(finished - began)
                shared.result.by_op[name] = shared.result.by_op.get(name, 0) + 1
            else:
                stats.errors += 1
        if not ok:
            await asyncio.sleep(ERROR_BACKOFF)
    stats.seconds = last - first
    # Keys a mixed worker put and did not delete stay in the bucket: report them for cleanup.
    shared.result.written.extend(mine)
    return stats


async def run_task(task: ProcessTask, block: memoryview) -> ProcessResult:
    """Run one task to its end in this process's event loop."""
    body: bytes | memoryview = bytes(block[: task.size]) if task.size <= len(block) else block
    timeout = aiohttp.ClientTimeout(
        total=None, sock_connect=CONNECT_TIMEOUT, sock_read=READ_TIMEOUT
    )
    connector = aiohttp.TCPConnector(limit=max(task.workers, 1), limit_per_host=0)
    result = ProcessResult(workers=[], latencies=array("d"))
    async with aiohttp.ClientSession(
        connector=connector, timeout=timeout, auto_decompress=False
    ) as session:
        endpoint = task.endpoint
        signer = SigV4Signer(endpoint.access_key, endpoint.secret_key, endpoint.region)
        shared = _Shared(
            task=task,
            client=S3Client(session, endpoint.url, signer),
            body=body,
            latencies=result.latencies,
            result=result,
            delete_queue=collections.deque(task.keys if task.op == "delete" else ()),
        )
        delay = task.start_at - time.time()
        if delay > 0:
            await asyncio.sleep(delay)
        t_start = time.perf_counter()
        result.workers = list(
            await asyncio.gather(*(_worker(shared, w, t_start) for w in range(task.workers)))
        )
    return result


def serve(conn: Connection) -> None:
    """Client process main loop: run each task received on ``conn`` until told to stop (None)."""
    block = memoryview(os.urandom(PAYLOAD_BLOCK))
    while True:
        try:
            task = conn.recv()
        except (EOFError, KeyboardInterrupt):
            return
        if task is None:
            return
        try:
            result = uvloop.run(run_task(task, block))
        except KeyboardInterrupt:
            return
        except Exception as exc:  # report, do not die: the parent decides what to do
            result = ProcessResult(workers=[], latencies=array("d"))
            result.crashed = f"{type(exc).__name__}: {exc}"
        conn.send(result)
