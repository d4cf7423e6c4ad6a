"""The UI calls the admin API's own handlers: same service code, same schemas, same audit.

Layer: coordinator UI, just above ``wormfs.coordinator.admin`` (whose route table it reads).
Contract:

* ``route(request, method, path)`` finds the admin API's ``Route`` among those the admin app
  serves (``admin.server.ROUTES``: the table ``admin.table.TABLE``) by its method and path
  under ``/admin/v1`` (e.g. ``("POST", "/buckets")``); ``None`` when it is not served (a
  resource this coordinator does not have).
* ``invoke(request, route, query=..., body=..., params=...)`` runs the route's handler with
  an ``AdminCall`` built for the UI's request: the session's token as the actor (checked for
  the route's scope as the API checks a bearer token: a ``read`` token on an ``admin`` route
  is ``AccessDeniedError``), ``query`` converted to the route's query type (a dict of
  strings, as a URL query would be; a bad value is ``InvalidInputError``), ``body`` to its
  body type, the target as the API path would give it. It runs through the API's own
  ``admin.calling.run_audited``: a mutating route writes exactly one audit row, whatever the
  outcome, as the API does.

So a page shows what ``GET /admin/v1/...`` answers and a button does what the API call does:
there is no second data model and no second query.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import msgspec
from aiohttp import web

from wormfs.coordinator.admin.calling import run_audited
from wormfs.coordinator.admin.routes import AdminCall, Route
from wormfs.coordinator.admin.server import REQUEST_ID, ROUTES
from wormfs.coordinator.ui.web import ACTOR, core_of
from wormfs.errors import InvalidInputError


class UiCall(AdminCall):
    """An ``AdminCall`` whose path parameters are given, not read from the UI's own URL."""

    params: Mapping[str, str] = {}

    def path(self, name: str) -> str:
        return self.params[name]


def route(request: web.Request, method: str, path: str) -> Route | None:
    routes: tuple[Route, ...] = request.app[ROUTES]
    for candidate in routes:
        if candidate.method == method and candidate.path == path:
            return candidate
    return None


def _convert(value: Any, kind: Any, what: str) -> Any:
    if kind is None:
        return None
    try:
        return msgspec.convert(dict(value or {}), kind, strict=False)
    except msgspec.ValidationError as exc:
        raise InvalidInputError(f"bad {what}: {exc}") from None


async def invoke(
    request: web.Request,
    api: Route,
    query: Mapping[str, str] | None = None,
    body: Mapping[str, Any] | None = None,
    params: Mapping[str, str] | None = None,
) -> Any:
    core = core_of(request)
    actor = request[ACTOR]
    path_params = dict(params or {})
    call = UiCall(
        request=request,
        core=core,
        request_id=request[REQUEST_ID],
        actor=actor,
        target=api.path.format(**path_params).strip("/"),
        bucket=path_params.get("bucket"),
    )
    call.params = path_params

    async def decode(call: AdminCall) -> None:
        call.query = _convert(query, api.query, "query")
        call.body = _convert(body, api.request, "form")

    # The session's token was authenticated by ``web.ui_handler``: scope and audit as the API.
    return await run_audited(api, call, decode)
