"""Storage node, HTTP tier: the storage-node API of ``wormfs.wire.storage`` over the chunk store.

Exactly the routes listed in ``wormfs.wire.storage`` (and ``GET /metrics``, public:
``wormfs.storage_node.metrics``), every one authenticated by
``wormfs.internal.http.internal_middleware``, which also turns domain errors into ``ErrorBody``
answers with the error's status. Handlers validate ids (they name files) and hand over to the
``ChunkStore``; they never touch a file themselves.

* PUT streams the body into the store piece by piece (``readchunk``: the buffers the parser
  made, uncopied), so memory per request is about two write batches (``WRITE_BATCH`` in
  ``chunkstore``) whatever the chunk's size.
* GET verifies the first block before the status line goes out (a corrupt chunk gets a proper
  422 body), then streams block by block, at most 1 MiB per write. A later block that fails its
  checksum cannot change the status any more: the connection is closed, and the client sees a
  body shorter than its Content-Length.

State lives on the application under typed keys; the disks (with their thread pools), the
coordinator session and the background tasks are cleanup contexts, so a SIGTERM (handled by
``wormfs.runtime.bootstrap``) stops heartbeats, closes sessions and joins the disk threads.
"""

from __future__ import annotations

import asyncio
import logging
import pathlib
from collections.abc import AsyncIterator
from typing import Literal

import aiohttp
from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError

from wormfs.config import StorageNodeConfig
from wormfs.errors import IncompleteBodyError, InvalidInputError, WormError
from wormfs.format.chunkformat import blocks_payload_size
from wormfs.ids import is_id
from wormfs.internal.auth import Verifier
from wormfs.internal.http import internal_middleware, json_response, read_json
from wormfs.runtime.bootstrap import serve
from wormfs.runtime.metrics import metrics_response
from wormfs.storage_node.chunkstore import ChunkStore, validate_header
from wormfs.storage_node.coordination import CoordinatorLink, DiskProber, disk_infos
from wormfs.storage_node.disks import DiskSet
from wormfs.storage_node.durability_api import setup_durability
from wormfs.storage_node.metrics import node_exposition
from wormfs.wire.storage import (
    CHUNK_HEADER_HEADER,
    DeleteChunks,
    DiskList,
    NodeHealth,
    decode_header_value,
    encode_header_value,
)

log = logging.getLogger(__name__)

CONFIG_KEY = web.AppKey("storage_node_config", StorageNodeConfig)
SECRET_KEY = web.AppKey("cluster_secret", bytes)
DISKS_KEY = web.AppKey("disks", DiskSet)
STORE_KEY = web.AppKey("chunk_store", ChunkStore)
PROBER_KEY = web.AppKey("disk_prober", DiskProber)
LINK_KEY = web.AppKey("coordinator_link", CoordinatorLink)

MAX_WRITE = 1024 * 1024
MAX_BATCH_DELETE = 10_000
DEFAULT_INVENTORY_LIMIT = 1000
OCTET_STREAM = "application/octet-stream"
CHUNK_ROUTE = "/v1/disks/{disk_id}/chunks/{chunk_id}"


# ---- request parsing --------------------------------------------------------------------------
def _disk_id(request: web.Request) -> str:
    disk_id = request.match_info["disk_id"]
    if not is_id(disk_id):
        raise InvalidInputError(f"{disk_id[:64]!r} is not a disk id")
    return disk_id


def _chunk_ids(request: web.Request) -> tuple[str, str]:
    chunk_id = request.match_info["chunk_id"]
    if not is_id(chunk_id):
        raise InvalidInputError(f"{chunk_id[:64]!r} is not a chunk id")
    return _disk_id(request), chunk_id


def _int_param(request: web.Request, name: str) -> int | None:
    value = request.query.get(name)
    if value is None or value == "":
        return None
    if not value.isdigit() or len(value) > 12:
        raise InvalidInputError(f"{name} must be a non-negative integer")
    return int(value)


async def _body(request: web.Request) -> AsyncIterator[bytes]:
    """The request body as the socket delivers it; an interrupted body is IncompleteBody.

    ``readchunk`` hands over the buffers the parser produced one by one; ``readany`` would
    join all those already waiting into one fresh copy first.
    """
    content = request.content
    while True:
        try:
            piece, end_of_http_chunk = await content.readchunk()
        except (ConnectionError, aiohttp.ClientPayloadError, HttpProcessingError) as exc:
            raise IncompleteBodyError(f"chunk body interrupted: {exc}") from exc
        if piece:
            yield piece
        elif not end_of_http_chunk:  # (b"", False) is the end of the body
            return


