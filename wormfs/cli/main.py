"""The ``wormfs`` command: one console script, one subcommand per daemon, plus admin tools.

Layer: cli, the top. Parses the subcommand; a daemon's subcommand is the daemon's command
line from ``wormfs.runtime.startup`` and starts through its one start path (the checks
every process runs, then the component's ``run``), exactly as ``python -m wormfs.<daemon>``
does. Secrets come from the environment (``WORMFS_CLUSTER_SECRET``) or a secret file, never
from arguments that would show in ``ps``.
"""

from __future__ import annotations

import argparse
import functools
import sys
from collections.abc import Callable
from typing import Any

from wormfs import config as cfg
from wormfs.runtime.startup import (
    COORDINATOR,
    DAEMONS,
    GATEWAY,
    STORAGE_NODE,
    Daemon,
    Run,
    add_log_format_argument,
    add_tls_arguments,
    start,
    start_checks,
)

DESCRIPTION = """\
WormFS: an S3-compatible, erasure-coded, distributed object store.

Start a whole single-machine cluster with `wormfs server`, or run the daemons one by one:
a coordinator (metadata master), storage nodes (chunks on local disks) and S3 gateways.
"""


def _coordinator() -> Run[Any]:
    from wormfs.coordinator.app import run

    return run


def _storage_node() -> Run[Any]:
    from wormfs.storage_node.app import run

    return run


def _gateway() -> Run[Any]:
    from wormfs.gateway.app import run

    return run


# Each daemon's ``run``, imported only when that daemon starts (``wormfs admin`` stays light).
RUNS: dict[str, Callable[[], Run[Any]]] = {
    COORDINATOR.name: _coordinator,
    STORAGE_NODE.name: _storage_node,
    GATEWAY.name: _gateway,
}


def cmd_daemon(daemon: Daemon[Any], args: argparse.Namespace) -> int:
    """``wormfs coordinator|storage-node|gateway``: the one start path of ``wormfs.runtime``."""
    return start(daemon, args, RUNS[daemon.name]())


def cmd_server(args: argparse.Namespace) -> int:
    from wormfs.runtime.supervisor import ServerOptions, run_server

    start_checks("server", args.log_level, log_format=args.log_format)
    if args.recover:
        from wormfs.cli.admin_metadata import header_step
        from wormfs.runtime.locate import data_dir_of
        from wormfs.runtime.metarecover import RecoveryError, recover_data_dir

        try:
            lines = recover_data_dir(data_dir_of(args.data_dir), then=header_step)
            print("\n".join(lines), flush=True)
        except RecoveryError as exc:
            print(f"wormfs server --recover: {exc}", file=sys.stderr)
            return 1
    return run_server(
        ServerOptions.from_env(
            data_dir=args.data_dir,
            s3_address=args.s3_address,
            gateway_workers=args.workers,
            tls_cert=args.tls_cert,
            tls_key=args.tls_key,
            mounts=args.mount,
            nodes=args.nodes,
            disks=args.disks,
            log_level=args.log_level,
            max_restarts=args.max_restarts,
            log_format=args.log_format,
            access_log=args.access_log,
            admin_address=args.admin_address,
        )
    )


def cmd_mount(args: argparse.Namespace) -> int:
    from wormfs.fuse.mount import run_mount
    from wormfs.fuse.options import MountOptions

    return run_mount(MountOptions.from_args(args))


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
        description="Start a coordinator (SQLite), storage nodes (--nodes, default 1) over "
        "data directories (--disks, default 6) and the S3 gateway, like `minio server "
        "/data{1...6}`. Data lives under "
        "WORMFS_DATA_DIR (default ./data); S3 listens on WORMFS_S3_ADDRESS (default "
        "127.0.0.1:9000), over HTTPS with --tls-cert/--tls-key (or WORMFS_TLS_CERT / "
        "WORMFS_TLS_KEY). Root credentials come from WORMFS_ROOT_ACCESS_KEY / "
        "WORMFS_ROOT_SECRET_KEY or are generated once and kept in the data dir. Ctrl-C or "
        "SIGTERM stops every process cleanly; a restart keeps the data. A process that dies "
        "is started again (backoff from 0.5 s to 10 s); one that dies again after "
        "--max-restarts restarts within 60 s stops the server (exit 1). A second server on "
        "the same data dir or S3 address is refused.",
    )
    server.add_argument("--data-dir", help="overrides WORMFS_DATA_DIR")
    server.add_argument("--s3-address", help="HOST:PORT, overrides WORMFS_S3_ADDRESS")
    server.add_argument(
        "--admin-address",
        help="HOST:PORT of the admin API and UI, overrides WORMFS_ADMIN_ADDRESS "
        "(default 127.0.0.1:9001; port 0: any free port)",
    )
    server.add_argument("--workers", type=int, help="gateway worker processes (default: cores)")
    add_tls_arguments(server, " (overrides WORMFS_TLS_CERT)", " (overrides WORMFS_TLS_KEY)")
    server.add_argument(
        "--mount",
        action="append",
        default=[],
        metavar="BUCKET=DIR",
        help="also mount BUCKET (created for the root user if missing) on DIR; repeatable",
    )
    server.add_argument(
        "--nodes",
        type=int,
        help="storage-node processes; the data directories are split among them (default 1)",
    )
    server.add_argument(
        "--disks",
        type=int,
        help="data directories disk1..diskD (default 6, or as many as the data dir has)",
    )
    server.add_argument(
        "--recover",
        action="store_true",
        help="before starting, rebuild a missing or corrupt metadata database from the "
        "backup on the data dir's disks (see wormfs admin metadata recover)",
    )
    server.add_argument(
        "--max-restarts",
        type=int,
        help="restarts of one process allowed within 60 s before the server gives up "
        "(default 5; 0: the first death stops the server)",
    )
    server.add_argument(
        "--log-level", default="INFO", help="of the server and every process it starts"
    )
    add_log_format_argument(server)
    server.add_argument(
        "--access-log",
        metavar="PATH|-",
        help="S3 access log of the gateways (AWS server access log format): a file all "
        "workers append to, or - for standard output (default: none; WORMFS_ACCESS_LOG)",
    )
    server.set_defaults(func=cmd_server)

    for daemon in DAEMONS:
        command = sub.add_parser(daemon.name, help=daemon.help, description=daemon.description)
        daemon.add_arguments(command)
        command.set_defaults(func=functools.partial(cmd_daemon, daemon))

    mount = sub.add_parser(
        "mount",
        help="mount a bucket as a POSIX file system (FUSE), in the foreground",
        description="Shows BUCKET (or the keys under PREFIX) as files and directories: "
        "what S3 clients write appears in the mount, what is written in the mount is an "
        "ordinary object. The cluster is found through the data dir of `wormfs server`, or "
        "--coordinator-url with WORMFS_CLUSTER_SECRET. Runs until unmounted (fusermount3 -u) "
        "or SIGINT/SIGTERM, which commit every open file, then unmount. See docs/fuse.md.",
    )
    from wormfs.fuse.options import add_mount_arguments

    add_mount_arguments(mount)
    mount.set_defaults(func=cmd_mount)

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
