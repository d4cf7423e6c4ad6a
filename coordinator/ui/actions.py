"""The UI's buttons and forms: each POST runs one mutating admin API route, audited once.

Layer: coordinator UI, the top. Contract:

* ``add_actions(app)`` registers, for every mutating route the admin app serves
  (``admin.server.ROUTES``), a form POST under ``/ui``: a POST route at ``/ui`` + its path
  (``POST /admin/v1/nodes/{node_id}/drain`` -> ``POST /ui/nodes/{node_id}/drain``), a DELETE
  at that path + ``/delete``, a PUT at that path + ``/set``. The path parameters have the
  API's names; a parameter missing from the URL is taken from the form (the Jobs page's
  throttle form names its ``kind``). The other form fields, empty ones dropped, are the JSON
  body the route takes (converted to its type as the API decodes a body).
* Besides the table: ``POST /ui/buckets/{bucket}/objects/delete`` (form field ``key``)
  deletes the object's current version as S3's DeleteObject does (the same repository
  operation: a delete marker in a versioned bucket), audited as ``object.delete``; and
  ``GET /ui/buckets/{bucket}/download?key=`` redirects to a presigned GET on the S3 gateway,
  valid for 60 s, signed with the root user's key.
* Each action runs through ``calls.invoke`` (scope check, exactly one audit row whatever the
  outcome), then redirects (303) to the form's ``back`` path (a ``/ui/`` path only) with a
  flash message; an answer that carries a secret (a new access key's secret, a new admin
  token) is shown once on a page of its own instead, never put in a URL.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from wormfs.coordinator.admin.routes import ADMIN_CONFIG, AdminCall, Route
from wormfs.coordinator.admin.server import ROUTES
from wormfs.coordinator.handlers import REPO
from wormfs.coordinator.ui import calls
from wormfs.coordinator.ui.overview import S3_ENDPOINT
from wormfs.coordinator.ui.presign import presign
from wormfs.coordinator.ui.web import BASE, core_of, redirect, render, session_of, ui_handler
from wormfs.errors import InvalidInputError, WormError

log = logging.getLogger(__name__)

_PARAM = re.compile(r"{(\w+)}")
_NOT_BODY = ("csrf", "back")
DOWNLOAD_SECONDS = 60


def _back(form: Any, request: web.Request) -> str:
    back = form.get("back")
    # Only a path of the UI: a form must not send the browser elsewhere.
    if isinstance(back, str) and back.startswith(f"{BASE}/") and "//" not in back:
        return back
    return f"{BASE}/"


def _secret_fields(value: Any) -> list[tuple[str, str, bool]] | None:
    """The fields to show once, when ``value`` carries a secret."""
    if hasattr(value, "secret_key"):
        return [("Access key", value.access_key, False), ("Secret key", value.secret_key, True)]
    if hasattr(value, "token") and hasattr(value, "info"):
        return [("Name", value.info.name, False), ("Admin token", value.token, True)]
    keys = getattr(value, "access_keys", None)
    if keys:
        return [
            ("User", value.user_id, False),
            ("Access key", keys[0].access_key, False),
            ("Secret key", keys[0].secret_key, True),
        ]
    return None


def _describe(api: Route, params: dict[str, str]) -> str:
    what = api.audit_action.replace(".", " ")
    target = " ".join(params.values())
    return f"{what} {target}".strip()


def _action_handler(api: Route) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    names = _PARAM.findall(api.path)

    async def handler(request: web.Request) -> web.StreamResponse:
        form = await request.post()
        fields = {
            k: v for k, v in form.items() if k not in _NOT_BODY and isinstance(v, str) and v != ""
        }
        back = _back(form, request)
        session = session_of(request)
        try:
            params = {n: request.match_info.get(n) or fields.pop(n) for n in names}
        except KeyError as missing:
            session.flash = (f"{missing.args[0]} is required", "error")
            raise redirect(back) from None
        try:
            value = await calls.invoke(
                request, api, body=fields if api.request is not None else None, params=params
            )
        except WormError as exc:
            session.flash = (f"{_describe(api, params)}: {exc.message}", "error")
            raise redirect(back) from None
        shown = _secret_fields(value)
        if shown is not None:
            heading = f"{_describe(api, params)}: done"
            context = {"title": "Shown once", "heading": heading, "fields": shown, "back": back}
            return render(request, "secret.html", context)
        session.flash = (f"{_describe(api, params)}: done", "ok")
        raise redirect(back)

    return handler


def _ui_path(api: Route) -> str:
    suffix = {"POST": "", "DELETE": "/delete", "PUT": "/set", "PATCH": "/set"}[api.method]
    return BASE + api.path + suffix


# ---- objects: not admin API resources (the S3 API has them) -----------------------------------
async def _delete_object(call: AdminCall) -> Any:
    key = call.body["key"]
    call.target = f"buckets/{call.path('bucket')}/{key}"
    return await call.repo.objects.delete(call.path("bucket"), key)


DELETE_OBJECT = Route(
    "POST",
    "/buckets/{bucket}/objects/delete",
    _delete_object,
    "Delete an object's current version (as S3 DeleteObject)",
    scope="admin",
    request=dict,
    action="object.delete",
)


async def download(request: web.Request) -> web.StreamResponse:
    bucket, key = request.match_info["bucket"], request.query.get("key", "")
    if not key:
        raise InvalidInputError("query parameter key is required")
    endpoint = request.app[S3_ENDPOINT]
    if not endpoint:
        raise InvalidInputError("this coordinator does not know the S3 gateway's address")
    core = core_of(request)
    await core[REPO].objects.get(bucket, key)  # NoSuchKey here, not a gateway error page
    config = core[ADMIN_CONFIG]
    url = presign(
        "GET",
        endpoint,
        bucket,
        key,
        config.root_access_key,
        config.root_secret_key,
        time.time(),
        DOWNLOAD_SECONDS,
    )
    headers = {"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"}
    raise web.HTTPSeeOther(url, headers=headers)


def add_actions(app: web.Application) -> None:
    routes: tuple[Route, ...] = app[ROUTES]
    for api in (*routes, DELETE_OBJECT):
        if api.mutating:
            app.router.add_post(_ui_path(api), ui_handler(_action_handler(api)))
    throttle = next((r for r in routes if r.path == "/jobs/throttles/{kind}"), None)
    if throttle is not None and throttle.mutating:
        app.router.add_post(f"{BASE}/jobs/throttle", ui_handler(_action_handler(throttle)))
    app.router.add_get(f"{BASE}/buckets/{{bucket}}/download", ui_handler(download))
