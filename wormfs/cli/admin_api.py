"""``wormfs admin`` over the admin REST API: tokens, buckets, users and keys, health, cluster.

Layer: cli (a client of the coordinator's ``/admin/v1``, never of its database). The admin
API is found with ``wormfs.runtime.locate.locate_admin`` (``--admin-url``, the data dir's
``run/server.json``) and called with a bearer token (``--token``, ``WORMFS_ADMIN_TOKEN``, the
data dir's ``admin.token``). Every command prints plain lines, or with ``--json`` the API's
JSON answer as it came; an error answer prints ``code: message (request id)`` and exits 1.
Secrets (a new token, a new key's secret) are printed by the command that made them only.
Paged lists are walked to the end, page by page. ``node list|show`` and ``disk list|show``
(actions of the durability CLI's topics) are answered here too.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import aiohttp

from wormfs.runtime.locate import admin_url_of, data_dir_of, locate_admin

API = "/admin/v1"
TOPICS = ("token", "bucket", "health", "cluster")
# Actions of the durability CLI's node and disk topics that this module answers.
LOOKUPS = ("list", "show")


class AdminApiError(Exception):
    def __init__(self, status: int, body: Any) -> None:
        body = body if isinstance(body, dict) else {}
        self.status = status
        self.code = str(body.get("code", f"HTTP{status}"))
        self.message = str(body.get("message", ""))
        self.request_id = str(body.get("request_id", ""))
        super().__init__(f"{self.code}: {self.message} (request id {self.request_id})")


class AdminApi:
    """A JSON client of ``/admin/v1`` at ``url`` with a bearer token."""

    def __init__(self, session: aiohttp.ClientSession, url: str, token: str) -> None:
        self.session, self.url, self._token = session, url.rstrip("/"), token

    async def call(
        self,
        method: str,
        path: str,
        body: Any = None,
        params: Mapping[str, str] | None = None,
        ok: tuple[int, ...] = (200, 201, 204),
    ) -> Any:
        headers = {"Authorization": f"Bearer {self._token}"}
        async with self.session.request(
            method,
            self.url + API + path,
            json=body,
            params=dict(params or {}),
            headers=headers,
            timeout=aiohttp.ClientTimeout(total=60),
        ) as resp:
            data = await resp.read()
            answer = json.loads(data) if data else None
            if resp.status not in ok:
                raise AdminApiError(resp.status, answer)
            return answer

    async def walk(self, path: str, params: Mapping[str, str] | None = None) -> list[Any]:
        """Every item of a paged list, following ``next_cursor`` to the end."""
        items: list[Any] = []
        query = {**(params or {}), "limit": "100"}
        while True:
            page = await self.call("GET", path, params=query)
            items += page["items"]
            if not page.get("next_cursor"):
                return items
            query["cursor"] = page["next_cursor"]


def add_connection_arguments(parser: argparse.ArgumentParser, json: bool = True) -> None:
    parser.add_argument("--admin-url", help="base URL of the admin API (default: the data dir's)")
    parser.add_argument("--token", help="admin token (default WORMFS_ADMIN_TOKEN, the data dir's)")
    if json:
        parser.add_argument("--json", action="store_true", help="print the API's JSON answers")


def add_admin_api_arguments(sub: Any) -> None:
    token = sub.add_parser("token", help="admin API tokens: create (shown once), list, revoke")
    token_sub = token.add_subparsers(dest="token_command", required=True, metavar="ACTION")
    create = token_sub.add_parser("create", help="make a token; it is printed this once")
    create.add_argument("name")
    create.add_argument("--scope", choices=("read", "admin"), default="read")
    create.add_argument("--expires-in", type=float, help="seconds until it expires")
    token_sub.add_parser("list", help="list tokens (never the tokens themselves)")
    revoke = token_sub.add_parser("revoke", help="revoke a token by id or name")
    revoke.add_argument("which", metavar="TOKEN", help="the token's id or name")
    bucket = sub.add_parser("bucket", help="buckets: create, list, show (usage), delete if empty")
    bucket_sub = bucket.add_subparsers(dest="bucket_command", required=True, metavar="ACTION")
    make = bucket_sub.add_parser("create", help="create a bucket")
    make.add_argument("name")
    make.add_argument("--owner", help="owner's user id (default: the root user)")
    bucket_sub.add_parser("list", help="list buckets")
    show = bucket_sub.add_parser("show", help="a bucket with its usage")
    show.add_argument("name")
    drop = bucket_sub.add_parser("delete", help="delete an empty bucket")
    drop.add_argument("name")
    sub.add_parser("health", help="healthy | degraded | unavailable, with the reasons")
    sub.add_parser("cluster", help="capacity, usage, nodes and disks, leader, version")
    for parser in (token, bucket, *token_sub.choices.values(), *bucket_sub.choices.values()):
        add_connection_arguments(parser)
    for name in ("health", "cluster"):
        add_connection_arguments(sub.choices[name])


def is_lookup(args: argparse.Namespace) -> bool:
    """``node list|show`` and ``disk list|show``: answered here, not by the durability CLI."""
    return args.admin_command in ("node", "disk") and args.action in LOOKUPS


def has_admin_api(args: argparse.Namespace) -> bool:
    """Whether the admin API can be reached (else ``user`` falls back to the internal API)."""
    if getattr(args, "admin_url", None):
        return True
    if getattr(args, "coordinator_url", None):
        return False  # an explicit internal URL: the internal API, as before
    return admin_url_of(data_dir_of(args.data_dir), None) is not None


def connect(args: argparse.Namespace) -> tuple[str, str]:
    return locate_admin(data_dir_of(args.data_dir), args.admin_url, args.token)


async def over_admin_api(
    args: argparse.Namespace, run: Callable[[AdminApi], Awaitable[int]]
) -> int:
    """Run a command with a client of the admin API the arguments name; an error answer (or
    a ``TimeoutError`` of the command's own) prints ``code: message (request id)`` and is 1."""
    url, token = connect(args)
    async with aiohttp.ClientSession() as session:
        try:
            return await run(AdminApi(session, url, token))
        except (AdminApiError, TimeoutError) as exc:
            print(f"wormfs admin: {exc}", file=sys.stderr)
            return 1


def _print(args: argparse.Namespace, answer: Any, lines: list[str]) -> None:
    if getattr(args, "json", False):
        print(json.dumps(answer, indent=2, sort_keys=True))
    else:
        print("\n".join(lines))


def _when(t: float | None) -> str:
    return "-" if t is None else time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))


