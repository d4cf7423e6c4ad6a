"""HTTP handlers of the file namespace: exactly the routes of ``wormfs.wire.fs``.

Layer: coordinator, the top; below it only the repositories (``Repository.namespace``). Each
handler parses the request (bucket in the path; paths, tokens and the owner in the query
string or the typed JSON body), calls one repository method and answers with the wire struct
or 204; domain errors travel up to ``wormfs.internal.http.internal_middleware``.
"""

from __future__ import annotations

from aiohttp import web

from wormfs.coordinator.db.namespace_repo import Namespace
from wormfs.coordinator.handlers import REPO
from wormfs.errors import InvalidInputError
from wormfs.internal.http import json_response, read_json
from wormfs.wire.fs import MakeEntry, RemoveEntry, RenameEntry, SetAttributes, SetXattr


def _fs(request: web.Request) -> Namespace:
    return request.app[REPO].namespace


def _bucket(request: web.Request) -> str:
    return request.match_info["bucket"]


def _query(request: web.Request, name: str) -> str:
    value = request.query.get(name)
    if value is None:
        raise InvalidInputError(f"query parameter {name} is required")
    return value


def _limit(request: web.Request) -> int:
    raw = request.query.get("limit") or "1000"
    try:
        return int(raw)
    except ValueError:
        raise InvalidInputError("query parameter limit must be an integer") from None


def _no_content() -> web.Response:
    return web.Response(status=204)


async def entry(request: web.Request) -> web.Response:
    owner, path = _query(request, "owner_id"), _query(request, "path")
    return json_response(await _fs(request).entry(_bucket(request), owner, path))


async def entries(request: web.Request) -> web.Response:
    owner, directory = _query(request, "owner_id"), _query(request, "dir")
    token = request.query.get("token") or None
    page = await _fs(request).entries(_bucket(request), owner, directory, token, _limit(request))
    return json_response(page)


async def mkdir(request: web.Request) -> web.Response:
    req = await read_json(request, MakeEntry)
    return json_response(await _fs(request).mkdir(_bucket(request), req))


async def create(request: web.Request) -> web.Response:
    req = await read_json(request, MakeEntry)
    return json_response(await _fs(request).create(_bucket(request), req))


async def remove(request: web.Request) -> web.Response:
    req = await read_json(request, RemoveEntry)
    await _fs(request).remove(_bucket(request), req)
    return _no_content()


async def set_attributes(request: web.Request) -> web.Response:
    req = await read_json(request, SetAttributes)
    return json_response(await _fs(request).setattr(_bucket(request), req))


async def rename(request: web.Request) -> web.Response:
    req = await read_json(request, RenameEntry)
    await _fs(request).rename(_bucket(request), req)
    return _no_content()


async def xattrs(request: web.Request) -> web.Response:
    owner, path = _query(request, "owner_id"), _query(request, "path")
    return json_response(await _fs(request).xattrs(_bucket(request), owner, path))


async def set_xattr(request: web.Request) -> web.Response:
    req = await read_json(request, SetXattr)
    await _fs(request).set_xattr(_bucket(request), req)
    return _no_content()


async def remove_xattr(request: web.Request) -> web.Response:
    owner, path, name = (_query(request, n) for n in ("owner_id", "path", "name"))
    await _fs(request).remove_xattr(_bucket(request), owner, path, name)
    return _no_content()


async def stats(request: web.Request) -> web.Response:
    return json_response(await _fs(request).stats())


def add_fs_routes(app: web.Application) -> None:
    base = "/v1/fs/{bucket}"
    app.router.add_routes(
        [
            web.get(f"{base}/entry", entry),
            web.get(f"{base}/entries", entries),
            web.post(f"{base}/mkdir", mkdir),
            web.post(f"{base}/create", create),
            web.post(f"{base}/remove", remove),
            web.post(f"{base}/setattr", set_attributes),
            web.post(f"{base}/rename", rename),
            web.get(f"{base}/xattrs", xattrs),
            web.post(f"{base}/xattrs", set_xattr),
            web.delete(f"{base}/xattrs", remove_xattr),
            web.get("/v1/fs/stats", stats),
        ]
    )
