"""``wormfs server``: a whole single-machine cluster as child processes, in the foreground.

Layer: runtime. Before it starts anything, the server claims its data dir (a lock held for its
life) and its S3 address (refused if anything listens there already): ``wormfs.runtime.claims``;
a refusal is a sentence and a non-zero exit. Then it starts, in order, a coordinator on SQLite,
``--nodes`` storage nodes (default 1) over ``--disks`` data directories (default 6), the S3
gateway workers (sharing one port with SO_REUSEPORT; HTTPS when given a certificate and key)
and, with ``--mount BUCKET=DIR``, one ``wormfs mount`` per bucket once the cluster serves (the
bucket is created for the root user if it does not exist; a bucket owned by someone else makes
the mount refuse, which stops the server). Each child writes a ready file with its real
address, so internal ports are picked free (port 0) at the first start and kept across
restarts. Every child logs at the server's ``--log-level`` and ``--log-format``; with
``--access-log`` every gateway worker appends its S3 access log lines there. The cluster
secret and the root
credentials are generated once and kept in the data dir (mode 0600), or taken from the
environment. The coordinator serves the admin API and UI on ``--admin-address`` (or
``WORMFS_ADMIN_ADDRESS``, default 127.0.0.1:9001; port 0 picks one, kept across restarts;
a taken port is refused before anything starts); its first admin token is made once and kept
in ``admin.token`` (mode 0600, printed the first time only), or taken from
``WORMFS_ADMIN_TOKEN``.

Once the cluster serves, a child that dies is started again (``wormfs.runtime.children``:
backoff from 0.5 s to 10 s, at most ``--max-restarts`` restarts of one child in 60 s, then the
server gives up: it stops the rest and exits 1), each death and restart logged with the
child's role, PID and exit status or signal, and counted in ``run/server.json`` (``wormfs
admin status`` shows it). A mount that was unmounted from outside and exited 0 just ends. A
child that fails while the cluster starts stops the server (exit 1).

The children run in their own process group (a terminal's Ctrl-C reaches only the server)
and get SIGTERM if the server itself dies. SIGINT/SIGTERM stop them in reverse order (mounts,
which commit their open files and unmount, gateways, nodes, coordinator) and wait for them;
nothing is restarted once stopping began. Only the PIDs it started are ever signalled.

Storage nodes: the data directories are split among the nodes in runs (6 over 3 nodes: disk1-2,
disk3-4, disk5-6). Node 1 keeps its identity on its first disk, disk1 (where a single node
always kept it); node i > 1 in ``node{i}/``. The nodes are started with ``--adopt-disks``: when
``--nodes`` changes, a directory that moves to another node is taken over by it (its disk id
and chunks stay; the coordinator places chunks on disk ids and moves the disk to the node that
reports it). A node no longer started stays listed by the coordinator, offline, without disks.
``--disks`` can grow (new directories join as new disks); it cannot drop directories the data
dir already has.

Data dir layout::

    server.lock          held by the running server (its PID inside)
    cluster.secret       the internal HMAC secret
    credentials.json     generated root access key and secret (when not given in the env)
    admin.token          the first admin API token (when WORMFS_ADMIN_TOKEN is not set)
    meta/wormfs.db       coordinator metadata (SQLite, WAL)
    disk1 .. diskD       storage node data directories
    node2 .. nodeN       identity of storage nodes 2..N (node 1's is on disk1)
    run/*.json           ready files of the running children (address, pid)
    run/server.json      the server's status: children, their PIDs, restarts, last exits,
                         and the admin API's URL (admin_url)
    run/coordinator.admin.json  the coordinator's admin listener (address, pid)
    run/metrics/gateway/ the gateway workers' Prometheus multiprocess files (wiped at start)
    cache/               the mounts' write-back spools and conflict copies (conflicts/BUCKET/...)

Metrics: the gateway workers share one port, so a scrape reaches one of them at random; they
run in prometheus-client's multiprocess mode (``PROMETHEUS_MULTIPROC_DIR`` set for them alone,
on ``run/metrics/gateway``, emptied before the first worker starts), so any worker's
``/metrics`` answers the sum over all of them. A worker that dies is marked dead there (its
live gauges dropped; its counters stay in the sums, as counters must). The coordinator is told
the directory (``WORMFS_GATEWAY_METRICS_DIR``) for the cluster exposition.
"""

