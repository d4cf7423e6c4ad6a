"""What the Overview keeps over time, and the gateway address for presigned links.

Layer: coordinator UI. Contract:

* ``SAMPLES`` (on the admin app) holds ``samples.Samples`` of these series: ``BACKLOG`` (chunks
  queued for repair), ``OBJECTS`` and ``OBJECT_BYTES`` (object versions and their bytes,
  whose per-second change is the Overview's write rate), and under ``wormfs server`` the
  gateway workers' counters ``REQUESTS``, ``BYTES_IN`` and ``BYTES_OUT`` (S3 requests and
  bytes received and sent, summed over the workers' Prometheus multiprocess files: their
  per-second change is the Overview's request and byte rates). ``sampler_ctx`` (a cleanup
  context of the admin app) records them every ``SAMPLE_INTERVAL`` seconds from the admin
  API's own views (``admin_views``) and the coordinator's metrics (``metrics.METRICS``), while
  the admin listener serves: 720 points, an hour.
* ``DISK_ERRORS`` (on the admin app): the Disks page's error counts (``disk_errors``).
* ``S3_ENDPOINT`` (on the admin app) answers the S3 gateway's base URL for the object
  browser's presigned downloads: ``WORMFS_S3_ENDPOINT`` in the coordinator's environment
  (``wormfs server`` sets it to its S3 address), else "" and the browser offers no download.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Callable, Mapping
from pathlib import Path

from aiohttp import web
from prometheus_client.parser import text_string_to_metric_families

from wormfs.config import S3_ENDPOINT_ENV
from wormfs.coordinator.admin.routes import VIEWS
from wormfs.coordinator.metrics import METRICS
from wormfs.coordinator.ui.disk_errors import DiskErrors
from wormfs.coordinator.ui.samples import Samples, sample_loop
from wormfs.runtime.metrics import multiprocess_exposition

BACKLOG = "repair_backlog"
OBJECTS = "objects"
OBJECT_BYTES = "object_bytes"
REQUESTS = "s3_requests"
BYTES_IN = "s3_received_bytes"
BYTES_OUT = "s3_sent_bytes"
# The gateway's counter samples (prometheus-client's text names) -> our series.
GATEWAY_COUNTERS = {
    "wormfs_s3_requests_total": REQUESTS,
    "wormfs_s3_received_bytes_total": BYTES_IN,
    "wormfs_s3_sent_bytes_total": BYTES_OUT,
}
SAMPLE_INTERVAL = 5.0

SAMPLES = web.AppKey("ui_samples", Samples)
DISK_ERRORS = web.AppKey("ui_disk_errors", DiskErrors)
S3_ENDPOINT = web.AppKey("ui_s3_endpoint", str)


def s3_endpoint_from_env() -> str:
    return os.environ.get(S3_ENDPOINT_ENV, "").rstrip("/")  # read once, at mount


def gateway_totals(folder: Path) -> dict[str, float]:
    """The gateway workers' request and byte counters, summed over every label (blocking:
    it reads the multiprocess files)."""
    totals = dict.fromkeys(GATEWAY_COUNTERS.values(), 0.0)
    text = multiprocess_exposition(folder).decode()
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            series = GATEWAY_COUNTERS.get(sample.name)
            if series is not None:
                totals[series] += sample.value
    return totals


def sampler_ctx(core: web.Application) -> Callable[[web.Application], AsyncIterator[None]]:
    async def probe() -> Mapping[str, float]:
        views = core[VIEWS]
        backlog = await views.repair_backlog()
        usage = await views.usage(None)
        figures: dict[str, float] = {
            BACKLOG: backlog,
            OBJECTS: usage.objects,
            OBJECT_BYTES: usage.bytes,
        }
        metrics = core.get(METRICS)
        if metrics is not None and metrics.gateway_dir is not None:
            figures.update(await asyncio.to_thread(gateway_totals, metrics.gateway_dir))
        return figures

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
