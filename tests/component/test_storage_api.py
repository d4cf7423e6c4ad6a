"""The storage-node API in-process (aiohttp test server) through the real ``StorageClient``:
every route, ranges, corruption, bad input, authentication, failing and full disks."""

from __future__ import annotations

import asyncio
import base64
import os
import socket
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import msgspec
import pytest
from aiohttp import web
from component.storage_harness import (
    SECRET,
    ClientFactory,
    Node,
    body_of,
    error_code,
    flip,
    put,
    raw,
    read_blocks,
    start_node,
    visible,
)
from unit.chunk_fixtures import chunk_bytes, make_header, random_fragments
from waiting import eventually

from wormfs.clients.storage import StorageClient
from wormfs.errors import (
    ChunkExistsError,
    CorruptChunkError,
    DiskFullError,
    DiskOfflineError,
    InvalidInputError,
    NoSuchChunkError,
    NoSuchDiskError,
    UnavailableError,
)
from wormfs.format.chunkformat import ChunkHeader, crc32c_of
from wormfs.ids import new_id
from wormfs.internal.auth import AUTH_HEADER, Verifier, sign
from wormfs.internal.http import json_response
from wormfs.storage_node.chunkfiles import chunk_path
from wormfs.wire.storage import CHUNK_HEADER_HEADER, ChunkPutResult, ChunkRef, encode_header_value


@pytest.fixture
async def node(aiohttp_client: ClientFactory, tmp_path: Path) -> Node:
    return await start_node(aiohttp_client, tmp_path)


# ---- node state -------------------------------------------------------------------------------
async def test_disks_and_health(node: Node) -> None:
    listing = await node.storage.disks(node.address)
    assert listing.node_id == node.disks.node_id
    assert [d.disk_id for d in listing.disks] == [d.disk_id for d in node.disks.all()]
    assert all(d.state == "online" and d.capacity_bytes > 0 for d in listing.disks)
    health = await node.storage.health(node.address)
    assert (health.status, health.disks_online, health.disks_total) == ("ok", 3, 3)


# ---- chunk life cycle -------------------------------------------------------------------------
async def test_put_get_head_delete(node: Node) -> None:
    header = make_header(codec="isal_rs_vand", k=4, m=2, stripe_size=65536, segment_length=200_000)
    fragments = random_fragments(header)
    result = await node.storage.put_chunk(
        node.address, node.disk.disk_id, header, body_of(fragments, 1234)
    )
    assert result == ChunkPutResult(
        chunk_id=header.chunk_id,
        disk_id=node.disk.disk_id,
        file_size=header.file_size,
        block_crcs=[crc32c_of(f) for f in fragments],
    )
    assert chunk_path(node.disk, header.chunk_id).read_bytes() == chunk_bytes(header, fragments)
    assert await read_blocks(node, node.disk.disk_id, header.chunk_id) == fragments
    assert await node.storage.head_chunk(node.address, node.disk.disk_id, header.chunk_id) == header
    with pytest.raises(ChunkExistsError):
        await put(node, header)
    await node.storage.delete_chunk(node.address, node.disk.disk_id, header.chunk_id)
    with pytest.raises(NoSuchChunkError):
        await node.storage.head_chunk(node.address, node.disk.disk_id, header.chunk_id)
    with pytest.raises(NoSuchChunkError):
        await node.storage.delete_chunk(node.address, node.disk.disk_id, header.chunk_id)
    with pytest.raises(NoSuchChunkError):
        await read_blocks(node, node.disk.disk_id, header.chunk_id)


async def test_get_ranges(node: Node) -> None:
    header = make_header(segment_length=4 * 4096 + 3)
    fragments = await put(node, header)
    for first in range(5):
        for last in range(first, 5):
            got = await read_blocks(node, node.disk.disk_id, header.chunk_id, first, last)
            assert got == fragments[first : last + 1]
    assert await read_blocks(node, node.disk.disk_id, header.chunk_id, 3) == fragments[3:]
    with pytest.raises(InvalidInputError):
        await read_blocks(node, node.disk.disk_id, header.chunk_id, 2, 5)


