"""The web UI as a mount of the admin listener (``admin.table.MOUNTS``).

Layer: coordinator UI, the top. Contract: ``mount_ui(admin_app, core)`` adds everything the
UI serves to the admin application (``web.setup_ui``: assets, login, logout; ``pages`` and
``actions``: the pages and their buttons) and the sampler of the Overview's sparklines
(``overview.sampler_ctx``), which runs while the admin listener serves.
"""

from __future__ import annotations

from aiohttp import web

from wormfs.coordinator.ui.pages import add_pages
from wormfs.coordinator.ui.web import setup_ui


def mount_ui(admin_app: web.Application, core: web.Application) -> None:
    setup_ui(admin_app)
    add_pages(admin_app)
