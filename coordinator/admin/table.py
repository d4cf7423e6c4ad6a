"""The admin API's whole route table, and the mounts of the admin listener.

Layer: coordinator admin package, just below ``server`` (which serves the table) and the
coordinator's ``app`` (which hands it over). To add a resource: write a module with a
``ROUTES`` tuple (see ``routes``), import it here and add its ``ROUTES`` to ``TABLE``. To
serve something else on the admin address (the web UI, ``/metrics``), add a function
``mount(admin_app, coordinator_app) -> None`` to ``MOUNTS``; it may add routes, static files
or sub-applications to the admin app and read the coordinator's state. The order of
``TABLE`` is the order of the OpenAPI document.
"""

from __future__ import annotations

from wormfs.coordinator.admin import (
    audit,
    buckets,
    health,
    jobs,
    keys,
    metadata,
    nodes,
    profiles,
    tokens,
    users,
)
from wormfs.coordinator.admin.routes import Route
from wormfs.coordinator.admin.server import Mount, openapi_document
from wormfs.coordinator.ui.mount import mount_ui

_META = (
    Route(
        "GET",
        "/openapi.json",
        openapi_document,
        "This document: the OpenAPI 3.1 description of the admin API",
        scope="none",
        response=dict,
        tag="meta",
    ),
)

TABLE: tuple[Route, ...] = (
    *_META,
    *health.ROUTES,
    *nodes.ROUTES,
    *buckets.ROUTES,
    *users.ROUTES,
    *jobs.ROUTES,
    *profiles.ROUTES,
    *tokens.ROUTES,
    *audit.ROUTES,
    *metadata.ROUTES,
    *keys.ROUTES,
)

MOUNTS: tuple[Mount, ...] = (mount_ui,)
