"""The coordinator's Prometheus series, and the whole cluster's exposition (coordinator layer).

Contract:

* ``add_metrics(app)`` adds ``GET /metrics`` (the coordinator's own series) and
  ``GET /metrics/cluster`` (the whole cluster) to the internal app; both are public
  (``wormfs.internal.http.PUBLIC_READ_PATHS``): Prometheus needs no cluster secret.
  ``mount_metrics`` puts the cluster exposition at ``/metrics`` on the admin address
  (a ``coordinator.admin.table`` mount).
* The coordinator's series come from its database (``db.gauges``: one read, cached for
  ``SNAPSHOT_TTL`` seconds, so scrapes from several Prometheus servers cost one query) and from
  the durability jobs' state in memory (repair, scrub, drains). Node and disk labels are ids
  (bounded by the cluster's size); ``missing`` is a small count; ``state`` and ``kind`` are
  fixed vocabularies. The series (table in docs/operations.md):
  ``wormfs_node_up``, ``wormfs_node_heartbeat_age_seconds`` {node};
  ``wormfs_disk_state`` {node,disk,state} (one-hot over ``db.gauges.DISK_STATES``);
  ``wormfs_cluster_capacity_raw_bytes``, ``wormfs_cluster_capacity_usable_bytes`` (raw x k/(k+m)
  of the default profile), ``wormfs_cluster_used_raw_bytes``, ``wormfs_cluster_free_raw_bytes``;
  ``wormfs_segments_degraded`` {missing}, ``wormfs_segments_unrecoverable``;
  ``wormfs_repair_queue_chunks``, ``wormfs_repair_queue_bytes``, ``wormfs_repair_running_chunks``,
  ``wormfs_repair_rate_bytes_per_second``, ``wormfs_repair_paused``,
  ``wormfs_repair_chunks_total``, ``wormfs_repair_bytes_total``,
  ``wormfs_repair_failures_total``;
  ``wormfs_scrub_verified_bytes_total`` {kind}, ``wormfs_scrub_coverage_ratio`` {kind},
  ``wormfs_scrub_last_complete_timestamp_seconds`` {kind} (the oldest disk's),
  ``wormfs_scrub_interval_seconds`` {kind};
  ``wormfs_gc_pending_chunks``, ``wormfs_pending_writes``;
  ``wormfs_drain_remaining_chunks`` {node,disk}, ``wormfs_rebalance_remaining_moves``;
  ``wormfs_lifecycle_actions_total`` {action}, ``wormfs_lifecycle_locked_skips_total``;
  ``wormfs_coordinator_leader``, ``wormfs_zookeeper_connected`` (with ZooKeeper only);
  ``wormfs_build_info`` {version,daemon="coordinator"}.
* ``cluster_exposition(app)``: the coordinator's series, every live storage node's
  ``/metrics`` (fetched concurrently, ``SCRAPE_TIMEOUT`` each; a node that does not answer is
  left out, and shows as ``wormfs_node_up`` 0 here anyway) and, under ``wormfs server``, the
  gateway workers' multiprocess files (``WORMFS_GATEWAY_METRICS_DIR``), merged family by
  family, each series once (the first source wins: build info is the only series two
  daemons could both have, and it carries the daemon's name).
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import AsyncIterator, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
from aiohttp import web
from prometheus_client import CollectorRegistry
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.registry import Collector

from wormfs.config import CoordinatorConfig
from wormfs.coordinator.db.gauges import DISK_STATES, ClusterGaugesRepo, ClusterSnapshot
from wormfs.coordinator.durability import Durability
from wormfs.coordinator.durability_api import DURABILITY
from wormfs.coordinator.election import ELECTION, Role
from wormfs.coordinator.handlers import REPO
from wormfs.coordinator.lifecycle import ACTIONS as LIFECYCLE_ACTIONS
from wormfs.coordinator.lifecycle import LIFECYCLE, LifecycleWorker
from wormfs.runtime.metrics import (
    add_build_info,
    exposition,
    metrics_response,
    multiprocess_exposition,
)
from wormfs.wire.repair import DrainStatus, RepairStatus, ScrubStatus

log = logging.getLogger(__name__)

SNAPSHOT_TTL = 5.0  # seconds a database snapshot serves scrapes
SCRAPE_TIMEOUT = 3.0  # per storage node, for the cluster exposition
GATEWAY_METRICS_ENV = "WORMFS_GATEWAY_METRICS_DIR"
NODE_DISK = ["node", "disk"]


@dataclass
class DurabilityView:
    """The durability jobs' state at one scrape (None: not running here, e.g. a follower)."""

    repair: RepairStatus | None = None
    scrub: ScrubStatus | None = None
    drains: DrainStatus | None = None
    lifecycle: Mapping[str, int] | None = None  # LifecycleWorker.stats


