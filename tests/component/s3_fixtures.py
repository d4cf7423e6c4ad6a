"""Fixtures for the S3 protocol component tests: the real gateway over a real cluster, in-process.

Layer: test support. ``start_env`` serves, on loopback in this test's event loop, a real
coordinator (SQLite under the test's ``tmp_path``), one real storage node with six disks (the
4+2 profile needs k+m) and the real gateway app (``wormfs.gateway.app.create_app``: its real
``ObjectService`` over the real coordinator and storage clients). So the protocol tests check
the gateway's S3 behaviour on the semantics the product has, not on a second implementation.
Two users exist, alice (``ACCESS_KEY``) and bob (``OTHER_ACCESS_KEY``); their canonical ids are
in ``S3Env.users``. Every server is closed by the ``aiohttp_server`` fixture at teardown.

Inspection goes through the front door: ``stored``, ``keys`` and ``manifest`` ask as alice, and
``read_calls`` records the ``(start, end)`` of every ``ObjectService.read_object`` call.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import boto3
import msgspec
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from botocore.config import Config
from botocore.exceptions import ClientError
from component.coordinator_harness import SECRET, make_config
from waiting import eventually

from wormfs.clients.coordinator import CoordinatorClient
from wormfs.config import CodingConfig, GatewayConfig, StorageNodeConfig
from wormfs.coordinator.app import create_app as create_coordinator_app
from wormfs.coordinator.app import start_election
from wormfs.gateway.app import STATE_KEY
from wormfs.gateway.app import create_app as create_gateway_app
from wormfs.gateway.object_service import ObjectService
from wormfs.gateway.service import Principal
from wormfs.internal.keyring import Keyring
from wormfs.storage_node.app import create_app as create_node_app
from wormfs.storage_node.app import start_coordinator_link
from wormfs.wire.coordinator import CreateUser, ObjectManifest

ACCESS_KEY = "AKIDWORMFSTEST0001"
SECRET_KEY = "wormfs-test-secret-key-0001"
OTHER_ACCESS_KEY = "AKIDWORMFSTEST0002"
OTHER_SECRET_KEY = "wormfs-test-secret-key-0002"
REGION = "us-east-1"
DISKS = 6  # k+m of the profile below
# 4+2 with stripes and segments large enough that the multi-MiB bodies of these tests make a
# handful of chunks, not thousands (the coordinator harness's tiny profile is for placement).
CODING = CodingConfig(k=4, m=2, stripe_size=64 * 1024, segment_size=4 * 1024 * 1024)

Server = Callable[..., Awaitable[TestServer]]


@dataclass
class S3Env:
    server: TestServer
    service: ObjectService
    endpoint: str
    users: dict[str, str]  # display name -> canonical user id
    read_calls: list[tuple[int, int]] = field(default_factory=list)
    coordinator_url: str = ""  # for the internal API (signed with ``SECRET``)
    coordinator: web.Application | None = None  # its app (state: REPO, ADMIN_URL, ...)

    def client(
        self, access_key: str = ACCESS_KEY, secret_key: str = SECRET_KEY, **config: Any
    ) -> Any:
        return boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            region_name=REGION,
            aws_access_key_id=access_key,
            aws_secret_access_key=secret_key,
            config=Config(s3={"addressing_style": "path"}, **config),
            verify=False,
        )

    async def stored(self, bucket: str, key: str) -> bytes | None:
        """The object's bytes as a GET answers them (alice's view), None when there is none."""
        try:
            got = await call(self.client(), "get_object", Bucket=bucket, Key=key)
        except ClientError as exc:
            if exc.response["Error"].get("Code") == "NoSuchKey":
                return None
            raise
        return await read_body(got)

    async def manifest(self, bucket: str, key: str) -> ObjectManifest:
        """The object's manifest as the real service sees it (alice asking)."""
        alice = Principal(user_id=self.users["alice"], display_name="alice", access_key=ACCESS_KEY)
        return await self.service.head_object(alice, bucket, key)

    async def keys(self, bucket: str) -> list[str]:
        listed = await call(self.client(), "list_objects_v2", Bucket=bucket)
        return [entry["Key"] for entry in listed.get("Contents", [])]


