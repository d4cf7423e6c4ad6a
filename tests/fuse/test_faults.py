"""The mount under faults: what fsync or close acknowledged is never lost or torn, what was
not is old or new and never a mix, failures reach the caller as an errno in bounded time, and
the garbage of interrupted writes is collected.

* With the module's storage node gone, fsync and close of a file too large to be inline fail
  with EIO (never a silent loss: the bytes are kept under the cache dir's conflicts/), and
  small files, stored inline, still commit.
* On a cluster of their own (six storage nodes of one disk each, the default 4+2 profile, a
  GC delay of seconds), a write + fsync loop over many files (small, and a few of some MiB,
  random offsets) runs while
  - the mount is killed (-9): the calls fail with ENOTCONN, the dead mount is lazily unmounted,
    and after a remount every file holds exactly its last synced bytes, or those of the one
    attempt the kill interrupted (through the mount and through S3 GET);
  - m = 2 storage nodes are killed: synced files still read back right (a reader runs
    throughout), fsyncs fail with EIO while the coordinator still counts the nodes and after
    it knows them offline, inline files still commit; with m + 1 down, reads of erasure-coded
    files fail with EIO; with the nodes back, a retried fsync commits;
  - the coordinator is killed and restarted on its port: every call that needs it fails with
    EIO at once, and the same mount works again once it is back (a retried fsync, the loop).
  After each, no write intent is left, the GC queue is empty and the disks hold exactly the
  chunks of the bucket's current objects.
"""

from __future__ import annotations

import errno
import hashlib
import os
import random
import signal
import sqlite3
import subprocess
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterator
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from integration.cluster import Cluster
from integration.durability_helpers import fast_cluster, placements
from mounting import BUCKET, Mounted, fuse_available, in_mount_table
from waiting import wait_until

pytestmark = pytest.mark.fuse

MIB = 1024 * 1024


@pytest.mark.expected_log_errors(r"ERROR wormfs\.fuse\.files: the last close of \S+/big could not")
def test_fsync_and_close_fail_with_eio_when_the_nodes_are_gone(
    cluster: Cluster, s3: Any, mount: Mounted, root: Path
) -> None:
    data = os.urandom(512 * 1024)  # above the inline limit: needs the storage nodes
    fd = os.open(root / "big", os.O_WRONLY | os.O_CREAT, 0o644)
    os.write(fd, data)
    cluster.kill_node(1)
    with pytest.raises(OSError) as info:
        os.fsync(fd)
    assert info.value.errno == errno.EIO
    with pytest.raises(OSError) as info:
        os.close(fd)
    assert info.value.errno == errno.EIO
    # The last close could not commit either: its bytes are kept, and the log says where.
    cache = mount.log_path.parent / f"{mount.mountpoint.name}-cache"
    # (The kernel sends the release after close returns.)
    kept = wait_until(lambda: list(cache.rglob("big.*")), 10, message="bytes kept")
    assert [p.read_bytes() for p in kept] == [data]
    (root / "small").write_bytes(b"inline: no node needed")
    key = f"{root.name}/small"
    assert s3.get_object(Bucket=BUCKET, Key=key)["Body"].read() == b"inline: no node needed"


# ---- kill -9 of the mount, of m storage nodes, of the coordinator ------------------------------
# These tests kill things, so they run on a cluster and mounts of their own: six storage nodes
# of one disk each under the default 4+2 profile (m = 2 nodes may go), a coordinator whose GC
# collects abandoned writes after GC_DELAY, and a mount per test.

M = 2  # the default profile's parity fragments: m nodes may be lost, not m + 1
GC_DELAY = 8.0  # abandoned writes older than this are collected (60 s in production)
BOUNDED = 15.0  # seconds: no call into the mount may take longer while something is down
KILLED_MOUNT_ERRNOS = (errno.ENOTCONN, errno.ECONNABORTED)


