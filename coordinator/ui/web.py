"""The web UI's HTTP shell: login and logout, the session and CSRF checks, rendering, assets.

Layer: coordinator UI, the top (beside the admin REST API, on the same admin application).
Contract:

* ``setup_ui(app)`` mounts the UI's shell on the admin application (``admin.server``) under
  ``/ui``: the scripts and style sheets of ``static/`` at ``/ui/static/`` (no session needed;
  read into memory, off the loop, when the listener starts), ``GET /ui/login`` and
  ``POST /ui/login`` (a form with one input, an admin token, checked by the admin API's
  token repository), ``POST /ui/logout``, and ``/`` redirecting to the Overview. The pages
  are added by ``pages``.
* ``ui_handler`` wraps a page handler: no live session, or its token revoked or expired
  since (checked again on every request, as the API checks a bearer token) → a redirect to
  the login page (for htmx requests an ``HX-Redirect``); a POST whose CSRF token (form field
  ``csrf`` or header ``X-CSRF-Token``) is not the session's → 403, before the handler runs.
  On a follower coordinator (with ZooKeeper) every page and the login form redirect to the
  same path on the leader's admin address, as the API's routes do: the leader alone runs the
  jobs and writes; its sessions are its own. The handler finds the session under
  ``SESSION`` and the token (the audit actor) under ``ACTOR``; a domain error it raises is
  answered as a page with the error's status, message and request id (the admin API
  answers the same error as JSON).
* ``render(request, template, context)`` renders a Jinja2 template with the session, the
  navigation and the asset prefix; every UI answer carries ``Cache-Control: no-store`` and a
  Content-Security-Policy of ``'self'`` only (no inline script, nothing from another host).

The session cookie is HttpOnly, SameSite=Strict, Path=/ui and Secure when the request came
over TLS; the session itself lives in the coordinator's memory (``sessions.SessionStore``).
The login form is protected by a double-submit token (a cookie and a hidden field) because
it has no session yet.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import Any

import aiohttp_jinja2
import jinja2
from aiohttp import web

from wormfs.coordinator.admin.errors import admin_error
from wormfs.coordinator.admin.routes import TOKENS
from wormfs.coordinator.admin.server import CORE, REQUEST_ID, follow_leader
from wormfs.coordinator.db.admin_tokens import AdminTokenInfo
from wormfs.coordinator.handlers import REPO
from wormfs.coordinator.ui.formats import FILTERS
from wormfs.coordinator.ui.sessions import (
    COOKIE,
    CSRF_FIELD,
    CSRF_HEADER,
    LOGIN_CSRF_COOKIE,
    Session,
    SessionStore,
    csrf_ok,
)
from wormfs.errors import AuthError, WormError

log = logging.getLogger(__name__)

BASE = "/ui"
STATIC = f"{BASE}/static"
HERE = Path(__file__).parent
NAV = (
    (f"{BASE}/", "Overview"),
    (f"{BASE}/nodes", "Nodes"),
    (f"{BASE}/disks", "Disks"),
    (f"{BASE}/buckets", "Buckets"),
    (f"{BASE}/users", "Users"),
    (f"{BASE}/jobs", "Jobs"),
    (f"{BASE}/profiles", "Profiles"),
    (f"{BASE}/audit", "Audit"),
)
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)


SESSIONS = web.AppKey("ui_sessions", SessionStore)
SESSION = web.RequestKey("ui_session", Session)
ACTOR = web.RequestKey("ui_actor", AdminTokenInfo)  # the session's token, checked again

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def session_of(request: web.Request) -> Session:
    return request[SESSION]


def core_of(request: web.Request) -> web.Application:
    """The coordinator's application (its repositories and jobs) behind the admin app."""
    return request.app[CORE]


def _secure(request: web.Request) -> bool:
    return request.secure


def _headers(response: web.StreamResponse) -> web.StreamResponse:
    response.headers["Cache-Control"] = "no-store"
    response.headers["Content-Security-Policy"] = CSP
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "same-origin"
    response.headers["Vary"] = "HX-Request, Cookie"
    return response


