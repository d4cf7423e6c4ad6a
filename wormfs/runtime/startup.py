"""One start path for every daemon: ``wormfs <daemon>`` and ``python -m wormfs.<daemon>`` alike.

Layer: runtime (below the components, which hand their ``run`` to it; above config and the
codecs, whose checks it runs). Contract:

* ``COORDINATOR``, ``STORAGE_NODE``, ``GATEWAY`` (``DAEMONS``) are the daemons' command lines:
  the subcommand name, its help, its flags, and how the flags override the TOML settings
  (``--config``). Every daemon also takes ``--host``, ``--port``, ``--ready-file``,
  ``--secret-file``, ``--secret-env``, ``--log-level`` and ``--log-format`` (``text`` or
  ``json``: ``wormfs.runtime.logs``).
* ``start_checks(name, log_level, config)`` is what every process runs before it serves,
  however it was started: the configuration validated (every problem at once, one
  ``ConfigError``), logging set up, the codec self-test (a codec that computes wrong parity
  must not start: ``wormfs.erasure.self_test``), and glibc's malloc tuned
  (``wormfs.runtime.malloc``; the gateway caps its arenas).
* ``start(daemon, args, run)`` loads the settings, applies the flags, runs the checks, reads
  the cluster secret (from the environment variable ``--secret-env``, else ``--secret-file``),
  starts tracing when ``WORMFS_TRACING`` asks for it (``wormfs.runtime.tracing``) and hands
  over to the component's ``run(config, secret, ready_file)``.
* ``main(daemon, run)`` is a component's ``__main__``: the same command line under
  ``python -m``; configuration problems print and exit 2, as ``wormfs`` does.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Generic, TypeVar

import msgspec

from wormfs import config as cfg
from wormfs.erasure import self_test
from wormfs.runtime.bootstrap import setup_logging
from wormfs.runtime.logs import LOG_FORMATS, LogFormat
from wormfs.runtime.malloc import tune_malloc
from wormfs.runtime.tracing import start_tracing

C = TypeVar("C", cfg.CoordinatorConfig, cfg.StorageNodeConfig, cfg.GatewayConfig)
# A component's entry: serve ``config`` with the cluster secret until SIGTERM.
Run = Callable[[C, bytes, Path | None], None]
# The gateway's executor threads would otherwise each get an arena, each keeping its own free
# memory (see wormfs.runtime.malloc); the other daemons keep glibc's default.
GATEWAY_MALLOC_ARENAS = 2


@dataclass(frozen=True)
class Daemon(Generic[C]):
    """One daemon's command line: what ``wormfs NAME`` and ``python -m MODULE`` both accept."""

    name: str  # the subcommand, and the name in its log lines
    module: str  # ``python -m`` runs this package
    help: str
    description: str
    config_type: type[C]
    add_arguments: Callable[[argparse.ArgumentParser], None]
    configure: Callable[[C, argparse.Namespace], C]  # the flags over the TOML settings
    malloc_arenas: int | None = None


def start_checks(
    name: str,
    log_level: str,
    config: cfg.CoordinatorConfig | cfg.StorageNodeConfig | cfg.GatewayConfig | None = None,
    malloc_arenas: int | None = None,
    log_format: LogFormat = "text",
) -> None:
    """The start-up checks of every process (``config`` None: the ``wormfs server`` parent,
    which only supervises and validates its own options)."""
    if config is not None:
        cfg.validate(config)
    setup_logging(name, log_level, log_format)
    self_test()
    if config is not None:
        tune_malloc(arena_max=malloc_arenas)


def start(daemon: Daemon[C], args: argparse.Namespace, run: Run[C]) -> int:
    """Load, override, check, then serve until SIGTERM; raises ``ConfigError`` on problems."""
    config = daemon.configure(cfg.load(args.config, daemon.config_type), args)
    start_checks(daemon.name, args.log_level, config, daemon.malloc_arenas, args.log_format)
    secret_file = Path(args.secret_file) if args.secret_file else None
    secret = cfg.cluster_secret(secret_file, args.secret_env)
    # With WORMFS_TRACING set, spans of the HTTP work (wormfs.runtime.tracing); else nothing.
    stop_tracing = start_tracing(daemon.name, os.environ)
    try:
        run(config, secret, args.ready_file)
    finally:
        if stop_tracing is not None:
            stop_tracing()  # flush the spans still queued
    return 0


