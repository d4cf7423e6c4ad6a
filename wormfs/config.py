"""Configuration: TOML files decoded into frozen, typed structures, validated at start-up.

Layer: config, the one home of every setting (above the formats and wire schemas, whose
limits it checks; below the clients, the data plane and the runtime). Each daemon has one
section type, and the coordinator's ``[durability]`` table is ``DurabilityConfig``. Files
hold settings; the environment holds only secrets and locations (``WORMFS_CLUSTER_SECRET``,
``WORMFS_ROOT_ACCESS_KEY``, ``WORMFS_ROOT_SECRET_KEY``, ``WORMFS_DATA_DIR``,
``WORMFS_S3_ADDRESS``, ``WORMFS_TLS_CERT``, ``WORMFS_TLS_KEY``, ``WORMFS_ADMIN_TOKEN``,
``WORMFS_ADMIN_ADDRESS``). ``listen_address`` parses a ``HOST:PORT``. ``validate`` reports every
problem at once in one ``ConfigError`` rather than stopping at the first; ``tls_problems``
checks a certificate/key pair (both or neither given, files readable, key matching the
certificate) so that TLS mistakes are reported with the rest.
"""

from __future__ import annotations

import os
import secrets
import ssl
import tomllib
from pathlib import Path
from typing import TypeVar

import msgspec

from wormfs.erasure import CODECS, DEFAULT_CODEC
from wormfs.format.layout import Profile
from wormfs.wire.coordinator import INLINE_LIMIT

T = TypeVar("T")

MIB = 1024 * 1024
MB = 1_000_000
CLUSTER_SECRET_ENV = "WORMFS_CLUSTER_SECRET"


class ConfigError(Exception):
    """The configuration has problems; ``problems`` lists all of them."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("invalid configuration:\n  - " + "\n  - ".join(problems))
        self.problems = problems


# ---- durability jobs: repair, scrub, orphan collection (the coordinator's [durability]) -------
# Defaults follow what the field does in practice: a node that is briefly restarted must not
# set off a rebuild of everything it holds (``repair_delay``), a deep scrub reads every byte
# once a week at a budget that leaves foreground traffic alone, and a chunk nobody references
# is deleted only well after any write that could still claim it has expired.
class DurabilityConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    # Repair.
    repair_delay: float = 600.0  # a disk or node unavailable this long has its chunks rebuilt
    repair_scan_interval: float = 10.0  # how often unavailable disks and drains are looked at
    repair_rate_mb: float = 400.0  # MB/s of chunk data rebuilt, cluster-wide; 0 = unlimited
    repair_concurrency: int = 4  # rebuild tasks in flight, cluster-wide
    repair_retry: float = 30.0  # first back-off after a failed rebuild (doubles, capped)
    # Scrub.
    shallow_scrub_interval: float = 86_400.0  # inventory vs metadata, per disk
    deep_scrub_interval: float = 7 * 86_400.0  # every block checksum, per disk
    scrub_rate_mb: float = 50.0  # MB/s read by the deep scrub, per disk; 0 = unpaced
    scrub_duty: float = 0.1  # share of a disk's time a deep scrub may read (backs off when busy)
    scrub_batch_mb: float = 256.0  # bytes verified per node call (a resumable step)
    consistency_sample: int = 2  # segments per deep-scrub step decoded and compared (3 stripes)
    # Garbage collection of chunks no metadata references.
    orphan_delay: float = 6 * 3600.0  # an unreferenced chunk must be this old to go

    @property
    def repair_rate_bytes(self) -> int:
        return int(self.repair_rate_mb * MB)

    @property
    def scrub_rate_bytes(self) -> int:
        return int(self.scrub_rate_mb * MB)


def durability_problems(config: DurabilityConfig) -> list[str]:
    problems = []
    for name in (
        "repair_delay",
        "repair_rate_mb",
        "scrub_rate_mb",
        "orphan_delay",
    ):
        if getattr(config, name) < 0:
            problems.append(f"durability.{name} must not be negative")
    for name in (
        "repair_scan_interval",
        "repair_retry",
        "shallow_scrub_interval",
        "deep_scrub_interval",
        "scrub_batch_mb",
    ):
        if getattr(config, name) <= 0:
            problems.append(f"durability.{name} must be positive")
    if not 1 <= config.repair_concurrency <= 256:
        problems.append("durability.repair_concurrency must be within 1..256")
    if not 0 < config.scrub_duty <= 1:
        problems.append("durability.scrub_duty must be within (0, 1]")
    if not 0 <= config.consistency_sample <= 1024:
        problems.append("durability.consistency_sample must be within 0..1024")
    return problems


class ListenConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    host: str = "127.0.0.1"
    port: int = 0


class CodingConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """The profile new objects are written with (old objects keep their own)."""

    codec: str = DEFAULT_CODEC
    k: int = 4
    m: int = 2
    stripe_size: int = 1 * MIB
    segment_size: int = 64 * MIB

    @property
    def profile(self) -> Profile:
        return Profile(codec=self.codec, k=self.k, m=self.m, stripe_size=self.stripe_size)


class BackupConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Continuous metadata backup onto the storage nodes (SQLite only; ``coordinator.backup``)."""

    enabled: bool = True
    backup_lag: float = 10.0  # the change stream ships at most this far behind (seconds)
    base_interval: float = 3600.0  # a new generation (a full base snapshot) this often
    generations: int = 3  # generations kept on the nodes; older ones are deleted