from __future__ import annotations

import ctypes
import json
import logging
import os
import secrets
import shutil
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

from prometheus_client import multiprocess

from wormfs import config as cfg
from wormfs.internal.auth import sign
from wormfs.internal.keyring import (
    KEY_FILE_NAME,
    MASTER_KEY_ENV,
    MASTER_KEY_FILE_ENV,
    create_key_file,
)
from wormfs.runtime.bootstrap import admin_ready_file
from wormfs.runtime.children import Child, RestartPolicy, describe_exit, write_status
from wormfs.runtime.claims import ServerRefused, claim_address, lock_data_dir, probe_port

log = logging.getLogger(__name__)

DISKS = 6
READY_TIMEOUT = 60.0
STOP_TIMEOUT = 20.0
POLL = 0.1
PR_SET_PDEATHSIG = 1
MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"  # read by prometheus-client when it is imported
GATEWAY_METRICS_ENV = "WORMFS_GATEWAY_METRICS_DIR"  # where the coordinator finds them
ACCESS_LOG_ENV = "WORMFS_ACCESS_LOG"


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
    nodes: int = 1  # storage-node processes
    disks: int = DISKS  # data directories, split among the nodes
    log_level: str = "INFO"  # the server's and every child's
    max_restarts: int = RestartPolicy.max_restarts  # of one child within 60 s
    log_format: str = "text"  # the server's and every child's: text | json
    access_log: str = ""  # the gateways' S3 access log: "" none, "-" stdout, or a file
    # The admin API and UI (the coordinator's admin listener; WORMFS_ADMIN_ADDRESS).
    admin_host: str = "127.0.0.1"
    admin_port: int = 9001  # 0: any free port (kept across coordinator restarts)
    admin_token: str = ""  # an admin-scope token the coordinator accepts
    admin_token_created: bool = False  # generated by this start (then printed once)

    @classmethod
    def from_env(
        cls,
        data_dir: str | None,
        s3_address: str | None,
        gateway_workers: int | None,
        tls_cert: str | None = None,
        tls_key: str | None = None,
        mounts: list[str] | None = None,
        *,
        nodes: int | None = None,
        disks: int | None = None,
        log_level: str = "INFO",
        max_restarts: int | None = None,
        log_format: str = "text",
        access_log: str | None = None,
        admin_address: str | None = None,
    ) -> ServerOptions:
        root = Path(data_dir or os.environ.get("WORMFS_DATA_DIR") or "./data").resolve()
        address = s3_address or os.environ.get("WORMFS_S3_ADDRESS") or "127.0.0.1:9000"
        host, _, port = address.rpartition(":")
        if not host or not port.isdigit():
            raise cfg.ConfigError([f"S3 address {address!r} is not HOST:PORT"])
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
        existing = existing_disks(root)
        disk_count = disks if disks is not None else max(DISKS, existing)
        node_count = 1 if nodes is None else nodes
        problems += layout_problems(node_count, disk_count, existing)
        restarts = RestartPolicy.max_restarts if max_restarts is None else max_restarts
        if restarts < 0:
            problems.append("--max-restarts must not be negative")
        admin = admin_address or os.environ.get(cfg.ADMIN_ADDRESS_ENV) or cfg.DEFAULT_ADMIN_ADDRESS
        try:
            admin_listen = cfg.listen_address(admin, "admin address")
        except cfg.ConfigError as exc:
            problems += exc.problems
            admin_listen = cfg.ListenConfig()
        if problems:
            raise cfg.ConfigError(problems)
        access_log = access_log or os.environ.get(ACCESS_LOG_ENV, "")
        if access_log and access_log != "-":
            access_log = str(Path(access_log).resolve())  # the workers are told it
        access, secret_key, generated = root_credentials(root)
        token, token_created = first_admin_token(root)
        return cls(
            root,
            host,
            int(port),
            workers,
            access,
            secret_key,
            generated,
            cert,
            key,
            tuple(parsed),
            nodes=node_count,
            disks=disk_count,
            log_level=log_level,
            max_restarts=restarts,
            log_format=log_format,
            access_log=access_log,
            admin_host=admin_listen.host,
            admin_port=admin_listen.port,
            admin_token=token,
            admin_token_created=token_created,
        )