async def test_range_response_headers(node: Node) -> None:
    header = make_header(segment_length=4 * 4096 + 3)
    fragments = await put(node, header)
    path = f"/v1/disks/{node.disk.disk_id}/chunks/{header.chunk_id}"
    query = {"first": "1", "last": "4"}
    async with node.client.session.get(
        node.url(path), params=query, headers=sign(SECRET, "GET", path, query.items())
    ) as resp:
        assert resp.status == 200
        assert resp.content_length == sum(len(f) for f in fragments[1:])
        assert "Transfer-Encoding" not in resp.headers
        echoed = resp.headers[CHUNK_HEADER_HEADER]
        assert msgspec.json.decode(base64.urlsafe_b64decode(echoed), type=ChunkHeader) == header
        assert await resp.read() == b"".join(fragments[1:])


async def test_large_blocks_stream_in_pieces(node: Node) -> None:
    header = make_header(codec="zfec", k=1, m=0, stripe_size=3 << 20, segment_length=(5 << 20) + 1)
    fragments = await put(node, header)
    assert [len(f) for f in fragments] == [3 << 20, (2 << 20) + 1]
    assert await read_blocks(node, node.disk.disk_id, header.chunk_id) == fragments


async def test_client_sends_content_length_and_signs(aiohttp_client: ClientFactory) -> None:
    seen: dict[str, Any] = {}

    async def handler(request: web.Request) -> web.Response:
        seen["headers"] = dict(request.headers)
        seen["body"] = await request.read()
        Verifier(SECRET).verify(
            request.headers.get(AUTH_HEADER), "PUT", request.path, request.rel_url.query.items()
        )
        header = msgspec.json.decode(
            base64.urlsafe_b64decode(request.headers[CHUNK_HEADER_HEADER]), type=ChunkHeader
        )
        return json_response(
            ChunkPutResult(
                chunk_id=header.chunk_id, disk_id="d", file_size=header.file_size, block_crcs=[]
            ),
            status=201,
        )

    app = web.Application()
    app.router.add_put("/v1/disks/{disk_id}/chunks/{chunk_id}", handler)
    client = await aiohttp_client(app)
    storage = StorageClient(client.session, SECRET)
    header = make_header()
    fragments = random_fragments(header)
    address = str(client.make_url("")).rstrip("/")
    await storage.put_chunk(address, new_id(), header, body_of(fragments, 100))
    assert seen["headers"]["Content-Length"] == str(header.payload_size)
    assert "Transfer-Encoding" not in seen["headers"]
    assert seen["body"] == b"".join(fragments)


# ---- corruption -------------------------------------------------------------------------------
async def test_corrupt_first_block_is_a_422(node: Node) -> None:
    header = make_header()
    await put(node, header)
    flip(chunk_path(node.disk, header.chunk_id), header.block_offset(0) + 1)
    with pytest.raises(CorruptChunkError):
        await read_blocks(node, node.disk.disk_id, header.chunk_id)
    path = f"/v1/disks/{node.disk.disk_id}/chunks/{header.chunk_id}"
    status, body = await raw(node, "GET", path)
    assert status == 422 and error_code(body) == "CorruptChunkError"
    # Other ranges of the same chunk still read.
    assert len(await read_blocks(node, node.disk.disk_id, header.chunk_id, 1, 3)) == 3


async def test_corrupt_later_block_cuts_the_stream(node: Node) -> None:
    header = make_header(segment_length=6 * 4096)
    fragments = await put(node, header)
    flip(chunk_path(node.disk, header.chunk_id), header.block_offset(4) + 7)
    async with node.storage.open_chunk(node.address, node.disk.disk_id, header.chunk_id) as reader:
        for j in range(4):
            assert await reader.read_block(j) == fragments[j]
        with pytest.raises(CorruptChunkError):
            await reader.read_block(4)
    # The node keeps serving.
    assert await read_blocks(node, node.disk.disk_id, header.chunk_id, 5, 5) == fragments[5:]
    result = await node.storage.verify_chunk(node.address, node.disk.disk_id, header.chunk_id)
    assert not result.ok and result.bad_blocks == [4]


