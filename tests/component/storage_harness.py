"""Test harness for the storage node component: one node in-process on temp disks.

``start_node`` runs the real application on a loopback test server with a real
``StorageClient``; ``raw`` sends hand-made (optionally mis-signed) requests;
``FakeCoordinator`` speaks the coordinator's register/heartbeat routes and records them.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import msgspec
from aiohttp import web
from aiohttp.test_utils import TestClient
from unit.chunk_fixtures import random_fragments

from wormfs.clients.storage import StorageClient
from wormfs.config import StorageNodeConfig
from wormfs.errors import NotFoundError
from wormfs.format.chunkformat import ChunkHeader
from wormfs.internal.auth import Verifier, sign
from wormfs.internal.http import internal_middleware, json_response, read_json
from wormfs.storage_node.app import DISKS_KEY, create_app
from wormfs.storage_node.disks import Disk, DiskSet
from wormfs.wire.common import ErrorBody
from wormfs.wire.coordinator import Heartbeat, NodeRegistration, RegisterResult

SECRET = b"component-test-secret"
ClientFactory = Callable[..., Awaitable[TestClient[Any, Any]]]


@dataclass
class Node:
    client: TestClient[Any, Any]
    address: str
    storage: StorageClient
    app: web.Application

    @property
    def disks(self) -> DiskSet:
        return self.app[DISKS_KEY]

    @property
    def disk(self) -> Disk:
        return self.disks.all()[0]

    def url(self, path: str) -> str:
        return self.address + path


async def start_node(
    aiohttp_client: ClientFactory, tmp_path: Path, coordinator_url: str = "", **overrides: Any
) -> Node:
    config = StorageNodeConfig(
        disks=[str(tmp_path / f"disk{i}") for i in range(3)],
        coordinator_url=coordinator_url,
        heartbeat_interval=overrides.pop("heartbeat_interval", 0.2),
        reserved_bytes=0,
        **overrides,
    )
    app = await create_app(config, SECRET)
    client = await aiohttp_client(app)
    address = str(client.make_url("")).rstrip("/")
    return Node(client, address, StorageClient(client.session, SECRET), app)


async def body_of(fragments: list[bytes], piece: int = 5000) -> AsyncIterator[bytes]:
    data = b"".join(fragments)
    for start in range(0, len(data), piece):
        yield data[start : start + piece]


async def put(node: Node, header: ChunkHeader, disk: Disk | None = None) -> list[bytes]:
    fragments = random_fragments(header)
    disk_id = (disk or node.disk).disk_id
    await node.storage.put_chunk(node.address, disk_id, header, body_of(fragments))
    return fragments


async def read_blocks(
    node: Node, disk_id: str, chunk_id: str, first: int | None = None, last: int | None = None
) -> list[bytes]:
    async with node.storage.open_chunk(node.address, disk_id, chunk_id, first, last) as reader:
        return [await reader.read_block(j) for j in range(reader.first, reader.last + 1)]


def visible(disk: Disk) -> list[Path]:
    return sorted(disk.chunks_dir.glob("*/*.chunk"))


def flip(path: Path, offset: int) -> None:
    with path.open("r+b") as fh:
        fh.seek(offset)
        byte = fh.read(1)
        fh.seek(offset)
        fh.write(bytes([byte[0] ^ 0x01]))


async def raw(
    node: Node,
    method: str,
    path: str,
    *,
    query: dict[str, str] | None = None,
    secret: bytes | None = SECRET,
    headers: dict[str, str] | None = None,
    data: Any = None,
    now: float | None = None,
) -> tuple[int, bytes]:
    """A request sent by hand (signed with ``secret`` unless None); returns status and body."""
    all_headers = dict(headers or {})
    if secret is not None:
        all_headers.update(sign(secret, method, path, (query or {}).items(), now=now))
    async with node.client.session.request(
        method, node.url(path), params=query or {}, headers=all_headers, data=data
    ) as resp:
        return resp.status, await resp.read()


def error_code(body: bytes) -> str:
    return msgspec.json.decode(body, type=ErrorBody).code


@dataclass
class FakeCoordinator:
    registrations: list[NodeRegistration] = field(default_factory=list)
    heartbeats: list[Heartbeat] = field(default_factory=list)
    forget_next_heartbeat: bool = False

    def app(self) -> web.Application:
        app = web.Application(middlewares=[internal_middleware(Verifier(SECRET))])
        app.router.add_post("/v1/nodes/register", self.register)
        app.router.add_post("/v1/nodes/{node_id}/heartbeat", self.heartbeat)
        return app

    async def register(self, request: web.Request) -> web.Response:
        registration = await read_json(request, NodeRegistration)
        self.registrations.append(registration)
        return json_response(RegisterResult(node_id=registration.node_id, heartbeat_interval=0.1))

    async def heartbeat(self, request: web.Request) -> web.Response:
        if self.forget_next_heartbeat:
            self.forget_next_heartbeat = False
            raise NotFoundError("unknown node")
        self.heartbeats.append(await read_json(request, Heartbeat))
        return json_response(
            RegisterResult(node_id=request.match_info["node_id"], heartbeat_interval=0.1)
        )