def render(
    request: web.Request, template: str, context: Mapping[str, Any], status: int = 200
) -> web.Response:
    session = request.get(SESSION)
    flash, flash_kind = ("", "")
    if session is not None and session.flash is not None and not request.headers.get("HX-Request"):
        (flash, flash_kind), session.flash = session.flash, None
    full = {
        "base": BASE,
        "static": STATIC,
        "nav": NAV,
        "here": request.path,
        "here_qs": request.path_qs,
        "session": session,
        "csrf": session.csrf if session is not None else "",
        "flash": flash,
        "flash_kind": flash_kind,
        **context,
    }
    response = aiohttp_jinja2.render_template(template, request, full, status=status)
    _headers(response)
    return response


def redirect(location: str) -> web.HTTPSeeOther:
    return web.HTTPSeeOther(location, headers={"Cache-Control": "no-store"})


def _to_login(request: web.Request) -> web.StreamResponse:
    if request.headers.get("HX-Request"):
        # A live region's refresh after the session ended: htmx follows HX-Redirect on a
        # 2xx answer (an error status would only be logged, and the page would go stale).
        return web.Response(status=200, headers={"HX-Redirect": f"{BASE}/login"})
    raise redirect(f"{BASE}/login")


async def _live_session(request: web.Request) -> tuple[Session, AdminTokenInfo] | None:
    session_id = request.cookies.get(COOKIE)
    if not session_id:
        return None
    store = request.app[SESSIONS]
    now = time.time()
    session = store.get(session_id, now)
    if session is None:
        return None
    try:
        info = await core_of(request)[TOKENS].authenticate(session.credential, now)
    except AuthError:
        store.close(session.id)  # the token was revoked or expired: so is its session
        return None
    return session, info


def ui_handler(handler: Handler) -> Handler:
    """A page handler that needs a live session (and, for a POST, its CSRF token)."""

    async def guarded(request: web.Request) -> web.StreamResponse:
        try:
            # On a follower, the leader's page (where the jobs run and writes go).
            follow_leader(core_of(request), request)
            live = await _live_session(request)
            if live is None:
                return _to_login(request)
            session, request[ACTOR] = live
            request[SESSION] = session
            if request.method == "POST":
                form = await request.post()
                presented = form.get(CSRF_FIELD) or request.headers.get(CSRF_HEADER)
                if not csrf_ok(session.csrf, presented if isinstance(presented, str) else None):
                    log.warning(
                        "UI: %s %s refused: no valid CSRF token", request.method, request.path
                    )
                    return _headers(
                        web.Response(status=403, text="403: missing or wrong CSRF token")
                    )
            return _headers(await handler(request))
        except WormError as exc:
            # A page, not the API's JSON: the error's message and request id, its status.
            status, body = admin_error(exc, request[REQUEST_ID])
            message = f"{body.message} (request id {body.request_id})"
            context = {"title": body.code, "message": message}
            return render(request, "unavailable.html", context, status)

    return guarded


# ---- login and logout ------------------------------------------------------------------------
def _login_page(request: web.Request, error: str = "", status: int = 200) -> web.Response:
    token = secrets.token_urlsafe(24)
    context = {"title": "Log in", "login_csrf": token, "error": error}
    response = render(request, "login.html", context, status)
    response.set_cookie(
        LOGIN_CSRF_COOKIE,
        token,
        path=f"{BASE}/login",
        httponly=True,
        samesite="Strict",
        secure=_secure(request),
        max_age=3600,
    )
    return response


async def login_form(request: web.Request) -> web.StreamResponse:
    follow_leader(core_of(request), request)
    if await _live_session(request) is not None:
        raise redirect(f"{BASE}/")
    return _login_page(request)