@dataclass
class CoordinatorMetrics:
    config: CoordinatorConfig
    gauges: ClusterGaugesRepo
    session: aiohttp.ClientSession
    gateway_dir: Path | None
    _snapshot: ClusterSnapshot | None = None
    _lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    async def snapshot(self) -> ClusterSnapshot:
        async with self._lock:  # concurrent scrapes share one query
            cached = self._snapshot
            if cached is None or time.time() - cached.taken > SNAPSHOT_TTL:
                cached = self._snapshot = await self.gauges.snapshot()
            return cached


METRICS = web.AppKey("coordinator_metrics", CoordinatorMetrics)


# ---- the coordinator's own series -------------------------------------------------------------
def _gauge(name: str, doc: str, value: float) -> GaugeMetricFamily:
    """A gauge without labels."""
    family = GaugeMetricFamily(name, doc)
    family.add_metric([], value)
    return family


class ClusterCollector(Collector):
    def __init__(
        self,
        config: CoordinatorConfig,
        snap: ClusterSnapshot,
        durability: DurabilityView,
        leader: bool,
        zookeeper: bool | None,
    ) -> None:
        self._config = config
        self._snap = snap
        self._durability = durability
        self._leader = leader
        self._zookeeper = zookeeper

    def collect(self) -> Iterator[Metric]:
        yield from self._nodes_and_disks()
        yield from self._durability_series()
        yield _gauge("wormfs_coordinator_leader", "1 if this coordinator leads", self._leader)
        if self._zookeeper is not None:
            yield _gauge(
                "wormfs_zookeeper_connected",
                "1 if the ZooKeeper session is connected",
                self._zookeeper,
            )

    def _nodes_and_disks(self) -> Iterator[Metric]:
        snap = self._snap
        up = GaugeMetricFamily("wormfs_node_up", "1 if the node heartbeats", labels=["node"])
        age = GaugeMetricFamily(
            "wormfs_node_heartbeat_age_seconds", "Seconds since the last heartbeat", labels=["node"]
        )
        for node in snap.nodes:
            up.add_metric([node.node_id], 1 if node.up else 0)
            age.add_metric([node.node_id], node.heartbeat_age)
        yield up
        yield age
        state = GaugeMetricFamily(
            "wormfs_disk_state",
            "The disk's state as the cluster sees it (one series per state, 1 for the current)",
            labels=[*NODE_DISK, "state"],
        )
        raw = used = free = 0
        for disk in snap.disks:
            for name in DISK_STATES:
                state.add_metric([disk.node_id, disk.disk_id, name], 1 if disk.state == name else 0)
            if disk.state in ("online", "full", "draining"):  # serving its chunks
                raw += disk.capacity_bytes
                used += disk.used_bytes
                free += disk.free_bytes
        yield state
        coding = self._config.coding
        yield _gauge(
            "wormfs_cluster_capacity_raw_bytes", "Capacity of the disks that serve chunks", raw
        )
        yield _gauge(
            "wormfs_cluster_capacity_usable_bytes",
            "Raw capacity x k/(k+m) of the default profile",
            raw * coding.k / (coding.k + coding.m),
        )
        yield _gauge("wormfs_cluster_used_raw_bytes", "Bytes held in chunks on those disks", used)
        yield _gauge("wormfs_cluster_free_raw_bytes", "Bytes free for new chunks on them", free)
        degraded = GaugeMetricFamily(
            "wormfs_segments_degraded",
            "Segments missing this many chunks (unreadable disk or queued as lost)",
            labels=["missing"],
        )
        # 1..m always (0 when healthy), so a query sees the healthy state too, not no data.
        counts = {n: 0 for n in range(1, self._config.coding.m + 1)} | snap.degraded
        for missing, count in sorted(counts.items()):
            degraded.add_metric([str(missing)], count)
        yield degraded
        yield _gauge(
            "wormfs_segments_unrecoverable",
            "Segments missing more chunks than their profile's m",
            snap.unrecoverable,
        )
        yield _gauge("wormfs_gc_pending_chunks", "Chunks queued for deletion", snap.gc_backlog)
        yield _gauge("wormfs_pending_writes", "Write intents not committed", snap.pending_writes)

    def _durability_series(self) -> Iterator[Metric]:
        repair = self._durability.repair
        if repair is not None:
            yield _gauge("wormfs_repair_queue_chunks", "Chunks queued for repair", repair.queued)
            yield _gauge(
                "wormfs_repair_queue_bytes", "Chunk bytes still to rebuild", repair.queued_bytes
            )
            yield _gauge(
                "wormfs_repair_running_chunks", "Chunk rebuilds running now", repair.running
            )
            yield _gauge(
                "wormfs_repair_rate_bytes_per_second",
                "Rebuild rate over the last minute",
                repair.rate_bytes_per_s,
            )
            yield _gauge("wormfs_repair_paused", "1 if repair is paused", repair.paused)
            for name, doc, value in (
                ("wormfs_repair_chunks", "Chunks rebuilt or moved", repair.repaired_chunks),
                ("wormfs_repair_bytes", "Chunk bytes rebuilt or moved", repair.repaired_bytes),
                ("wormfs_repair_failures", "Repair attempts that failed", repair.failed_attempts),
            ):
                counter = CounterMetricFamily(name, doc + " while this coordinator leads")
                counter.add_metric([], value)
                yield counter
            moves = {r.reason: r.chunks for r in repair.by_reason}
            yield _gauge(
                "wormfs_rebalance_remaining_moves",
                "Rebalance moves still queued",
                moves.get("rebalance", 0),
            )
        scrub = self._durability.scrub
        if scrub is not None:
            yield from self._scrub_series(scrub)
        drains = self._durability.drains
        if drains is not None:
            left = GaugeMetricFamily(
                "wormfs_drain_remaining_chunks",
                "Chunks still on a draining disk",
                labels=NODE_DISK,
            )
            for drain in drains.disks:
                left.add_metric([drain.node_id, drain.disk_id], drain.chunks_left)
            yield left
        lifecycle = self._durability.lifecycle
        if lifecycle is not None:
            actions = CounterMetricFamily(
                "wormfs_lifecycle_actions",
                "Actions lifecycle rules took while this coordinator leads",
                labels=["action"],
            )
            for action in LIFECYCLE_ACTIONS:  # every action, 0 included
                actions.add_metric([action], lifecycle.get(action, 0))
            yield actions
            kept = CounterMetricFamily(
                "wormfs_lifecycle_locked_skips",
                "Versions a lifecycle rule was due to remove that Object Lock kept",
            )
            kept.add_metric([], lifecycle.get("locked", 0))
            yield kept

    def _scrub_series(self, scrub: ScrubStatus) -> Iterator[Metric]:
        chunks = {d.disk_id: d.chunks for d in self._snap.disks}
        verified = CounterMetricFamily(
            "wormfs_scrub_verified_bytes",
            "Bytes the deep scrub verified (per disk since its walk began; resets on a new walk)",
            labels=["kind"],
        )
        verified.add_metric(["deep"], sum(d.bytes_verified for d in scrub.disks))
        yield verified
        total = sum(chunks.get(d.disk_id, 0) for d in scrub.disks)
        done = sum(d.chunks_verified for d in scrub.disks)
        coverage = GaugeMetricFamily(
            "wormfs_scrub_coverage_ratio",
            "Share of the chunks the current deep walk has verified",
            labels=["kind"],
        )
        coverage.add_metric(["deep"], min(1.0, done / total) if total else 1.0)
        yield coverage
        last = GaugeMetricFamily(
            "wormfs_scrub_last_complete_timestamp_seconds",
            "When the disk scrubbed longest ago last completed a scrub of this kind",
            labels=["kind"],
        )
        # A disk never scrubbed counts from when the scrubber first knew it.
        shallow = [d.last_shallow or d.verified_since for d in scrub.disks]
        deep = [d.last_deep_finished or d.verified_since for d in scrub.disks]
        if shallow:
            last.add_metric(["shallow"], min(shallow))
        if deep:
            last.add_metric(["deep"], min(deep))
        yield last
        interval = GaugeMetricFamily(
            "wormfs_scrub_interval_seconds", "How often each disk is scrubbed", labels=["kind"]
        )
        interval.add_metric(["shallow"], self._config.durability.shallow_scrub_interval)
        interval.add_metric(["deep"], self._config.durability.deep_scrub_interval)
        yield interval


