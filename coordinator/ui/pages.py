"""The UI's pages: each renders what an admin API list or read route answers.

Layer: coordinator UI, the top. Contract:

* ``add_pages(app)`` adds the page routes under ``/ui`` to the admin app; each page is a
  ``web.ui_handler`` (session, CSRF) that calls admin API handlers through ``calls.invoke``
  and renders one template. A request with ``HX-Request`` (the page's live region polling
  every 2 s) gets the live region alone (``partial.html``), the rest of the page once.
* Every table is one page of at most ``paging.PAGE_ROWS`` rows of the API's key-ordered
  paging; "next" carries the API's cursor, filters stay in the URL.
* A page whose admin resource is not served by this coordinator says so
  (``unavailable.html``) instead of failing.

Mutating actions are in ``actions``; they redirect back here with a flash message.
"""

from __future__ import annotations

import calendar
import time
from collections.abc import Mapping
from typing import Any

from aiohttp import web

from wormfs.coordinator.admin.paging import Page
from wormfs.coordinator.ui import calls
from wormfs.coordinator.ui.paging import PAGE_ROWS, UiPage, link
from wormfs.coordinator.ui.web import BASE, render, ui_handler
from wormfs.errors import InvalidInputError


def live(request: web.Request, template: str, context: Mapping[str, Any]) -> web.Response:
    """The page, or (for the live region's refresh) its live region alone."""
    partial = bool(request.headers.get("HX-Request"))
    return render(request, template, {"partial": partial, "live_url": request.path_qs, **context})


def ui_page(request: web.Request, page: Page[Any], what: str) -> UiPage[Any]:
    query = request.query
    summary = f"{len(page.items)} {what}" + (" (more follow)" if page.next_cursor else "")
    return UiPage(
        rows=page.items,
        summary=summary,
        next_url=link(request.path, query, cursor=page.next_cursor) if page.next_cursor else "",
        prev_url=link(request.path, query, cursor=None) if query.get("cursor") else "",
    )


def list_query(request: web.Request, *names: str) -> dict[str, str]:
    """The API list query of a page: its filters (non-empty only), cursor and limit."""
    query = {n: request.query[n] for n in (*names, "cursor") if request.query.get(n)}
    query["limit"] = str(PAGE_ROWS)
    return query


def unavailable(request: web.Request, title: str, what: str) -> web.Response:
    message = f"This coordinator does not serve {what} yet."
    return render(request, "unavailable.html", {"title": title, "message": message})


# ---- audit -----------------------------------------------------------------------------------
def _utc(text: str) -> str:
    """A datetime-local value (UTC) as seconds since the epoch, for the API's query."""
    for layout in ("%Y-%m-%dT%H:%M:%S", "%Y-%m-%dT%H:%M"):
        try:
            return str(calendar.timegm(time.strptime(text, layout)))
        except ValueError:
            continue
    raise InvalidInputError(f"not a date and time: {text!r}")


async def audit_page(request: web.Request) -> web.StreamResponse:
    api = calls.route(request, "GET", "/audit")
    if api is None:
        return unavailable(request, "Audit", "the audit log")
    query = list_query(request, "actor", "action", "target", "bucket")
    for bound in ("since", "until"):
        if request.query.get(bound):
            query[bound] = _utc(request.query[bound])
    page = await calls.invoke(request, api, query=query)
    q = {
        **{n: request.query.get(n, "") for n in ("actor", "action", "target", "bucket")},
        "since_text": request.query.get("since", ""),
        "until_text": request.query.get("until", ""),
    }
    return live(
        request, "audit.html", {"title": "Audit", "q": q, "page": ui_page(request, page, "records")}
    )


def add_pages(app: web.Application) -> None:
    app.router.add_get(f"{BASE}/audit", ui_handler(audit_page))
