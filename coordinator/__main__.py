"""``python -m wormfs.coordinator``: start one coordinator (tests and hand-run clusters).

Layer: coordinator entry point; the ``wormfs`` CLI calls ``wormfs.coordinator.app.run`` the
same way. Settings come from ``--config`` (TOML, ``CoordinatorConfig``) with command-line
overrides; the cluster secret comes only from the environment (``WORMFS_CLUSTER_SECRET``).
Configuration problems are reported all at once and exit with status 2.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import msgspec

from wormfs.config import ConfigError, CoordinatorConfig, cluster_secret, load, validate
from wormfs.coordinator.app import run
from wormfs.runtime.bootstrap import setup_logging


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m wormfs.coordinator", description=__doc__)
    parser.add_argument("--config", type=Path, help="TOML file with coordinator settings")
    parser.add_argument("--host", help="address to listen on (overrides listen.host)")
    parser.add_argument("--port", type=int, help="port to listen on; 0 picks a free one")
    parser.add_argument("--database-url", help="e.g. sqlite+aiosqlite:///data/meta/wormfs.db")
    parser.add_argument("--ready-file", type=Path, help="write the bound address here (JSON)")
    parser.add_argument("--zookeeper-hosts", help="HOST:PORT[,...]: elect one coordinator")
    parser.add_argument("--advertise-address", help="base URL clients use for this one")
    parser.add_argument("--log-level", default="INFO")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    setup_logging("coordinator", args.log_level)
    try:
        config = load(args.config, CoordinatorConfig)
        listen = msgspec.structs.replace(
            config.listen,
            host=args.host if args.host is not None else config.listen.host,
            port=args.port if args.port is not None else config.listen.port,
        )
        config = msgspec.structs.replace(
            config,
            listen=listen,
            database_url=args.database_url or config.database_url,
            zookeeper_hosts=args.zookeeper_hosts or config.zookeeper_hosts,
            advertise_address=args.advertise_address or config.advertise_address,
        )
        validate(config)
        secret = cluster_secret()
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return 2
    run(config, secret, args.ready_file)
    return 0


if __name__ == "__main__":
    sys.exit(main())
