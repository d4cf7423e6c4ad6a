"""The admin listener: an aiohttp application on its own address, built from the route table.

Layer: coordinator admin package, the top (the coordinator's ``app`` uses it). Contract:

* ``admin_ctx`` is a cleanup context of the coordinator's application (after the database's):
  it puts the admin token and audit repositories on the coordinator app (``routes.TOKENS``,
  ``routes.AUDIT``), adds the configured ``admin_token`` (``AdminTokens.ensure``), and when
  ``admin_listen`` is set serves ``build_admin_app`` there (port 0 picks one), publishing the
  base URL under ``ADMIN_URL`` and, when the coordinator has a ready file, in
  ``<ready file stem>.admin.json`` (``{"address", "host", "port", "pid"}``), written before the
  coordinator's own ready file. Without ``admin_listen`` nothing listens.
* ``build_admin_app(core, routes, mounts)`` makes the application: every ``Route`` under
  ``/admin/v1`` (``openapi.json`` among them), and each mount (a function of the admin app
  and the coordinator app: the web UI, ``/metrics``) adds what it serves.
* Every answer carries ``x-request-id``: the incoming one when it is a short token of letters,
  digits and dashes (``wormfs.internal.requestid``), else a new one; it is bound for the call,
  so its log lines and the internal requests it makes carry it too. Errors are ``ErrorBody``
  JSON with the error's status; an unknown path is ``NoSuchRoute`` (404), a known path with
  another method ``MethodNotAllowed`` (405); anything unexpected is ``InternalError`` (500),
  logged with its traceback and the request id.
* Auth: ``Authorization: Bearer TOKEN`` on every route whose scope is not ``none``; missing,
  unknown, expired or revoked -> 401 ``Unauthorized`` (with ``WWW-Authenticate: Bearer``); a
  ``read`` token on an ``admin`` route -> 403 ``AccessDenied``. The token is never logged.
* Audit: an authenticated call runs through ``calling.run_audited`` (scope, decoding, the
  handler), so every call of a mutating route writes exactly one row with its outcome; a
  mutating call refused 401 writes none and is logged at WARNING instead
  (``calling.refuse_unauthenticated``).
* With ZooKeeper, a coordinator that is not the leader answers every route but health and
  the OpenAPI document with 307 to the same path on the leader's admin address (the leader
  publishes it with its record), or ``NotLeader`` (503) while no leader is known.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import AsyncIterator, Callable, Sequence
from pathlib import Path
from typing import Any

import msgspec
from aiohttp import web
from aiohttp.typedefs import Handler as AiohttpHandler

from wormfs.config import CoordinatorConfig
from wormfs.coordinator.admin import calling
from wormfs.coordinator.admin.errors import ErrorBody, admin_error
from wormfs.coordinator.admin.health import installed_version
from wormfs.coordinator.admin.openapi import document
from wormfs.coordinator.admin.routes import (
    ADMIN_CONFIG,
    AUDIT,
    PREFIX,
    TOKENS,
    VIEWS,
    AdminCall,
    Route,
)
from wormfs.coordinator.db.admin_tokens import AdminTokenInfo, AdminTokens
from wormfs.coordinator.db.admin_views import AdminViews
from wormfs.coordinator.db.audit import AuditLog
from wormfs.coordinator.election import ELECTION
from wormfs.coordinator.handlers import REPO
from wormfs.errors import (
    AuthError,
    InvalidInputError,
    NotLeaderError,
    WormError,
)
from wormfs.ids import new_request_id
from wormfs.internal import requestid
from wormfs.runtime.bootstrap import admin_ready_file, bound_port, write_ready_file
from wormfs.wire.common import JSON_TYPE, MAX_JSON_BODY

log = logging.getLogger(__name__)

REQUEST_ID_HEADER = "x-request-id"
# The name the configured (``wormfs server``'s first) token is stored under.
CONFIGURED_TOKEN_NAME = "initial"

ADMIN_URL = web.AppKey("admin_url", str)
ADMIN_APP = web.AppKey("admin_app", web.Application)  # on the coordinator app, when served
CORE = web.AppKey("core", web.Application)
ROUTES = web.AppKey("admin_routes", tuple)
REQUEST_ID = web.RequestKey("request_id", str)

Mount = Callable[[web.Application, web.Application], None]


def _request_id(incoming: str | None) -> str:
    return incoming if incoming is not None and requestid.valid(incoming) else new_request_id()


def error_response(
    status: int, body: ErrorBody, headers: dict[str, str] | None = None
) -> web.Response:
    return web.Response(
        body=msgspec.json.encode(body), status=status, content_type=JSON_TYPE, headers=headers
    )


@web.middleware
async def _admin_middleware(request: web.Request, handler: AiohttpHandler) -> web.StreamResponse:
    request_id = _request_id(request.headers.get(REQUEST_ID_HEADER))
    request[REQUEST_ID] = request_id
    try:
        # Bound for the call: its log lines, and the internal requests it makes, carry it.
        with requestid.bound(request_id):
            response = await handler(request)
    except WormError as exc:
        status, body = admin_error(exc, request_id)
        extra = {"WWW-Authenticate": "Bearer"} if isinstance(exc, AuthError) else None
        response = error_response(status, body, extra)
    except web.HTTPException as exc:
        if exc.status < 400:  # the follower's redirect
            exc.headers[REQUEST_ID_HEADER] = request_id
            raise
        code = {404: "NoSuchRoute", 405: "MethodNotAllowed"}.get(exc.status, "BadRequest")
        message = f"{request.method} {request.path}: {exc.reason}"
        response = error_response(exc.status, ErrorBody(code, message, request_id))
    except Exception:
        log.exception(
            "admin API: internal error in %s %s [%s]", request.method, request.path, request_id
        )
        message = f"internal error, request id {request_id}"
        response = error_response(500, ErrorBody("InternalError", message, request_id))
    response.headers[REQUEST_ID_HEADER] = request_id
    return response


def bearer_token(request: web.Request) -> str:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise AuthError("this call needs an admin token: Authorization: Bearer TOKEN")
    return token.strip()


async def authenticate(core: web.Application, request: web.Request) -> AdminTokenInfo:
    """The valid token the request carries (``AuthError`` when none)."""
    tokens = core[TOKENS]
    now = time.time()
    info = await tokens.authenticate(bearer_token(request), now)
    if core[REPO].db.accepting_writes:  # a follower cannot write; the leader records it
        await tokens.touch(info, now)
    return info


def _decode_query(route: Route, request: web.Request) -> Any:
    if route.query is None:
        return None
    try:
        return msgspec.convert(dict(request.query), route.query, strict=False)
    except msgspec.ValidationError as exc:
        raise InvalidInputError(f"bad query: {exc}") from None


async def _decode_body(route: Route, request: web.Request) -> Any:
    if route.request is None:
        return None
    data = await request.content.read(MAX_JSON_BODY + 1)
    if len(data) > MAX_JSON_BODY:
        raise InvalidInputError("JSON body too large")
    try:
        return msgspec.json.decode(data or b"{}", type=route.request)
    except (msgspec.ValidationError, msgspec.DecodeError) as exc:
        raise InvalidInputError(f"bad request body: {exc}") from None


def _default_target(request: web.Request) -> str:
    return request.path.removeprefix(PREFIX).strip("/")


def follow_leader(core: web.Application, request: web.Request) -> None:
    """On a follower, 307 to the same path on the leader's admin address (``NotLeaderError``
    while no leader is known): the leader alone runs the jobs and writes the database."""
    election = core.get(ELECTION)
    if election is None or election.serving:
        return
    leader = election.leader_admin_address
    if not leader or leader == core.get(ADMIN_URL):
        raise NotLeaderError("this coordinator is not the leader, and no leader is known")
    raise web.HTTPTemporaryRedirect(leader.rstrip("/") + request.path_qs)


def _endpoint(route: Route) -> Callable[[web.Request], Any]:
    async def decode(call: AdminCall) -> None:
        call.query = _decode_query(route, call.request)
        call.body = await _decode_body(route, call.request)

    async def endpoint(request: web.Request) -> web.StreamResponse:
        core = request.app[CORE]
        if route.scope != "none":  # health and the document answer locally
            follow_leader(core, request)
        call = AdminCall(
            request=request,
            core=core,
            request_id=request[REQUEST_ID],
            actor=None,
            target=_default_target(request),
            bucket=request.match_info.get("bucket"),
        )
        if route.scope != "none":
            try:
                call.actor = await authenticate(core, request)
            except AuthError as exc:
                calling.refuse_unauthenticated(route, call, exc)
                raise
        value = await calling.run_audited(route, call, decode)
        if value is None and route.response is None:
            return web.Response(status=204, headers=call.headers)
        return web.Response(
            body=msgspec.json.encode(value),
            status=call.status or route.status,
            content_type=JSON_TYPE,
            headers=call.headers,
        )

    return endpoint


def build_admin_app(
    core: web.Application, routes: Sequence[Route], mounts: Sequence[Mount] = ()
) -> web.Application:
    app = web.Application(middlewares=[_admin_middleware], client_max_size=MAX_JSON_BODY)
    app[CORE] = core
    app[ROUTES] = tuple(routes)
    for route in routes:
        app.router.add_route(
            route.method, route.full_path, _endpoint(route), name=route.operation_id
        )
    for mount in mounts:
        mount(app, core)
    return app


async def openapi_document(call: AdminCall) -> dict[str, Any]:
    """Handler of GET /admin/v1/openapi.json (registered in ``table``)."""
    routes = call.request.app[ROUTES]
    version = await asyncio.to_thread(installed_version)
    return document(routes, version)


async def ensure_configured_token(core: web.Application, config: CoordinatorConfig) -> None:
    """Add the configured ``admin_token`` (a leader's duty: it is a write)."""
    if config.admin_token:
        await core[TOKENS].ensure(CONFIGURED_TOKEN_NAME, config.admin_token)


def admin_ctx(
    config: CoordinatorConfig,
    routes: Sequence[Route],
    mounts: Sequence[Mount],
    ready_file: Path | None,
) -> Callable[[web.Application], AsyncIterator[None]]:
    async def ctx(core: web.Application) -> AsyncIterator[None]:
        db = core[REPO].db
        core[TOKENS] = AdminTokens(db)
        core[AUDIT] = AuditLog(db)
        core[VIEWS] = AdminViews(db, config.node_offline_after)
        core[ADMIN_CONFIG] = config
        if db.accepting_writes:  # alone; with ZooKeeper, Office.take_office does it
            await ensure_configured_token(core, config)
        listen = config.admin_listen
        if listen is None:
            yield
            return
        admin_app = build_admin_app(core, routes, mounts)
        core[ADMIN_APP] = admin_app
        runner = web.AppRunner(admin_app, access_log=None, shutdown_timeout=5.0)
        await runner.setup()
        try:
            site = web.TCPSite(runner, listen.host, listen.port, backlog=128)
            await site.start()
            port = bound_port(runner)
            url = f"http://{listen.host}:{port}"
            core[ADMIN_URL] = url
            log.info("admin API on %s%s", url, PREFIX)
            if ready_file is not None:
                info = {"address": url, "host": listen.host, "port": port, "pid": os.getpid()}
                await asyncio.to_thread(write_ready_file, admin_ready_file(ready_file), info)
            yield
        finally:
            await runner.cleanup()

    return ctx