async def run_tokens(args: argparse.Namespace, api: AdminApi) -> None:
    if args.token_command == "create":
        body: dict[str, Any] = {"name": args.name, "scope": args.scope}
        if args.expires_in is not None:
            body["expires_at"] = time.time() + args.expires_in
        made = await api.call("POST", "/tokens", body)
        info = made["info"]
        _print(
            args,
            made,
            [
                f"token:    {made['token']}",
                f"id:       {info['token_id']}",
                f"name:     {info['name']}",
                f"scope:    {info['scope']}",
                f"expires:  {_when(info['expires_at'])}",
                "(shown this once: keep it now)",
            ],
        )
    elif args.token_command == "list":
        tokens = await api.walk("/tokens")
        _print(
            args,
            tokens,
            [
                f"{t['token_id']}  {t['name']}  {t['scope']}  expires {_when(t['expires_at'])}  "
                f"last used {_when(t['last_used'])}"
                + (f"  REVOKED {_when(t['revoked_at'])}" if t["revoked_at"] else "")
                for t in tokens
            ],
        )
    else:
        revoked = await api.call("POST", f"/tokens/{args.which}/revoke")
        _print(args, revoked, [f"revoked {revoked['token_id']} ({revoked['name']})"])


async def run_buckets(args: argparse.Namespace, api: AdminApi) -> None:
    if args.bucket_command == "create":
        body: dict[str, Any] = {"name": args.name}
        if args.owner:
            body["owner_id"] = args.owner
        made = await api.call("POST", "/buckets", body)
        _print(args, made, [f"created {made['name']} (owner {made['owner_display_name']})"])
    elif args.bucket_command == "list":
        buckets = await api.walk("/buckets")
        _print(args, buckets, [f"{b['name']}  owner {b['owner_display_name']}" for b in buckets])
    elif args.bucket_command == "show":
        detail = await api.call("GET", f"/buckets/{args.name}")
        b, u = detail["bucket"], detail["usage"]
        _print(
            args,
            detail,
            [
                f"bucket:   {b['name']}",
                f"owner:    {b['owner_display_name']} ({b['owner_id']})",
                f"created:  {_when(b['created'])}",
                f"objects:  {u['objects']} ({u['bytes']} bytes)",
                f"uploads:  {u['uploads']} unfinished",
                f"class:    {detail['storage_class']}",
                f"versions: {detail.get('versioning') or 'never enabled'}",
                f"lock:     {_lock_line(detail.get('object_lock') or {})}",
                f"rules:    {detail.get('lifecycle_rules', 0)} lifecycle",
            ],
        )
    else:
        await api.call("DELETE", f"/buckets/{args.name}")
        _print(args, {"deleted": args.name}, [f"deleted {args.name}"])