class LifecycleSettings(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """How the leader applies buckets' lifecycle rules (``coordinator.lifecycle``)."""

    # The length of a lifecycle "day" in seconds: AWS's 86,400 unless shortened for tests
    # (as RGW's debug interval shortens it); rule ages are counted in these days.
    day_seconds: float = 86_400.0
    interval: float = 600.0  # a pass this often (and at least four times a day)
    batch: int = 1000  # at most this many actions per pass


class CoordinatorConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    listen: ListenConfig = ListenConfig()
    database_url: str = "sqlite:///./data/meta/wormfs.db"
    coding: CodingConfig = CodingConfig()
    heartbeat_interval: float = 5.0
    node_offline_after: float = 30.0
    gc_interval: float = 10.0
    gc_delay: float = 60.0  # abandoned writes older than this are collected
    root_access_key: str = ""
    root_secret_key: str = ""
    durability: DurabilityConfig = DurabilityConfig()  # repair, scrub, orphan GC
    # Several coordinators: ZooKeeper elects one ("host:port,host:port"); empty runs alone.
    zookeeper_hosts: str = ""
    zookeeper_path: str = "/wormfs"  # the election and the leader's address live under it
    zookeeper_session_timeout: float = 10.0  # a dead leader is replaced after about this long
    advertise_address: str = ""  # base URL clients are sent to; defaults to the bound address
    # The admin plane (REST API /admin/v1, web UI, /metrics) on a listener of its own, apart
    # from the secret-signed /v1 port; none when unset. ``wormfs server`` sets it.
    admin_listen: ListenConfig | None = None
    # An admin-scope bearer token to accept (kept hashed in the database; from
    # WORMFS_ADMIN_TOKEN): how ``wormfs server`` hands its first token to the coordinator.
    admin_token: str = ""
    backup: BackupConfig = BackupConfig()  # metadata backup onto the storage nodes
    lifecycle: LifecycleSettings = LifecycleSettings()


class StorageNodeConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    listen: ListenConfig = ListenConfig()
    disks: list[str] = []
    state_dir: str = ""  # node id and other node-level state; defaults to the first disk
    coordinator_url: str = ""  # one base URL, or several separated by commas
    zookeeper_hosts: str = ""  # or find the leading coordinator through ZooKeeper
    zookeeper_path: str = "/wormfs"
    advertise_address: str = ""  # base URL others use; defaults to the bound address
    rack: str = ""
    zone: str = ""
    heartbeat_interval: float = 5.0
    reserved_bytes: int = 64 * MIB  # a disk with less free space than this refuses writes
    # Take over disks whose marker names another node (``wormfs server`` does: it splits its
    # data directories among its nodes anew when ``--nodes`` changes); see storage_node.disks.
    adopt_disks: bool = False


class GatewayConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    listen: ListenConfig = ListenConfig(port=9000)
    coordinator_url: str = ""  # one base URL, or several separated by commas
    zookeeper_hosts: str = ""  # or find the leading coordinator through ZooKeeper
    zookeeper_path: str = "/wormfs"
    region: str = "us-east-1"
    workers: int = 1
    virtual_host_domain: str = ""
    # HTTPS: PEM certificate (chain allowed) and key paths; both empty serves plain HTTP.
    tls_cert: str = ""
    tls_key: str = ""
    # Objects of at most this many bytes are stored inline in the metadata (one coordinator
    # call, no chunks); 0 stores every object in chunks. At most ``INLINE_LIMIT`` (256 KiB).
    inline_max: int = 64 * 1024
    # The S3 access log (AWS server access log format, one line per request): "" writes
    # none, "-" standard output, anything else a file that every worker appends to.
    access_log: str = ""
    # SSE-KMS: the names of the local KMS's keys requests may use; [] lets any name be
    # used (each named key is derived from the master key, wormfs.internal.keyring).
    kms_keys: list[str] = []


def load(path: Path | None, kind: type[T]) -> T:
    """Decode the TOML file at ``path`` (or defaults when None) into ``kind``."""
    if path is None:
        return msgspec.convert({}, kind)
    try:
        raw = tomllib.loads(path.read_text())
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError([f"{path}: {exc}"]) from None
    try:
        return msgspec.convert(raw, kind)
    except msgspec.ValidationError as exc:
        raise ConfigError([f"{path}: {exc}"]) from None


def backup_problems(backup: BackupConfig) -> list[str]:
    problems = []
    if not 0.1 <= backup.backup_lag <= 3600:
        problems.append("backup.backup_lag must be within 0.1..3600 seconds")
    if backup.base_interval < backup.backup_lag:
        problems.append("backup.base_interval must be at least backup.backup_lag")
    if not 1 <= backup.generations <= 100:
        problems.append("backup.generations must be within 1..100")
    return problems


def coding_problems(coding: CodingConfig, prefix: str = "coding.") -> list[str]:
    """What is wrong with ``coding``; ``prefix`` names where it came from in the messages
    (the config's table, or "" for a named profile)."""
    p = prefix
    problems = []
    if coding.codec not in CODECS:
        problems.append(f"{p}codec {coding.codec!r} is not one of {sorted(CODECS)}")
    if not 1 <= coding.k <= 16:
        problems.append(f"{p}k {coding.k} must be within 1..16")
    if not 0 <= coding.m <= 16:
        problems.append(f"{p}m {coding.m} must be within 0..16")
    if not 4096 <= coding.stripe_size <= 16 * MIB:
        problems.append(f"{p}stripe_size {coding.stripe_size} must be within 4 KiB..16 MiB")
    if coding.segment_size < coding.stripe_size or coding.segment_size % coding.stripe_size:
        problems.append(f"{p}segment_size must be a positive multiple of {p}stripe_size")
    return problems


def listen_problems(listen: ListenConfig) -> list[str]:
    if not 0 <= listen.port <= 65535:
        return [f"listen.port {listen.port} is not a TCP port"]
    return []


def zookeeper_problems(hosts: str, path: str) -> list[str]:
    problems = []
    if hosts and not all(h.strip() for h in hosts.split(",")):
        problems.append(f"zookeeper_hosts {hosts!r} has an empty entry")
    if not path.startswith("/") or (len(path) > 1 and path.endswith("/")):
        problems.append(f"zookeeper_path {path!r} must start with / and not end with /")
    return problems


def tls_problems(cert: str, key: str, prefix: str = "") -> list[str]:
    """Configuration problems of a (``cert``, ``key``) pair; none when both are empty."""
    if not cert and not key:
        return []
    if not cert or not key:
        return [f"{prefix}tls_cert and {prefix}tls_key must be given together"]
    problems = [
        f"{prefix}{name} {path!r} is not a readable file"
        for name, path in (("tls_cert", cert), ("tls_key", key))
        if not Path(path).is_file()
    ]
    if problems:
        return problems
    try:
        ssl.create_default_context(ssl.Purpose.CLIENT_AUTH).load_cert_chain(cert, key)
    except (OSError, ssl.SSLError) as exc:
        problems.append(f"{prefix}tls_cert/tls_key cannot be loaded: {exc}")
    return problems


def validate(config: CoordinatorConfig | StorageNodeConfig | GatewayConfig) -> None:
    """Raise one ``ConfigError`` naming every problem in ``config``."""
    problems = listen_problems(config.listen)
    if isinstance(config, CoordinatorConfig):
        problems += coding_problems(config.coding)
        problems += durability_problems(config.durability)
        problems += backup_problems(config.backup)
        if config.node_offline_after <= config.heartbeat_interval:
            problems.append("node_offline_after must exceed heartbeat_interval")
        problems += zookeeper_problems(config.zookeeper_hosts, config.zookeeper_path)
        if config.zookeeper_hosts and config.zookeeper_session_timeout <= 0:
            problems.append("zookeeper_session_timeout must be positive")
        if config.advertise_address and not config.advertise_address.startswith(
            ("http://", "https://")
        ):
            problems.append("advertise_address must be an http:// or https:// base URL")
    elif isinstance(config, StorageNodeConfig):
        if not config.disks:
            problems.append("storage node needs at least one disk")
        if len(set(config.disks)) != len(config.disks):
            problems.append("storage node disks are listed twice")
        if not config.coordinator_url and not config.zookeeper_hosts:
            problems.append("storage node needs coordinator_url or zookeeper_hosts")
        problems += zookeeper_problems(config.zookeeper_hosts, config.zookeeper_path)
    else:
        if not config.coordinator_url and not config.zookeeper_hosts:
            problems.append("gateway needs coordinator_url or zookeeper_hosts")
        problems += zookeeper_problems(config.zookeeper_hosts, config.zookeeper_path)
        if config.workers < 1:
            problems.append("gateway workers must be >= 1")
        problems += tls_problems(config.tls_cert, config.tls_key)
        if not 0 <= config.inline_max <= INLINE_LIMIT:
            problems.append(
                f"inline_max {config.inline_max} must be within 0..{INLINE_LIMIT} "
                "(0 disables inline objects)"
            )
    if problems:
        raise ConfigError(problems)


def cluster_secret(secret_file: Path | None = None, variable: str = CLUSTER_SECRET_ENV) -> bytes:
    """The cluster secret from the environment variable ``variable``, else from
    ``secret_file`` (created if absent)."""
    value = os.environ.get(variable)
    if value:
        return value.encode()
    if secret_file is None:
        raise ConfigError([f"set {variable} or give a cluster secret file"])
    if not secret_file.exists():
        secret_file.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(secret_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(secrets.token_hex(32))
    return secret_file.read_text().strip().encode()


def env_or(value: str, name: str) -> str:
    """``value`` unless the environment variable ``name`` is set (secrets and locations)."""
    return os.environ.get(name) or value


ADMIN_TOKEN_ENV = "WORMFS_ADMIN_TOKEN"
# A shorter lifecycle day for tests (``LifecycleSettings.day_seconds``), e.g. under make run.
LIFECYCLE_DAY_ENV = "WORMFS_LIFECYCLE_DAY_SECONDS"


def lifecycle_from_env(settings: LifecycleSettings) -> LifecycleSettings:
    """``settings`` with the day length ``WORMFS_LIFECYCLE_DAY_SECONDS`` gives, if set."""
    raw = os.environ.get(LIFECYCLE_DAY_ENV)
    if not raw:
        return settings
    try:
        day = float(raw)
    except ValueError:
        raise ConfigError([f"{LIFECYCLE_DAY_ENV}: {raw!r} is not a number of seconds"]) from None
    if not day > 0:
        raise ConfigError([f"{LIFECYCLE_DAY_ENV}: a day lasts more than 0 seconds"])
    return msgspec.structs.replace(settings, day_seconds=day)


ADMIN_ADDRESS_ENV = "WORMFS_ADMIN_ADDRESS"
DEFAULT_ADMIN_ADDRESS = "127.0.0.1:9001"
# The S3 gateway's base URL as browsers reach it (a location): the web UI's object browser
# links its downloads there. ``wormfs server`` gives the coordinator its S3 endpoint.
S3_ENDPOINT_ENV = "WORMFS_S3_ENDPOINT"


def listen_address(value: str, what: str) -> ListenConfig:
    """``HOST:PORT`` as a ``ListenConfig`` (port 0: any free port); ``ConfigError`` if not."""
    host, _, port = value.rpartition(":")
    if not host or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ConfigError([f"{what} {value!r} is not HOST:PORT"])
    return ListenConfig(host=host, port=int(port))