async def test_corrupt_header_fails_head_and_verify(node: Node) -> None:
    header = make_header()
    await put(node, header)
    flip(chunk_path(node.disk, header.chunk_id), 20)
    with pytest.raises(CorruptChunkError):
        await node.storage.head_chunk(node.address, node.disk.disk_id, header.chunk_id)
    result = await node.storage.verify_chunk(node.address, node.disk.disk_id, header.chunk_id)
    assert not result.ok and "header" in result.error


async def test_verify_ok(node: Node) -> None:
    header = make_header()
    await put(node, header)
    result = await node.storage.verify_chunk(node.address, node.disk.disk_id, header.chunk_id)
    assert result.ok and result.bad_blocks == [] and result.chunk_id == header.chunk_id


# ---- management -------------------------------------------------------------------------------
async def test_inventory_paging(node: Node) -> None:
    ids = []
    for _ in range(12):
        header = make_header(segment_length=10)
        await put(node, header)
        ids.append(header.chunk_id)
    seen: list[str] = []
    after: str | None = None
    while True:
        page = await node.storage.inventory(node.address, node.disk.disk_id, after, 5)
        assert page.disk_id == node.disk.disk_id
        seen += [e.chunk_id for e in page.chunks]
        if page.next_after is None:
            break
        after = page.next_after
    assert seen == sorted(ids)
    other = await node.storage.inventory(node.address, node.disks.all()[1].disk_id, None, 5)
    assert other.chunks == [] and other.next_after is None


async def test_batch_delete(node: Node) -> None:
    a, b = node.disks.all()[0], node.disks.all()[1]
    h1, h2 = make_header(), make_header()
    await put(node, h1, a)
    await put(node, h2, b)
    ghost = new_id()
    result = await node.storage.delete_chunks(
        node.address,
        [
            ChunkRef(disk_id=a.disk_id, chunk_id=h1.chunk_id),
            ChunkRef(disk_id=b.disk_id, chunk_id=h2.chunk_id),
            ChunkRef(disk_id=b.disk_id, chunk_id=ghost),
        ],
    )
    assert len(result.deleted) == 2 and result.failed == []
    assert result.missing == [ChunkRef(disk_id=b.disk_id, chunk_id=ghost)]
    assert visible(a) == [] and visible(b) == []


# ---- bad input --------------------------------------------------------------------------------
async def test_bad_requests_change_nothing(node: Node) -> None:
    header = make_header()
    fragments = random_fragments(header)
    body = b"".join(fragments)
    disk_id = node.disk.disk_id
    path = f"/v1/disks/{disk_id}/chunks/{header.chunk_id}"
    good_header = {CHUNK_HEADER_HEADER: encode_header_value(header)}
    other = make_header()
    cases: list[tuple[str, dict[str, str], bytes, int, str]] = [
        (path, {}, body, 400, "InvalidInputError"),
        (path, {CHUNK_HEADER_HEADER: "%%%not-base64"}, body, 400, "InvalidInputError"),
        (path, {CHUNK_HEADER_HEADER: encode_header_value(other)}, body, 400, "InvalidInputError"),
        (path, good_header, body[:-1], 400, "IncompleteBodyError"),
        (path, good_header, body + b"x", 400, "InvalidInputError"),
        (f"/v1/disks/{disk_id}/chunks/NOT-AN-ID", good_header, body, 400, "InvalidInputError"),
        (f"/v1/disks/not-a-disk/chunks/{header.chunk_id}", good_header, body, 400, ""),
        (f"/v1/disks/{new_id()}/chunks/{header.chunk_id}", good_header, body, 404, ""),
    ]
    for url_path, headers, data, status, code in cases:
        got_status, got_body = await raw(node, "PUT", url_path, headers=headers, data=data)
        assert got_status == status, (url_path, headers.keys(), got_body)
        if code:
            assert error_code(got_body) == code
    assert all(visible(d) == [] for d in node.disks.all())
    assert all(os.listdir(d.tmp_dir) == [] for d in node.disks.all())
    with pytest.raises(NoSuchDiskError):
        await node.storage.inventory(node.address, new_id(), None, 5)
    with pytest.raises(InvalidInputError):
        await node.storage.inventory(node.address, disk_id, "../../etc", 5)
    await put(node, header)
    for query in ({"first": "x"}, {"first": "-1"}, {"last": "99"}, {"first": "3", "last": "1"}):
        status, body_ = await raw(node, "GET", path, query=query)
        assert status == 400 and error_code(body_) == "InvalidInputError"


