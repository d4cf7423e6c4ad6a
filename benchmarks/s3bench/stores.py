"""Benchmark harness, stores under test: WormFS as ``make run`` starts it, and the peers.

``WormFSServer`` runs ``.venv/bin/wormfs server`` (what ``make run`` execs) with its defaults,
changing only the two locations ``make run`` reads from the environment: ``WORMFS_DATA_DIR``
(a temp dir) and ``WORMFS_S3_ADDRESS`` (a free loopback port). It reads the root credentials
the server generates into ``credentials.json``, waits until S3 answers a signed ListBuckets,
and stops it with SIGTERM to the PID it started (the supervisor stops its own children),
SIGKILL to that PID only if it has not exited after a bounded wait.

``gateway_pids`` finds the gateway worker processes among the supervisor's children through
``/proc`` (parent PID, then the command line ``... -m wormfs.cli gateway ...``), and
``RssSampler`` samples the sum of their ``VmRSS`` on a thread while a cell runs.

``Peer`` runs the peer scripts of ``../shared/peers`` (``swift-up.sh`` / ``swift-down.sh``,
``ceph-up.sh`` / ``ceph-down.sh``) by path; those scripts start and stop only their own
processes (by PID files). Endpoints and keys are the ones the scripts document.

``s3_request`` is a blocking signed request for the few set-up calls (buckets, readiness).
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from .sigv4 import SigV4Signer, encode_path
from .workload import Endpoint

READY_TIMEOUT = 180.0
STOP_TIMEOUT = 60.0
PEER_UP_TIMEOUT = 1200.0  # the first start may install Debian packages
PEER_DOWN_TIMEOUT = 180.0
RSS_INTERVAL = 0.1


@dataclass(frozen=True)
class PeerSpec:
    """A peer store: its scripts, endpoint, keys and the Debian package that names its version."""

    name: str
    label: str
    up: str
    down: str
    url: str
    access_key: str
    secret_key: str
    package: str
    root_env: str  # the variable that moves the peer's data dir, and its default
    root_default: str


PEERS: dict[str, PeerSpec] = {
    "swift": PeerSpec(
        "swift",
        "Swift",
        "swift-up.sh",
        "swift-down.sh",
        "http://127.0.0.1:18080",
        "bench:bench",
        "benchsecret",
        "swift",
        "SWIFT_PEER_ROOT",
        "/tmp/swift-peer",
    ),
    "ceph": PeerSpec(
        "ceph",
        "Ceph RGW",
        "ceph-up.sh",
        "ceph-down.sh",
        "http://127.0.0.1:17480",
        "CEPHPEERACCESSKEY001",
        "cephpeersecretkey00000000000000000000000",
        "radosgw",
        "CEPH_PEER_DIR",
        "/var/tmp/ceph-peer",
    ),
}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def s3_request(
    endpoint: Endpoint,
    method: str,
    path: str,
    timeout: float = 30.0,
    query: str = "",
    body: bytes = b"",
) -> int:
    """One signed request (a small ``body`` goes with its Content-MD5; ``query`` is the
    canonical query, e.g. ``encryption=``); returns the HTTP status (errors included)."""
    signer = SigV4Signer(endpoint.access_key, endpoint.secret_key, endpoint.region)
    host = endpoint.url.split("://", 1)[1].rstrip("/")
    encoded = encode_path(path)
    headers = signer.sign(method, host, encoded, query)
    if body:
        headers["Content-MD5"] = base64.b64encode(hashlib.md5(body).digest()).decode()
    url = endpoint.url + encoded + (f"?{query}" if query else "")
    request = urllib.request.Request(url, data=body or None, headers=headers, method=method)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as resp:
            resp.read()
            return int(resp.status)
    except urllib.error.HTTPError as exc:
        exc.read()
        return int(exc.code)


def wait_s3(endpoint: Endpoint, timeout: float, alive: object = None) -> None:
    """Wait until ListBuckets answers 200 (``alive()``, when given, must stay true)."""
    deadline = time.monotonic() + timeout
    last = ""
    while time.monotonic() < deadline:
        if callable(alive) and not alive():
            raise RuntimeError(f"{endpoint.name} exited while starting")
        try:
            status = s3_request(endpoint, "GET", "/", timeout=5)
            if status == 200:
                return
            last = f"HTTP {status}"
        except OSError as exc:
            last = str(exc)
        time.sleep(0.25)
    raise RuntimeError(f"{endpoint.name} did not answer S3 in {timeout:.0f}s ({last})")


def package_version(package: str) -> str:
    """The installed Debian package's version, or ``?``."""
    try:
        out = subprocess.run(
            ["dpkg-query", "-W", "-f", "${Version}", package],
            capture_output=True,
            text=True,
            timeout=30,
        )
    except (OSError, subprocess.TimeoutExpired):
        return "?"
    return out.stdout.strip() or "?"


