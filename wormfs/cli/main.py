"""The ``wormfs`` command: one console script, one subcommand per daemon, plus admin tools.

Layer: cli, the top. Parses arguments, loads and validates configuration (every problem
reported at once), runs the codec self-test, then hands over to the component's ``run``.
Secrets come from the environment (``WORMFS_CLUSTER_SECRET``) or a secret file, never from
arguments that would show in ``ps``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import msgspec

from wormfs import config as cfg
from wormfs.erasure import self_test
from wormfs.runtime.bootstrap import setup_logging

DESCRIPTION = """\
WormFS: an S3-compatible, erasure-coded, distributed object store.

Start a whole single-machine cluster with `wormfs server`, or run the daemons one by one:
a coordinator (metadata master), storage nodes (chunks on local disks) and S3 gateways.
"""


def _listen(base: cfg.ListenConfig, host: str | None, port: int | None) -> cfg.ListenConfig:
    return cfg.ListenConfig(
        host=host if host is not None else base.host, port=port if port is not None else base.port
    )


def _with(config: Any, **changes: Any) -> Any:
    changes = {k: v for k, v in changes.items() if v is not None}
    return msgspec.structs.replace(config, **changes)


def _secret(args: argparse.Namespace) -> bytes:
    return cfg.cluster_secret(Path(args.secret_file) if args.secret_file else None)


def _daemon_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", type=Path, help="TOML configuration file")
    parser.add_argument("--host", help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, help="port to listen on (0 picks a free one)")
    parser.add_argument(
        "--ready-file", type=Path, help="write {address, pid} as JSON here once serving"
    )
    parser.add_argument(
        "--secret-file",
        help=f"cluster secret file (created if missing) when {cfg.CLUSTER_SECRET_ENV} is unset",
    )
    parser.add_argument("--log-level", default="INFO")


def _zookeeper_arg(parser: argparse.ArgumentParser, what: str) -> None:
    parser.add_argument("--zookeeper-hosts", help=f"HOST:PORT[,HOST:PORT...]: {what}")


def _tls_args(parser: argparse.ArgumentParser, cert_note: str = "", key_note: str = "") -> None:
    parser.add_argument(
        "--tls-cert", help="serve S3 over HTTPS with this PEM certificate (chain)" + cert_note
    )
    parser.add_argument("--tls-key", help="the PEM private key of --tls-cert" + key_note)


def _start_daemon(name: str, config: Any, args: argparse.Namespace, run: Any) -> int:
    """Validate, log, self-test the codecs, then serve until SIGTERM."""
    cfg.validate(config)
    setup_logging(name, args.log_level)
    self_test()
    run(config, _secret(args), args.ready_file)
    return 0


def cmd_coordinator(args: argparse.Namespace) -> int:
    from wormfs.coordinator.app import run

    config = cfg.load(args.config, cfg.CoordinatorConfig)
    config = _with(
        config,
        listen=_listen(config.listen, args.host, args.port),
        database_url=args.database_url,
        zookeeper_hosts=args.zookeeper_hosts,
        zookeeper_path=args.zookeeper_path,
        advertise_address=args.advertise_address,
        root_access_key=cfg.env_or(config.root_access_key, "WORMFS_ROOT_ACCESS_KEY"),
        root_secret_key=cfg.env_or(config.root_secret_key, "WORMFS_ROOT_SECRET_KEY"),
    )
    return _start_daemon("coordinator", config, args, run)


def cmd_storage_node(args: argparse.Namespace) -> int:
    from wormfs.storage_node.app import run

    config = cfg.load(args.config, cfg.StorageNodeConfig)
    config = _with(
        config,
        listen=_listen(config.listen, args.host, args.port),
        disks=args.disk or None,
        coordinator_url=args.coordinator_url,
        zookeeper_hosts=args.zookeeper_hosts,
        advertise_address=args.advertise_address,
    )
    return _start_daemon("storage-node", config, args, run)


def cmd_gateway(args: argparse.Namespace) -> int:
    from wormfs.gateway.app import run

    config = cfg.load(args.config, cfg.GatewayConfig)
    config = _with(
        config,
        listen=_listen(config.listen, args.host, args.port),
        coordinator_url=args.coordinator_url,
        zookeeper_hosts=args.zookeeper_hosts,
        workers=args.workers,
        tls_cert=args.tls_cert,
        tls_key=args.tls_key,
    )
    return _start_daemon("gateway", config, args, run)


def cmd_server(args: argparse.Namespace) -> int:
    from wormfs.runtime.supervisor import ServerOptions, run_server

    setup_logging("server", args.log_level)
    self_test()
    return run_server(
        ServerOptions.from_env(
            data_dir=args.data_dir,
            s3_address=args.s3_address,
            gateway_workers=args.workers,
            tls_cert=args.tls_cert,
            tls_key=args.tls_key,
        )
    )


def cmd_admin(args: argparse.Namespace) -> int:
    from wormfs.cli.admin import run_admin

    return run_admin(args)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="wormfs", description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    server = sub.add_parser(
        "server",
        help="run a whole single-machine cluster in the foreground",
        description="Start a coordinator (SQLite), one storage node over 6 data directories "
        "and the S3 gateway, like `minio server /data{1...6}`. Data lives under "
        "WORMFS_DATA_DIR (default ./data); S3 listens on WORMFS_S3_ADDRESS (default "
        "127.0.0.1:9000), over HTTPS with --tls-cert/--tls-key (or WORMFS_TLS_CERT / "
        "WORMFS_TLS_KEY). Root credentials come from WORMFS_ROOT_ACCESS_KEY / "
        "WORMFS_ROOT_SECRET_KEY or are generated once and kept in the data dir. Ctrl-C or "
        "SIGTERM stops every process cleanly; a restart keeps the data.",
    )
    server.add_argument("--data-dir", help="overrides WORMFS_DATA_DIR")
    server.add_argument("--s3-address", help="HOST:PORT, overrides WORMFS_S3_ADDRESS")
    server.add_argument("--workers", type=int, help="gateway worker processes (default: cores)")
    _tls_args(server, " (overrides WORMFS_TLS_CERT)", " (overrides WORMFS_TLS_KEY)")
    server.add_argument("--log-level", default="INFO")
    server.set_defaults(func=cmd_server)

    coordinator = sub.add_parser(
        "coordinator",
        help="run the metadata master",
        description="The coordinator keeps buckets, objects, uploads, placements, nodes and "
        "disks in SQL (SQLite embedded, or PostgreSQL) and runs the background jobs.",
    )
    _daemon_args(coordinator)
    coordinator.add_argument("--database-url", help="e.g. sqlite+aiosqlite:///data/meta/wormfs.db")
    _zookeeper_arg(coordinator, "elect one of several coordinators through ZooKeeper")
    coordinator.add_argument("--zookeeper-path", help="znode under which to elect (/wormfs)")
    coordinator.add_argument(
        "--advertise-address", help="base URL clients are sent to when this one leads"
    )
    coordinator.set_defaults(func=cmd_coordinator)

    node = sub.add_parser(
        "storage-node",
        help="run a storage node over local disks",
        description="A storage node keeps chunks on its disks (one directory per disk), "
        "verifies every byte it serves, and registers with the coordinator.",
    )
    _daemon_args(node)
    node.add_argument("--disk", action="append", help="a data directory (repeat for each disk)")
    node.add_argument("--coordinator-url", help="coordinator base URL(s), comma-separated")
    _zookeeper_arg(node, "find the leading coordinator through ZooKeeper")
    node.add_argument("--advertise-address", help="base URL other processes use to reach it")
    node.set_defaults(func=cmd_storage_node)

    gateway = sub.add_parser(
        "gateway",
        help="run an S3 gateway",
        description="A stateless S3 gateway: SigV4, the S3 API, erasure coding on the way "
        "in and decoding on the way out.",
    )
    _daemon_args(gateway)
    gateway.add_argument("--coordinator-url", help="coordinator base URL(s), comma-separated")
    _zookeeper_arg(gateway, "find the leading coordinator through ZooKeeper")
    gateway.add_argument("--workers", type=int, help="share the port between N processes")
    _tls_args(gateway)
    gateway.set_defaults(func=cmd_gateway)

    admin = sub.add_parser(
        "admin",
        help="administer a running cluster: users, keys, repair, scrub, drains, rebalance",
        description="Talks to the coordinator of a running cluster, found through the data "
        "dir of `wormfs server` or --coordinator-url with the cluster secret.",
    )
    from wormfs.cli.admin import add_admin_arguments

    add_admin_arguments(admin)
    admin.set_defaults(func=cmd_admin)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        code: int = args.func(args)
    except cfg.ConfigError as exc:
        print(f"wormfs: {exc}", file=sys.stderr)
        return 2
    return code