async def test_chunked_bodies_are_counted(node: Node) -> None:
    """Without a Content-Length the store itself refuses a short or long body."""
    header = make_header()
    data = b"".join(random_fragments(header))
    path = f"/v1/disks/{node.disk.disk_id}/chunks/{header.chunk_id}"

    async def stream(payload: bytes) -> AsyncIterator[bytes]:
        for start in range(0, len(payload), 999):
            yield payload[start : start + 999]

    headers = {CHUNK_HEADER_HEADER: encode_header_value(header)}
    status, body = await raw(node, "PUT", path, headers=headers, data=stream(data[:-5]))
    assert status == 400 and error_code(body) == "IncompleteBodyError"
    status, body = await raw(node, "PUT", path, headers=headers, data=stream(data + b"12345"))
    assert status == 400 and error_code(body) == "InvalidInputError"
    assert visible(node.disk) == [] and os.listdir(node.disk.tmp_dir) == []
    status, body = await raw(node, "PUT", path, headers=headers, data=stream(data))
    assert status == 201


async def test_client_vanishing_mid_body_leaves_nothing(node: Node) -> None:
    header = make_header(segment_length=8 * 4096)
    fragments = random_fragments(header)
    path = f"/v1/disks/{node.disk.disk_id}/chunks/{header.chunk_id}"

    async def vanishing() -> AsyncIterator[bytes]:
        yield fragments[0]
        yield fragments[1]
        await asyncio.sleep(0.1)
        raise ConnectionAbortedError("client crashed")

    headers = {
        CHUNK_HEADER_HEADER: encode_header_value(header),
        "Content-Length": str(header.payload_size),
        **sign(SECRET, "PUT", path),
    }
    with pytest.raises((aiohttp.ClientError, ConnectionAbortedError)):
        async with node.client.session.put(node.url(path), headers=headers, data=vanishing()):
            pass
    await eventually(lambda: os.listdir(node.disk.tmp_dir) == [])
    assert visible(node.disk) == []
    # The id is still free.
    await node.storage.put_chunk(node.address, node.disk.disk_id, header, body_of(fragments))