def existing_disks(data_dir: Path) -> int:
    """How many data directories (disk1, disk2, ...) the data dir has already."""
    count = 0
    while (data_dir / f"disk{count + 1}").is_dir():
        count += 1
    return count


def layout_problems(nodes: int, disks: int, existing: int) -> list[str]:
    coding = cfg.CodingConfig()
    width = coding.k + coding.m
    problems = []
    if disks < width:
        problems.append(
            f"--disks must be at least {width}: the {coding.k}+{coding.m} profile puts each "
            "segment's chunks on that many disks"
        )
    if disks < existing:
        problems.append(
            f"the data dir has {existing} data directories (disk1..disk{existing}); --disks "
            f"{disks} would stop serving the rest and their chunks: give --disks {existing} "
            "or more (drain a disk with `wormfs admin disk drain` before removing it)"
        )
    if not 1 <= nodes <= disks:
        problems.append(f"--nodes must be between 1 and the number of disks ({disks})")
    return problems


def node_disks(data_dir: Path, nodes: int, disks: int) -> list[list[Path]]:
    """The data directories of each node: ``disks`` split into ``nodes`` runs, the first
    ones one longer when they do not divide evenly (7 over 3: 3, 2, 2)."""
    paths = [data_dir / f"disk{i}" for i in range(1, disks + 1)]
    size, extra = divmod(disks, nodes)
    runs, at = [], 0
    for i in range(nodes):
        length = size + (1 if i < extra else 0)
        runs.append(paths[at : at + length])
        at += length
    return runs


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


ADMIN_TOKEN_FILE = "admin.token"


def first_admin_token(data_dir: Path) -> tuple[str, bool]:
    """(the admin token, made by this call?): ``WORMFS_ADMIN_TOKEN``, else the one kept in
    ``admin.token`` (mode 0600), else a new one written there. The coordinator keeps only its
    hash; this file is where an operator (and ``wormfs admin``) finds it again."""
    given = os.environ.get(cfg.ADMIN_TOKEN_ENV, "")
    if given:
        return given, False
    path = data_dir / ADMIN_TOKEN_FILE
    if path.exists():
        return path.read_text().strip(), False
    # The shape of the coordinator's own tokens (wfa_ + 32 random bytes, URL-safe base64).
    token = "wfa_" + secrets.token_urlsafe(32)
    data_dir.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(token + "\n")
    return token, True


def _die_with_parent(parent: int) -> None:
    """In a child before exec: SIGTERM when the server dies, even by SIGKILL (Linux)."""
    if sys.platform == "linux":
        ctypes.CDLL(None).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
        if os.getppid() != parent:  # the server died before prctl took effect
            os.kill(os.getpid(), signal.SIGTERM)


