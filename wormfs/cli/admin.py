"""``wormfs admin``: users and access keys of a running cluster, its durability jobs
(repair, scrub, drains, rebalance: ``wormfs.cli.admin_durability``), its profiles and storage
classes (``wormfs.cli.admin_profiles``), its master keys and their rotation
(``wormfs.cli.admin_keys``), its metadata backup, restore, check and recovery
(``wormfs.cli.admin_metadata``) and its status (the
coordinator's health and the processes of ``wormfs server``: ``wormfs.cli.admin_status``).

Layer: cli. ``token``, ``bucket``, ``health``, ``cluster``, ``keys`` and ``user`` are clients of the
admin REST API (``wormfs.cli.admin_api``: ``--admin-url`` and ``--token``, or the data dir of
``wormfs server``; ``--json``); ``user``, ``profile`` and the drain actions of ``node`` and
``disk`` (drain, undrain, decommission, forget: ``wormfs.cli.admin_drains``, audited) use it
when an admin address is known, else (``--coordinator-url`` alone) the internal API. The
rest are clients of the coordinator's internal API, found through the ready file of a
``wormfs server`` data dir, or given with ``--coordinator-url``; the cluster secret comes
from ``WORMFS_CLUSTER_SECRET`` or the data dir's ``cluster.secret``.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Callable, Coroutine
from typing import Any

import aiohttp

from wormfs import config as cfg
from wormfs.cli import admin_api, admin_drains
from wormfs.cli.admin_durability import TOPICS, add_durability_arguments, run_durability
from wormfs.cli.admin_jobs import run_jobs_over_api
from wormfs.cli.admin_keys import TOPIC as KEYS_TOPIC
from wormfs.cli.admin_keys import add_keys_arguments, run_keys_over_api
from wormfs.cli.admin_metadata import add_metadata_arguments, run_metadata
from wormfs.cli.admin_profiles import add_profile_arguments, run_profiles, run_profiles_over_api
from wormfs.cli.admin_status import run_status
from wormfs.clients.coordinator import CoordinatorClient
from wormfs.clients.profiles import ProfileClient
from wormfs.clients.repair import DurabilityClient
from wormfs.errors import WormError
from wormfs.runtime.locate import data_dir_of, locate
from wormfs.wire.coordinator import CreateUser


def add_admin_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--data-dir", help="data dir of `wormfs server` (default WORMFS_DATA_DIR or ./data)"
    )
    parser.add_argument("--coordinator-url", help="base URL of the coordinator")
    sub = parser.add_subparsers(dest="admin_command", required=True, metavar="TOPIC")
    user = sub.add_parser("user", help="manage users and their access keys")
    user_sub = user.add_subparsers(dest="user_command", required=True, metavar="ACTION")
    add = user_sub.add_parser("add", help="create a user (keys generated unless given)")
    add.add_argument("display_name")
    add.add_argument("--access-key")
    add.add_argument("--secret-key")
    add.add_argument("--email", default="", help="for S3 ACL grants by e-mail address")
    user_sub.add_parser("list", help="list users and their access keys")
    remove = user_sub.add_parser("remove", help="remove a user and its access keys")
    remove.add_argument("user_id")
    for action in user_sub.choices.values():
        admin_api.add_connection_arguments(action)
    admin_api.add_admin_api_arguments(sub)
    add_durability_arguments(sub)
    for topic in ("node", "disk"):  # their list and show go through the admin API
        admin_api.add_connection_arguments(sub.choices[topic], json=False)
    add_profile_arguments(sub)
    add_keys_arguments(sub)
    add_metadata_arguments(sub)
    sub.add_parser(
        "status",
        help="the coordinator's health, and the processes of `wormfs server` with their restarts",
    )


def _locate(args: argparse.Namespace) -> tuple[str, bytes]:
    return locate(data_dir_of(args.data_dir), args.coordinator_url)


async def _admin(args: argparse.Namespace, url: str, secret: bytes) -> int:
    async with aiohttp.ClientSession() as session:
        client = CoordinatorClient(session, url, secret)
        if args.admin_command in TOPICS:
            return await run_durability(args, DurabilityClient(client.http))
        if args.admin_command == "profile":
            return await run_profiles(args, ProfileClient(client.http))
        if args.user_command == "add":
            user = await client.create_user(
                CreateUser(
                    display_name=args.display_name,
                    access_key=args.access_key,
                    secret_key=args.secret_key,
                    email=args.email,
                )
            )
            key = user.access_keys[0]
            print(f"user id:     {user.user_id}")
            print(f"name:        {user.display_name}")
            print(f"access key:  {key.access_key}")
            print(f"secret key:  {key.secret_key}")
        elif args.user_command == "list":
            for user in (await client.list_users()).users:
                keys = ", ".join(k.access_key for k in user.access_keys)
                print(f"{user.user_id}  {user.display_name}  keys: {keys}")
        else:
            await client.delete_user(args.user_id)
            print(f"removed {args.user_id}")
    return 0


def _over_admin_api(
    args: argparse.Namespace,
) -> Callable[[argparse.Namespace], Coroutine[Any, Any, int]] | None:
    """The admin API runner of the command, or None for one answered over the internal API
    (a topic the admin API does not serve, or only ``--coordinator-url`` given)."""
    known = admin_api.has_admin_api(args)
    if args.admin_command == "profile" and known:
        return run_profiles_over_api
    if args.admin_command == "jobs" and known:
        return run_jobs_over_api
    if args.admin_command == KEYS_TOPIC:  # the admin API only
        return run_keys_over_api
    if admin_drains.is_drain_action(args) and known:
        return admin_drains.run_drains_over_api
    if (
        args.admin_command in admin_api.TOPICS
        or admin_api.is_lookup(args)
        or (args.admin_command == "user" and known)
    ):
        return admin_api.run_admin_api
    return None


def run_admin(args: argparse.Namespace) -> int:
    if args.admin_command == "metadata":
        return run_metadata(args)
    if args.admin_command == "status":
        try:
            found: tuple[str | None, bytes | None] = _locate(args)
        except cfg.ConfigError:
            found = (None, None)  # the server's status may still say why
        return run_status(data_dir_of(args.data_dir), *found)
    if args.admin_command in ("node", "disk") and args.action != "list":
        ident = args.node_id if args.admin_command == "node" else args.disk_id
        if ident is None:  # optional only for list
            print(f"wormfs admin: {args.admin_command} {args.action} needs its id", file=sys.stderr)
            return 2
    over_api = _over_admin_api(args)
    if over_api is not None:
        try:
            return asyncio.run(over_api(args))
        except (aiohttp.ClientError, TimeoutError) as exc:
            print(f"wormfs admin: the admin API did not answer: {exc!r}", file=sys.stderr)
            return 1
    url, secret = _locate(args)
    try:
        return asyncio.run(_admin(args, url, secret))
    except WormError as exc:
        print(f"wormfs admin: {exc.code}: {exc.message}", file=sys.stderr)
        return 1
    except TimeoutError as exc:
        print(f"wormfs admin: {exc}", file=sys.stderr)
        return 1