def main(daemon: Daemon[C], run: Run[C], argv: Sequence[str] | None = None) -> int:
    """``python -m <daemon.module>``: the daemon's command line, then ``start``."""
    parser = argparse.ArgumentParser(prog=f"python -m {daemon.module}", description=daemon.help)
    daemon.add_arguments(parser)
    args = parser.parse_args(argv)
    try:
        return start(daemon, args, run)
    except cfg.ConfigError as exc:
        print(f"{daemon.name}: {exc}", file=sys.stderr)
        return 2


# ---- the command lines ------------------------------------------------------------------------
def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", type=Path, help="TOML configuration file")
    parser.add_argument("--host", help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, help="port to listen on (0 picks a free one)")
    parser.add_argument(
        "--ready-file", type=Path, help="write {address, pid} as JSON here once serving"
    )
    parser.add_argument(
        "--secret-env",
        default=cfg.CLUSTER_SECRET_ENV,
        help="environment variable holding the cluster secret (default %(default)s)",
    )
    parser.add_argument(
        "--secret-file", help="cluster secret file (created if missing) when that variable is unset"
    )
    parser.add_argument("--log-level", default="INFO")
    add_log_format_argument(parser)


def add_log_format_argument(parser: argparse.ArgumentParser) -> None:
    """``--log-format text|json`` (every daemon, and ``wormfs server`` for its children)."""
    parser.add_argument(
        "--log-format",
        choices=LOG_FORMATS,
        default="text",
        help="log records as text lines or as one JSON object per line (default %(default)s)",
    )


def _zookeeper(parser: argparse.ArgumentParser, what: str) -> None:
    parser.add_argument("--zookeeper-hosts", help=f"HOST:PORT[,HOST:PORT...]: {what}")


def _listen(base: cfg.ListenConfig, args: argparse.Namespace) -> cfg.ListenConfig:
    return cfg.ListenConfig(
        host=args.host if args.host is not None else base.host,
        port=args.port if args.port is not None else base.port,
    )


def _with(config: C, **changes: Any) -> C:
    """``config`` with the flags that were given (None: not given, the file's value stays)."""
    return msgspec.structs.replace(config, **{k: v for k, v in changes.items() if v is not None})


def _coordinator_arguments(parser: argparse.ArgumentParser) -> None:
    _common(parser)
    parser.add_argument("--database-url", help="e.g. sqlite:///data/meta/wormfs.db")
    _zookeeper(parser, "elect one of several coordinators through ZooKeeper")
    parser.add_argument("--zookeeper-path", help="znode under which to elect (/wormfs)")
    parser.add_argument(
        "--advertise-address", help="base URL clients are sent to when this one leads"
    )
    parser.add_argument(
        "--admin-address",
        help="HOST:PORT of the admin API and UI (port 0: any free port; none when not given)",
    )


def _coordinator_config(
    config: cfg.CoordinatorConfig, args: argparse.Namespace
) -> cfg.CoordinatorConfig:
    return _with(
        config,
        listen=_listen(config.listen, args),
        database_url=args.database_url,
        zookeeper_hosts=args.zookeeper_hosts,
        zookeeper_path=args.zookeeper_path,
        advertise_address=args.advertise_address,
        root_access_key=cfg.env_or(config.root_access_key, "WORMFS_ROOT_ACCESS_KEY"),
        root_secret_key=cfg.env_or(config.root_secret_key, "WORMFS_ROOT_SECRET_KEY"),
        admin_listen=(
            cfg.listen_address(args.admin_address, "--admin-address")
            if args.admin_address
            else None
        ),
        admin_token=cfg.env_or(config.admin_token, cfg.ADMIN_TOKEN_ENV),
        lifecycle=cfg.lifecycle_from_env(config.lifecycle),
    )


