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
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from aiohttp import web

from wormfs.coordinator.admin.paging import MAX_LIMIT, Page
from wormfs.coordinator.handlers import REPO
from wormfs.coordinator.ui import calls
from wormfs.coordinator.ui.formats import age
from wormfs.coordinator.ui.overview import (
    BACKLOG,
    BYTES_IN,
    BYTES_OUT,
    DISK_ERRORS,
    OBJECT_BYTES,
    OBJECTS,
    REQUESTS,
    S3_ENDPOINT,
    SAMPLES,
)
from wormfs.coordinator.ui.paging import PAGE_ROWS, UiPage, link
from wormfs.coordinator.ui.web import BASE, core_of, render, ui_handler
from wormfs.errors import InvalidInputError


def live(request: web.Request, template: str, context: Mapping[str, Any]) -> web.Response:
    """The page, or (for the live region's refresh) its live region alone."""
    partial = bool(request.headers.get("HX-Request"))
    return render(request, template, {"partial": partial, "live_url": request.path_qs, **context})


def ui_page(request: web.Request, page: Page[Any], what: str) -> UiPage[Any]:
    query = request.query
    noun = what.removesuffix("s") if len(page.items) == 1 else what  # "1 node", "2 nodes"
    summary = f"{len(page.items)} {noun}" + (" (more follow)" if page.next_cursor else "")
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


# ---- overview --------------------------------------------------------------------------------
async def overview_page(request: web.Request) -> web.StreamResponse:
    health_route = calls.route(request, "GET", "/health")
    if health_route is None:
        return unavailable(request, "Overview", "the health resource")
    health = await calls.invoke(request, health_route)
    cluster_route = calls.route(request, "GET", "/cluster")
    cluster = await calls.invoke(request, cluster_route) if cluster_route else None
    samples = request.app[SAMPLES]
    times, values = samples.series(BACKLOG)
    span = age(times[-1] - times[0]) if len(times) > 1 else "minute"
    context = {
        "title": "Overview",
        "health": health,
        "cluster": cluster,
        "rates": {
            "objects": samples.rate(OBJECTS),
            "bytes": samples.rate(OBJECT_BYTES),
            "requests": samples.rate(REQUESTS),
            "bytes_in": samples.rate(BYTES_IN),
            "bytes_out": samples.rate(BYTES_OUT),
        },
        "backlog": [times, values],
        "backlog_span": span,
    }
    return live(request, "overview.html", context)


# ---- the plain lists: nodes, disks, users, jobs, profiles --------------------------------------
Extra = Callable[[web.Request], Mapping[str, Any]]


def list_page(
    api_path: str,
    title: str,
    template: str,
    what: str,
    filters: tuple[str, ...] = (),
    extra: Extra | None = None,
) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    """A page showing one page of the admin API's list at ``api_path``, with its filters."""

    async def handler(request: web.Request) -> web.StreamResponse:
        api = calls.route(request, "GET", api_path)
        if api is None:
            return unavailable(request, title, f"the {what} resource")
        page = await calls.invoke(request, api, query=list_query(request, *filters))
        context = {
            "title": title,
            "q": {n: request.query.get(n, "") for n in filters},
            "page": ui_page(request, page, what),
            **(extra(request) if extra is not None else {}),
        }
        return live(request, template, context)

    return handler


def _jobs_extra(request: web.Request) -> Mapping[str, Any]:
    throttle = calls.route(request, "PUT", "/jobs/throttles/{kind}")
    return {"throttle_url": f"{BASE}/jobs/throttle" if throttle is not None else ""}


def _disks_extra(request: web.Request) -> Mapping[str, Any]:
    return {"errors": request.app[DISK_ERRORS].view(core_of(request))}


def _profiles_extra(request: web.Request) -> Mapping[str, Any]:
    create = calls.route(request, "POST", "/profiles")
    return {"create_url": f"{BASE}/profiles" if create is not None else ""}


# ---- buckets and their objects ---------------------------------------------------------------
async def buckets_page(request: web.Request) -> web.StreamResponse:
    api = calls.route(request, "GET", "/buckets")
    if api is None:
        return unavailable(request, "Buckets", "the buckets resource")
    # The list carries each bucket's usage and class: one read for the page.
    page = await calls.invoke(request, api, query=list_query(request, "owner"))
    shown = ui_page(request, page, "buckets")
    q = {"owner": request.query.get("owner", "")}
    return live(request, "buckets.html", {"title": "Buckets", "q": q, "page": shown})