async def login(request: web.Request) -> web.StreamResponse:
    form = await request.post()
    expected = request.cookies.get(LOGIN_CSRF_COOKIE, "")
    presented = form.get(CSRF_FIELD)
    if not csrf_ok(expected, presented if isinstance(presented, str) else None):
        log.warning("UI: login refused: no valid CSRF token")
        return _headers(web.Response(status=403, text="403: missing or wrong CSRF token"))
    token = form.get("token")
    if not isinstance(token, str) or not token.strip():
        return _login_page(request, "Enter an admin token.", 400)
    token = token.strip()
    try:
        info = await core_of(request)[TOKENS].authenticate(token, time.time())
    except AuthError as refused:
        # AuthError's message never repeats the token; nor does this line.
        log.info("UI: login refused: %s", refused)
        return _login_page(request, "That token is unknown, revoked or expired.", 401)
    core = core_of(request)
    if core[REPO].db.accepting_writes:  # the token's last use, as the API records it
        await core[TOKENS].touch(info, time.time())
    session = request.app[SESSIONS].open(info.name, info.scope, info.token_id, token, time.time())
    log.info("UI: %s logged in (scope %s)", info.name, info.scope)
    response = redirect(f"{BASE}/")
    response.set_cookie(
        COOKIE,
        session.id,
        path=BASE,
        httponly=True,
        samesite="Strict",
        secure=_secure(request),
    )
    response.del_cookie(LOGIN_CSRF_COOKIE, path=f"{BASE}/login")
    raise response


async def logout(request: web.Request) -> web.StreamResponse:
    session = session_of(request)
    request.app[SESSIONS].close(session.id)
    response = redirect(f"{BASE}/login")
    response.del_cookie(COOKIE, path=BASE)
    raise response


_ASSET_TYPES = {".js": "text/javascript", ".css": "text/css"}


def _read_assets() -> dict[str, tuple[bytes, str]]:
    """Every script and style sheet under static/, by its path there (about 200 KB)."""
    folder = HERE / "static"
    return {
        path.relative_to(folder).as_posix(): (path.read_bytes(), _ASSET_TYPES[path.suffix])
        for path in sorted(folder.rglob("*"))
        if path.suffix in _ASSET_TYPES
    }


def _read_templates() -> dict[str, str]:
    folder = HERE / "templates"
    return {path.name: path.read_text(encoding="utf-8") for path in folder.glob("*.html")}


async def _root(request: web.Request) -> web.StreamResponse:
    raise redirect(f"{BASE}/")


def setup_ui(app: web.Application, sessions: SessionStore | None = None) -> None:
    """Mount the UI's shell on the admin application (pages come from ``pages.add_pages``)."""
    templates: dict[str, str] = {}
    env = aiohttp_jinja2.setup(
        app,
        loader=jinja2.DictLoader(templates),
        autoescape=jinja2.select_autoescape(["html"]),
        undefined=jinja2.StrictUndefined,
        auto_reload=False,
    )
    env.filters.update(FILTERS)

    async def load_templates(app: web.Application) -> None:
        # Read once, off the loop, before the first request: a loader that reads files
        # (and checks their times) on a render would block the event loop.
        templates.update(await asyncio.to_thread(_read_templates))

    app.on_startup.append(load_templates)
    app[SESSIONS] = sessions if sessions is not None else SessionStore()
    app.router.add_get("/", _root)
    app.router.add_get(BASE, _root)
    app.router.add_get(f"{BASE}/login", login_form)
    app.router.add_post(f"{BASE}/login", login)
    app.router.add_post(f"{BASE}/logout", ui_handler(logout))
    assets: dict[str, tuple[bytes, str]] = {}

    async def load_assets(app: web.Application) -> None:
        assets.update(await asyncio.to_thread(_read_assets))

    async def asset(request: web.Request) -> web.StreamResponse:
        found = assets.get(request.match_info["name"])
        if found is None:
            raise web.HTTPNotFound()
        body, content_type = found
        return web.Response(
            body=body,
            content_type=content_type,
            charset="utf-8",
            headers={"Cache-Control": "public, max-age=3600", "X-Content-Type-Options": "nosniff"},
        )

    app.on_startup.append(load_assets)
    app.router.add_get(STATIC + "/{name:.+}", asset)