# ---- handlers ---------------------------------------------------------------------------------
async def metrics(request: web.Request) -> web.Response:
    """``GET /metrics``: the node's disk series (public, like ``/healthz``)."""
    return metrics_response(await node_exposition(request.app[DISKS_KEY]))


async def health(request: web.Request) -> web.Response:
    disks = request.app[DISKS_KEY].all()
    online = sum(1 for d in disks if d.online)
    status: Literal["ok", "degraded"] = "ok" if online == len(disks) else "degraded"
    return json_response(
        NodeHealth(
            node_id=request.app[DISKS_KEY].node_id,
            status=status,
            disks_online=online,
            disks_total=len(disks),
        )
    )


async def list_disks(request: web.Request) -> web.Response:
    disks = request.app[DISKS_KEY]
    return json_response(DiskList(node_id=disks.node_id, disks=await disk_infos(disks)))


async def put_chunk(request: web.Request) -> web.Response:
    disk_id, chunk_id = _chunk_ids(request)
    header = decode_header_value(request.headers.get(CHUNK_HEADER_HEADER))
    if header.chunk_id != chunk_id:
        raise InvalidInputError(f"header names chunk {header.chunk_id}, the path {chunk_id}")
    validate_header(header)
    expected = blocks_payload_size(header, 0, header.block_count - 1)
    length = request.content_length
    # Refuse a wrong announced length before any byte is written (a chunked body is
    # counted by the store as it arrives instead).
    if length is not None and length < expected:
        raise IncompleteBodyError(f"a body of {length} bytes is short of the chunk's {expected}")
    if length is not None and length > expected:
        raise InvalidInputError(f"a body of {length} bytes exceeds the chunk's {expected}")
    result = await request.app[STORE_KEY].put(disk_id, header, _body(request))
    return json_response(result, status=201)


async def get_chunk(request: web.Request) -> web.StreamResponse:
    disk_id, chunk_id = _chunk_ids(request)
    first, last = _int_param(request, "first"), _int_param(request, "last")
    store = request.app[STORE_KEY]
    async with store.open_reader(disk_id, chunk_id, first, last) as reader:
        data = await reader.read_block(reader.first)  # a bad first block is a plain 422
        response = web.StreamResponse(
            status=200,
            headers={
                CHUNK_HEADER_HEADER: encode_header_value(reader.header),
                "Content-Type": OCTET_STREAM,
            },
        )
        response.content_length = reader.payload_size
        block = reader.first
        try:
            await response.prepare(request)
            while True:
                for start in range(0, len(data), MAX_WRITE):
                    await response.write(data[start : start + MAX_WRITE])
                if block == reader.last:
                    break
                block += 1
                data = await reader.read_block(block)
            await response.write_eof()
        except WormError as exc:
            log.error(
                "chunk %s on disk %s: block %d unreadable mid-stream; cutting the stream: %s",
                chunk_id,
                disk_id,
                block,
                exc,
            )
            _cut(request, response)
            return response
        except ConnectionError:
            return response  # the client went away (before the status line, or during)
        return response


def _cut(request: web.Request, response: web.StreamResponse) -> None:
    """End a response whose status is already sent: flush what was sent, then close."""
    response.force_close()
    if request.transport is not None:
        request.transport.close()


async def head_chunk(request: web.Request) -> web.Response:
    disk_id, chunk_id = _chunk_ids(request)
    header = await request.app[STORE_KEY].head(disk_id, chunk_id)
    return web.Response(status=200, headers={CHUNK_HEADER_HEADER: encode_header_value(header)})


async def delete_chunk(request: web.Request) -> web.Response:
    disk_id, chunk_id = _chunk_ids(request)
    await request.app[STORE_KEY].delete(disk_id, chunk_id)
    return web.Response(status=204)


async def delete_chunks(request: web.Request) -> web.Response:
    batch = await read_json(request, DeleteChunks)
    if len(batch.chunks) > MAX_BATCH_DELETE:
        raise InvalidInputError(f"at most {MAX_BATCH_DELETE} chunks per batch delete")
    for ref in batch.chunks:
        if not is_id(ref.disk_id):
            raise InvalidInputError(f"{ref.disk_id[:64]!r} is not a disk id")
    return json_response(await request.app[STORE_KEY].delete_many(batch.chunks))


