"""Small objects stored inline, end to end in-process: a real coordinator (SQLite), a real
storage node with six disks and the real gateway app (``wormfs.gateway.app.create_app``),
driven by boto3 with default settings.

An object of at most ``inline_max`` bytes lives in the metadata: PUT, GET (whole, ranges,
``partNumber``), HEAD, GetObjectAttributes, CopyObject and UploadPartCopy from it all work, and
no chunk is ever written for it. A non-owner gets AccessDenied (never NoSuchKey) on HEAD, GET
and DELETE, decided by the coordinator; inline bytes that went bad answer 500, never the bad
bytes.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest
from aiohttp.test_utils import TestServer
from botocore.config import Config
from component.coordinator_harness import SECRET, Running, make_config, running
from component.s3_fixtures import REGION, call, error_of, read_body
from sqlalchemy import func, select, update

from wormfs.config import GatewayConfig, StorageNodeConfig
from wormfs.coordinator.db.tables import object_data
from wormfs.coordinator.db.tx import Tx
from wormfs.gateway.app import create_app as create_gateway_app
from wormfs.storage_node.app import create_app as create_node_app
from wormfs.storage_node.app import start_coordinator_link
from wormfs.wire.coordinator import CreateUser

INLINE_MAX = 64 * 1024
DISKS = 6  # k+m of the harness's 4+2 profile
ALICE = ("AKIDINLINEALICE00001", "inline-alice-secret-0001")
BOB = ("AKIDINLINEBOB0000001", "inline-bob-secret-00000001")


@dataclass
class Stack:
    endpoint: str
    disks: list[Path]
    coordinator: Running

    def client(self, keys: tuple[str, str] = ALICE) -> Any:
        return boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            region_name=REGION,
            aws_access_key_id=keys[0],
            aws_secret_access_key=keys[1],
            config=Config(s3={"addressing_style": "path"}),
        )

    def chunk_count(self) -> int:
        return sum(len(list(disk.glob("chunks/*/*.chunk"))) for disk in self.disks)


async def _started(app: Any) -> tuple[TestServer, str]:
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    return server, str(server.make_url("")).rstrip("/")


@pytest.fixture
async def stack(tmp_path: Path) -> AsyncIterator[Stack]:
    async with running(make_config(tmp_path)) as coordinator:
        for name, (access, secret) in (("alice", ALICE), ("bob", BOB)):
            await coordinator.client.create_user(
                CreateUser(display_name=name, access_key=access, secret_key=secret)
            )
        disks = [tmp_path / f"disk{i}" for i in range(DISKS)]
        node_config = StorageNodeConfig(
            disks=[str(d) for d in disks],
            coordinator_url=coordinator.address,
            heartbeat_interval=0.2,
            reserved_bytes=0,
        )
        node, node_address = await _started(await create_node_app(node_config, SECRET))
        gateway: TestServer | None = None
        try:
            await start_coordinator_link(node.app, node_address)
            deadline = time.monotonic() + 10
            while (await coordinator.client.health()).disks_online < DISKS:
                assert time.monotonic() < deadline, "the node's disks never came online"
                await asyncio.sleep(0.05)
            config = GatewayConfig(
                coordinator_url=coordinator.address, region=REGION, inline_max=INLINE_MAX
            )
            gateway, endpoint = await _started(await create_gateway_app(config, SECRET))
            yield Stack(endpoint, disks, coordinator)
        finally:
            if gateway is not None:
                await gateway.close()
            await node.close()


def _etag(data: bytes) -> str:
    return f'"{hashlib.md5(data).hexdigest()}"'


async def test_small_object_lives_inline_through_every_operation(stack: Stack) -> None:
    s3 = stack.client()
    await call(s3, "create_bucket", Bucket="small")
    data = os.urandom(4096)
    put = await call(
        s3, "put_object", Bucket="small", Key="k", Body=data, ChecksumAlgorithm="CRC32"
    )
    assert put["ETag"] == _etag(data)
    got = await call(s3, "get_object", Bucket="small", Key="k", ChecksumMode="ENABLED")
    assert await read_body(got) == data
    assert got["ETag"] == _etag(data) and got["ChecksumCRC32"] == put["ChecksumCRC32"]
    ranged = await call(s3, "get_object", Bucket="small", Key="k", Range="bytes=100-1099")
    assert await read_body(ranged) == data[100:1100]
    assert ranged["ContentRange"] == "bytes 100-1099/4096"
    # A plain object's only part is the whole object (200, as S3 answers).
    whole = await call(s3, "get_object", Bucket="small", Key="k", PartNumber=1)
    assert await read_body(whole) == data
    assert whole["ResponseMetadata"]["HTTPStatusCode"] == 200
    code, status, _ = await error_of(s3, "get_object", Bucket="small", Key="k", PartNumber=2)
    assert (code, status) == ("InvalidPartNumber", 416)
    head = await call(s3, "head_object", Bucket="small", Key="k")
    assert (head["ContentLength"], head["ETag"]) == (4096, _etag(data))
    attributes = await call(
        s3,
        "get_object_attributes",
        Bucket="small",
        Key="k",
        ObjectAttributes=["ETag", "ObjectSize", "ObjectParts"],
    )
    assert (attributes["ObjectSize"], attributes["ETag"]) == (4096, _etag(data).strip('"'))
    assert "ObjectParts" not in attributes
    copied = await call(
        s3, "copy_object", Bucket="small", Key="copy", CopySource={"Bucket": "small", "Key": "k"}
    )
    assert copied["CopyObjectResult"]["ETag"] == _etag(data)
    got = await call(s3, "get_object", Bucket="small", Key="copy")
    assert await read_body(got) == data
    assert stack.chunk_count() == 0  # nothing of either object went to the storage node
    await call(s3, "delete_object", Bucket="small", Key="k")
    code, status, _ = await error_of(s3, "get_object", Bucket="small", Key="k")
    assert (code, status) == ("NoSuchKey", 404)
    listed = await call(s3, "list_objects_v2", Bucket="small")
    assert [(o["Key"], o["Size"]) for o in listed["Contents"]] == [("copy", 4096)]
    assert stack.chunk_count() == 0


async def test_empty_object_and_the_size_limit(stack: Stack) -> None:
    s3 = stack.client()
    await call(s3, "create_bucket", Bucket="edges")
    await call(s3, "put_object", Bucket="edges", Key="empty", Body=b"")
    assert await read_body(await call(s3, "get_object", Bucket="edges", Key="empty")) == b""
    at_limit = os.urandom(INLINE_MAX)
    await call(s3, "put_object", Bucket="edges", Key="at-limit", Body=at_limit)
    assert stack.chunk_count() == 0
    got = await call(s3, "get_object", Bucket="edges", Key="at-limit")
    assert await read_body(got) == at_limit
    # One byte more: erasure-coded chunks, as before.
    above = os.urandom(INLINE_MAX + 1)
    await call(s3, "put_object", Bucket="edges", Key="above", Body=above)
    assert stack.chunk_count() > 0
    assert await read_body(await call(s3, "get_object", Bucket="edges", Key="above")) == above


async def test_refused_small_puts_change_nothing(stack: Stack) -> None:
    s3 = stack.client()
    await call(s3, "create_bucket", Bucket="refused")
    first = os.urandom(1000)
    await call(s3, "put_object", Bucket="refused", Key="k", Body=first)
    wrong = "1B2M2Y8AsgTpgAmY7PhCfg=="  # the MD5 of b""
    code, status, _ = await error_of(
        s3, "put_object", Bucket="refused", Key="k", Body=b"not empty", ContentMD5=wrong
    )
    assert (code, status) == ("BadDigest", 400)
    # Conditions are checked by the coordinator with the commit.
    code, status, _ = await error_of(
        s3, "put_object", Bucket="refused", Key="k", Body=b"second", IfNoneMatch="*"
    )
    assert (code, status) == ("PreconditionFailed", 412)
    code, status, _ = await error_of(
        s3, "put_object", Bucket="refused", Key="k", Body=b"second", IfMatch=_etag(b"other")
    )
    assert (code, status) == ("PreconditionFailed", 412)
    code, status, _ = await error_of(s3, "put_object", Bucket="no-such", Key="k", Body=b"x")
    assert (code, status) == ("NoSuchBucket", 404)
    assert await read_body(await call(s3, "get_object", Bucket="refused", Key="k")) == first
    # A condition that holds commits.
    await call(s3, "put_object", Bucket="refused", Key="k", Body=b"second", IfMatch=_etag(first))
    assert await read_body(await call(s3, "get_object", Bucket="refused", Key="k")) == b"second"
    await call(s3, "put_object", Bucket="refused", Key="new", Body=b"third", IfNoneMatch="*")
    assert stack.chunk_count() == 0


async def test_upload_part_copy_from_an_inline_source(stack: Stack) -> None:
    s3 = stack.client()
    await call(s3, "create_bucket", Bucket="parts")
    data = os.urandom(4096)
    await call(s3, "put_object", Bucket="parts", Key="src", Body=data)
    upload = await call(s3, "create_multipart_upload", Bucket="parts", Key="mp")
    part = await call(
        s3,
        "upload_part_copy",
        Bucket="parts",
        Key="mp",
        UploadId=upload["UploadId"],
        PartNumber=1,
        CopySource={"Bucket": "parts", "Key": "src"},
        CopySourceRange="bytes=1000-2999",
    )
    etag = part["CopyPartResult"]["ETag"]
    assert etag == _etag(data[1000:3000])
    await call(
        s3,
        "complete_multipart_upload",
        Bucket="parts",
        Key="mp",
        UploadId=upload["UploadId"],
        MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": etag}]},
    )
    got = await call(s3, "get_object", Bucket="parts", Key="mp")
    assert await read_body(got) == data[1000:3000]
    assert stack.chunk_count() > 0  # parts are never inline


async def test_non_owner_is_denied_before_anything_else(stack: Stack) -> None:
    s3 = stack.client()
    await call(s3, "create_bucket", Bucket="private")
    data = os.urandom(4096)
    await call(s3, "put_object", Bucket="private", Key="k", Body=data)
    bob = stack.client(BOB)
    for key in ("k", "no-such-key"):  # AccessDenied whether or not the key exists
        code, status, _ = await error_of(bob, "get_object", Bucket="private", Key=key)
        assert (code, status) == ("AccessDenied", 403)
        code, status, _ = await error_of(bob, "head_object", Bucket="private", Key=key)
        assert status == 403
        code, status, _ = await error_of(bob, "delete_object", Bucket="private", Key=key)
        assert (code, status) == ("AccessDenied", 403)
    code, status, _ = await error_of(bob, "put_object", Bucket="private", Key="k", Body=b"mine")
    assert (code, status) == ("AccessDenied", 403)
    # Nothing changed for the owner.
    assert await read_body(await call(s3, "get_object", Bucket="private", Key="k")) == data


async def test_corrupt_inline_bytes_answer_500_not_wrong_bytes(stack: Stack) -> None:
    s3 = stack.client()
    await call(s3, "create_bucket", Bucket="rot")
    data = os.urandom(4096)
    await call(s3, "put_object", Bucket="rot", Key="k", Body=data)
    # Bitrot in the metadata database: one flipped bit in the stored bytes.
    flipped = bytes([data[0] ^ 0x01]) + data[1:]

    def flip(tx: Tx) -> None:
        assert tx.scalar(select(func.count()).select_from(object_data)) == 1
        tx.run(update(object_data).values(data=flipped))

    await stack.coordinator.repo.db.write(flip)
    code, status, _ = await error_of(s3, "get_object", Bucket="rot", Key="k")
    assert (code, status) == ("InternalError", 500)
    code, status, _ = await error_of(s3, "get_object", Bucket="rot", Key="k", Range="bytes=100-199")
    assert (code, status) == ("InternalError", 500)
