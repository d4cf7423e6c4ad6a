"""Benchmark, machine floors: what the kernel and aiohttp cost before WormFS does anything.

The storage node's PUT cost (``bench_storage_node.py``) is node CPU seconds per GB received.
Part of it is not the node's code at all: receiving bytes over loopback TCP, parsing HTTP with
aiohttp, and writing a file durably. This script measures those steps alone, with the same
CPU accounting (``/proc/<pid>/stat`` or ``os.times``: user + system seconds), so that the
node's numbers can be read against them:

* ``tcp_recv``       loopback TCP, receiver ``recv_into`` a reused 1 MiB buffer (a sender
                     child process writes 1 GiB); receiver core-s/GB;
* ``http_sink``      an aiohttp (uvloop) server child process whose handler drains PUT bodies
                     with ``readchunk`` and answers 201, driven by 16 aiohttp client workers
                     sending 1 MiB and 4 KiB bodies (1 MiB as four 256 KiB pieces); server
                     core-s/GB and core-ms per request;
* ``durable_file``   the node's write sequence alone, single-threaded: create a temp file,
                     write, fsync, link to the final name, unlink the temp name, fsync the
                     directory; for 4 KiB, 256 KiB and 1 MiB files, the last both with
                     256 KiB and with 1 MiB write calls (the kernel sizes page-cache folios
                     by the write's length); the write calls' own share is reported apart.

Runs in a temp dir (``--tmp-dir`` picks its parent) that is removed afterwards; child
processes are stopped by PID. With defaults a run takes under a minute.

Run: ``.venv/bin/python benchmarks/bench_floors.py [--seconds 5]``
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from types import FrameType

import aiohttp
import uvloop
from aiohttp import web

KIB = 1024
MIB = 1024 * KIB
TCP_BYTES = 1 << 30
FILE_BYTES = 256 * MIB  # written per durable_file measurement (fewer for small files)
MAX_FILES = 600
CLK_TCK = os.sysconf("SC_CLK_TCK")
STOP_TIMEOUT = 10.0
MAX_SECONDS = 30.0


@dataclass(frozen=True)
class Floor:
    bench: str
    step: str
    variant: str
    ops: int
    bytes: int
    seconds: float
    mb_per_s: float
    core_s_per_gb: float
    core_ms_per_op: float
    user_share: float
    write_core_s_per_gb: float = 0.0  # durable_file: the write calls alone


def floor(
    step: str, variant: str, ops: int, nbytes: int, seconds: float, user: float, system: float
) -> Floor:
    cpu = user + system
    return Floor(
        bench="floor",
        step=step,
        variant=variant,
        ops=ops,
        bytes=nbytes,
        seconds=round(seconds, 3),
        mb_per_s=round(nbytes / seconds / 1e6, 1),
        core_s_per_gb=round(cpu / (nbytes / 1e9), 3),
        core_ms_per_op=round(cpu * 1000 / ops, 3),
        user_share=round(user / cpu, 2) if cpu else 0.0,
    )


def proc_cpu(pid: int) -> tuple[float, float]:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) / CLK_TCK, int(fields[12]) / CLK_TCK


@contextlib.contextmanager
def child(args: list[str]) -> Iterator[subprocess.Popen[bytes]]:
    """A child process of this script, stopped by its PID whatever happens."""
    proc = subprocess.Popen([sys.executable, __file__, *args], stdout=subprocess.PIPE)
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()


# ---- loopback TCP -------------------------------------------------------------------------------
def tcp_send(port: int) -> None:
    buf = os.urandom(MIB)
    with socket.create_connection(("127.0.0.1", port)) as sock:
        for _ in range(TCP_BYTES // MIB):
            sock.sendall(buf)


def tcp_recv() -> Floor:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]
        with child(["--tcp-send", str(port)]):
            conn, _ = listener.accept()
            with conn:
                buf = bytearray(MIB)
                got = 0
                before, start = os.times(), time.perf_counter()
                while n := conn.recv_into(buf):
                    got += n
                seconds, after = time.perf_counter() - start, os.times()
    return floor(
        "tcp_recv",
        "recv_into reused 1 MiB",
        got // MIB,
        got,
        seconds,
        after.user - before.user,
        after.system - before.system,
    )


# ---- aiohttp sink -------------------------------------------------------------------------------
def serve_sink() -> None:
    async def put(request: web.Request) -> web.Response:
        content = request.content
        while True:
            piece, end_of_chunk = await content.readchunk()
            if not piece and not end_of_chunk:
                break
        return web.Response(status=201, body=b'{"ok":true}', content_type="application/json")

    async def main() -> None:
        app = web.Application()
        app.router.add_put("/sink/{name}", put)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        address = runner.addresses[0]
        print(address[1], flush=True)
        stop = asyncio.Event()
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
        await stop.wait()
        await runner.cleanup()

    uvloop.run(main())


async def drive_sink(port: int, pid: int, size: int, seconds: float) -> Floor:
    piece = min(size, 256 * KIB)
    pieces = [os.urandom(piece) for _ in range(size // piece)]

    async def body() -> AsyncIterator[bytes]:
        for p in pieces:
            yield p

    ops = 0
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=32)) as session:
        url = f"http://127.0.0.1:{port}/sink/x"
        headers = {"Content-Length": str(size), "Content-Type": "application/octet-stream"}

        async def worker(end: float) -> None:
            nonlocal ops
            while time.monotonic() < end:
                async with session.put(url, data=body(), headers=headers) as resp:
                    await resp.read()
                ops += 1

        await asyncio.gather(*(worker(time.monotonic() + 1.0) for _ in range(16)))  # warm-up
        ops = 0
        (u0, s0), start = proc_cpu(pid), time.perf_counter()
        await asyncio.gather(*(worker(time.monotonic() + seconds) for _ in range(16)))
        elapsed, (u1, s1) = time.perf_counter() - start, proc_cpu(pid)
    label = f"{size // KIB} KiB bodies" if size < MIB else f"{size // MIB} MiB bodies"
    return floor("http_sink", label, ops, ops * size, elapsed, u1 - u0, s1 - s0)


def http_sink(seconds: float) -> list[Floor]:
    with child(["--serve-sink"]) as proc:
        assert proc.stdout is not None
        port = int(proc.stdout.readline())

        async def both() -> list[Floor]:
            return [
                await drive_sink(port, proc.pid, MIB, seconds),
                await drive_sink(port, proc.pid, 4 * KIB, seconds),
            ]

        return uvloop.run(both())


# ---- files --------------------------------------------------------------------------------------
def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_files(root: Path, size: int, call: int) -> Floor:
    """Write new files of ``size`` bytes durably, ``call`` bytes per write.

    ``write_core_s_per_gb`` is the share of the writes alone (thread CPU time around them).
    """
    work = Path(tempfile.mkdtemp(dir=root))
    tmp, final = work / "tmp", work / "final"
    tmp.mkdir()
    final.mkdir()
    data = memoryview(os.urandom(size))
    count = max(1, min(MAX_FILES, FILE_BYTES // size))
    writing = 0.0
    before, start = os.times(), time.perf_counter()
    for i in range(count):
        name = tmp / f"{i}.tmp"
        fd = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        try:
            began = time.thread_time()
            for offset in range(0, size, call):
                os.write(fd, data[offset : offset + call])
            writing += time.thread_time() - began
            os.fsync(fd)
        finally:
            os.close(fd)
        os.link(name, final / f"{i}")
        os.unlink(name)
        fsync_dir(final)
    seconds, after = time.perf_counter() - start, os.times()
    shutil.rmtree(work)
    label = f"{size // KIB} KiB files, {call // KIB} KiB writes"
    result = floor(
        "durable_file",
        label,
        count,
        count * size,
        seconds,
        after.user - before.user,
        after.system - before.system,
    )
    return dataclasses.replace(result, write_core_s_per_gb=round(writing / (count * size / 1e9), 3))


def files(root: Path) -> list[Floor]:
    return [
        write_files(root, 4 * KIB, 4 * KIB),
        write_files(root, 256 * KIB, 256 * KIB),
        write_files(root, MIB, 256 * KIB),
        write_files(root, MIB, MIB),
    ]


# ---- report -------------------------------------------------------------------------------------
def markdown(results: list[Floor]) -> str:
    rows = [
        "| step | variant | MB/s | core-s/GB | core-ms/op | user share | writes core-s/GB |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in results:
        rows.append(
            f"| {r.step} | {r.variant} | {r.mb_per_s:.0f} | {r.core_s_per_gb:.3f} "
            f"| {r.core_ms_per_op:.3f} | {r.user_share:.2f} "
            f"| {r.write_core_s_per_gb or '':} |"
        )
    return "\n".join(rows)


def _terminate(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt  # unwind: children are stopped and temp files removed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--seconds", type=float, default=5.0, help="per http_sink measurement")
    parser.add_argument("--tmp-dir", help="parent of the temp dir (default: system temp)")
    parser.add_argument("--format", choices=("json", "markdown", "both"), default="both")
    parser.add_argument("--tcp-send", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--serve-sink", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.tcp_send:
        tcp_send(args.tcp_send)
        return 0
    if args.serve_sink:
        serve_sink()
        return 0
    if not 1.0 <= args.seconds <= MAX_SECONDS:
        parser.error(f"--seconds must be within 1..{MAX_SECONDS}")
    signal.signal(signal.SIGTERM, _terminate)
    root = Path(tempfile.mkdtemp(prefix="wormfs-bench-floors-", dir=args.tmp_dir))
    try:
        results = [tcp_recv(), *http_sink(args.seconds), *files(root)]
    finally:
        shutil.rmtree(root, ignore_errors=True)
    if args.format in ("json", "both"):
        for r in results:
            print(json.dumps(asdict(r)))
    if args.format in ("markdown", "both"):
        if args.format == "both":
            print()
        print(markdown(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
