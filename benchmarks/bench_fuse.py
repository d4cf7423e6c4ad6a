"""Benchmark, the mount: WormFS's FUSE mount beside s3fs-fuse, rclone mount and the local disk.

Starts WormFS as ``make run`` does (``s3bench.stores.WormFSServer``: ``wormfs server`` over a temp
data dir, root keys from its ``credentials.json``), makes one bucket per target, and mounts:

* ``wormfs``: ``wormfs mount BUCKET DIR --data-dir DATA`` (the mount under test);
* ``s3fs``: Debian's s3fs-fuse over WormFS's own S3 gateway (path-style requests), foreground;
* ``rclone``: ``rclone mount`` of an ``:s3:`` remote on the gateway, ``--vfs-cache-mode writes``
  (its default for editors; its close returns before the upload: not durable);
* ``local``: a directory on the disk holding the data dir: the ceiling (files are fsynced where
  the workload asks for durable closes, which a mount gives by its own rules).

Workloads (each target in turn, fresh directory each; ``--quick`` scales every size down 8x):

| name | what | unit |
| --- | --- | --- |
| ``create`` | 2,000 x 4 KiB files in 100 directories, every close durable | seconds |
| ``copy-in`` | copy a 256 MiB file in (from a page-cached local file), close included | seconds |
| ``ls-lR`` | ``ls -lR`` of the ``create`` tree | seconds |
| ``rm-rf`` | ``rm -rf`` of that tree | seconds |
| ``seq-write`` | 1 GiB in 1 MiB writes, fsync at the end | MB/s |
| ``seq-read`` | that file read back in 1 MiB reads after ``drop_caches`` (as root) | MB/s |
| ``rand-read`` | 4 KiB preads at random offsets of a 256 MiB file, ``--duration`` s, cold | ops/s |
| ``rand-write`` | 4 KiB pwrites at random offsets, fsync every 64, ``--duration`` s | ops/s |
| ``rename-dir`` | rename of a directory of 10,000 files (``--rename-files``) | seconds |

A workload that fails on a target (an errno, a mount that dies) is reported as ``error: ...``
and the run goes on; ``--targets`` and ``--workloads`` pick a subset. Writes one JSON line per
result to ``build/bench/fuse-<stamp>.jsonl`` and a markdown table to stdout and
``build/bench/fuse-<stamp>.md``. Every process started here is stopped by its PID, every mount
unmounted (``fusermount3 -u``, lazily if it is busy), temp dirs removed.

Run: ``.venv/bin/python benchmarks/bench_fuse.py [--quick] [--targets wormfs,s3fs,rclone,local]``
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from s3bench.stores import Endpoint, WormFSServer, s3_request

REPO = Path(__file__).resolve().parents[1]
MOUNT_TIMEOUT = 60.0
MiB = 1024 * 1024
TARGETS = ("wormfs", "s3fs", "rclone", "local")
WORKLOADS = (
    "create",
    "copy-in",
    "ls-lR",
    "rm-rf",
    "seq-write",
    "seq-read",
    "rand-read",
    "rand-write",
    "rename-dir",
)
# The targets for WormFS: (bound, "max" for seconds or "min" for rates).
GOALS = {
    "create": (5.0, "max"),
    "copy-in": (1.5, "max"),
    "ls-lR": (1.0, "max"),
    "rm-rf": (3.0, "max"),
    "seq-write": (300.0, "min"),
    "seq-read": (500.0, "min"),
    "rand-read": (2000.0, "min"),
    "rand-write": (200.0, "min"),
    "rename-dir": (2.0, "max"),
}
UNITS = {"seq-write": "MB/s", "seq-read": "MB/s", "rand-read": "ops/s", "rand-write": "ops/s"}


@dataclass(frozen=True)
class Sizes:
    files: int = 2000
    dirs: int = 100
    small: int = 4096
    copy: int = 256 * MiB
    sequential: int = 1024 * MiB
    random_file: int = 256 * MiB
    rename_files: int = 10_000

    def scaled(self, factor: int) -> Sizes:
        return Sizes(
            files=self.files // factor,
            dirs=max(1, self.dirs // factor),
            small=self.small,
            copy=self.copy // factor,
            sequential=self.sequential // factor,
            random_file=self.random_file // factor,
            rename_files=self.rename_files // factor,
        )


# ---- mounts ------------------------------------------------------------------------------------
@dataclass
class Mount:
    name: str
    path: Path
    process: subprocess.Popen[bytes] | None
    durable_close: bool  # whether close() itself makes the data durable (else: fsync it)

    def stop(self) -> None:
        if self.process is not None:
            subprocess.run(["fusermount3", "-u", str(self.path)], capture_output=True, timeout=60)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.terminate()
                try:
                    self.process.wait(30)
                except subprocess.TimeoutExpired:
                    self.process.kill()
                    self.process.wait(30)
            if os.path.ismount(self.path):
                subprocess.run(["fusermount3", "-u", "-z", str(self.path)], capture_output=True)


def _wait_mounted(path: Path, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + MOUNT_TIMEOUT
    while not os.path.ismount(path):
        if process.poll() is not None:
            raise RuntimeError(f"mount of {path} exited: {log.read_text(errors='replace')[-2000:]}")
        if time.monotonic() > deadline:
            raise RuntimeError(f"{path} not mounted after {MOUNT_TIMEOUT:.0f}s")
        time.sleep(0.1)


def _start(
    argv: list[str], path: Path, log: Path, env: dict[str, str] | None = None
) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        process = subprocess.Popen(
            argv, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env
        )
    _wait_mounted(path, process, log)
    return process


def mount(name: str, work: Path, server: WormFSServer, endpoint: Endpoint, bucket: str) -> Mount:
    path = work / f"mnt-{name}"
    path.mkdir()
    log = work / f"{name}.log"
    if name == "local":
        return Mount(name, path, None, durable_close=False)
    if name == "wormfs":
        argv = [str(REPO / ".venv/bin/wormfs"), "mount", bucket, str(path)]
        argv += ["--data-dir", str(server.root / "data")]
        return Mount(name, path, _start(argv, path, log), durable_close=True)
    if name == "s3fs":
        secrets = work / "s3fs.passwd"
        secrets.write_text(f"{endpoint.access_key}:{endpoint.secret_key}\n")
        secrets.chmod(0o600)
        argv = ["s3fs", bucket, str(path), "-f", "-o", f"url={endpoint.url}"]
        argv += ["-o", "use_path_request_style", "-o", f"passwd_file={secrets}"]
        return Mount(name, path, _start(argv, path, log), durable_close=True)
    if name == "rclone":
        env = dict(os.environ)
        env.update(
            RCLONE_S3_PROVIDER="Other",
            RCLONE_S3_ENDPOINT=endpoint.url,
            RCLONE_S3_ACCESS_KEY_ID=endpoint.access_key,
            RCLONE_S3_SECRET_ACCESS_KEY=endpoint.secret_key,
            RCLONE_S3_REGION="us-east-1",
        )
        argv = ["rclone", "mount", f":s3:{bucket}", str(path), "--vfs-cache-mode", "writes"]
        argv += ["--cache-dir", str(work / "rclone-cache")]
        return Mount(name, path, _start(argv, path, log, env), durable_close=False)
    raise ValueError(f"unknown target {name!r}")


# ---- workloads ---------------------------------------------------------------------------------
def _write_file(path: Path, data: bytes, fsync: bool) -> None:
    fd = os.open(path, os.O_CREAT | os.O_WRONLY | os.O_TRUNC, 0o644)
    try:
        os.write(fd, data)
        if fsync:
            os.fsync(fd)
    finally:
        os.close(fd)


def create_tree(root: Path, sizes: Sizes, fsync: bool) -> float:
    data = os.urandom(sizes.small)
    start = time.perf_counter()
    for d in range(sizes.dirs):
        (root / f"d{d:03d}").mkdir()
    for n in range(sizes.files):
        _write_file(root / f"d{n % sizes.dirs:03d}" / f"f{n:05d}", data, fsync)
    return time.perf_counter() - start


def timed_command(argv: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(argv, check=True, stdout=subprocess.DEVNULL, timeout=3600)
    return time.perf_counter() - start


def copy_in(root: Path, source: Path, fsync: bool) -> float:
    start = time.perf_counter()
    with source.open("rb") as src, (root / "copied").open("wb") as dst:
        shutil.copyfileobj(src, dst, 1 * MiB)
        if fsync:
            dst.flush()
            os.fsync(dst.fileno())
    return time.perf_counter() - start


def sequential_write(path: Path, size: int) -> float:
    block = os.urandom(MiB)
    start = time.perf_counter()
    fd = os.open(path, os.O_CREAT | os.O_WRONLY | os.O_TRUNC, 0o644)
    try:
        for _ in range(size // MiB):
            os.write(fd, block)
        os.fsync(fd)
    finally:
        os.close(fd)
    return size / (time.perf_counter() - start) / 1e6


def drop_caches() -> None:
    os.sync()
    try:
        Path("/proc/sys/vm/drop_caches").write_text("3\n")
    except OSError:
        pass  # not root: the read is warm, and the report says so


def sequential_read(path: Path) -> float:
    drop_caches()
    total = 0
    start = time.perf_counter()
    fd = os.open(path, os.O_RDONLY)
    try:
        while chunk := os.read(fd, MiB):
            total += len(chunk)
    finally:
        os.close(fd)
    return total / (time.perf_counter() - start) / 1e6


def random_io(path: Path, size: int, duration: float, write: bool) -> float:
    rng = random.Random(1)
    block = os.urandom(4096)
    fd = os.open(path, os.O_RDWR)
    ops = 0
    if not write:
        drop_caches()  # reads from the store, not from the page cache of the set-up write
    start = time.perf_counter()
    try:
        while time.perf_counter() - start < duration:
            offset = rng.randrange(size // 4096) * 4096
            if write:
                os.pwrite(fd, block, offset)
                ops += 1
                if ops % 64 == 0:
                    os.fsync(fd)
            else:
                os.pread(fd, 4096, offset)
                ops += 1
        if write:
            os.fsync(fd)
    finally:
        os.close(fd)
    return ops / (time.perf_counter() - start)


def rename_dir(root: Path, files: int) -> float:
    (root / "many").mkdir()
    for n in range(files):
        _write_file(root / "many" / f"f{n:05d}", b"x", False)
    start = time.perf_counter()
    os.rename(root / "many", root / "renamed")
    return time.perf_counter() - start


def run_workloads(
    target: Mount, sizes: Sizes, chosen: list[str], duration: float, source: Path
) -> dict[str, float | str]:
    out: dict[str, float | str] = {}
    root = target.path
    fsync = not target.durable_close and target.name == "local"

    def attempt(name: str, fn: Callable[[], float]) -> None:
        if name not in chosen:
            return
        try:
            out[name] = fn()
        except (OSError, subprocess.SubprocessError, RuntimeError) as exc:
            out[name] = f"error: {exc}"
        print(f"  {target.name} {name}: {out[name]}", file=sys.stderr, flush=True)

    tree = root / "tree"
    tree.mkdir()
    attempt("create", lambda: create_tree(tree, sizes, fsync))
    attempt("copy-in", lambda: copy_in(root, source, fsync))
    attempt("ls-lR", lambda: timed_command(["ls", "-lR", str(tree)]))
    attempt("rm-rf", lambda: timed_command(["rm", "-rf", str(tree)]))
    big = root / "sequential"
    attempt("seq-write", lambda: sequential_write(big, sizes.sequential))
    attempt("seq-read", lambda: sequential_read(big))
    rand = root / "random"
    if {"rand-read", "rand-write"} & set(chosen):
        sequential_write(rand, sizes.random_file)
    attempt("rand-read", lambda: random_io(rand, sizes.random_file, duration, write=False))
    attempt("rand-write", lambda: random_io(rand, sizes.random_file, duration, write=True))
    attempt("rename-dir", lambda: rename_dir(root, sizes.rename_files))
    return out


# ---- report ------------------------------------------------------------------------------------
def _cell(value: float | str | None, name: str) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, str):
        return value[:60]
    unit = UNITS.get(name, "s")
    return f"{value:,.0f} {unit}" if unit != "s" else f"{value:.2f} s"


def _goal(name: str, value: float | str | None) -> str:
    bound, kind = GOALS[name]
    shown = f"≤ {bound:g} s" if kind == "max" else f"≥ {bound:,.0f} {UNITS[name]}"
    if not isinstance(value, float):
        return f"{shown} (no result)"
    met = value <= bound if kind == "max" else value >= bound
    return f"{shown} ({'met' if met else 'missed'})"


def report(results: dict[str, dict[str, float | str]], sizes: Sizes) -> str:
    targets = list(results)
    lines = [
        f"Sizes: {sizes}",
        "",
        "| workload | " + " | ".join(targets) + " | WormFS target |",
        "| --- | " + " | ".join("---:" for _ in targets) + " | --- |",
    ]
    names = [n for n in WORKLOADS if any(n in r for r in results.values())]
    for name in names:
        cells = [_cell(results[t].get(name), name) for t in targets]
        lines.append(
            f"| {name} | "
            + " | ".join(cells)
            + f" | {_goal(name, results.get('wormfs', {}).get(name))} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--targets", default=",".join(TARGETS))
    parser.add_argument("--workloads", default=",".join(WORKLOADS))
    parser.add_argument("--quick", action="store_true", help="every size divided by 8")
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per random run")
    parser.add_argument("--out-dir", default=str(REPO / "build" / "bench"))
    args = parser.parse_args(argv)
    targets = [t for t in args.targets.split(",") if t]
    chosen = [w for w in args.workloads.split(",") if w]
    for name in targets:
        if name not in TARGETS:
            parser.error(f"unknown target {name!r}")
    sizes = Sizes().scaled(8) if args.quick else Sizes()
    out_dir = Path(args.out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    results: dict[str, dict[str, float | str]] = {}
    with ExitStack() as stack:
        server = WormFSServer(REPO / ".venv/bin/wormfs")
        stack.callback(server.stop)
        endpoint = server.start()
        work = Path(tempfile.mkdtemp(prefix="wormfs-fusebench-", dir=server.root))
        source = work / "source"
        with source.open("wb") as fh:
            for _ in range(sizes.copy // MiB):
                fh.write(os.urandom(MiB))
        for name in targets:
            bucket = f"fusebench-{name}"
            status = s3_request(endpoint, "PUT", f"/{bucket}")
            if status != 200:
                raise RuntimeError(f"CreateBucket {bucket}: HTTP {status}")
            try:
                target = mount(name, work, server, endpoint, bucket)
            except (OSError, RuntimeError) as exc:
                results[name] = {w: f"error: mount: {exc}" for w in chosen}
                continue
            try:
                print(f"{name}: mounted at {target.path}", file=sys.stderr, flush=True)
                results[name] = run_workloads(target, sizes, chosen, args.duration, source)
            finally:
                target.stop()
    table = report(results, sizes)
    with (out_dir / f"fuse-{stamp}.jsonl").open("w") as fh:
        for name, values in results.items():
            fh.write(json.dumps({"target": name, **values}) + "\n")
    (out_dir / f"fuse-{stamp}.md").write_text(table + "\n")
    print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
