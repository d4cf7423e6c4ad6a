"""Test harness for the coordinator component: one coordinator in-process on a temp database
(SQLite, or PostgreSQL through the ``database_url`` fixture of tests/conftest.py).

``running(config)`` starts the real application (migrations, leader epoch, background tasks)
on a loopback test server and yields it with a real ``CoordinatorClient``; leaving the block
shuts it down (the database stays, so a second ``running`` is a restart). ``fake_node``
serves a storage node's batch-delete API and records what it was asked.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web
from aiohttp.test_utils import TestServer
from sqlalchemy import select

from wormfs.clients.coordinator import CoordinatorClient
from wormfs.config import CodingConfig, CoordinatorConfig
from wormfs.coordinator.app import GC, create_app, start_election
from wormfs.coordinator.db.repo import Repository
from wormfs.coordinator.db.tables import pending_writes
from wormfs.coordinator.handlers import REPO
from wormfs.coordinator.tasks import GarbageCollector
from wormfs.internal.auth import Verifier
from wormfs.internal.http import internal_middleware, json_response, read_json
from wormfs.wire.coordinator import (
    BeginWrite,
    CommitObject,
    CommitPart,
    CreateBucket,
    NodeRegistration,
    ObjectChecksum,
    ObjectManifest,
    PartRecord,
    WriteGrant,
)
from wormfs.wire.storage import DeleteChunks, DeleteChunksResult, DiskInfo

SECRET = b"component-test-secret"
STRIPE = 4096
SEGMENT = 4 * STRIPE
GIB = 1024**3


def make_config(where: Path | str, **overrides: Any) -> CoordinatorConfig:
    """A test config; ``where`` is a database URL (the ``database_url`` fixture, which runs a
    test on SQLite and on PostgreSQL) or a directory to keep a SQLite file in."""
    url = where if isinstance(where, str) else f"sqlite:///{where}/meta/wormfs.db"
    base: dict[str, Any] = {
        "database_url": url,
        "coding": CodingConfig(k=4, m=2, stripe_size=STRIPE, segment_size=SEGMENT),
        "gc_interval": 3600.0,  # tests run GC passes themselves
        "gc_delay": 60.0,
        "heartbeat_interval": 5.0,
        "node_offline_after": 30.0,
    }
    base.update(overrides)
    return CoordinatorConfig(**base)


@dataclass
class Running:
    app: web.Application
    client: CoordinatorClient
    session: aiohttp.ClientSession
    address: str

    @property
    def gc(self) -> GarbageCollector:
        return self.app[GC]

    @property
    def repo(self) -> Repository:
        return self.app[REPO]

    async def gc_entries(self) -> list[tuple[str, str, str]]:
        """(chunk_id, disk_id, node_id) of every gc queue entry."""
        return await self.repo.gc.entries()

    async def pending_writes(self) -> list[str]:
        query = select(pending_writes.c.write_id)
        return await self.repo.db.read(lambda tx: tx.scalars(query))


@asynccontextmanager
async def running(config: CoordinatorConfig, secret: bytes = SECRET) -> AsyncIterator[Running]:
    app = await create_app(config, secret)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    try:
        address = str(server.make_url("")).rstrip("/")
        await start_election(app, address)  # with zookeeper_hosts: campaign, as `run` does
        async with aiohttp.ClientSession() as session:
            yield Running(app, CoordinatorClient(session, address, secret), session, address)
    finally:
        await server.close()


def disks(node: str, count: int, free: int = 100 * GIB, state: str = "online") -> list[DiskInfo]:
    return [
        DiskInfo(
            disk_id=f"{node}-d{i}",
            path=f"/data/{node}/{i}",
            state=state,  # type: ignore[arg-type]
            capacity_bytes=2 * free,
            free_bytes=free,
            used_bytes=free,
        )
        for i in range(count)
    ]


async def register(
    client: CoordinatorClient,
    node: str,
    count: int = 6,
    address: str = "http://127.0.0.1:9",
    **kwargs: Any,
) -> None:
    await client.register_node(
        NodeRegistration(node_id=node, address=address, disks=disks(node, count), **kwargs)
    )


async def make_bucket(client: CoordinatorClient, name: str, owner: str = "owner-a") -> None:
    await client.create_bucket(name, CreateBucket(owner_id=owner))


def md5_etag(seed: str) -> str:
    return '"' + hashlib.md5(seed.encode()).hexdigest() + '"'


def part_from_grant(
    grant: WriteGrant,
    part_number: int,
    size: int,
    etag: str,
    checksum: ObjectChecksum | None = None,
) -> PartRecord:
    return PartRecord(
        part_number=part_number, size=size, etag=etag, segments=grant.segments, checksum=checksum
    )


async def put(
    client: CoordinatorClient,
    bucket: str,
    key: str,
    size: int = 100,
    owner: str = "owner-a",
    **commit: Any,
) -> ObjectManifest:
    grant = await client.begin_write(BeginWrite(bucket=bucket, key=key, size=size))
    etag = md5_etag(f"{key}/{grant.version_id}")
    return await client.commit_object(
        CommitObject(
            write_id=grant.write_id,
            bucket=bucket,
            key=key,
            version_id=grant.version_id,
            owner_id=owner,
            size=size,
            etag=etag,
            profile=grant.profile,
            parts=[part_from_grant(grant, 1, size, etag)],
            **commit,
        )
    )


async def put_part(
    client: CoordinatorClient,
    bucket: str,
    key: str,
    upload_id: str,
    part_number: int,
    size: int,
    seed: str = "",
    checksum: ObjectChecksum | None = None,
) -> PartRecord:
    grant = await client.begin_write(
        BeginWrite(bucket=bucket, key=key, size=size, upload_id=upload_id, part_number=part_number)
    )
    etag = md5_etag(f"{upload_id}/{part_number}/{seed}")
    part = part_from_grant(grant, part_number, size, etag, checksum)
    return await client.commit_part(upload_id, CommitPart(write_id=grant.write_id, part=part))


def chunk_ids(manifest: ObjectManifest | PartRecord) -> set[str]:
    parts = manifest.parts if isinstance(manifest, ObjectManifest) else [manifest]
    return {c.chunk_id for p in parts for s in p.segments for c in s.chunks}


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


@dataclass
class FakeNode:
    """A storage node that answers batch deletes; ``stored`` chunks are 'on disk'."""

    stored: set[tuple[str, str]] = field(default_factory=set)
    requests: list[DeleteChunks] = field(default_factory=list)
    fail: set[str] = field(default_factory=set)  # chunk ids whose delete fails

    async def delete(self, request: web.Request) -> web.Response:
        body = await read_json(request, DeleteChunks)
        self.requests.append(body)
        deleted, missing, failed = [], [], []
        for ref in body.chunks:
            if ref.chunk_id in self.fail:
                failed.append(ref)
            elif (ref.disk_id, ref.chunk_id) in self.stored:
                self.stored.discard((ref.disk_id, ref.chunk_id))
                deleted.append(ref)
            else:
                missing.append(ref)
        return json_response(DeleteChunksResult(deleted=deleted, missing=missing, failed=failed))

    @property
    def asked(self) -> set[str]:
        return {ref.chunk_id for req in self.requests for ref in req.chunks}


@asynccontextmanager
async def fake_node(node: FakeNode, secret: bytes = SECRET) -> AsyncIterator[str]:
    app = web.Application(middlewares=[internal_middleware(Verifier(secret))])
    app.router.add_post("/v1/chunks/delete", node.delete)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    try:
        yield str(server.make_url("")).rstrip("/")
    finally:
        await server.close()


def refs(manifest: ObjectManifest) -> set[tuple[str, str]]:
    return {(c.disk_id, c.chunk_id) for p in manifest.parts for s in p.segments for c in s.chunks}