def _record_reads(env: S3Env) -> None:
    """Wrap the real service's ``read_object`` to note each call's range (the pieces pass)."""
    inner = env.service.read_object

    def read_object(
        manifest: ObjectManifest, start: int, end: int, customer: Any = None
    ) -> AsyncIterator[Any]:
        env.read_calls.append((start, end))
        return inner(manifest, start, end, customer)

    env.service.read_object = read_object  # type: ignore[method-assign]


async def start_env(
    aiohttp_server: Server,
    tmp_path: Path,
    config: GatewayConfig | None = None,
    keyring: Keyring | None = None,
    coordinator_config: Mapping[str, Any] | None = None,
    **server_kwargs: Any,
) -> S3Env:
    """The whole stack for one test; ``config``, ``keyring`` (default: ``test-key-1``) and
    ``server_kwargs`` shape the gateway, ``coordinator_config`` the coordinator's config."""
    coordinator = await create_coordinator_app(
        make_config(tmp_path, coding=CODING, **(coordinator_config or {})), SECRET
    )
    coordinator_server = await aiohttp_server(coordinator)
    coordinator_url = str(coordinator_server.make_url("")).rstrip("/")
    await start_election(coordinator, coordinator_url)  # no ZooKeeper: leads at once
    node_config = StorageNodeConfig(
        disks=[str(tmp_path / f"disk{i}") for i in range(DISKS)],
        coordinator_url=coordinator_url,
        heartbeat_interval=0.2,
        reserved_bytes=0,
    )
    node = await aiohttp_server(await create_node_app(node_config, SECRET))
    await start_coordinator_link(node.app, str(node.make_url("")).rstrip("/"))
    users: dict[str, str] = {}
    async with aiohttp.ClientSession() as session:
        admin = CoordinatorClient(session, coordinator_url, SECRET)
        for name, access, secret in (
            ("alice", ACCESS_KEY, SECRET_KEY),
            ("bob", OTHER_ACCESS_KEY, OTHER_SECRET_KEY),
        ):
            user = await admin.create_user(
                CreateUser(display_name=name, access_key=access, secret_key=secret)
            )
            users[name] = user.user_id

        async def disks_online() -> bool:
            return (await admin.health()).disks_online >= DISKS

        await eventually(disks_online, timeout=30, message="the node's disks online")
        await admin.close()
    gateway_config = msgspec.structs.replace(
        config or GatewayConfig(region=REGION), coordinator_url=coordinator_url
    )
    if keyring is None:
        keyring = Keyring({"test-key-1": bytes(range(32))}, kms_keys=gateway_config.kms_keys)
    app = await create_gateway_app(gateway_config, SECRET, keyring)
    server = await aiohttp_server(app, **server_kwargs)
    service = server.app[STATE_KEY].service
    assert isinstance(service, ObjectService)
    env = S3Env(
        server,
        service,
        str(server.make_url("")).rstrip("/"),
        users,
        coordinator_url=coordinator_url,
        coordinator=coordinator,
    )
    _record_reads(env)
    return env


async def call(client: Any, method: str, **kwargs: Any) -> Any:
    return await asyncio.to_thread(getattr(client, method), **kwargs)


async def read_body(response: Any) -> bytes:
    """The body of a get_object answer, read in a thread (the server runs on this loop)."""
    return await asyncio.to_thread(response["Body"].read)


async def error_of(client: Any, method: str, **kwargs: Any) -> tuple[str, int, dict[str, Any]]:
    with pytest.raises(ClientError) as info:
        await call(client, method, **kwargs)
    response = info.value.response
    return (
        response["Error"].get("Code", ""),
        response["ResponseMetadata"]["HTTPStatusCode"],
        response,
    )
