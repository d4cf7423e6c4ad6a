"""``wormfs admin metadata``: the metadata backup's status, manual backup and restore, the
consistency check, and recovery from the backup on the storage nodes' disks.

Layer: cli. Contract:

* ``status`` asks the running coordinator (``GET /v1/metadata/backup``): generation, lag,
  recovery point, last success, last error; ``--json`` prints the ``BackupStatus``.
* ``backup --to FILE`` saves a consistent copy of the running coordinator's SQLite database
  (``GET /v1/metadata/snapshot``; on PostgreSQL use ``pg_dump``).
* ``restore --from FILE`` and ``recover`` work on the files, with the coordinator stopped:
  ``--database PATH`` (or the data dir's ``meta/wormfs.db``); ``recover`` reads the backup
  pieces from ``--disk DIR`` (repeat) or the data dir's ``disk*`` directories
  (``wormfs.runtime.metarecover``), then scans the same disks' chunk headers and re-creates
  every object version the backup lacks (``wormfs.coordinator.headerrecovery``); with no
  backup at all, from the headers alone. ``--node`` fetches the backup pieces from running
  nodes (the header scan needs the disks).
* ``check`` (coordinator stopped, or on a copy) reports the file's integrity, its schema
  revision against this release's, and placements whose chunk file is not on any of the
  disks given; exit 1 when it finds anything.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import sys
import time
from pathlib import Path

import aiohttp
import msgspec

from wormfs import config as cfg
from wormfs.clients.coordinator import CoordinatorClient
from wormfs.runtime.locate import data_dir_of, locate
from wormfs.runtime.metarecover import (
    RecoveryError,
    data_dir_disks,
    integrity_problems,
    recover,
    restore_file,
)
from wormfs.wire.metabackup import SNAPSHOT_PATH, STATUS_PATH, BackupStatus


def add_metadata_arguments(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    meta = sub.add_parser("metadata", help="metadata backup, restore, check and recovery")
    actions = meta.add_subparsers(dest="metadata_command", required=True, metavar="ACTION")
    status = actions.add_parser("status", help="the continuous backup's lag and recovery point")
    status.add_argument("--json", action="store_true")
    backup = actions.add_parser("backup", help="save a consistent copy of the database")
    backup.add_argument("--to", required=True, type=Path, dest="target")
    for name, helptext in (
        ("restore", "put a saved copy in place (coordinator stopped)"),
        ("recover", "rebuild the database from the backup on the disks (coordinator stopped)"),
        ("check", "integrity, schema revision, placements vs chunk files on the disks"),
    ):
        action = actions.add_parser(name, help=helptext)
        action.add_argument("--database", type=Path, help="default: DATA_DIR/meta/wormfs.db")
        if name == "restore":
            action.add_argument("--from", required=True, type=Path, dest="source")
        else:
            action.add_argument("--disk", action="append", type=Path, default=[], dest="disks")
        if name == "recover":
            action.add_argument("--force", action="store_true", help="even over a sound file")
            action.add_argument(
                "--root-owner",
                default="",
                help="with no backup: the canonical id the root user had (ListBuckets Owner ID)",
            )
            action.add_argument(
                "--node",
                action="append",
                default=[],
                dest="nodes",
                help="ask this running storage node (base URL; repeat) instead of reading disks",
            )


def _database(args: argparse.Namespace) -> Path:
    return Path(args.database or data_dir_of(args.data_dir) / "meta" / "wormfs.db")


def _disks(args: argparse.Namespace) -> list[Path]:
    return list(args.disks) or data_dir_disks(data_dir_of(args.data_dir))


def _ago(when: float) -> str:
    return f"{time.time() - when:.1f} s ago" if when else "never"


async def _online(args: argparse.Namespace) -> int:
    url, secret = locate(data_dir_of(args.data_dir), args.coordinator_url)
    async with aiohttp.ClientSession() as session:
        http = CoordinatorClient(session, url, secret).http
        if args.metadata_command == "backup":
            data = await http.request("GET", SNAPSHOT_PATH, timeout=600.0)
            tmp = args.target.with_name(args.target.name + ".tmp")
            await asyncio.to_thread(tmp.write_bytes, data)
            await asyncio.to_thread(tmp.replace, args.target)
            print(f"saved {len(data)} bytes to {args.target}")
            return 0
        status = await http.call("GET", STATUS_PATH, BackupStatus)
    if args.json:
        print(msgspec.json.encode(status).decode())
        return 0
    if not status.enabled:
        print(f"metadata backup: off ({status.engine}; on PostgreSQL rely on its replication/PITR)")
        return 0
    point = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(status.recovery_point))
    print(f"metadata backup: generation {status.generation}, piece {status.seq}")
    print(f"recovery point:  {point} (lag {status.lag:.1f} s, bound {status.backup_lag:g} s)")
    print(f"last success:    {_ago(status.last_success)}; {status.pieces_shipped} pieces, ")
    print(f"shipped:         {status.bytes_shipped} bytes; generations {status.generations_kept}")
    if status.last_error:
        print(f"last error:      {status.last_error}")
    if status.stale:
        print("STALE: the backup is more than 3 x backup_lag behind")
    return 1 if status.stale else 0


def header_step(disks: list[Path], database: Path, root_owner: str = "") -> list[str]:
    """The header scan after the backup restore (``wormfs.coordinator.headerrecovery``)."""
    # Imported here, as the other heavy steps below: every `wormfs admin` command builds this
    # module's parser, and the database layer (SQLAlchemy, Alembic) takes a second to load.
    from wormfs.coordinator.headerrecovery import recover_headers

    gc_delay = cfg.CoordinatorConfig().gc_delay
    return asyncio.run(recover_headers(disks, database, gc_delay, root_owner))


def _recover(args: argparse.Namespace, database: Path) -> int:
    if not args.nodes:
        disks = _disks(args)
        report = recover(disks, database, force=args.force, require_backup=False)
        print("\n".join(report.lines()))
        print("\n".join(header_step(disks, database, args.root_owner)))
        return 0
    secret_file = data_dir_of(args.data_dir) / "cluster.secret"
    if not os.environ.get(cfg.CLUSTER_SECRET_ENV) and not secret_file.exists():
        raise RecoveryError(f"set {cfg.CLUSTER_SECRET_ENV} or point --data-dir at the cluster")
    secret = cfg.cluster_secret(secret_file)
    fetched_dir = database.parent / "recover-fetch"  # kept until the next recovery by nodes
    shutil.rmtree(fetched_dir, ignore_errors=True)

    from wormfs.runtime.metafetch import Fetched, fetch_backup_chunks

    async def fetch() -> Fetched:
        async with aiohttp.ClientSession() as session:
            return await fetch_backup_chunks(session, secret, args.nodes, fetched_dir)

    fetched = asyncio.run(fetch())
    print(f"asked {len(args.nodes)} nodes: {fetched.chunks} backup chunks copied")
    for line in fetched.unreachable:
        print(f"not reachable: {line}")
    report = recover(fetched.disks, database, force=args.force)
    print("\n".join(report.lines()))
    shutil.rmtree(fetched_dir)
    return 0


def run_metadata(args: argparse.Namespace) -> int:
    command = args.metadata_command
    try:
        if command in ("status", "backup"):
            return asyncio.run(_online(args))
        database = _database(args)
        if command == "restore":
            kept = restore_file(args.source, database)
            print(f"restored {args.source} -> {database}")
            if kept is not None:
                print(f"the previous database was kept as {kept}")
            return 0
        if command == "recover":
            return _recover(args, database)
        problems = integrity_problems(database)
        if not problems:
            from wormfs.coordinator.db.metacheck import check_database

            problems = asyncio.run(check_database(database, _disks(args)))
    except RecoveryError as exc:
        print(f"wormfs admin metadata {command}: {exc}", file=sys.stderr)
        return 1
    for problem in problems:
        print(problem)
    print(f"{len(problems)} problems found in {database}")
    return 1 if problems else 0
