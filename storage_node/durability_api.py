"""Storage node, HTTP tier of the durability work: rebuild, consistency and deep-scrub routes.

Routes (``wormfs.wire.repair``): ``POST /v1/repair/rebuild`` (``RebuildTask`` ->
``ChunkPutResult``), ``POST /v1/repair/check`` (``ConsistencyCheck`` -> ``ConsistencyResult``)
and ``POST /v1/disks/{disk_id}/scrub`` (``ScrubBatch`` -> ``ScrubBatchResult``). All are
authenticated by the node's internal middleware like every other route. ``setup_durability``
adds them and a cleanup context holding the HTTP session the rebuilds and checks read their
sources with; the chunk store comes from the app under the key the node's app module gives
(this module never imports the app module).
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
from aiohttp import web

from wormfs.clients.storage import StorageClient
from wormfs.errors import InvalidInputError
from wormfs.ids import is_id
from wormfs.internal.http import json_response, read_json
from wormfs.storage_node.chunkstore import ChunkStore
from wormfs.storage_node.consistency import check_segment
from wormfs.storage_node.rebuild import Rebuilder
from wormfs.storage_node.scrub import scrub_batch
from wormfs.wire.repair import ConsistencyCheck, RebuildTask, ScrubBatch

REBUILDER_KEY = web.AppKey("rebuilder", Rebuilder)
CHECK_CLIENT_KEY = web.AppKey("consistency_storage_client", StorageClient)


def setup_durability(
    app: web.Application, store_key: web.AppKey[ChunkStore], secret_key: web.AppKey[bytes]
) -> None:
    """Add the routes and the rebuild session (after the app's disks context)."""

    async def rebuilder_ctx(app: web.Application) -> AsyncIterator[None]:
        connector = aiohttp.TCPConnector(limit=0, limit_per_host=0)
        async with aiohttp.ClientSession(connector=connector, auto_decompress=False) as session:
            storage = StorageClient(session, app[secret_key])
            app[REBUILDER_KEY] = Rebuilder(app[store_key], storage)
            app[CHECK_CLIENT_KEY] = storage
            yield

    async def rebuild(request: web.Request) -> web.Response:
        task = await read_json(request, RebuildTask)
        return json_response(await request.app[REBUILDER_KEY].rebuild(task))

    async def check(request: web.Request) -> web.Response:
        task = await read_json(request, ConsistencyCheck)
        return json_response(await check_segment(request.app[CHECK_CLIENT_KEY], task))

    async def scrub(request: web.Request) -> web.Response:
        disk_id = request.match_info["disk_id"]
        if not is_id(disk_id):
            raise InvalidInputError(f"{disk_id[:64]!r} is not a disk id")
        batch = await read_json(request, ScrubBatch)
        return json_response(await scrub_batch(request.app[store_key], disk_id, batch))

    app.cleanup_ctx.append(rebuilder_ctx)
    app.router.add_post("/v1/repair/rebuild", rebuild)
    app.router.add_post("/v1/repair/check", check)
    app.router.add_post("/v1/disks/{disk_id}/scrub", scrub)