def _crumbs(bucket: str, prefix: str) -> list[tuple[str, str]]:
    path = f"{BASE}/buckets/{bucket}"
    crumbs = [(bucket, path)]
    parts = [p for p in prefix.split("/") if p]
    for i, part in enumerate(parts):
        crumbs.append((part, link(path, {}, prefix="/".join(parts[: i + 1]) + "/")))
    return crumbs


async def objects_page(request: web.Request) -> web.StreamResponse:
    """One bucket's objects under a prefix, folders first, paged by key."""
    bucket = request.match_info["bucket"]
    prefix = request.query.get("prefix", "")
    after = request.query.get("cursor", "")
    repo = core_of(request)[REPO]
    # The bucket's own GET (NoSuchBucket for one that is not there): usage and default class.
    detail = calls.route(request, "GET", "/buckets/{bucket}")
    shown = (
        await calls.invoke(request, detail, params={"bucket": bucket})
        if detail is not None
        else None
    )
    # The listing S3's ListObjectsV2 runs (one key-ordered index range, delimiter rolled up).
    listed = await repo.listing.objects(bucket, prefix, "/", after, PAGE_ROWS)
    path = request.path
    prefixes = [
        {"name": p[len(prefix) :], "href": link(path, {}, prefix=p)} for p in listed.common_prefixes
    ]
    summary = f"{len(listed.objects)} objects, {len(prefixes)} folders"
    page = UiPage(
        rows=listed.objects,
        summary=summary + (" (more follow)" if listed.is_truncated else ""),
        next_url=link(path, request.query, cursor=listed.next_marker)
        if listed.is_truncated
        else "",
        prev_url=link(path, request.query, cursor=None) if after else "",
    )
    context = {
        "title": bucket,
        "bucket": bucket,
        "prefix": prefix,
        "prefixes": prefixes,
        "crumbs": _crumbs(bucket, prefix),
        "page": page,
        "downloads": bool(request.app[S3_ENDPOINT]),
        "request_path_qs": request.path_qs,
        "detail": shown,
        **(await _bucket_settings(request)),
    }
    return live(request, "objects.html", context)


async def _bucket_settings(request: web.Request) -> Mapping[str, Any]:
    """The bucket settings form: where it posts (when PATCH is served) and the classes the
    profiles serve, to choose from."""
    patch = calls.route(request, "PATCH", "/buckets/{bucket}")
    profiles = calls.route(request, "GET", "/profiles")
    if patch is None or request.headers.get("HX-Request"):  # the form is not in the live region
        return {"settings_url": "", "classes": []}
    classes = {"STANDARD"}
    if profiles is not None:
        listed = await calls.invoke(request, profiles, query={"limit": str(MAX_LIMIT)})
        classes |= {p.storage_class for p in listed.items}
    bucket = request.match_info["bucket"]
    return {"settings_url": f"{BASE}/buckets/{bucket}/set", "classes": sorted(classes)}


# ---- users and keys --------------------------------------------------------------------------
async def user_page(request: web.Request) -> web.StreamResponse:
    api = calls.route(request, "GET", "/users/{user_id}")
    if api is None:
        return unavailable(request, "Users", "the users resource")
    detail = await calls.invoke(request, api, params={"user_id": request.match_info["user_id"]})
    keys = UiPage(rows=detail.keys, summary=f"{len(detail.keys)} keys")
    context = {"title": detail.user.display_name, "detail": detail, "page": keys}
    return live(request, "user.html", context)


def add_pages(app: web.Application) -> None:
    pages = {
        "/": overview_page,
        "/nodes": list_page("/nodes", "Nodes", "nodes.html", "nodes"),
        "/disks": list_page(
            "/disks", "Disks", "disks.html", "disks", ("node", "state"), extra=_disks_extra
        ),
        "/buckets": buckets_page,
        "/buckets/{bucket}": objects_page,
        "/users": list_page("/users", "Users", "users.html", "users"),
        "/users/{user_id}": user_page,
        "/jobs": list_page(
            "/jobs", "Jobs", "jobs.html", "jobs", ("kind", "state"), extra=_jobs_extra
        ),
        "/profiles": list_page(
            "/profiles", "Profiles", "profiles.html", "profiles", extra=_profiles_extra
        ),
        "/audit": audit_page,
    }
    for path, handler in pages.items():
        app.router.add_get(BASE + path, ui_handler(handler))