# ---- authentication ---------------------------------------------------------------------------
async def test_unauthenticated_requests_change_nothing(node: Node) -> None:
    keep = make_header()
    await put(node, keep)
    header = make_header()
    body = b"".join(random_fragments(header))
    disk_id = node.disk.disk_id
    put_path = f"/v1/disks/{disk_id}/chunks/{header.chunk_id}"
    del_path = f"/v1/disks/{disk_id}/chunks/{keep.chunk_id}"
    put_headers = {CHUNK_HEADER_HEADER: encode_header_value(header)}
    batch = msgspec.json.encode({"chunks": [{"disk_id": disk_id, "chunk_id": keep.chunk_id}]})
    attempts: list[tuple[str, str, dict[str, str], bytes | None]] = [
        ("PUT", put_path, put_headers, body),
        ("DELETE", del_path, {}, None),
        ("POST", "/v1/chunks/delete", {"Content-Type": "application/json"}, batch),
        ("GET", del_path, {}, None),
        ("GET", "/v1/disks", {}, None),
    ]
    for method, path, headers, data in attempts:
        status, body_ = await raw(node, method, path, secret=None, headers=headers, data=data)
        assert status == 401 and error_code(body_) == "AuthError"
        status, body_ = await raw(
            node, method, path, secret=b"wrong secret", headers=headers, data=data
        )
        assert status == 403 and error_code(body_) == "ForbiddenError"
        status, body_ = await raw(
            node, method, path, headers=headers, data=data, now=time.time() - 3600
        )
        assert status == 403 and error_code(body_) == "ForbiddenError"
        mangled = {**headers, AUTH_HEADER: "v1 not a signature"}
        status, body_ = await raw(node, method, path, secret=None, headers=mangled, data=data)
        assert status == 401
    # Signed for one path, sent to another.
    signed = sign(SECRET, "DELETE", f"/v1/disks/{disk_id}/chunks/{new_id()}")
    status, _ = await raw(node, "DELETE", del_path, secret=None, headers=signed)
    assert status == 403
    assert [p.stem for p in visible(node.disk)] == [keep.chunk_id]


async def test_replayed_request_is_refused(node: Node) -> None:
    header = make_header()
    await put(node, header)
    path = f"/v1/disks/{node.disk.disk_id}/chunks/{header.chunk_id}"
    captured = sign(SECRET, "DELETE", path)
    status, _ = await raw(node, "DELETE", path, secret=None, headers=captured)
    assert status == 204
    await put(node, header)  # the chunk is back
    status, body = await raw(node, "DELETE", path, secret=None, headers=captured)
    assert status == 403 and error_code(body) == "ForbiddenError"
    assert len(visible(node.disk)) == 1


# ---- failing and full disks -------------------------------------------------------------------
async def test_offline_disk_and_others_serve(node: Node) -> None:
    bad, good = node.disks.all()[0], node.disks.all()[1]
    bad.fail(OSError(5, "Input/output error"), "test")
    header = make_header()
    with pytest.raises(DiskOfflineError):
        await put(node, header, bad)
    with pytest.raises(DiskOfflineError):
        await read_blocks(node, bad.disk_id, header.chunk_id)
    fragments = await put(node, header, good)
    assert await read_blocks(node, good.disk_id, header.chunk_id) == fragments
    health = await node.storage.health(node.address)
    assert (health.status, health.disks_online) == ("degraded", 2)
    listing = await node.storage.disks(node.address)
    bad_info = next(d for d in listing.disks if d.disk_id == bad.disk_id)
    assert bad_info.state == "offline" and "Input/output error" in bad_info.error


async def test_full_disk_is_507(node: Node) -> None:
    node.disk.reserved_bytes = 1 << 62
    header = make_header()
    path = f"/v1/disks/{node.disk.disk_id}/chunks/{header.chunk_id}"
    status, body = await raw(
        node,
        "PUT",
        path,
        headers={CHUNK_HEADER_HEADER: encode_header_value(header)},
        data=b"".join(random_fragments(header)),
    )
    assert status == 507 and error_code(body) == "DiskFullError"
    with pytest.raises(DiskFullError):
        await put(node, header)
    assert (await node.storage.disks(node.address)).disks[0].state == "full"
    assert visible(node.disk) == []


async def test_unreachable_node_is_unavailable(node: Node) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{sock.getsockname()[1]}"
    with pytest.raises(UnavailableError):
        await node.storage.health(dead)
    with pytest.raises(UnavailableError):
        await read_blocks(Node(node.client, dead, node.storage, node.app), new_id(), new_id())
    with pytest.raises(UnavailableError):
        await node.storage.put_chunk(dead, new_id(), make_header(), body_of([b"x"]))