async def _durability_view(
    durability: Durability | None, lifecycle: LifecycleWorker | None
) -> DurabilityView:
    if durability is None:
        return DurabilityView()
    repair, scrub, drains = await asyncio.gather(
        durability.repair.status(), durability.scrub.status(), durability.care.drain_status()
    )
    stats = None if lifecycle is None else dict(lifecycle.stats)
    return DurabilityView(repair=repair, scrub=scrub, drains=drains, lifecycle=stats)


async def coordinator_exposition(app: web.Application) -> bytes:
    metrics = app[METRICS]
    snap = await metrics.snapshot()
    durability = await _durability_view(app.get(DURABILITY), app.get(LIFECYCLE))
    election = app.get(ELECTION)
    leader = election.role is Role.LEADER if election is not None else True
    zookeeper = election.connected if election is not None else None
    registry = CollectorRegistry()
    registry.register(ClusterCollector(metrics.config, snap, durability, leader, zookeeper))
    add_build_info(registry, "coordinator")
    return exposition(registry)


# ---- the whole cluster ------------------------------------------------------------------------
async def _scrape(session: aiohttp.ClientSession, base_url: str) -> str:
    try:
        async with session.get(
            base_url.rstrip("/") + "/metrics",
            timeout=aiohttp.ClientTimeout(total=SCRAPE_TIMEOUT),
        ) as resp:
            if resp.status != 200:
                log.warning("metrics of %s: HTTP %d; left out", base_url, resp.status)
                return ""
            return await resp.text()
    except (aiohttp.ClientError, TimeoutError) as exc:
        log.warning("metrics of %s: %r; left out", base_url, exc)
        return ""


