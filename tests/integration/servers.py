"""A real ``wormfs server`` (what ``make run`` starts) for integration tests, with named faults.

Layer: test support (not installed). ``Server`` runs the console script over a data dir with a
free S3 port, its output in ``server.log`` beside the data dir (scanned by the log scan:
``log_files``); ``stop`` sends SIGTERM to the PID it started (the server stops its own
children) and SIGKILL only to that PID if it will not stop. Faults act only on processes this
server started: ``kill_child(name)`` sends SIGKILL to a child named in the server's ready files
(``coordinator``, ``storage-node-N``, ``gateway-N``) after checking that its parent is the
server. ``status`` reads ``run/server.json``; ``wait_restarted`` waits until a child runs again
after a restart. ``Workload`` writes and reads objects from a thread while a fault happens and
keeps every acknowledged write, for ``verify``.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config
from integration.cluster import free_port, terminate
from waiting import wait_until

from wormfs.internal.auth import sign

START_TIMEOUT = 90.0
STOP_TIMEOUT = 60.0


def server_env(data_dir: Path, port: int) -> dict[str, str]:
    """The environment of a ``wormfs server`` that generates its own keys and secret."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("WORMFS_ROOT_")}
    env.pop("WORMFS_CLUSTER_SECRET", None)
    env.pop("WORMFS_ADMIN_TOKEN", None)
    env.update(
        WORMFS_DATA_DIR=str(data_dir),
        WORMFS_S3_ADDRESS=f"127.0.0.1:{port}",
        # Any free port: servers of parallel tests must not contend for the default 9001.
        WORMFS_ADMIN_ADDRESS="127.0.0.1:0",
        PYTHONSAFEPATH="1",
    )
    return env


def wormfs_command() -> str:
    return str(Path(sys.executable).with_name("wormfs"))


@dataclass
class Server:
    root: Path
    args: list[str] = field(default_factory=lambda: ["--workers", "2"])
    port: int = field(default_factory=free_port)
    # More of the environment: WORMFS_TLS_CERT and WORMFS_TLS_KEY serve S3 over HTTPS.
    extra_env: dict[str, str] = field(default_factory=dict)
    data_dir: Path = field(init=False)
    log_path: Path = field(init=False)
    process: subprocess.Popen[bytes] | None = None

    def __post_init__(self) -> None:
        self.data_dir = self.root / "data"
        self.log_path = self.root / "server.log"

    # ---- life cycle --------------------------------------------------------------------------
    def start(self) -> Server:
        self.root.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as out:
            self.process = subprocess.Popen(
                [wormfs_command(), "server", *self.args],
                stdout=out,
                stderr=subprocess.STDOUT,
                env={**server_env(self.data_dir, self.port), **self.extra_env},
            )
        process = self.process
        mark = self.log_text().count("WormFS is running.")

        def running() -> bool:
            if process.poll() is not None:
                raise AssertionError(f"server exited early:\n{self.log_text()}")
            return self.log_text().count("WormFS is running.") > mark

        try:
            wait_until(running, START_TIMEOUT, interval=0.1, message="wormfs server running")
        except TimeoutError:
            self.stop()
            raise AssertionError(f"server not ready:\n{self.log_text()}") from None
        return self

    def stop(self) -> int | None:
        """SIGTERM to the server's PID and wait; its exit status (None if never started)."""
        process = self.process
        if process is None:
            return None
        if not terminate(process, signal.SIGTERM, STOP_TIMEOUT):
            raise AssertionError(f"server did not stop:\n{self.log_text()}")
        return process.returncode

    def log_files(self) -> list[Path]:
        return [self.log_path]

    def log_text(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    # ---- what it runs ------------------------------------------------------------------------
    @property
    def credentials(self) -> dict[str, str]:
        return dict(json.loads((self.data_dir / "credentials.json").read_text()))

    @property
    def endpoint(self) -> str:
        scheme = "https" if "WORMFS_TLS_CERT" in self.extra_env else "http"
        return f"{scheme}://127.0.0.1:{self.port}"

    def s3(self, verify: str | bool | None = None, **config: Any) -> Any:
        """A boto3 client of this server (``verify``: the CA bundle over HTTPS; ``config``:
        botocore ``Config`` arguments)."""
        creds = self.credentials
        return boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            aws_access_key_id=creds["access_key"],
            aws_secret_access_key=creds["secret_key"],
            region_name="us-east-1",
            verify=verify,
            config=Config(s3={"addressing_style": "path"}, **config),
        )

    def ready(self, name: str) -> dict[str, Any]:
        return dict(json.loads((self.data_dir / "run" / f"{name}.json").read_text()))

    def status(self) -> dict[str, Any]:
        return dict(json.loads((self.data_dir / "run" / "server.json").read_text()))

    def child(self, name: str) -> dict[str, Any]:
        return next(c for c in self.status()["children"] if c["name"] == name)

    def coordinator_get(self, path: str) -> Any:
        secret = (self.data_dir / "cluster.secret").read_bytes().strip()
        request = urllib.request.Request(
            self.ready("coordinator")["address"] + path, headers=sign(secret, "GET", path)
        )
        with urllib.request.urlopen(request, timeout=10) as resp:
            return json.loads(resp.read())

    def running_children(self) -> list[int]:
        """PIDs of processes still running with this data dir on their command line (every
        child of the server has its ready file there): none once the server stopped."""
        found = []
        needle = str(self.data_dir).encode()
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                cmdline = (entry / "cmdline").read_bytes()
                state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
            except OSError:
                continue
            if needle in cmdline and state != "Z":
                found.append(int(entry.name))
        return found

    # ---- faults ------------------------------------------------------------------------------
    def kill_child(self, name: str) -> int:
        """SIGKILL to the server's child ``name`` (as the OOM killer would); its PID."""
        assert self.process is not None
        pid = int(self.ready(name)["pid"])
        stat = Path(f"/proc/{pid}/stat").read_text()
        parent = int(stat.rsplit(")", 1)[1].split()[1])
        assert parent == self.process.pid, f"{name} (pid {pid}) is not this server's child"
        os.kill(pid, signal.SIGKILL)
        return pid

    def wait_restarted(self, name: str, restarts: int, timeout: float = 60.0) -> dict[str, Any]:
        """Wait until ``name`` runs again after its ``restarts``-th restart; its status."""

        def again() -> dict[str, Any] | None:
            child = self.child(name)
            if child["restarts"] >= restarts and child["state"] == "running":
                return child
            return None

        return wait_until(again, timeout, interval=0.1, message=f"{name} restarted")


