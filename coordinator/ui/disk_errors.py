"""I/O and checksum error counts per disk for the Disks page, from the nodes' own metrics.

Layer: coordinator UI. Contract:

* ``DiskErrors.view(core)`` answers at once the last counts known, ``{disk_id: (io_errors,
  checksum_errors)}`` (empty until the first refresh, or when the coordinator serves no
  metrics), and when they are older than ``ttl`` seconds starts one refresh in the background:
  the cluster exposition (``coordinator.metrics.cluster_exposition``: every live storage
  node's ``/metrics``, fetched concurrently), parsed off the loop for
  ``wormfs_disk_io_errors_total`` (summed over its ``op`` label) and
  ``wormfs_disk_checksum_errors_total``.
* A refresh that fails is logged and the old counts stay; ``close()`` cancels one in flight.

Why in the background: a node that does not answer costs the exposition its scrape timeout
(seconds); the page must answer in well under a second whatever the nodes do. The counts are
the nodes' since their process started, as their ``/metrics`` says.
"""

from __future__ import annotations

import asyncio
import logging
import time

from aiohttp import web
from prometheus_client.parser import text_string_to_metric_families

from wormfs.coordinator.metrics import METRICS, cluster_exposition

log = logging.getLogger(__name__)

IO_ERRORS = "wormfs_disk_io_errors_total"
CHECKSUM_ERRORS = "wormfs_disk_checksum_errors_total"
Counts = dict[str, tuple[int, int]]


def parse_counts(text: str) -> Counts:
    io: dict[str, float] = {}
    checksum: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            into = {IO_ERRORS: io, CHECKSUM_ERRORS: checksum}.get(sample.name)
            disk = sample.labels.get("disk")
            if into is not None and disk:
                into[disk] = into.get(disk, 0.0) + sample.value
    return {d: (int(io.get(d, 0)), int(checksum.get(d, 0))) for d in io.keys() | checksum.keys()}


class DiskErrors:
    def __init__(self, ttl: float = 5.0) -> None:
        self.ttl = ttl
        self._counts: Counts = {}
        self._at = float("-inf")
        self._refresh: asyncio.Task[None] | None = None

    def view(self, core: web.Application) -> Counts:
        stale = time.monotonic() - self._at >= self.ttl
        if stale and METRICS in core and (self._refresh is None or self._refresh.done()):
            self._refresh = asyncio.create_task(self._load(core), name="ui-disk-errors")
        return self._counts

    async def _load(self, core: web.Application) -> None:
        try:
            text = (await cluster_exposition(core)).decode()
            self._counts = await asyncio.to_thread(parse_counts, text)
        except Exception:
            log.warning("UI: disk error counts not refreshed", exc_info=True)
        finally:
            self._at = time.monotonic()

    async def close(self) -> None:
        if self._refresh is not None:
            self._refresh.cancel()
            await asyncio.gather(self._refresh, return_exceptions=True)
