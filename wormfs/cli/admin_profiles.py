"""``wormfs admin profile``: named erasure-coding profiles, the storage classes they serve and
a bucket's default class.

Layer: cli. Over the admin REST API (``/admin/v1/profiles``: audited, an ``admin`` token for
changes) when an admin address is known (``--admin-url``, ``WORMFS_ADMIN_URL`` or the data
dir's; ``wormfs.cli.admin_api``), else over the coordinator's internal routes
(``wormfs.wire.profiles`` through ``wormfs.clients.profiles.ProfileClient``, with the cluster
secret), as ``user`` does. ``wormfs.cli.admin`` adds the topic to its parser and hands it
here. ``--json`` prints the wire struct instead, for scripts.

    wormfs admin profile list
    wormfs admin profile create NAME --k K --m M [--codec C] [--stripe-size B]
                                     [--segment-size B] [--storage-class CLASS]
    wormfs admin profile get NAME
    wormfs admin profile delete NAME
    wormfs admin profile bucket-class BUCKET [CLASS]     (show, or set, a bucket's default)
"""

from __future__ import annotations

import argparse
from typing import Any, Protocol

import msgspec

from wormfs.cli.admin_api import AdminApi, add_connection_arguments, over_admin_api
from wormfs.erasure import DEFAULT_CODEC
from wormfs.wire.profiles import BucketClass, ProfileInfo, ProfileList, ProfileSpec

TOPIC = "profile"


def add_profile_arguments(sub: Any) -> None:
    """Add the ``profile`` topic to ``wormfs admin``'s subparsers."""
    profile = sub.add_parser(
        "profile", help="named erasure-coding profiles, storage classes, bucket default class"
    )
    actions = profile.add_subparsers(dest="profile_command", required=True, metavar="ACTION")
    actions.add_parser("list", help="every profile with the bytes stored under it")
    create = actions.add_parser("create", help="create a named profile")
    create.add_argument("name")
    create.add_argument("--k", type=int, required=True, help="data chunks per segment")
    create.add_argument("--m", type=int, required=True, help="parity chunks per segment")
    create.add_argument("--codec", default=DEFAULT_CODEC)
    create.add_argument("--stripe-size", type=int, default=1024 * 1024, help="bytes")
    create.add_argument("--segment-size", type=int, default=64 * 1024 * 1024, help="bytes")
    create.add_argument(
        "--storage-class", help="the S3 class (x-amz-storage-class) this profile serves"
    )
    get = actions.add_parser("get", help="one profile")
    get.add_argument("name")
    remove = actions.add_parser("delete", help="delete a profile nothing uses")
    remove.add_argument("name")
    default = actions.add_parser("bucket-class", help="show or set a bucket's default class")
    default.add_argument("bucket")
    default.add_argument("storage_class", nargs="?", help="the class to set")
    for action in actions.choices.values():
        add_connection_arguments(action)  # --admin-url, --token, --json


class ProfileCalls(Protocol):
    """What the commands need: ``ProfileClient`` (internal API) or ``ApiProfiles``."""

    async def list(self) -> ProfileList: ...
    async def create(self, spec: ProfileSpec) -> ProfileInfo: ...
    async def get(self, name: str) -> ProfileInfo: ...
    async def delete(self, name: str) -> None: ...
    async def bucket_class(self, bucket: str) -> BucketClass: ...
    async def set_bucket_class(self, bucket: str, storage_class: str) -> BucketClass: ...


class ApiProfiles:
    """The same calls over ``/admin/v1`` (``coordinator/admin/profiles.py``)."""

    def __init__(self, api: AdminApi) -> None:
        self._api = api

    async def list(self) -> ProfileList:
        items = await self._api.walk("/profiles")
        return ProfileList(profiles=msgspec.convert(items, list[ProfileInfo]))

    async def create(self, spec: ProfileSpec) -> ProfileInfo:
        made = await self._api.call("POST", "/profiles", msgspec.to_builtins(spec))
        return msgspec.convert(made, ProfileInfo)

    async def get(self, name: str) -> ProfileInfo:
        return msgspec.convert(await self._api.call("GET", f"/profiles/{name}"), ProfileInfo)

    async def delete(self, name: str) -> None:
        await self._api.call("DELETE", f"/profiles/{name}")

    async def bucket_class(self, bucket: str) -> BucketClass:
        found = await self._api.call("GET", f"/buckets/{bucket}/storage-class")
        return msgspec.convert(found, BucketClass)

    async def set_bucket_class(self, bucket: str, storage_class: str) -> BucketClass:
        body = {"storage_class": storage_class}
        done = await self._api.call("PUT", f"/buckets/{bucket}/storage-class", body)
        return msgspec.convert(done, BucketClass)


def _print_json(value: Any) -> None:
    print(msgspec.json.encode(value).decode())


def _size(nbytes: int) -> str:
    return f"{nbytes / 1e6:,.1f} MB"


def _line(p: ProfileInfo) -> str:
    served = p.storage_class or "-"
    return (
        f"{p.name:<20} {p.k}+{p.m:<3} {p.codec:<14} stripe {p.stripe_size:>8} "
        f"segment {p.segment_size:>10}  class {served:<20} {p.objects} objects, "
        f"{_size(p.bytes)} ({_size(p.raw_bytes)} raw)"
    )


async def run_profiles_over_api(args: argparse.Namespace) -> int:
    """``wormfs admin profile ...`` through the admin API; its errors print as
    ``code: message (request id)`` and exit 1."""
    return await over_admin_api(args, lambda api: run_profiles(args, ApiProfiles(api)))


async def run_profiles(args: argparse.Namespace, client: ProfileCalls) -> int:
    command = args.profile_command
    if command == "list":
        found = await client.list()
        if args.json:
            _print_json(found)
        else:
            for p in found.profiles:
                print(_line(p))
    elif command in ("create", "get"):
        if command == "create":
            spec = ProfileSpec(
                name=args.name,
                k=args.k,
                m=args.m,
                codec=args.codec,
                stripe_size=args.stripe_size,
                segment_size=args.segment_size,
                storage_class=args.storage_class,
            )
            info = await client.create(spec)
        else:
            info = await client.get(args.name)
        if args.json:
            _print_json(info)
        else:
            print(_line(info))
    elif command == "delete":
        await client.delete(args.name)
        print(f"deleted profile {args.name}")
    else:
        if args.storage_class:
            chosen = await client.set_bucket_class(args.bucket, args.storage_class)
        else:
            chosen = await client.bucket_class(args.bucket)
        if args.json:
            _print_json(chosen)
        else:
            print(f"{args.bucket}: {chosen.storage_class}")
    return 0