def _lock_line(lock: dict[str, Any]) -> str:
    """A bucket's Object Lock in a few words."""
    if not lock.get("enabled"):
        return "off"
    if not lock.get("mode"):
        return "on, no default retention"
    period = f"{lock['days']} days" if lock.get("days") else f"{lock.get('years', 0)} years"
    return f"on, default {lock['mode']} for {period}"


async def run_users(args: argparse.Namespace, api: AdminApi) -> None:
    """``user add|list|remove`` over the admin API (same lines as over the internal API)."""
    if args.user_command == "add":
        body = {"display_name": args.display_name}
        given = (("access_key", args.access_key), ("secret_key", args.secret_key))
        body |= {k: v for k, v in (*given, ("email", args.email)) if v}
        user = await api.call("POST", "/users", body)
        key = user["access_keys"][0]
        _print(
            args,
            user,
            [
                f"user id:     {user['user_id']}",
                f"name:        {user['display_name']}",
                f"access key:  {key['access_key']}",
                f"secret key:  {key['secret_key']}",
            ],
        )
    elif args.user_command == "list":
        users = await api.walk("/users")
        lines = []
        for user in users:
            keys = await api.walk(f"/users/{user['user_id']}/keys")
            names = ", ".join(
                k["access_key"] + (" (disabled)" if k["disabled"] else "") for k in keys
            )
            off = "  DISABLED" if user["disabled"] else ""
            lines.append(f"{user['user_id']}  {user['display_name']}  keys: {names}{off}")
        _print(args, users, lines)
    else:
        await api.call("DELETE", f"/users/{args.user_id}")
        _print(args, {"deleted": args.user_id}, [f"removed {args.user_id}"])


def _bytes(n: int) -> str:
    return f"{n / 1e9:.1f} GB"


async def run_lookups(args: argparse.Namespace, api: AdminApi) -> None:
    if args.admin_command == "node" and args.action == "list":
        nodes = await api.walk("/nodes")
        _print(
            args,
            nodes,
            [
                f"{n['node_id']}  {n['state']}  {n['address']}  disks {n['disks_online']}/"
                f"{n['disks']}  used {_bytes(n['used_bytes'])} of {_bytes(n['capacity_bytes'])}  "
                f"heartbeat {n['heartbeat_age_seconds']:.0f} s ago"
                for n in nodes
            ],
        )
    elif args.admin_command == "node":
        detail = await api.call("GET", f"/nodes/{args.node_id}")
        n = detail["node"]
        lines = [f"node {n['node_id']}  {n['state']}  {n['address']}"]
        lines += [_disk_line(d) for d in detail["disks"]]
        _print(args, detail, lines)
    elif args.action == "list":
        params = {k: v for k, v in (("node", args.node), ("state", args.state)) if v}
        disks = await api.walk("/disks", params)
        _print(args, disks, [_disk_line(d) for d in disks])
    else:
        disk = await api.call("GET", f"/disks/{args.disk_id}")
        _print(args, disk, [_disk_line(disk), *([disk["error"]] if disk["error"] else [])])


def _disk_line(d: Any) -> str:
    drain = f" ({d['drain_state']})" if d["drain_state"] else ""
    return (
        f"{d['disk_id']}  node {d['node_id']}  {d['state']}{drain}  {d['path']}  used "
        f"{_bytes(d['used_bytes'])} of {_bytes(d['capacity_bytes'])}  {d['chunk_count']} chunks"
    )


async def run_admin_api(args: argparse.Namespace) -> int:
    url, token = connect(args)
    async with aiohttp.ClientSession() as session:
        api = AdminApi(session, url, token)
        try:
            if args.admin_command == "token":
                await run_tokens(args, api)
            elif args.admin_command == "bucket":
                await run_buckets(args, api)
            elif args.admin_command == "user":
                await run_users(args, api)
            elif is_lookup(args):
                await run_lookups(args, api)
            elif args.admin_command == "health":
                health = await api.call("GET", "/health", ok=(200, 503))
                reasons = [
                    f"  {r['kind']}  {r['target']}: {r['detail']}" for r in health["reasons"]
                ]
                _print(args, health, [health["status"], *reasons])
                return 0 if health["status"] != "unavailable" else 1
            else:
                view = await api.call("GET", "/cluster")
                _print(args, view, [f"{k}: {v}" for k, v in view.items()])
        except AdminApiError as exc:
            print(f"wormfs admin: {exc}", file=sys.stderr)
            return 1
    return 0
