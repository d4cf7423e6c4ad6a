"""Running one admin route for an authenticated caller, with its audit row: API and UI alike.

Layer: coordinator admin package, between the route table (``routes``) and its two callers,
the REST endpoint (``server``) and the web UI (``ui.calls``). Contract:

* ``check_scope(actor, scope)``: a ``read`` token on an ``admin`` route is
  ``AccessDeniedError`` (403).
* ``run_audited(route, call, decode)`` runs, for ``call.actor`` (already authenticated by
  the caller; ``None`` on a route of scope ``none``): the scope check, ``decode(call)`` (sets
  ``call.query`` / ``call.body`` from the API's request or the UI's form; a bad one is
  ``InvalidInputError``), then the route's handler, and answers the handler's value. For a
  mutating route it writes exactly one audit row (``audit.write_audit``) whatever the
  outcome: ``ok``, the domain error's code, or ``InternalError`` for anything else; the
  error is re-raised unchanged for the caller to answer.
* ``refuse_unauthenticated(route, call, exc)``: what a caller does with the ``AuthError``
  (401: no, unknown, expired or revoked token) of authentication, before it re-raises it
  instead of running the route. A mutating call is logged at WARNING (method, path, peer,
  the reason, request id; never the token) and writes NO audit row, so that clients without
  a valid token cannot fill the audit table; 403 (a valid token of too small a scope) is
  audited.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from wormfs.coordinator.admin.audit import write_audit
from wormfs.coordinator.admin.errors import admin_error
from wormfs.coordinator.admin.routes import AdminCall, Route
from wormfs.coordinator.db.admin_tokens import AdminTokenInfo
from wormfs.errors import AccessDeniedError, AuthError, WormError

log = logging.getLogger(__name__)

Decode = Callable[[AdminCall], Awaitable[None]]


def check_scope(info: AdminTokenInfo | None, scope: str) -> None:
    if scope == "admin" and (info is None or info.scope != "admin"):
        name = info.name if info is not None else "anonymous"
        raise AccessDeniedError(f"the admin token {name!r} has read scope; this call needs admin")


async def run_audited(route: Route, call: AdminCall, decode: Decode) -> Any:
    result = "InternalError"
    try:
        check_scope(call.actor, route.scope)
        await decode(call)
        value = await route.handler(call)
        result = "ok"
    except WormError as exc:
        result = admin_error(exc, call.request_id)[1].code
        raise
    finally:
        if route.mutating:
            await write_audit(call.audit, call, route.audit_action, result)
    return value


def refuse_unauthenticated(route: Route, call: AdminCall, exc: AuthError) -> None:
    """Log a mutating call refused for want of a valid token (not audited); the caller
    re-raises ``exc``."""
    if route.mutating:
        request = call.request
        log.warning(
            "admin API: unauthenticated %s %s from %s refused, not audited: %s [%s]",
            request.method,
            request.path,
            request.remote or "-",
            exc.message,
            call.request_id,
        )