def _body(rng: random.Random, i: int) -> bytes:
    # Alternately inline (metadata only) and erasure-coded over the disks.
    size = 2_000 if i % 2 else 300_000
    return rng.randbytes(size)


@dataclass
class Workload:
    """PUTs (and GETs of acknowledged keys) from a thread, until ``stop``; a PUT that returned
    200 is acknowledged and must read back with its bytes."""

    server: Server
    bucket: str
    acknowledged: dict[str, str] = field(default_factory=dict)  # key -> MD5 of its bytes
    failed: int = 0
    bad_reads: list[str] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self) -> Workload:
        self.server.s3().create_bucket(Bucket=self.bucket)
        self._thread = threading.Thread(target=self._run, name=f"workload-{self.bucket}")
        self._thread.start()
        wait_until(lambda: len(self.acknowledged) >= 4, 30, message="workload under way")
        return self

    def _run(self) -> None:
        s3 = self.server.s3(retries={"max_attempts": 2}, connect_timeout=2, read_timeout=10)
        rng = random.Random(self.bucket)
        i = 0
        while not self._stop.is_set():
            key = f"k{i:05d}"
            body = _body(rng, i)
            try:
                s3.put_object(Bucket=self.bucket, Key=key, Body=body)
                self.acknowledged[key] = hashlib.md5(body).hexdigest()
            except Exception:  # outages are expected; only acks count
                self.failed += 1
            i += 1
            if self.acknowledged:
                old = rng.choice(sorted(self.acknowledged))
                try:
                    got = s3.get_object(Bucket=self.bucket, Key=old)["Body"].read()
                except Exception:  # an outage; checked again by verify
                    self.failed += 1
                else:
                    if hashlib.md5(got).hexdigest() != self.acknowledged[old]:
                        self.bad_reads.append(old)
            time.sleep(0.02)

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(60)
            assert not self._thread.is_alive(), "workload thread did not stop"

    def verify(self) -> int:
        """Every acknowledged object reads back with its bytes; how many there are."""
        assert not self.bad_reads, f"reads returned other bytes: {self.bad_reads}"
        s3 = self.server.s3()
        for key, digest in sorted(self.acknowledged.items()):
            got = s3.get_object(Bucket=self.bucket, Key=key)["Body"].read()
            assert hashlib.md5(got).hexdigest() == digest, f"{key}: other bytes"
        return len(self.acknowledged)


# Larger than the gateway's inline_max (64 KiB): the probe goes through the storage nodes.
PROBE_BODY = bytes(range(256)) * 400


def time_to_answer(server: Server, bucket: str, since: float, timeout: float = 10.0) -> float:
    """Seconds from ``since`` until a fresh PUT and its GET succeed (no client retries), of an
    erasure-coded object: the gateway, the coordinator and the storage nodes all answer."""
    s3 = server.s3(retries={"max_attempts": 1}, connect_timeout=1, read_timeout=5)
    probe = {"n": 0}

    def answers() -> bool:
        probe["n"] += 1
        key = f"probe-{probe['n']}"
        try:
            s3.put_object(Bucket=bucket, Key=key, Body=PROBE_BODY)
            return bool(s3.get_object(Bucket=bucket, Key=key)["Body"].read() == PROBE_BODY)
        except Exception:  # not yet
            return False

    left = max(0.1, since + timeout - time.monotonic())
    wait_until(answers, left, interval=0.05, message=f"S3 answering again in {timeout} s")
    return time.monotonic() - since
