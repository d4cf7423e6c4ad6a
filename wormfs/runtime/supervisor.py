"""``wormfs server``: a whole single-machine cluster as child processes, in the foreground.

Layer: runtime. Starts, in order, a coordinator on SQLite, one storage node over six data
directories, the S3 gateway workers (sharing one port with SO_REUSEPORT; HTTPS when given a
certificate and key) and, with ``--mount BUCKET=DIR``, one ``wormfs mount`` per bucket once the
cluster serves (the bucket is created for the root user if it does not exist; a bucket owned by
someone else makes the mount refuse, which stops the server). Each child writes a ready file
with its real address, so internal ports are picked free (port 0). The cluster secret and the
root credentials are generated once and kept in the data dir (mode 0600), or taken from the
environment. SIGINT/SIGTERM stop the children in reverse order (mounts, which commit their
open files and unmount, gateways, nodes, coordinator) and wait for them; if any child dies on
its own, the rest are stopped and the server exits non-zero, except a mount that was
unmounted from outside and exited 0. Only the PIDs it started are ever signalled.

Data dir layout::

    cluster.secret       the internal HMAC secret
    credentials.json     generated root access key and secret (when not given in the env)
    meta/wormfs.db       coordinator metadata (SQLite, WAL)
    disk1 .. disk6       storage node data directories
    run/*.json           ready files of the running children (address, pid)
    cache/BUCKET/        the mounts' write-back spools and conflict copies
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import signal
import string
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any

from wormfs import config as cfg
from wormfs.internal.auth import sign

log = logging.getLogger(__name__)

DISKS = 6
READY_TIMEOUT = 60.0
STOP_TIMEOUT = 20.0


@dataclass(frozen=True)
class ServerOptions:
    data_dir: Path
    s3_host: str
    s3_port: int
    gateway_workers: int
    access_key: str
    secret_key: str
    generated_credentials: bool = False
    # HTTPS for S3 when both are set (PEM paths; WORMFS_TLS_CERT / WORMFS_TLS_KEY).
    tls_cert: str = ""
    tls_key: str = ""
    # ``--mount BUCKET=DIR``: FUSE mounts started once the cluster serves (wormfs.fuse).
    mounts: tuple[tuple[str, Path], ...] = ()

    @classmethod
    def from_env(
        cls,
        data_dir: str | None,
        s3_address: str | None,
        gateway_workers: int | None,
        tls_cert: str | None = None,
        tls_key: str | None = None,
        mounts: list[str] | None = None,
    ) -> ServerOptions:
        root = Path(data_dir or os.environ.get("WORMFS_DATA_DIR") or "./data").resolve()
        address = s3_address or os.environ.get("WORMFS_S3_ADDRESS") or "127.0.0.1:9000"
        host, _, port = address.rpartition(":")
        if not host or not port.isdigit():
            raise cfg.ConfigError([f"S3 address {address!r} is not HOST:PORT"])
        access, secret_key, generated = root_credentials(root)
        workers = gateway_workers or min(os.cpu_count() or 1, 4)
        cert = tls_cert or os.environ.get("WORMFS_TLS_CERT", "")
        key = tls_key or os.environ.get("WORMFS_TLS_KEY", "")
        # Absolute paths: the gateway workers are told them as arguments.
        cert = str(Path(cert).resolve()) if cert else ""
        key = str(Path(key).resolve()) if key else ""
        problems = cfg.tls_problems(cert, key)
        parsed: list[tuple[str, Path]] = []
        for value in mounts or ():
            bucket, _, directory = value.partition("=")
            if not bucket or not directory:
                problems.append(f"--mount {value!r} is not BUCKET=DIR")
            else:
                parsed.append((bucket, Path(directory).resolve()))
        if problems:
            raise cfg.ConfigError(problems)
        return cls(
            root, host, int(port), workers, access, secret_key, generated, cert, key, tuple(parsed)
        )


def root_credentials(data_dir: Path) -> tuple[str, str, bool]:
    """(access key, secret key, generated?) from the environment or the data dir."""
    access = os.environ.get("WORMFS_ROOT_ACCESS_KEY", "")
    secret_key = os.environ.get("WORMFS_ROOT_SECRET_KEY", "")
    if access and secret_key:
        return access, secret_key, False
    if access or secret_key:
        raise cfg.ConfigError(["set both WORMFS_ROOT_ACCESS_KEY and WORMFS_ROOT_SECRET_KEY"])
    path = data_dir / "credentials.json"
    if path.exists():
        stored = json.loads(path.read_text())
        return str(stored["access_key"]), str(stored["secret_key"]), True
    alphabet = string.ascii_uppercase + string.digits
    access = "".join(secrets.choice(alphabet) for _ in range(20))
    secret_key = secrets.token_urlsafe(30)[:40]
    data_dir.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        json.dump({"access_key": access, "secret_key": secret_key}, fh)
    return access, secret_key, True


@dataclass
class Child:
    name: str
    process: subprocess.Popen[bytes]
    ready_file: Path
    address: str = ""
    # A mount may end on its own (unmounted from outside) without stopping the cluster.
    optional: bool = False


@dataclass
class Supervisor:
    options: ServerOptions
    secret: bytes
    children: list[Child] = field(default_factory=list)
    stopping: bool = False

    @property
    def run_dir(self) -> Path:
        return self.options.data_dir / "run"

    def _env(self) -> dict[str, str]:
        env = dict(os.environ)
        env[cfg.CLUSTER_SECRET_ENV] = self.secret.decode()
        env["WORMFS_ROOT_ACCESS_KEY"] = self.options.access_key
        env["WORMFS_ROOT_SECRET_KEY"] = self.options.secret_key
        # Never import the working directory's folders as top-level modules.
        env["PYTHONSAFEPATH"] = "1"
        return env

    def start(self, name: str, args: list[str]) -> Child:
        ready = self.run_dir / f"{name}.json"
        ready.unlink(missing_ok=True)
        cmd = [sys.executable, "-m", "wormfs.cli", *args, "--ready-file", str(ready)]
        process = subprocess.Popen(cmd, env=self._env())
        child = Child(name, process, ready)
        self.children.append(child)
        child.address = self.wait_ready(child)
        log.info("%s ready at %s (pid %d)", name, child.address, process.pid)
        return child

    def wait_ready(self, child: Child) -> str:
        deadline = time.monotonic() + READY_TIMEOUT
        while time.monotonic() < deadline and not self.stopping:
            if child.process.poll() is not None:
                raise RuntimeError(f"{child.name} exited with {child.process.returncode}")
            if child.ready_file.exists():
                info = json.loads(child.ready_file.read_text())
                if info.get("pid") == child.process.pid:
                    return str(info["address"])
            time.sleep(0.05)
        raise RuntimeError(f"{child.name} did not become ready")

    def call(self, coordinator: str, method: str, path: str, body: object = None) -> Any:
        """One signed request to the coordinator; its JSON answer (``OSError`` on failure)."""
        headers = sign(self.secret, method, path)
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        request = urllib.request.Request(
            coordinator + path, data=data, headers=headers, method=method
        )
        with urllib.request.urlopen(request, timeout=5) as resp:
            return json.loads(resp.read() or b"null")

    def wait_disks(self, coordinator: str, wanted: int) -> None:
        """Wait until the coordinator sees ``wanted`` online disks (writes need k+m)."""
        deadline = time.monotonic() + READY_TIMEOUT
        while time.monotonic() < deadline and not self.stopping:
            try:
                health = self.call(coordinator, "GET", "/v1/health")
                if int(health.get("disks_online", 0)) >= wanted:
                    return
            except OSError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"the coordinator did not see {wanted} online disks")

    def ensure_bucket(self, coordinator: str, bucket: str) -> None:
        """Create ``bucket`` for the root user unless it exists (a mount of someone else's
        bucket is then refused by the mount itself, which stops the server)."""
        path = f"/v1/buckets/{bucket}"
        try:
            self.call(coordinator, "GET", path)
            return
        except urllib.error.HTTPError as exc:
            if exc.code != 404:
                raise RuntimeError(
                    f"bucket {bucket}: the coordinator answered {exc.code}"
                ) from None
        key = self.call(coordinator, "GET", f"/v1/access-keys/{self.options.access_key}")
        self.call(coordinator, "PUT", path, {"owner_id": key["user_id"]})
        log.info("created bucket %s for the root user (to mount it)", bucket)

    def start_mounts(self, coordinator: str) -> None:
        opts = self.options
        for bucket, directory in opts.mounts:
            self.ensure_bucket(coordinator, bucket)
            directory.mkdir(parents=True, exist_ok=True)
            child = self.start(
                f"mount-{bucket}",
                [
                    "mount",
                    bucket,
                    str(directory),
                    "--coordinator-url",
                    coordinator,
                    "--data-dir",
                    str(opts.data_dir),
                    "--cache-dir",
                    str(opts.data_dir / "cache"),
                ],
            )
            child.optional = True

    def run(self) -> int:
        opts = self.options
        self.run_dir.mkdir(parents=True, exist_ok=True)
        (opts.data_dir / "meta").mkdir(parents=True, exist_ok=True)
        coordinator = self.start(
            "coordinator",
            [
                "coordinator",
                "--port",
                "0",
                "--database-url",
                f"sqlite:///{opts.data_dir / 'meta' / 'wormfs.db'}",
            ],
        )
        disks = []
        for i in range(1, DISKS + 1):
            disk = opts.data_dir / f"disk{i}"
            disk.mkdir(exist_ok=True)
            disks += ["--disk", str(disk)]
        self.start(
            "storage-node-1",
            ["storage-node", "--port", "0", "--coordinator-url", coordinator.address, *disks],
        )
        self.wait_disks(coordinator.address, DISKS)
        for worker in range(1, opts.gateway_workers + 1):
            self.start(
                f"gateway-{worker}",
                [
                    "gateway",
                    "--host",
                    opts.s3_host,
                    "--port",
                    str(opts.s3_port),
                    "--coordinator-url",
                    coordinator.address,
                    "--workers",
                    str(opts.gateway_workers),
                    *self.tls_args(),
                ],
            )
        self.start_mounts(coordinator.address)
        self.banner()
        return self.watch()

    def tls_args(self) -> list[str]:
        opts = self.options
        return ["--tls-cert", opts.tls_cert, "--tls-key", opts.tls_key] if opts.tls_cert else []

    def banner(self) -> None:
        opts = self.options
        scheme = "https" if opts.tls_cert else "http"
        endpoint = f"{scheme}://{opts.s3_host}:{opts.s3_port}"
        lines = [
            "",
            "WormFS is running.",
            f"  S3 endpoint:  {endpoint}",
            f"  Access key:   {opts.access_key}",
            f"  Secret key:   {opts.secret_key}",
            f"  Data dir:     {opts.data_dir}",
            *(f"  Mounted:      {bucket} on {directory}" for bucket, directory in opts.mounts),
            "",
            f"  export AWS_ACCESS_KEY_ID={opts.access_key}",
            f"  export AWS_SECRET_ACCESS_KEY={opts.secret_key}",
            f"  aws --endpoint-url {endpoint} s3 mb s3://my-bucket",
            "",
            "Press Ctrl-C to stop.",
            "",
        ]
        print("\n".join(lines), flush=True)

    def watch(self) -> int:
        while not self.stopping:
            for child in list(self.children):
                if child.process.poll() is not None:
                    if child.optional and child.process.returncode == 0:
                        log.info("%s ended (unmounted)", child.name)
                        self.children.remove(child)
                        child.ready_file.unlink(missing_ok=True)
                        continue
                    log.error(
                        "%s exited unexpectedly with %s", child.name, child.process.returncode
                    )
                    self.stop()
                    return 1
            time.sleep(0.2)
        self.stop()
        return 0

    def request_stop(self, signum: int, frame: FrameType | None) -> None:
        self.stopping = True

    def stop(self) -> None:
        """Stop children in reverse start order: gateways, nodes, then the coordinator."""
        for child in reversed(self.children):
            if child.process.poll() is None:
                child.process.send_signal(signal.SIGTERM)
                try:
                    child.process.wait(STOP_TIMEOUT)
                except subprocess.TimeoutExpired:
                    log.warning("%s did not stop in %ss; killing it", child.name, STOP_TIMEOUT)
                    child.process.kill()
                    child.process.wait()
            child.ready_file.unlink(missing_ok=True)
        log.info("all processes stopped")


def run_server(options: ServerOptions) -> int:
    options.data_dir.mkdir(parents=True, exist_ok=True)
    secret = cfg.cluster_secret(options.data_dir / "cluster.secret")
    supervisor = Supervisor(options, secret)
    signal.signal(signal.SIGTERM, supervisor.request_stop)
    signal.signal(signal.SIGINT, supervisor.request_stop)
    try:
        return supervisor.run()
    except RuntimeError as exc:
        log.error("%s", exc)
        supervisor.stop()
        return 1
