"""What the Overview keeps over time, and the gateway address for presigned links.

Layer: coordinator UI. Contract:

* ``SAMPLES`` (on the admin app) holds ``samples.Samples`` of three series: ``BACKLOG`` (chunks
  queued for repair), ``OBJECTS`` and ``OBJECT_BYTES`` (object versions and their bytes,
  whose per-second change is the Overview's write rate). ``sampler_ctx`` (a cleanup context
  of the admin app) records them every ``SAMPLE_INTERVAL`` seconds from the admin API's own
  views (``admin_views``), while the admin listener serves: 720 points, an hour.
* ``S3_ENDPOINT`` (on the admin app) answers the S3 gateway's base URL for the object
  browser's presigned downloads: ``WORMFS_S3_ENDPOINT`` in the coordinator's environment
  (``wormfs server`` sets it to its S3 address), else "" and the browser offers no download.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Callable, Mapping

from aiohttp import web

from wormfs.config import S3_ENDPOINT_ENV
from wormfs.coordinator.admin.routes import VIEWS
from wormfs.coordinator.ui.samples import Samples, sample_loop

BACKLOG = "repair_backlog"
OBJECTS = "objects"
OBJECT_BYTES = "object_bytes"
SAMPLE_INTERVAL = 5.0

SAMPLES = web.AppKey("ui_samples", Samples)
S3_ENDPOINT = web.AppKey("ui_s3_endpoint", str)


def s3_endpoint_from_env() -> str:
    return os.environ.get(S3_ENDPOINT_ENV, "").rstrip("/")  # read once, at mount


def sampler_ctx(core: web.Application) -> Callable[[web.Application], AsyncIterator[None]]:
    async def probe() -> Mapping[str, float]:
        views = core[VIEWS]
        backlog = await views.repair_backlog()
        usage = await views.usage(None)
        return {BACKLOG: backlog, OBJECTS: usage.objects, OBJECT_BYTES: usage.bytes}

    async def ctx(admin_app: web.Application) -> AsyncIterator[None]:
        task = asyncio.create_task(
            sample_loop(admin_app[SAMPLES], probe, SAMPLE_INTERVAL), name="ui-sampler"
        )
        try:
            yield
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

    return ctx