def _storage_node_arguments(parser: argparse.ArgumentParser) -> None:
    _common(parser)
    parser.add_argument("--disk", action="append", help="a data directory (repeat for each disk)")
    parser.add_argument("--coordinator-url", help="coordinator base URL(s), comma-separated")
    _zookeeper(parser, "find the leading coordinator through ZooKeeper")
    parser.add_argument("--advertise-address", help="base URL other processes use to reach it")
    parser.add_argument("--state-dir", help="node state directory (default: the first disk)")
    parser.add_argument("--heartbeat-interval", type=float, help="seconds between heartbeats")
    parser.add_argument("--reserved-bytes", type=int, help="free space a disk keeps back")
    parser.add_argument(
        "--adopt-disks",
        action="store_true",
        default=None,
        help="take over disks whose marker names another node (wormfs server sets it)",
    )


def _storage_node_config(
    config: cfg.StorageNodeConfig, args: argparse.Namespace
) -> cfg.StorageNodeConfig:
    return _with(
        config,
        listen=_listen(config.listen, args),
        disks=[str(Path(d).absolute()) for d in args.disk] if args.disk else None,
        coordinator_url=args.coordinator_url,
        zookeeper_hosts=args.zookeeper_hosts,
        advertise_address=args.advertise_address,
        state_dir=args.state_dir,
        heartbeat_interval=args.heartbeat_interval,
        reserved_bytes=args.reserved_bytes,
        adopt_disks=args.adopt_disks,
    )


def _gateway_arguments(parser: argparse.ArgumentParser) -> None:
    _common(parser)
    parser.add_argument("--coordinator-url", help="coordinator base URL(s), comma-separated")
    _zookeeper(parser, "find the leading coordinator through ZooKeeper")
    parser.add_argument("--workers", type=int, help="share the port between N processes")
    parser.add_argument(
        "--access-log",
        metavar="PATH|-",
        help="write the S3 access log (AWS server access log format) to PATH, or - for stdout",
    )
    add_tls_arguments(parser)


def add_tls_arguments(
    parser: argparse.ArgumentParser, cert_note: str = "", key_note: str = ""
) -> None:
    """``--tls-cert`` and ``--tls-key`` (the gateway, and ``wormfs server`` for its gateways)."""
    parser.add_argument(
        "--tls-cert", help="serve S3 over HTTPS with this PEM certificate (chain)" + cert_note
    )
    parser.add_argument("--tls-key", help="the PEM private key of --tls-cert" + key_note)


def _gateway_config(config: cfg.GatewayConfig, args: argparse.Namespace) -> cfg.GatewayConfig:
    return _with(
        config,
        listen=_listen(config.listen, args),
        coordinator_url=args.coordinator_url,
        zookeeper_hosts=args.zookeeper_hosts,
        workers=args.workers,
        access_log=args.access_log,
        tls_cert=args.tls_cert,
        tls_key=args.tls_key,
    )


COORDINATOR = Daemon(
    name="coordinator",
    module="wormfs.coordinator",
    help="run the metadata master",
    description="The coordinator keeps buckets, objects, uploads, placements, nodes and "
    "disks in SQL (SQLite embedded, or PostgreSQL) and runs the background jobs.",
    config_type=cfg.CoordinatorConfig,
    add_arguments=_coordinator_arguments,
    configure=_coordinator_config,
)
STORAGE_NODE = Daemon(
    name="storage-node",
    module="wormfs.storage_node",
    help="run a storage node over local disks",
    description="A storage node keeps chunks on its disks (one directory per disk), "
    "verifies every byte it serves, and registers with the coordinator.",
    config_type=cfg.StorageNodeConfig,
    add_arguments=_storage_node_arguments,
    configure=_storage_node_config,
)
GATEWAY = Daemon(
    name="gateway",
    module="wormfs.gateway",
    help="run an S3 gateway",
    description="A stateless S3 gateway: SigV4, the S3 API, erasure coding on the way "
    "in and decoding on the way out.",
    config_type=cfg.GatewayConfig,
    add_arguments=_gateway_arguments,
    configure=_gateway_config,
    malloc_arenas=GATEWAY_MALLOC_ARENAS,
)
DAEMONS: tuple[Daemon[Any], ...] = (COORDINATOR, STORAGE_NODE, GATEWAY)