async def inventory(request: web.Request) -> web.Response:
    disk_id = _disk_id(request)
    after = request.query.get("after") or None
    limit = _int_param(request, "limit")
    page = await request.app[STORE_KEY].inventory(
        disk_id, after, DEFAULT_INVENTORY_LIMIT if limit is None else limit
    )
    return json_response(page)


async def verify_chunk(request: web.Request) -> web.Response:
    disk_id, chunk_id = _chunk_ids(request)
    return json_response(await request.app[STORE_KEY].verify(disk_id, chunk_id))


# ---- wiring -----------------------------------------------------------------------------------
async def _disks_ctx(app: web.Application) -> AsyncIterator[None]:
    config = app[CONFIG_KEY]
    disks = await asyncio.to_thread(
        DiskSet.open,
        config.disks,
        config.state_dir,
        config.reserved_bytes,
        adopt=config.adopt_disks,
    )
    app[DISKS_KEY] = disks
    app[STORE_KEY] = ChunkStore(disks)
    prober = DiskProber(disks, config.heartbeat_interval)
    app[PROBER_KEY] = prober
    prober.start()
    log.info(
        "node %s serving %d disks (%d online)",
        disks.node_id,
        len(disks.all()),
        sum(1 for d in disks.all() if d.online),
    )
    try:
        yield
    finally:
        await prober.close()
        await asyncio.to_thread(disks.close)


async def _coordinator_ctx(app: web.Application) -> AsyncIterator[None]:
    config = app[CONFIG_KEY]
    async with aiohttp.ClientSession() as session:
        link = CoordinatorLink(
            session,
            config.coordinator_url,
            app[SECRET_KEY],
            app[DISKS_KEY],
            heartbeat_interval=config.heartbeat_interval,
            rack=config.rack,
            zone=config.zone,
            zookeeper_hosts=config.zookeeper_hosts,
            zookeeper_path=config.zookeeper_path,
        )
        app[LINK_KEY] = link
        try:
            yield
        finally:
            await link.close()


async def create_app(config: StorageNodeConfig, secret: bytes) -> web.Application:
    """The storage-node application (nothing is opened until it starts)."""
    app = web.Application(middlewares=[internal_middleware(Verifier(secret))])
    app[CONFIG_KEY] = config
    app[SECRET_KEY] = secret
    app.cleanup_ctx.append(_disks_ctx)
    app.cleanup_ctx.append(_coordinator_ctx)
    app.router.add_get("/v1/health", health)
    app.router.add_get("/metrics", metrics)
    app.router.add_get("/v1/disks", list_disks)
    app.router.add_put(CHUNK_ROUTE, put_chunk)
    app.router.add_get(CHUNK_ROUTE, get_chunk, allow_head=False)
    app.router.add_head(CHUNK_ROUTE, head_chunk)
    app.router.add_delete(CHUNK_ROUTE, delete_chunk)
    app.router.add_post("/v1/chunks/delete", delete_chunks)
    app.router.add_get("/v1/disks/{disk_id}/inventory", inventory)
    app.router.add_post(CHUNK_ROUTE + "/verify", verify_chunk)
    setup_durability(app, STORE_KEY, SECRET_KEY)  # rebuild and deep-scrub routes
    return app


async def start_coordinator_link(app: web.Application, bound_url: str) -> None:
    """``after_start`` hook: register with the coordinator, then heartbeat in the background.

    One quick attempt inline, so that a node whose ready file exists is already known to a
    running coordinator; after that, retries happen in the background and never block
    serving (the coordinator may start later).
    """
    config = app[CONFIG_KEY]
    if not config.coordinator_url and not config.zookeeper_hosts:
        log.warning("no coordinator_url: this node will not register")
        return
    link = app[LINK_KEY]
    address = config.advertise_address or bound_url
    try:
        await link.register(address, timeout=3.0)
    except WormError as exc:
        log.warning("coordinator not reachable yet (%s); retrying in the background", exc)
    link.start(address)


def run(config: StorageNodeConfig, secret: bytes, ready_file: pathlib.Path | None) -> None:
    """Serve a storage node until SIGTERM/SIGINT (the ready file names its address).

    ``wormfs.runtime.startup`` has tuned malloc first: blocks and body pieces are a few hundred
    KiB each, and freed ones are kept for reuse."""

    async def factory() -> web.Application:
        return await create_app(config, secret)

    serve(
        factory,
        config.listen.host,
        config.listen.port,
        ready_file,
        after_start=start_coordinator_link,
    )