# ---- WormFS ------------------------------------------------------------------------------------
@dataclass
class WormFSServer:
    """``wormfs server`` with ``make run``'s defaults over a temp data dir."""

    wormfs_bin: Path
    parent_dir: str | None = None
    keep_data: bool = False
    extra_env: dict[str, str] = field(default_factory=dict)  # experiments only (--wormfs-env)
    root: Path = field(init=False)
    process: subprocess.Popen[bytes] | None = field(default=None, init=False)
    endpoint: Endpoint | None = field(default=None, init=False)

    @property
    def pid(self) -> int:
        if self.process is None:
            raise RuntimeError("WormFS is not started")
        return self.process.pid

    @property
    def log_path(self) -> Path:
        return self.root / "server.log"

    def start(self) -> Endpoint:
        self.root = Path(tempfile.mkdtemp(prefix="wormfs-s3bench-", dir=self.parent_dir))
        data = self.root / "data"
        port = free_port()
        env = dict(os.environ)
        env.update(WORMFS_DATA_DIR=str(data), WORMFS_S3_ADDRESS=f"127.0.0.1:{port}")
        # make run's defaults: generated root keys (credentials.json), nothing else set.
        for name in ("WORMFS_ROOT_ACCESS_KEY", "WORMFS_ROOT_SECRET_KEY", "WORMFS_CLUSTER_SECRET"):
            env.pop(name, None)
        env["PYTHONSAFEPATH"] = "1"
        env.update(self.extra_env)
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [str(self.wormfs_bin), "server"],
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=env,
            )
        credentials = data / "credentials.json"
        deadline = time.monotonic() + READY_TIMEOUT
        while not credentials.exists():
            if self.process.poll() is not None:
                raise RuntimeError(f"wormfs server exited early:\n{self.log_tail()}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"no {credentials} after {READY_TIMEOUT}s")
            time.sleep(0.1)
        time.sleep(0.1)  # written with one json.dump: let it land
        keys = json.loads(credentials.read_text())
        self.endpoint = Endpoint(
            "wormfs", f"http://127.0.0.1:{port}", keys["access_key"], keys["secret_key"]
        )
        process = self.process
        wait_s3(
            self.endpoint, max(1.0, deadline - time.monotonic()), lambda: process.poll() is None
        )
        return self.endpoint

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def roles(self) -> dict[str, list[int]]:
        """The supervisor's children by role (``gateway``, ``storage-node``, ``coordinator``),
        from ``/proc``: each child's command line is ``python -m wormfs.cli ROLE ...``."""
        found: dict[str, list[int]] = {}
        if not self.alive():
            return found
        for child in children_of(self.pid):
            argv = cmdline(child)
            if "wormfs.cli" in argv and argv.index("wormfs.cli") + 1 < len(argv):
                found.setdefault(argv[argv.index("wormfs.cli") + 1], []).append(child)
        return found

    def gateway_pids(self) -> list[int]:
        """PIDs of the gateway workers the supervisor started."""
        return self.roles().get("gateway", [])

    def stop(self) -> int | None:
        """SIGTERM to the server's PID, wait; SIGKILL to that PID only if it will not stop."""
        code = None
        if self.process is not None:
            if self.process.poll() is None:
                self.process.send_signal(signal.SIGTERM)
                try:
                    self.process.wait(STOP_TIMEOUT)
                except subprocess.TimeoutExpired:
                    self.process.kill()
                    self.process.wait(STOP_TIMEOUT)
            code = self.process.returncode
        if not self.keep_data and hasattr(self, "root"):
            shutil.rmtree(self.root, ignore_errors=True)
        return code

    def log_tail(self, limit: int = 4000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-limit:]
        except OSError:
            return ""


def all_pids() -> list[int]:
    return [int(entry) for entry in os.listdir("/proc") if entry.isdigit()]


def _stat_fields(pid: int) -> list[str]:
    """Fields 3.. of ``/proc/<pid>/stat`` (state, parent, group, ...); empty once gone."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            stat = fh.read()
    except OSError:
        return []
    # Field 2 (the command) may hold spaces and parentheses: split after the last ")".
    return stat[stat.rindex(")") + 2 :].split()


def process_group(pid: int) -> int:
    fields = _stat_fields(pid)
    return int(fields[2]) if fields else -1


def children_of(pid: int) -> list[int]:
    """Direct children of ``pid``, from the parent field of every ``/proc/<n>/stat``."""
    found = []
    for child in all_pids():
        fields = _stat_fields(child)
        if fields and int(fields[1]) == pid:
            found.append(child)
    return found


def cmdline(pid: int) -> list[str]:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as fh:
            return [a.decode(errors="replace") for a in fh.read().split(b"\0") if a]
    except OSError:
        return []


def rss_bytes(pid: int) -> int:
    """``VmRSS`` of ``pid`` in bytes (0 once it is gone)."""
    try:
        with open(f"/proc/{pid}/status") as fh:
            for line in fh:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


@dataclass
class RssSampler:
    """Samples the summed VmRSS of some PIDs on a thread; keeps the peak and the first value."""

    pids: list[int]
    interval: float = RSS_INTERVAL
    first: int = 0
    peak: int = 0
    peak_each: dict[int, int] = field(default_factory=dict)
    samples: int = 0
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def sample(self) -> None:
        each = {pid: rss_bytes(pid) for pid in self.pids}
        total = sum(each.values())
        if not self.samples:
            self.first = total
        self.samples += 1
        self.peak = max(self.peak, total)
        for pid, value in each.items():
            self.peak_each[pid] = max(self.peak_each.get(pid, 0), value)

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            self.sample()

    def __enter__(self) -> RssSampler:
        self.sample()
        self._thread = threading.Thread(target=self._loop, name="rss-sampler", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        self.sample()


# ---- peers -------------------------------------------------------------------------------------
@dataclass
class Peer:
    """A peer store brought up and down by its scripts in ``peers_dir``."""

    spec: PeerSpec
    peers_dir: Path
    log_path: Path

    @property
    def endpoint(self) -> Endpoint:
        s = self.spec
        return Endpoint(s.name, s.url, s.access_key, s.secret_key)

    def _script(self, name: str, timeout: float) -> None:
        script = self.peers_dir / name
        if not script.exists():
            raise RuntimeError(f"peer script {script} not found (see --peers-dir)")
        with self.log_path.open("ab") as log:
            done = subprocess.run(
                [str(script)],
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                timeout=timeout,
            )
        if done.returncode != 0:
            raise RuntimeError(f"{script} failed ({done.returncode}); see {self.log_path}")

    def start(self) -> Endpoint:
        self._script(self.spec.up, PEER_UP_TIMEOUT)
        wait_s3(self.endpoint, 120.0)
        return self.endpoint

    def stop(self) -> None:
        self._script(self.spec.down, PEER_DOWN_TIMEOUT)

    def version(self) -> str:
        return package_version(self.spec.package)

    def pids(self) -> list[int]:
        """Every process of the peer: the process groups its scripts' PID files name.

        Both scripts start each daemon with ``setsid`` and record its PID in
        ``<root>/run/<name>.pid``, so the daemon leads a process group holding its workers.
        """
        run = Path(os.environ.get(self.spec.root_env, self.spec.root_default)) / "run"
        leaders = set()
        for pid_file in run.glob("*.pid"):
            if pid_file.name.endswith(".daemon-pid"):
                continue
            try:
                leaders.add(int(pid_file.read_text().strip()))
            except (OSError, ValueError):
                continue
        return [pid for pid in all_pids() if process_group(pid) in leaders]
