"""The web UI as a mount of the admin listener (``admin.table.MOUNTS``).

Layer: coordinator UI, the top. Contract: ``mount_ui(admin_app, core)`` adds everything the
UI serves to the admin application (``web.setup_ui``: assets, login, logout; ``pages`` and
``actions``: the pages and their buttons), the Overview's samples and their sampler
(``overview.sampler_ctx``, running while the admin listener serves), the Disks page's error
counts (``disk_errors``) and the S3 endpoint of the object browser's download links.
"""

from __future__ import annotations

from aiohttp import web

from wormfs.coordinator.ui.actions import add_actions
from wormfs.coordinator.ui.disk_errors import DiskErrors
from wormfs.coordinator.ui.overview import (
    DISK_ERRORS,
    S3_ENDPOINT,
    SAMPLES,
    s3_endpoint_from_env,
    sampler_ctx,
)
from wormfs.coordinator.ui.pages import add_pages
from wormfs.coordinator.ui.samples import Samples
from wormfs.coordinator.ui.web import setup_ui


def mount_ui(admin_app: web.Application, core: web.Application) -> None:
    setup_ui(admin_app)
    admin_app[SAMPLES] = Samples(capacity=720)
    admin_app[S3_ENDPOINT] = s3_endpoint_from_env()
    admin_app.cleanup_ctx.append(sampler_ctx(core))
    admin_app[DISK_ERRORS] = DiskErrors()
    admin_app.on_cleanup.append(lambda app: app[DISK_ERRORS].close())
    add_pages(admin_app)
    add_actions(admin_app)
