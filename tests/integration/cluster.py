"""A real WormFS cluster on loopback for integration tests, with named fault helpers.

Every process is a real ``python -m wormfs.cli ...`` child bound to port 0; its address comes
from the ready file it writes. Each process's output goes to its own log file under the
cluster's temp dir (shown when a test fails). ``stop`` signals only the PIDs this harness
started, SIGTERM first, SIGKILL after a bounded wait. ``Cluster(tls=True)`` serves S3 over HTTPS
with a certificate from a throwaway CA (``integration.certs``); ``ca_bundle`` is the file the
clients trust, and ``s3()`` / ``aws()`` already do.

Fault helpers (named as Tahoe-LAFS's and Swift's probe tests name theirs): ``kill_node``
(SIGKILL), ``hang_node`` / ``unhang_node`` (SIGSTOP / SIGCONT), ``restart_node``,
``kill_gateway``, ``delete_chunk`` / ``delete_chunks`` (one chunk file, or all on one disk),
``corrupt_chunk``, ``fail_disk`` (the disk's directory vanishes), ``fill_disk`` (a filler file
takes the given bytes), ``chunk_files``; ``coordinator_post`` and ``wait_until`` for driving
and observing the coordinator's background jobs.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from integration.certs import CertificateAuthority, make_test_ca
from waiting import wait_until

from wormfs.format.metabackup import is_system_chunk
from wormfs.internal.auth import sign

READY_TIMEOUT = 60.0
ACCESS_KEY = "WORMFSTESTACCESSKEY1"
SECRET_KEY = "wormfs-test-secret-key-0123456789abcdefg"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def terminate(
    process: subprocess.Popen[bytes], sig: int = signal.SIGTERM, timeout: float = 20.0
) -> bool:
    """Send ``sig`` to a process the harness started and wait for it, SIGKILL to that PID
    after ``timeout``; whether it ended without the SIGKILL."""
    if process.poll() is not None:
        return True
    process.send_signal(sig)
    try:
        process.wait(timeout)
        return True
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
        return False


@dataclass
class Proc:
    name: str
    args: list[str]
    log_path: Path
    ready_file: Path
    process: subprocess.Popen[bytes] | None = None
    address: str = ""


@dataclass
class Cluster:
    """Coordinator + storage nodes (each with ``disks_per_node`` disks) + one gateway."""

    nodes: int = 1
    disks_per_node: int = 6
    root: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="wormfs-it-")))
    secret: str = "integration-cluster-secret"
    coordinator_config: str = ""
    # The coordinator's metadata database; "" is a SQLite file under ``root``.
    database_url: str = ""
    # HTTPS gateway with a certificate from a throwaway CA (``tls_files.ca_cert`` to trust).
    tls: bool = False
    tls_files: CertificateAuthority | None = None
    # Extra environment of every process (e.g. the gateway's client limits, shortened).
    extra_env: dict[str, str] = field(default_factory=dict)
    procs: dict[str, Proc] = field(default_factory=dict)

    # ---- life cycle --------------------------------------------------------------------------
    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        env.update(
            WORMFS_CLUSTER_SECRET=self.secret,
            WORMFS_ROOT_ACCESS_KEY=ACCESS_KEY,
            WORMFS_ROOT_SECRET_KEY=SECRET_KEY,
            # One master key for every gateway and mount (SSE-S3, SSE-KMS), as on several
            # hosts; a fixed one, so a restarted process still opens what was sealed.
            WORMFS_MASTER_KEY="cluster-key-1:" + base64.b64encode(bytes(range(32))).decode(),
            PYTHONSAFEPATH="1",
        )
        env.update(self.extra_env)
        return env

    def _spawn(self, proc: Proc) -> None:
        proc.ready_file.unlink(missing_ok=True)
        log = proc.log_path.open("ab")
        proc.process = subprocess.Popen(
            [sys.executable, "-m", "wormfs.cli", *proc.args, "--ready-file", str(proc.ready_file)],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=self.env(),
        )
        log.close()
        process = proc.process

        def ready() -> str:
            if process.poll() is not None:
                raise RuntimeError(f"{proc.name} exited early:\n{self.log(proc.name)}")
            if proc.ready_file.exists():
                info = json.loads(proc.ready_file.read_text())
                if info.get("pid") == process.pid:
                    return str(info["address"])
            return ""

        try:
            proc.address = wait_until(ready, READY_TIMEOUT, message=f"{proc.name} ready")
        except TimeoutError as exc:
            raise RuntimeError(f"{exc}:\n{self.log(proc.name)}") from None

    def _proc(self, name: str, args: list[str]) -> Proc:
        proc = Proc(name, args, self.root / f"{name}.log", self.root / f"{name}.ready.json")
        self.procs[name] = proc
        return proc

    def disk_path(self, node: int, disk: int) -> Path:
        return self.root / f"node{node}" / f"disk{disk}"

    def start(self) -> Cluster:
        meta = self.root / "meta"
        meta.mkdir(parents=True, exist_ok=True)
        args = [
            "coordinator",
            "--port",
            "0",
            "--database-url",
            self.database_url or f"sqlite:///{meta / 'wormfs.db'}",
        ]
        if self.coordinator_config:
            config = self.root / "coordinator.toml"
            config.write_text(self.coordinator_config)
            args += ["--config", str(config)]
        self._spawn(self._proc("coordinator", args))
        for node in range(1, self.nodes + 1):
            self._spawn(self._node_proc(node))
        self.wait_disks(self.nodes * self.disks_per_node)
        gateway = ["gateway", "--port", "0", "--coordinator-url", self.coordinator_url]
        if self.tls:
            if self.tls_files is None:
                self.tls_files = make_test_ca(self.root / "tls")
            gateway += ["--tls-cert", str(self.tls_files.server_cert)]
            gateway += ["--tls-key", str(self.tls_files.server_key)]
        self._spawn(self._proc("gateway", gateway))
        return self

    @property
    def ca_bundle(self) -> str | None:
        """The CA file clients must trust (None over plain HTTP)."""
        return str(self.tls_files.ca_cert) if self.tls_files is not None else None

    def _node_proc(self, node: int) -> Proc:
        disks: list[str] = []
        for disk in range(1, self.disks_per_node + 1):
            path = self.disk_path(node, disk)
            path.mkdir(parents=True, exist_ok=True)
            disks += ["--disk", str(path)]
        args = ["storage-node", "--port", "0", "--coordinator-url", self.coordinator_url, *disks]
        return self._proc(f"node{node}", args)

    @property
    def coordinator_url(self) -> str:
        return self.procs["coordinator"].address

    @property
    def s3_url(self) -> str:
        return self.procs["gateway"].address

    def coordinator_get(self, path: str, query: dict[str, str] | None = None) -> Any:
        headers = sign(self.secret.encode(), "GET", path, (query or {}).items())
        url = self.coordinator_url + path
        if query:
            url += "?" + urllib.parse.urlencode(query)
        request = urllib.request.Request(url, headers=headers)
        with urllib.request.urlopen(request, timeout=10) as resp:
            return json.loads(resp.read())

    def coordinator_post(self, path: str, body: Any = None) -> Any:
        headers = sign(self.secret.encode(), "POST", path)
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        request = urllib.request.Request(
            self.coordinator_url + path, data=data, headers=headers, method="POST"
        )
        with urllib.request.urlopen(request, timeout=30) as resp:
            return json.loads(resp.read())

    def wait_until(self, check: Any, timeout: float = 30.0, interval: float = 0.2) -> Any:
        """Poll ``check()`` until it returns something truthy (``waiting.wait_until``)."""
        return wait_until(check, timeout, interval)

    def wait_disks(self, wanted: int, timeout: float = READY_TIMEOUT) -> None:
        def online() -> bool:
            try:
                return bool(self.coordinator_get("/v1/health").get("disks_online", 0) >= wanted)
            except OSError:
                return False

        wait_until(online, timeout, interval=0.1, message=f"{wanted} disks online")

    def stop_proc(self, name: str, sig: int = signal.SIGTERM, timeout: float = 20.0) -> int:
        proc = self.procs[name]
        assert proc.process is not None
        terminate(proc.process, sig, timeout)
        return int(proc.process.returncode)

    def stop(self) -> dict[str, int]:
        """SIGTERM every process this harness started (gateway, nodes, coordinator)."""
        codes = {}
        for name in reversed(list(self.procs)):
            if self.procs[name].process is not None:
                codes[name] = self.stop_proc(name)
        return codes

    def restart(self) -> Cluster:
        """Stop everything and start again over the same directories."""
        self.stop()
        self.procs.clear()
        return self.start()

    def cleanup(self) -> None:
        """Stop, then remove the data (disks, metadata, certificates) but keep the logs: the
        log scan reads them after the fixture that owns the cluster has cleaned up."""
        self.stop()
        for path in self.root.iterdir() if self.root.exists() else ():
            if path.is_dir():
                shutil.rmtree(path, ignore_errors=True)
            elif path.suffix != ".log":
                path.unlink(missing_ok=True)

    def log_files(self) -> list[Path]:
        """Every process's log file (for the log scan)."""
        return [proc.log_path for proc in self.procs.values()]

    def log(self, name: str) -> str:
        path = self.procs[name].log_path
        return path.read_text(errors="replace")[-20_000:] if path.exists() else ""

    def logs(self) -> str:
        return "\n".join(f"===== {n} =====\n{self.log(n)}" for n in self.procs)

    # ---- clients -----------------------------------------------------------------------------
    def s3(self, **config: Any) -> Any:
        import boto3
        from botocore.config import Config

        return boto3.client(
            "s3",
            endpoint_url=self.s3_url,
            aws_access_key_id=ACCESS_KEY,
            aws_secret_access_key=SECRET_KEY,
            region_name="us-east-1",
            verify=self.ca_bundle,
            config=Config(s3={"addressing_style": "path"}, **config),
        )

    def aws_env(self) -> dict[str, str]:
        env = dict(os.environ)
        env.update(
            AWS_ACCESS_KEY_ID=ACCESS_KEY,
            AWS_SECRET_ACCESS_KEY=SECRET_KEY,
            AWS_DEFAULT_REGION="us-east-1",
            AWS_CONFIG_FILE=str(self.root / "aws-config"),
            AWS_SHARED_CREDENTIALS_FILE=str(self.root / "aws-credentials"),
        )
        if self.ca_bundle is not None:
            env["AWS_CA_BUNDLE"] = self.ca_bundle
        return env

    def aws(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        """Run aws-cli (its default settings) against the gateway."""
        aws = shutil.which("aws", path=str(Path(sys.executable).parent)) or "aws"
        return subprocess.run(
            [aws, "--endpoint-url", self.s3_url, *args],
            env=self.aws_env(),
            capture_output=True,
            text=True,
            check=check,
            timeout=300,
        )

    # ---- faults ------------------------------------------------------------------------------
    def kill_node(self, node: int = 1) -> None:
        """SIGKILL a storage node (no clean shutdown)."""
        self.stop_proc(f"node{node}", signal.SIGKILL)

    def add_node(self) -> int:
        """Start one more storage node (``disks_per_node`` new disks); returns its number."""
        self.nodes += 1
        self._spawn(self._node_proc(self.nodes))
        return self.nodes

    def hang_node(self, node: int = 1) -> None:
        """SIGSTOP a storage node: its sockets accept but nothing answers (a hung host)."""
        proc = self.procs[f"node{node}"].process
        assert proc is not None
        proc.send_signal(signal.SIGSTOP)

    def unhang_node(self, node: int = 1) -> None:
        proc = self.procs[f"node{node}"].process
        assert proc is not None
        proc.send_signal(signal.SIGCONT)

    def kill_gateway(self) -> None:
        """SIGKILL the gateway (writes in flight are abandoned, never committed)."""
        self.stop_proc("gateway", signal.SIGKILL)

    def start_gateway(self) -> None:
        self._spawn(self.procs["gateway"])

    def restart_node(self, node: int = 1) -> None:
        name = f"node{node}"
        if self.procs[name].process is not None:
            self.stop_proc(name)
        self._spawn(self.procs[name])

    def chunk_files(self, node: int = 1, disk: int | None = None) -> list[Path]:
        """The chunk files of objects on a node (or one disk of it): the metadata backup's
        pieces (ids with the reserved prefix, wormfs.format.metabackup) are left out, as
        they are in no placement and neither repair, drains nor GC move them."""
        disks = [disk] if disk is not None else range(1, self.disks_per_node + 1)
        files: list[Path] = []
        for d in disks:
            files += sorted(self.disk_path(node, d).glob("chunks/*/*.chunk"))
        return [f for f in files if not is_system_chunk(f.stem)]

    def delete_chunks(self, node: int = 1, disk: int = 1) -> int:
        """Remove every chunk file on one disk; returns how many were removed."""
        files = self.chunk_files(node, disk)
        for path in files:
            path.unlink()
        return len(files)

    def delete_chunk(self, path: Path) -> None:
        """Remove one chunk file (a lost file on an otherwise healthy disk)."""
        path.unlink()

    def fail_disk(self, node: int = 1, disk: int = 1) -> None:
        """The disk vanishes with everything on it; its node finds its marker gone."""
        shutil.rmtree(self.disk_path(node, disk))

    def fill_disk(self, node: int, disk: int, nbytes: int) -> Path:
        """Take ``nbytes`` of the disk's file system with a filler file (removed by the caller).

        The test disks share one file system, so this fills all of them: keep ``nbytes`` small
        next to the free space, and use it to test reports of free space, not to exhaust it.
        """
        path = self.disk_path(node, disk) / "filler.bin"
        with path.open("wb") as fh:
            os.posix_fallocate(fh.fileno(), 0, nbytes)
        return path

    def corrupt_chunk(self, path: Path, offset: int | None = None) -> None:
        """Flip one byte of a chunk file (the middle of the file by default)."""
        size = path.stat().st_size
        at = size // 2 if offset is None else offset
        with path.open("r+b") as fh:
            fh.seek(at)
            byte = fh.read(1)
            fh.seek(at)
            fh.write(bytes([byte[0] ^ 0xFF]))
