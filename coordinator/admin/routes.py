"""The admin API's route table: one declarative ``Route`` per operation, and what a handler gets.

Layer: coordinator admin package, the bottom (every resource module imports it). Contract:

* A resource module declares ``ROUTES: tuple[Route, ...]`` at module level, one ``Route`` per
  operation: HTTP method, path under ``/admin/v1`` (aiohttp's ``{name}`` placeholders), the
  handler, the msgspec types of its JSON body (``request``), its query (``query``: a Struct
  whose fields are the query parameters; lists take ``paging.PageQuery`` or a subclass) and
  its answer (``response``), the scope a token needs (``none`` | ``read`` | ``admin``), a one
  line ``summary``, the success status, and for a mutating call its audit ``action``
  (e.g. ``bucket.create``). ``table.TABLE`` concatenates every module's ``ROUTES``; the aiohttp
  router (``server``) and the OpenAPI document (``openapi``) are both generated from it, so a
  route cannot be served without being documented, or the other way round.
* A handler is ``async def handler(call: AdminCall) -> value``: ``call.body`` and
  ``call.query`` are already decoded into the route's types (a bad one is answered 400 before
  the handler runs), ``call.path(name)`` reads a path parameter, ``call.core`` is the
  coordinator's application (its state: ``call.repo``, ``call.durability``, ``call.tokens``,
  ``call.audit``, ``call.views``, ``call.config``; other modules read their own ``AppKey``
  from ``call.core``). The value returned is encoded as JSON with the route's status, or
  ``call.status`` when the handler set one (``None``: 204 without a body).
  Raise domain errors (``wormfs.errors``); ``errors`` maps them to ``{code, message,
  request_id}`` once.
* ``admin_post(path, handler, summary, action, response, tag)`` is the common action route
  (POST, admin scope, audited as ``action``).
* Audit: the server writes exactly one audit row for every call of a route with a method
  other than GET, whatever its outcome (``ok`` or the error code), with ``call.target`` and
  ``call.bucket``. Their defaults come from the path (``buckets/photos``, and the ``bucket``
  path parameter); a handler that knows better (a create whose name is in the body) sets
  ``call.target`` / ``call.bucket`` before it returns or raises.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from aiohttp import web

from wormfs.config import CoordinatorConfig
from wormfs.coordinator.db.admin_tokens import AdminTokenInfo, AdminTokens
from wormfs.coordinator.db.admin_views import AdminViews
from wormfs.coordinator.db.audit import AuditLog
from wormfs.coordinator.db.repo import Repository
from wormfs.coordinator.durability import Durability
from wormfs.coordinator.durability_api import DURABILITY
from wormfs.coordinator.handlers import REPO
from wormfs.errors import NotLeaderError

PREFIX = "/admin/v1"
Scope = Literal["none", "read", "admin"]
Method = Literal["GET", "POST", "PUT", "PATCH", "DELETE"]

TOKENS = web.AppKey("admin_tokens", AdminTokens)
AUDIT = web.AppKey("audit_log", AuditLog)
VIEWS = web.AppKey("admin_views", AdminViews)
ADMIN_CONFIG = web.AppKey("admin_config", CoordinatorConfig)


@dataclass
class AdminCall:
    """One admin API call as its handler sees it."""

    request: web.Request
    core: web.Application  # the coordinator's application: repositories, jobs, election
    request_id: str
    actor: AdminTokenInfo | None  # None on routes of scope "none"
    body: Any = None
    query: Any = None
    target: str = ""
    bucket: str | None = None
    headers: dict[str, str] = field(default_factory=dict)  # extra response headers
    status: int | None = None  # answer with this status instead of the route's

    def path(self, name: str) -> str:
        return self.request.match_info[name]

    @property
    def repo(self) -> Repository:
        return self.core[REPO]

    @property
    def tokens(self) -> AdminTokens:
        return self.core[TOKENS]

    @property
    def audit(self) -> AuditLog:
        return self.core[AUDIT]

    @property
    def views(self) -> AdminViews:
        return self.core[VIEWS]

    @property
    def config(self) -> CoordinatorConfig:
        return self.core[ADMIN_CONFIG]

    @property
    def durability(self) -> Durability:
        durability = self.core.get(DURABILITY)
        if durability is None:
            raise NotLeaderError("the durability jobs run on the active coordinator only")
        return durability


Handler = Callable[[AdminCall], Awaitable[Any]]


@dataclass(frozen=True)
class Route:
    method: Method
    path: str  # under PREFIX, e.g. "/buckets/{bucket}"
    handler: Handler
    summary: str
    scope: Scope = "read"
    request: Any = None  # msgspec type of the JSON body
    query: Any = None  # msgspec Struct of the query parameters
    response: Any = None  # msgspec type of the answer; None: 204 No Content
    status: int = 200
    action: str = ""  # audit action of a mutating route, e.g. "bucket.create"
    tag: str = ""  # the OpenAPI tag (the resource), e.g. "buckets"

    @property
    def mutating(self) -> bool:
        return self.method != "GET"

    @property
    def full_path(self) -> str:
        return PREFIX + self.path

    @property
    def operation_id(self) -> str:
        return self.handler.__name__.lstrip("_")

    @property
    def audit_action(self) -> str:
        return self.action or f"{self.method.lower()} {self.path}"


def admin_post(
    path: str, handler: Handler, summary: str, action: str, response: Any, tag: str
) -> Route:
    """The common shape of an action route: POST, admin scope, audited as ``action``."""
    return Route(
        "POST",
        path,
        handler,
        summary,
        scope="admin",
        response=response,
        action=action,
        tag=tag,
    )
