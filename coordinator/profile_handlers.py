"""HTTP handlers of the storage-class routes: exactly those of ``wormfs.wire.profiles``.

Layer: coordinator, the top; below it only the repositories. Each handler parses the request,
calls one method of ``Repository.profiles`` and answers with the wire struct; domain errors
(``InvalidInputError``, ``NoSuchProfileError``, ``ProfileExistsError``, ``ProfileInUseError``,
``InvalidStorageClassError``) reach the internal middleware, which answers them typed.
"""

from __future__ import annotations

from aiohttp import web

from wormfs.coordinator.handlers import REPO
from wormfs.internal.http import json_response, read_json
from wormfs.wire.profiles import BucketClass, ProfileSpec


async def list_profiles(request: web.Request) -> web.Response:
    return json_response(await request.app[REPO].profiles.list())


async def create_profile(request: web.Request) -> web.Response:
    spec = await read_json(request, ProfileSpec)
    return json_response(await request.app[REPO].profiles.create(spec))


async def get_profile(request: web.Request) -> web.Response:
    return json_response(await request.app[REPO].profiles.get(request.match_info["name"]))


async def delete_profile(request: web.Request) -> web.Response:
    await request.app[REPO].profiles.delete(request.match_info["name"])
    return web.Response(status=204)


async def get_bucket_class(request: web.Request) -> web.Response:
    found = await request.app[REPO].profiles.bucket_class(request.match_info["bucket"])
    return json_response(found)


async def set_bucket_class(request: web.Request) -> web.Response:
    req = await read_json(request, BucketClass)
    done = await request.app[REPO].profiles.set_bucket_class(request.match_info["bucket"], req)
    return json_response(done)


def add_profile_routes(app: web.Application) -> None:
    app.router.add_routes(
        [
            web.get("/v1/profiles", list_profiles),
            web.post("/v1/profiles", create_profile),
            web.get("/v1/profiles/{name}", get_profile),
            web.delete("/v1/profiles/{name}", delete_profile),
            web.get("/v1/buckets/{bucket}/storage-class", get_bucket_class),
            web.put("/v1/buckets/{bucket}/storage-class", set_bucket_class),
        ]
    )