@pytest.fixture(scope="module")
def faulty(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    fuse_available()
    root = tmp_path_factory.mktemp("faulty")
    # repair_delay: the killed nodes come back with their disks; nothing is to be rebuilt.
    with fast_cluster(root, nodes=6, disks_per_node=1, repair_delay=3600.0, gc_delay=GC_DELAY) as c:
        c.s3().create_bucket(Bucket=BUCKET)
        yield c


@pytest.fixture
def mounts(faulty: Cluster, tmp_path: Path) -> Iterator[Callable[[], Mounted]]:
    """Start mounts of the bucket on one mount point (a remount after a kill); every one is
    stopped by its PID and unmounted (a dead one's too), however the test ended."""
    started: list[Mounted] = []

    def start() -> Mounted:
        mounted = Mounted(faulty, BUCKET, tmp_path / "mnt", tmp_path / f"mount{len(started)}.log")
        started.append(mounted)
        return mounted.start()

    yield start
    for mounted in started:
        mounted.stop()


@dataclass
class Workload:
    """A write + fsync loop over many files (small ones, inline and erasure-coded, and a few
    of a few MiB), writes at random offsets, run in a thread; three steps in ten commit by
    close alone. It keeps what each file must hold: ``synced``, the bytes up to the last fsync
    or close that returned; ``attempt``, the bytes of an attempt that did not return (killed,
    or failed), which may or may not have committed.
    A file whose attempt failed is left alone afterwards (``retired``), until ``revive`` if it
    was its open that failed."""

    folder: Path
    seed: int
    stop_on_error: bool
    sizes: dict[str, int] = field(default_factory=dict)
    synced: dict[str, bytes] = field(default_factory=dict)
    attempt: dict[str, bytes] = field(default_factory=dict)
    errors: list[tuple[str, str, int, float]] = field(default_factory=list)  # name, call, errno, s
    retired: set[str] = field(default_factory=set)
    commits: int = 0  # fsyncs, or closes that committed, that returned
    big_commits: int = 0
    in_commit: str = ""  # the file whose fsync or committing close is running
    slowest: float = 0.0  # the longest call (seconds)
    stop: threading.Event = field(default_factory=threading.Event)

    def __post_init__(self) -> None:
        rng = random.Random(self.seed)
        for i in range(16):
            self.sizes[f"small{i:02d}"] = rng.choice([700, 5_000, 60_000, 150_000])
        for i in range(3):
            self.sizes[f"big{i}"] = rng.randint(2 * MIB, 4 * MIB)

    def revive(self) -> None:
        """Take up again the files whose open failed (their bytes are known)."""
        self.retired = {n for n in self.retired if n in self.attempt}

    def run(self) -> None:
        rng = random.Random(self.seed + 1 + self.commits)
        while not self.stop.is_set():
            live = [n for n in self.sizes if n not in self.retired]
            if not live:
                return
            name = rng.choice(live)
            size = self.sizes[name]
            new = bytearray(self.synced.get(name, b""))
            writes = []
            for _ in range(rng.randint(1, 4)):
                offset, data = rng.randrange(size), rng.randbytes(rng.randint(1, size // 4))
                writes.append((offset, data))
                new.extend(bytes(max(0, offset - len(new))))
                new[offset : offset + len(data)] = data
            self.attempt[name] = bytes(new)
            if not self._step(name, writes, by_close=rng.random() < 0.3) and self.stop_on_error:
                return

    def _call(self, name: str, call: str, fn: Callable[..., Any], *args: Any) -> Any:
        start = time.monotonic()
        try:
            return fn(*args)
        except OSError as exc:
            self.errors.append((name, call, exc.errno or 0, time.monotonic() - start))
            raise
        finally:
            self.slowest = max(self.slowest, time.monotonic() - start)

    def _step(self, name: str, writes: list[tuple[int, bytes]], by_close: bool) -> bool:
        """Open, write, then fsync and close, or only close (which commits then)."""
        path = self.folder / name
        try:
            fd = self._call(name, "open", os.open, path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError:
            self.attempt.pop(name)  # nothing was written
            self.retired.add(name)
            return False
        failed = False
        try:
            for offset, data in writes:
                self._call(name, "pwrite", os.pwrite, fd, data, offset)
            self.in_commit = name
            if not by_close:
                self._call(name, "fsync", os.fsync, fd)
                self._acknowledged(name)
        except OSError:
            failed = True
        finally:
            try:
                self._call(name, "close", os.close, fd)
                if name in self.attempt and not failed:
                    self._acknowledged(name)
            except OSError:
                failed = True
            self.in_commit = ""
        if failed:
            self.retired.add(name)
        return not failed

    def _acknowledged(self, name: str) -> None:
        self.synced[name] = self.attempt.pop(name)
        self.commits += 1
        self.big_commits += name.startswith("big")

    def check(self, read: Callable[[str], bytes | None], where: str) -> None:
        """Every file holds its synced bytes, or those of its unconfirmed attempt, whole."""
        for name in self.sizes:
            got = read(name)
            allowed = [self.synced.get(name)]
            if name not in self.synced:
                allowed.append(b"")  # created, never synced
            if name in self.attempt:
                allowed.append(self.attempt[name])
            if got not in allowed:
                lengths = [None if a is None else len(a) for a in allowed]
                want = "synced, or the attempt" if name in self.attempt else "synced"
                pytest.fail(f"{where}: {name} holds {describe(got)}, not {want} {lengths}")


def describe(data: bytes | None) -> str:
    return "nothing" if data is None else f"{len(data)} bytes ({hashlib.sha256(data).hexdigest()})"


def read_mount(folder: Path) -> Callable[[str], bytes | None]:
    def read(name: str) -> bytes | None:
        try:
            return (folder / name).read_bytes()
        except FileNotFoundError:
            return None

    return read


def read_s3(cluster: Cluster, prefix: str) -> Callable[[str], bytes | None]:
    s3 = cluster.s3()

    def read(name: str) -> bytes | None:
        try:
            key = f"{prefix}/{name}" if prefix else name
            return bytes(s3.get_object(Bucket=BUCKET, Key=key)["Body"].read())
        except s3.exceptions.NoSuchKey:
            return None

    return read


def gc_backlog(cluster: Cluster) -> tuple[int, int]:
    """(write intents never committed, chunks queued for deletion): read from the
    coordinator's SQLite database, read-only, as no route of its API counts them."""
    db = cluster.root / "meta" / "wormfs.db"
    with closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=10)) as conn:
        intents = conn.execute("SELECT count(*) FROM pending_writes").fetchone()[0]
        queued = conn.execute("SELECT count(*) FROM gc_queue").fetchone()[0]
    return int(intents), int(queued)


def assert_no_orphans(cluster: Cluster) -> None:
    """After the GC delay, every abandoned write was collected (no intent, nothing queued),
    and the chunks on the disks are exactly those the bucket's current objects use."""
    keys = [o["key"] for o in cluster.coordinator_get(f"/v1/buckets/{BUCKET}/objects")["objects"]]
    referenced = {c["chunk_id"] for c in placements(cluster, BUCKET, keys)}

    def on_disk() -> set[str]:
        return {p.stem for n in range(1, cluster.nodes + 1) for p in cluster.chunk_files(n)}

    try:
        wait_until(
            lambda: gc_backlog(cluster) == (0, 0) and on_disk() == referenced,
            GC_DELAY + 45,
            message="garbage collected",
        )
    except TimeoutError:
        left, missing = on_disk() - referenced, referenced - on_disk()
        pytest.fail(
            f"{len(left)} orphaned chunks: {sorted(left)[:5]}; missing: {missing}; "
            f"(intents, queued) = {gc_backlog(cluster)}"
        )


def start_workload(
    folder: Path, seed: int, stop_on_error: bool
) -> tuple[Workload, threading.Thread]:
    folder.mkdir()
    workload = Workload(folder, seed, stop_on_error)
    thread = threading.Thread(target=workload.run, name="workload", daemon=True)
    thread.start()
    return workload, thread


def finish(workload: Workload, thread: threading.Thread) -> None:
    workload.stop.set()
    thread.join(BOUNDED * 4)
    assert not thread.is_alive(), "the workload hangs in a call into the mount"


def during_a_large_commit(workload: Workload, thread: threading.Thread, commits: int) -> None:
    """Return once ``commits`` have returned, two of large files, and a large file's commit
    (erasure-coded: chunks written, then the commit) is running."""
    wait_until(
        lambda: (
            (
                workload.commits >= commits
                and workload.big_commits >= 2
                and workload.in_commit[:3] == "big"
            )
            or not thread.is_alive()
        ),
        120,
        interval=0.01,
        message="a large file's commit running",
    )
    assert thread.is_alive(), workload.errors


@pytest.mark.slow
def test_kill_9_of_the_mount_during_writes_and_fsyncs(
    faulty: Cluster, mounts: Callable[[], Mounted], tmp_path: Path
) -> None:
    mounted = mounts()
    folder = mounted.mountpoint / "killed"
    workload, thread = start_workload(folder, seed=12, stop_on_error=True)
    # Kill while a large file's commit is in flight, once a good number have returned.
    during_a_large_commit(workload, thread, 20)
    assert mounted.process is not None
    os.kill(mounted.process.pid, signal.SIGKILL)
    thread.join(BOUNDED)
    assert not thread.is_alive(), "a call into the killed mount hangs"
    assert workload.errors, "the workload did not notice the kill"
    assert {e[2] for e in workload.errors} <= set(KILLED_MOUNT_ERRNOS), workload.errors
    assert mounted.process.wait(10) == -signal.SIGKILL
    # Its spools were unlinked when made: the crash leaves none behind.
    spools = mounted.log_path.parent / f"{mounted.mountpoint.name}-cache" / "spool"
    assert not [p for p in spools.rglob("*") if p.is_file()]

    # The kernel keeps the dead mount ("Transport endpoint is not connected") until it is
    # lazily unmounted (what the kernel has cached for 1 s may still be answered).
    with pytest.raises(OSError) as info:
        os.stat(folder / "a name never looked up")
    assert info.value.errno == errno.ENOTCONN
    assert in_mount_table(mounted.mountpoint)
    subprocess.run(["fusermount3", "-u", "-z", str(mounted.mountpoint)], check=True, timeout=30)
    assert not in_mount_table(mounted.mountpoint)

    remounted = mounts()
    assert remounted.mountpoint == mounted.mountpoint
    workload.check(read_mount(folder), "through the remount")
    workload.check(read_s3(faulty, "killed"), "through S3")
    assert_no_orphans(faulty)


@dataclass
class Reader:
    """Reads files of known bytes through the mount in a loop (a fresh open each time)."""

    folder: Path
    files: dict[str, bytes]
    rounds: int = 0
    problems: list[str] = field(default_factory=list)
    slowest: float = 0.0
    stop: threading.Event = field(default_factory=threading.Event)

    def run(self) -> None:
        while not self.stop.is_set():
            for name, data in self.files.items():
                start = time.monotonic()
                try:
                    got = (self.folder / name).read_bytes()
                except OSError as exc:
                    self.problems.append(f"{name}: {exc!r}")
                else:
                    if got != data:
                        self.problems.append(f"{name}: {describe(got)} instead of {describe(data)}")
                self.slowest = max(self.slowest, time.monotonic() - start)
            self.rounds += 1


def timed_errno(call: Callable[[], Any]) -> tuple[int | None, float]:
    """The errno ``call`` failed with (None if it succeeded) and how long it took."""
    start = time.monotonic()
    try:
        call()
    except OSError as exc:
        return exc.errno, time.monotonic() - start
    return None, time.monotonic() - start


def disks_online(cluster: Cluster) -> int:
    return int(cluster.coordinator_get("/v1/health")["disks_online"])


def check_failures(workload: Workload) -> None:
    """Every failed call failed with EIO, and no call took longer than BOUNDED."""
    assert {e[2] for e in workload.errors} <= {errno.EIO}, workload.errors
    assert workload.slowest < BOUNDED, workload.slowest


@pytest.mark.slow
@pytest.mark.expected_log_errors(r"ERROR wormfs\.fuse\.files: the last close of \S+ could not")
def test_kill_9_of_m_storage_nodes_during_writes_and_reads(
    faulty: Cluster, mounts: Callable[[], Mounted], tmp_path: Path
) -> None:
    mounted = mounts()
    frozen = mounted.mountpoint / "frozen"
    frozen.mkdir()
    files = {name: os.urandom(size) for name, size in [("inline", 3_000), ("coded", 300_000)]}
    files["large"] = os.urandom(3 * MIB)
    for name, data in files.items():
        (frozen / name).write_bytes(data)  # close commits
    # Files nobody reads until m + 1 nodes are gone: the mount's read cache holds the others.
    unread = {name: os.urandom(size) for name, size in [("coded", 300_000), ("large", 3 * MIB)]}
    (mounted.mountpoint / "unread").mkdir()
    for name, data in unread.items():
        (mounted.mountpoint / "unread" / name).write_bytes(data)
    reader = Reader(frozen, files)
    reading = threading.Thread(target=reader.run, name="reader", daemon=True)
    reading.start()
    workload, thread = start_workload(mounted.mountpoint / "nodes", seed=7, stop_on_error=False)
    try:
        wait_until(lambda: workload.commits >= 10, 120, message="10 commits")
        pending_data = os.urandom(MIB)
        pending = os.open(mounted.mountpoint / "pending", os.O_CREAT | os.O_WRONLY, 0o644)
        os.write(pending, pending_data)
        for node in range(faulty.nodes - M + 1, faulty.nodes + 1):
            faulty.kill_node(node)
        # A commit that needs every disk fails with EIO: first while the coordinator still
        # counts the killed nodes' disks (the writes to them fail), then once it knows they are
        # offline (no placement has enough disks). Small files, stored inline, still commit.
        code, took = timed_errno(lambda: os.fsync(pending))
        assert (code, took < BOUNDED) == (errno.EIO, True), (code, took)
        wait_until(lambda: len(workload.errors) >= 2, BOUNDED * 2, message="writes failing")
        wait_until(
            lambda: disks_online(faulty) == faulty.nodes - M, 30, message="the nodes offline"
        )
        code, took = timed_errno(lambda: os.fsync(pending))
        assert (code, took < BOUNDED) == (errno.EIO, True), (code, took)
        commits = workload.commits
        wait_until(lambda: workload.commits > commits, BOUNDED, message="an inline commit")
        # Synced files read back right with m nodes gone, while the writes went on.
        rounds = reader.rounds
        wait_until(lambda: reader.rounds > rounds + 1, BOUNDED * 2, message="two rounds of reads")
        finish(workload, thread)
        check_failures(workload)
        assert any(e[1] == "fsync" for e in workload.errors), workload.errors
        workload.check(read_mount(workload.folder), "with m nodes down, through the mount")
        workload.check(read_s3(faulty, "nodes"), "with m nodes down, through S3")
        # One node more, m + 1: erasure-coded files cannot be read, and say so with EIO
        # (files read before may still be served from the mount's cache of verified stripes).
        reader.stop.set()
        reading.join(BOUNDED * 2)
        faulty.kill_node(faulty.nodes - M)
        for name in unread:
            code, took = timed_errno((mounted.mountpoint / "unread" / name).read_bytes)
            assert (code, took < BOUNDED) == (errno.EIO, True), (name, code, took)
        assert (frozen / "inline").read_bytes() == files["inline"]
    finally:
        for node in range(faulty.nodes - M, faulty.nodes + 1):
            faulty.restart_node(node)
        reader.stop.set()
        reading.join(BOUNDED * 2)
        finish(workload, thread)
        faulty.wait_disks(faulty.nodes)
    assert not reading.is_alive() and reader.problems == [], reader.problems
    assert reader.slowest < BOUNDED, reader.slowest
    # Back with every node: the failed fsync, retried, commits what was written.
    os.fsync(pending)
    os.close(pending)
    assert read_s3(faulty, "")("pending") == pending_data
    workload.check(read_s3(faulty, "nodes"), "with the nodes back, through S3")
    assert_no_orphans(faulty)


def restart_on_its_port(cluster: Cluster, name: str) -> None:
    """Start a stopped process of the cluster again on the port it had (its peers and the
    mount know that address)."""
    proc = cluster.procs[name]
    port = urllib.parse.urlsplit(proc.address).port
    proc.args[proc.args.index("--port") + 1] = str(port)
    cluster._spawn(proc)


@pytest.mark.slow
@pytest.mark.expected_log_errors(r"ERROR wormfs\.fuse\.files: the last close of \S+ could not")
def test_the_coordinator_killed_and_restarted_during_writes(
    faulty: Cluster, mounts: Callable[[], Mounted], tmp_path: Path
) -> None:
    mounted = mounts()
    top = mounted.mountpoint
    (top / "before").write_bytes(b"committed before the kill")
    workload, thread = start_workload(top / "coordinator", seed=5, stop_on_error=False)
    before = os.open(top / "before", os.O_RDONLY)  # its version is pinned at open
    pending_data = os.urandom(MIB)
    pending = os.open(top / "pending", os.O_CREAT | os.O_WRONLY, 0o644)
    os.write(pending, pending_data)
    try:
        during_a_large_commit(workload, thread, 10)
        faulty.stop_proc("coordinator", signal.SIGKILL)
        # A file open for reading reads on (its version was fetched at open), or says EIO.
        try:
            assert os.pread(before, 100, 0) == b"committed before the kill"
        except OSError as exc:
            assert exc.errno == errno.EIO, exc
        # While it is down, whatever needs it fails with EIO, at once.
        for what, call in [
            ("fsync", lambda: os.fsync(pending)),
            ("lookup", lambda: os.stat(top / "never-seen")),
            ("mkdir", lambda: os.mkdir(top / "made-while-down")),
            ("create", lambda: (top / "created-while-down").write_bytes(b"x")),
        ]:
            code, took = timed_errno(call)
            assert (code, took < BOUNDED) == (errno.EIO, True), (what, code, took)
        wait_until(lambda: workload.errors, BOUNDED, message="the workload failing")
    finally:
        if faulty.procs["coordinator"].process.poll() is not None:  # type: ignore[union-attr]
            restart_on_its_port(faulty, "coordinator")
        faulty.wait_disks(faulty.nodes)
    # The same mount works again, without a remount: the failed fsync, retried, commits, and
    # the loop goes on with every file whose last attempt is known not to have committed.
    wait_until(lambda: timed_errno(lambda: os.fsync(pending))[0] is None, 30, message="fsync")
    os.close(pending)
    os.close(before)
    os.mkdir(top / "made-after")
    assert (top / "before").read_bytes() == b"committed before the kill"
    finish(workload, thread)
    check_failures(workload)
    workload.revive()
    workload.stop.clear()
    commits = workload.commits
    thread = threading.Thread(target=workload.run, name="workload", daemon=True)
    thread.start()
    try:
        wait_until(lambda: workload.commits >= commits + 10, 120, message="10 more commits")
    finally:
        finish(workload, thread)
    check_failures(workload)
    workload.check(read_mount(workload.folder), "through the mount")
    workload.check(read_s3(faulty, "coordinator"), "through S3")
    assert read_s3(faulty, "")("pending") == pending_data
    assert not (top / "made-while-down").exists()
    assert_no_orphans(faulty)
