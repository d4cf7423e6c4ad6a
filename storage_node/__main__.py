"""Storage node, process entry: ``python -m wormfs.storage_node --disk D [--disk D ...]``.

A small command line over ``wormfs.storage_node.app.run`` (the ``wormfs storage-node`` CLI
calls the same function): settings from an optional TOML file, overridden by flags; the
cluster secret from the environment variable named by ``--secret-env``.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import msgspec

from wormfs.config import (
    CLUSTER_SECRET_ENV,
    ConfigError,
    ListenConfig,
    StorageNodeConfig,
    load,
    validate,
)
from wormfs.runtime.bootstrap import setup_logging
from wormfs.storage_node.app import run


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m wormfs.storage_node")
    parser.add_argument("--config", type=Path, help="TOML file with a StorageNodeConfig")
    parser.add_argument("--disk", action="append", default=[], help="data directory (repeat)")
    parser.add_argument("--host", help="address to bind")
    parser.add_argument("--port", type=int, help="port to bind (0 picks a free one)")
    parser.add_argument("--ready-file", type=Path, help="where to publish the bound address")
    parser.add_argument("--coordinator-url", help="base URL of the coordinator")
    parser.add_argument("--advertise-address", help="base URL other processes use for this node")
    parser.add_argument("--state-dir", help="node state directory (default: the first disk)")
    parser.add_argument("--heartbeat-interval", type=float)
    parser.add_argument("--reserved-bytes", type=int)
    parser.add_argument(
        "--secret-env", default=CLUSTER_SECRET_ENV, help="environment variable with the secret"
    )
    parser.add_argument("--log-level", default="INFO")
    return parser.parse_args(argv)


def build_config(args: argparse.Namespace) -> StorageNodeConfig:
    config = load(args.config, StorageNodeConfig)
    listen = ListenConfig(
        host=args.host if args.host is not None else config.listen.host,
        port=args.port if args.port is not None else config.listen.port,
    )
    changes: dict[str, object] = {"listen": listen}
    if args.disk:
        changes["disks"] = [str(Path(d).absolute()) for d in args.disk]
    for flag in ("coordinator_url", "advertise_address", "state_dir"):
        if getattr(args, flag) is not None:
            changes[flag] = getattr(args, flag)
    if args.heartbeat_interval is not None:
        changes["heartbeat_interval"] = args.heartbeat_interval
    if args.reserved_bytes is not None:
        changes["reserved_bytes"] = args.reserved_bytes
    return msgspec.structs.replace(config, **changes)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        config = build_config(args)
        validate(config)
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return 2
    secret = os.environ.get(args.secret_env, "")
    if not secret:
        print(f"set {args.secret_env} to the cluster secret", file=sys.stderr)
        return 2
    setup_logging("storage-node", args.log_level)
    run(config, secret.encode(), args.ready_file)
    return 0


if __name__ == "__main__":
    sys.exit(main())