def _gateway_text(path: Path) -> str:
    """The gateway workers' summed series ("" before any worker started; file reads)."""
    return multiprocess_exposition(path).decode() if path.is_dir() else ""


class MergedCollector(Collector):
    """Families of several expositions, one per name, each series once."""

    def __init__(self, texts: list[str]) -> None:
        self._families: dict[str, Metric] = {}
        seen: set[tuple[str, tuple[tuple[str, str], ...]]] = set()
        for text in texts:
            for family in text_string_to_metric_families(text):
                merged = self._families.setdefault(
                    family.name, Metric(family.name, family.documentation, family.type)
                )
                for sample in family.samples:
                    key = (sample.name, tuple(sorted(sample.labels.items())))
                    if key not in seen:
                        seen.add(key)
                        merged.samples.append(sample)

    def collect(self) -> Iterator[Metric]:
        yield from self._families.values()


async def cluster_exposition(app: web.Application) -> bytes:
    metrics = app[METRICS]
    own = (await coordinator_exposition(app)).decode()
    snap = await metrics.snapshot()
    scrapes = [_scrape(metrics.session, n.address) for n in snap.nodes if n.up and n.address]
    texts = [own, *await asyncio.gather(*scrapes)]
    if metrics.gateway_dir is not None:
        texts.append(await asyncio.to_thread(_gateway_text, metrics.gateway_dir))
    registry = CollectorRegistry()
    # Parsing and merging a cluster's worth of text is CPU work: off the loop.
    collector = await asyncio.to_thread(MergedCollector, texts)
    registry.register(collector)
    return exposition(registry)


# ---- wiring -----------------------------------------------------------------------------------
async def own_metrics(request: web.Request) -> web.Response:
    return metrics_response(await coordinator_exposition(request.app))


async def cluster_metrics(request: web.Request) -> web.Response:
    return metrics_response(await cluster_exposition(request.app))


def add_metrics(app: web.Application, config: CoordinatorConfig) -> None:
    async def ctx(app: web.Application) -> AsyncIterator[None]:
        gateway_dir = os.environ.get(GATEWAY_METRICS_ENV, "")
        async with aiohttp.ClientSession() as session:
            app[METRICS] = CoordinatorMetrics(
                config=config,
                gauges=ClusterGaugesRepo(app[REPO].db, config.node_offline_after),
                session=session,
                gateway_dir=Path(gateway_dir) if gateway_dir else None,
            )
            yield

    app.cleanup_ctx.append(ctx)
    app.router.add_get("/metrics", own_metrics)
    app.router.add_get("/metrics/cluster", cluster_metrics)


def mount_metrics(admin_app: web.Application, core: web.Application) -> None:
    """``GET /metrics`` on the admin address: the whole cluster (no token: it holds counts)."""

    async def handler(request: web.Request) -> web.Response:
        return metrics_response(await cluster_exposition(core))

    admin_app.router.add_get("/metrics", handler)