def clear_stale_mount(mountpoint: Path) -> None:
    """Lazily unmount what a mount process that died left behind ("not connected")."""
    try:
        subprocess.run(
            ["fusermount3", "-u", "-z", str(mountpoint)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            timeout=10,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        log.warning("could not unmount %s before restarting its mount: %s", mountpoint, exc)


@dataclass
class Supervisor:
    options: ServerOptions
    secret: bytes
    lock_fd: int = -1  # the data dir's lock, handed down to every child
    children: list[Child] = field(default_factory=list)
    stopping: bool = False
    policy: RestartPolicy = field(default_factory=RestartPolicy)
    started: float = field(default_factory=time.time)
    admin_url: str = ""  # the admin API's base URL, once the coordinator bound it

    @property
    def run_dir(self) -> Path:
        return self.options.data_dir / "run"

    @property
    def status_file(self) -> Path:
        return self.run_dir / "server.json"

    @property
    def endpoint(self) -> str:
        opts = self.options
        return f"{'https' if opts.tls_cert else 'http'}://{opts.s3_host}:{opts.s3_port}"

    @property
    def gateway_metrics_dir(self) -> Path:
        return self.run_dir / "metrics" / "gateway"

    def reset_gateway_metrics(self) -> None:
        """Empty the workers' multiprocess directory: the files of an earlier run hold
        counts of processes that no longer exist."""
        shutil.rmtree(self.gateway_metrics_dir, ignore_errors=True)
        self.gateway_metrics_dir.mkdir(parents=True)

    def _env(self, child: Child | None = None) -> dict[str, str]:
        env = dict(os.environ)
        # Only the gateway workers write multiprocess files; anyone else in that mode would
        # write its series there too (and serve none of its own).
        env.pop(MULTIPROC_ENV, None)
        if child is not None and child.name.startswith("gateway-"):
            env[MULTIPROC_ENV] = str(self.gateway_metrics_dir)
        if child is not None and child.name == "coordinator":
            env[GATEWAY_METRICS_ENV] = str(self.gateway_metrics_dir)
            env[cfg.ADMIN_TOKEN_ENV] = self.options.admin_token
            env[cfg.S3_ENDPOINT_ENV] = self.endpoint  # the web UI's download links
        else:
            env.pop(cfg.ADMIN_TOKEN_ENV, None)  # only the coordinator checks admin tokens
        env[cfg.CLUSTER_SECRET_ENV] = self.secret.decode()
        if not env.get(MASTER_KEY_ENV):
            # The data dir's keyring (made at start): a file, so a rotation reaches everyone.
            env[MASTER_KEY_FILE_ENV] = str(self.options.data_dir / KEY_FILE_NAME)
        env["WORMFS_ROOT_ACCESS_KEY"] = self.options.access_key
        env["WORMFS_ROOT_SECRET_KEY"] = self.options.secret_key
        # Never import the working directory's folders as top-level modules.
        env["PYTHONSAFEPATH"] = "1"
        return env

    def publish(self) -> None:
        write_status(self.status_file, self.started, self.endpoint, self.children, self.admin_url)

    def admin_bound(self, coordinator: Child) -> None:
        """Learn the admin listener's address from the coordinator's admin ready file, and
        keep its port for the coordinator's restarts (as its own port is kept)."""
        info = json.loads(admin_ready_file(coordinator.ready_file).read_text())
        if info.get("pid") != (coordinator.process.pid if coordinator.process else None):
            raise RuntimeError("the coordinator did not publish its admin address")
        self.admin_url = str(info["address"])
        flag = coordinator.args.index("--admin-address") + 1
        coordinator.args[flag] = f"{self.options.admin_host}:{int(info['port'])}"
        self.publish()

    # ---- starting children -------------------------------------------------------------------
    def spawn(self, child: Child) -> None:
        child.ready_file.unlink(missing_ok=True)
        cmd = [sys.executable, "-m", "wormfs.cli", *child.args]
        cmd += ["--ready-file", str(child.ready_file), "--log-level", self.options.log_level]
        cmd += ["--log-format", self.options.log_format]
        parent = os.getpid()
        child.process = subprocess.Popen(
            cmd,
            env=self._env(child),
            process_group=0,
            preexec_fn=lambda: _die_with_parent(parent),
            pass_fds=(self.lock_fd,) if self.lock_fd >= 0 else (),
        )
        child.state = "starting"
        child.started_at = time.monotonic()
        self.publish()

    def poll_ready(self, child: Child) -> bool:
        """Whether ``child`` has published its ready file (then it is marked running)."""
        assert child.process is not None
        try:
            info = json.loads(child.ready_file.read_text())
        except (OSError, ValueError):
            return False
        if info.get("pid") != child.process.pid:
            return False
        child.bound(str(info["address"]), int(info.get("port", 0)))
        self.publish()
        return True

    def start(
        self, name: str, args: list[str], *, sticky_port: bool = False, optional: bool = False
    ) -> Child:
        """Start a child and wait until it is ready (``RuntimeError`` if it is not)."""
        child = Child(name, args, self.run_dir / f"{name}.json", optional, sticky_port)
        self.children.append(child)
        self.spawn(child)
        assert child.process is not None
        deadline = time.monotonic() + READY_TIMEOUT
        while not self.stopping:
            if child.process.poll() is not None:
                raise RuntimeError(f"{name} {describe_exit(child.process.returncode)}")
            if self.poll_ready(child):
                log.info("%s ready at %s (pid %d)", name, child.address, child.process.pid)
                return child
            if time.monotonic() > deadline:
                raise RuntimeError(f"{name} did not become ready in {READY_TIMEOUT:.0f} s")
            time.sleep(0.05)
        return child

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
        if not self.stopping:
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
            if self.stopping:
                return
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
                optional=True,
            )
            child.mountpoint = directory

    def start_nodes(self, coordinator: str) -> None:
        opts = self.options
        for i, disks in enumerate(node_disks(opts.data_dir, opts.nodes, opts.disks), 1):
            if self.stopping:
                return
            args = ["storage-node", "--port", "0", "--coordinator-url", coordinator]
            for disk in disks:
                disk.mkdir(exist_ok=True)
                args += ["--disk", str(disk)]
            if i > 1:
                state = opts.data_dir / f"node{i}"
                state.mkdir(exist_ok=True)
                args += ["--state-dir", str(state)]
            self.start(f"storage-node-{i}", [*args, "--adopt-disks"], sticky_port=True)

    def start_gateways(self, coordinator: str) -> None:
        opts = self.options
        for worker in range(1, opts.gateway_workers + 1):
            if self.stopping:
                return
            self.start(
                f"gateway-{worker}",
                [
                    "gateway",
                    "--host",
                    opts.s3_host,
                    "--port",
                    str(opts.s3_port),
                    "--coordinator-url",
                    coordinator,
                    "--workers",
                    str(opts.gateway_workers),
                    *self.tls_args(),
                    *(["--access-log", opts.access_log] if opts.access_log else []),
                ],
            )

    def run(self) -> int:
        opts = self.options
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.reset_gateway_metrics()
        (opts.data_dir / "meta").mkdir(parents=True, exist_ok=True)
        coordinator = self.start(
            "coordinator",
            [
                "coordinator",
                "--port",
                "0",
                "--database-url",
                f"sqlite:///{opts.data_dir / 'meta' / 'wormfs.db'}",
                "--admin-address",
                f"{opts.admin_host}:{opts.admin_port}",
            ],
            sticky_port=True,
        )
        if not self.stopping:
            self.admin_bound(coordinator)
        if not self.stopping:
            self.start_nodes(coordinator.address)
        if not self.stopping:
            self.wait_disks(coordinator.address, opts.disks)
        if not self.stopping:
            self.start_gateways(coordinator.address)
        if not self.stopping:
            self.start_mounts(coordinator.address)
        if not self.stopping:
            self.banner()
        return self.watch()

    def tls_args(self) -> list[str]:
        opts = self.options
        return ["--tls-cert", opts.tls_cert, "--tls-key", opts.tls_key] if opts.tls_cert else []

    def banner(self) -> None:
        opts = self.options
        endpoint = self.endpoint
        nodes = "1 storage node" if opts.nodes == 1 else f"{opts.nodes} storage nodes"
        lines = [
            "",
            "WormFS is running.",
            f"  S3 endpoint:  {endpoint}",
            f"  Access key:   {opts.access_key}",
            f"  Secret key:   {opts.secret_key}",
            f"  Data dir:     {opts.data_dir}",
            f"  Admin API:    {self.admin_url}/admin/v1/ (OpenAPI: /admin/v1/openapi.json)",
            f"  Web UI:       {self.admin_url}/ui/ (log in with the admin token)",
            self.admin_token_line(),
            f"  Storage:      {nodes} over {opts.disks} disks",
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

    def admin_token_line(self) -> str:
        opts = self.options
        kept = opts.data_dir / ADMIN_TOKEN_FILE
        if opts.admin_token_created:  # printed this once; later starts say where it is
            return f"  Admin token:  {opts.admin_token} (kept in {kept})"
        if os.environ.get(cfg.ADMIN_TOKEN_ENV):
            return f"  Admin token:  from {cfg.ADMIN_TOKEN_ENV}"
        return f"  Admin token:  in {kept}"

    # ---- watching: restarts ------------------------------------------------------------------
    def watch(self) -> int:
        """Restart children that die until stopped (0), or give up (1)."""
        while not self.stopping:
            now = time.monotonic()
            for child in list(self.children):
                if self.stopping:
                    break
                if child.process is None:
                    if now >= child.restart_at:
                        self.restart(child, now)
                    continue
                code = child.process.poll()
                if code is None:
                    self.check_starting(child, now)
                elif not self.died(child, code, now):
                    self.stop()
                    return 1
            time.sleep(POLL)
        self.stop()
        return 0

    def check_starting(self, child: Child, now: float) -> None:
        """A restarted child that became ready is logged; one that never does is killed (its
        death then counts as any other)."""
        if child.state != "starting" or child.process is None:
            return
        if self.poll_ready(child):
            log.warning(
                "%s restarted: ready at %s (pid %d; %d restarts)",
                child.name,
                child.address,
                child.process.pid,
                child.restarts,
            )
        elif now - child.started_at > READY_TIMEOUT:
            log.warning("%s (pid %d) did not become ready; killing it", child.name, child.pid)
            child.process.kill()

    def died(self, child: Child, code: int, now: float) -> bool:
        """Handle ``child``'s death; False: the restart limit is reached, give up."""
        pid = child.pid
        if pid is not None and child.name.startswith("gateway-"):
            # Its live gauges (in-flight requests) leave the sums; counters stay.
            multiprocess.mark_process_dead(pid, str(self.gateway_metrics_dir))  # type: ignore[no-untyped-call]
        if child.optional and code == 0:
            log.info("%s (pid %d) ended (unmounted)", child.name, pid)
            self.children.remove(child)
            child.ready_file.unlink(missing_ok=True)
            self.publish()
            return True
        delay = self.policy.delay(child, now)
        if delay is None:
            log.error(
                "%s (pid %d) %s, after %d restarts in the last %.0f s: giving up; "
                "stopping the cluster",
                child.name,
                pid,
                describe_exit(code),
                len(child.recent),
                self.policy.window,
            )
            return False
        child.died(code, delay, now)
        log.warning(
            "%s (pid %d) %s; restarting it in %.1f s", child.name, pid, child.last_exit, delay
        )
        child.ready_file.unlink(missing_ok=True)
        self.publish()
        return True

    def restart(self, child: Child, now: float) -> None:
        if child.mountpoint is not None:
            clear_stale_mount(child.mountpoint)
        child.restarted(now)
        self.spawn(child)
        log.warning("%s started again (pid %d)", child.name, child.pid)

    def request_stop(self, signum: int, frame: FrameType | None) -> None:
        self.stopping = True

    def stop(self) -> None:
        """Stop children in reverse start order: mounts, gateways, nodes, the coordinator."""
        self.stopping = True
        for child in reversed(self.children):
            process = child.process
            if process is not None and process.poll() is None:
                process.send_signal(signal.SIGTERM)
                try:
                    process.wait(STOP_TIMEOUT)
                except subprocess.TimeoutExpired:
                    log.warning("%s did not stop in %ss; killing it", child.name, STOP_TIMEOUT)
                    process.kill()
                    process.wait()
            child.state = "stopped"
            child.ready_file.unlink(missing_ok=True)
        self.status_file.unlink(missing_ok=True)
        log.info("all processes stopped")


def run_server(options: ServerOptions) -> int:
    """Claim the data dir and the address, then run the cluster; the exit status."""
    try:
        lock_fd = lock_data_dir(options.data_dir)
    except ServerRefused as exc:
        print(f"wormfs server: {exc}", file=sys.stderr, flush=True)
        return 1
    try:
        claim = claim_address(options.s3_host, options.s3_port)
        if options.admin_port:
            probe_port(
                options.admin_host,
                options.admin_port,
                f"--admin-address (or {cfg.ADMIN_ADDRESS_ENV})",
            )
    except ServerRefused as exc:
        os.close(lock_fd)
        print(f"wormfs server: {exc}", file=sys.stderr, flush=True)
        return 1
    secret = cfg.cluster_secret(options.data_dir / "cluster.secret")
    if not os.environ.get(MASTER_KEY_ENV):
        create_key_file(options.data_dir / KEY_FILE_NAME)  # SSE-S3 and SSE-KMS keys
    supervisor = Supervisor(
        options, secret, lock_fd, policy=RestartPolicy(max_restarts=options.max_restarts)
    )
    signal.signal(signal.SIGTERM, supervisor.request_stop)
    signal.signal(signal.SIGINT, supervisor.request_stop)
    try:
        return supervisor.run()
    except RuntimeError as exc:
        log.error("%s", exc)
        supervisor.stop()
        return 1
    finally:
        claim.close()
        os.close(lock_fd)
