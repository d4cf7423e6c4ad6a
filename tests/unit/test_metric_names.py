"""Every daemon's series follow the naming rules, and the shipped monitoring files use only them.

The collectors are the real ones (gateway, storage node, coordinator), fed with values built
here; ``metriclint`` holds the rules. The integration tests run the same lint over the live
``/metrics`` of every daemon (tests/integration/test_observability.py).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import metriclint
import pytest
import yaml
from prometheus_client import CollectorRegistry, generate_latest

from wormfs.config import CoordinatorConfig
from wormfs.coordinator.db.gauges import ClusterSnapshot, DiskGauge, NodeGauge
from wormfs.coordinator.metrics import ClusterCollector, DurabilityView, MergedCollector
from wormfs.gateway.metrics import GatewayMetrics
from wormfs.runtime.metrics import add_build_info
from wormfs.storage_node.metrics import DiskCollector
from wormfs.wire.repair import (
    DiskDrainState,
    DiskScrubState,
    DrainStatus,
    ReasonCount,
    RepairStatus,
    ScrubStatus,
)
from wormfs.wire.storage import DiskInfo

MONITORING = Path(__file__).resolve().parents[2] / "deploy" / "monitoring"
NODE, DISK = "n" * 32, "d" * 32


def gateway_text() -> str:
    metrics = GatewayMetrics.create()
    metrics.observe("PutObject", 200, "", 0.01, 1000, 0)
    metrics.observe("GetObject", 404, "NoSuchKey", 0.002, 0, 300)
    metrics.observe(None, 400, "InvalidRequest", 0.001, 0, 200)
    metrics.degraded_read()
    assert metrics.registry is not None
    return generate_latest(metrics.registry).decode()


def node_text() -> str:
    registry = CollectorRegistry()
    info = DiskInfo(DISK, "/d1", "online", 1000, 400, 500, chunk_count=7)
    registry.register(DiskCollector(NODE, [info], {DISK: (1, 2)}))
    add_build_info(registry, "storage-node")
    return generate_latest(registry).decode()


def coordinator_text() -> str:
    snap = ClusterSnapshot(
        taken=1000.0,
        nodes=[NodeGauge(NODE, "http://127.0.0.1:1", True, 1.5)],
        disks=[DiskGauge(DISK, NODE, "online", 1000, 400, 500, 7)],
        degraded={1: 3, 3: 1},
        unrecoverable=1,
        gc_backlog=4,
        pending_writes=2,
    )
    repair = RepairStatus(
        paused=False,
        queued=5,
        running=1,
        queued_bytes=5000,
        repaired_chunks=9,
        repaired_bytes=9000,
        failed_attempts=1,
        rate_bytes_per_s=100.0,
        eta_seconds=50.0,
        min_surviving=4,
        by_reason=[ReasonCount("offline", 4), ReasonCount("rebalance", 1)],
        since=0.0,
        rate_limit_bytes_per_s=0,
        concurrency=4,
    )
    scrub = ScrubStatus(
        running=False,
        requested_at=None,
        finished_at=None,
        found_missing=0,
        found_corrupt=0,
        found_orphans=0,
        disks=[DiskScrubState(DISK, NODE, 300, 3, 10.0, 20.0, None, None, 0, 0, 0)],
    )
    drains = DrainStatus(disks=[DiskDrainState(DISK, NODE, "draining", 5.0, 6)])
    registry = CollectorRegistry()
    view = DurabilityView(repair=repair, scrub=scrub, drains=drains)
    registry.register(ClusterCollector(CoordinatorConfig(), snap, view, True, True))
    add_build_info(registry, "coordinator")
    return generate_latest(registry).decode()


@pytest.mark.parametrize("make", [gateway_text, node_text, coordinator_text])
def test_every_series_follows_the_naming_rules(make: object) -> None:
    text = make()  # type: ignore[operator]
    assert metriclint.problems(text) == []


def test_the_lint_catches_each_rule() -> None:
    bad = "\n".join(
        [
            "# TYPE s3_requests_total counter",
            "s3_requests_total 1",
            "# TYPE wormfs_latency_ms gauge",
            "wormfs_latency_ms 1",
            "# TYPE wormfs_open_total gauge",
            "wormfs_open_total 1",
            "# TYPE wormfs_heartbeat_age gauge",
            "wormfs_heartbeat_age 1",
            "# TYPE wormfs_gets_total counter",
            'wormfs_gets_total{key="a/b"} 1',
            "# TYPE wormfs_disk_errors_total counter",
            *(f'wormfs_disk_errors_total{{disk="{i}",kind="k{i}"}} 1' for i in range(101)),
            "# TYPE wormfs_disk_chunks gauge",  # one series per disk: fine at any size
            *(f'wormfs_disk_chunks{{node="n",disk="{i}"}} 1' for i in range(500)),
            "",
        ]
    )
    found = "\n".join(metriclint.problems(bad))
    assert "wormfs_disk_chunks" not in found
    for expected in (
        "s3_requests: not wormfs_",
        "wormfs_latency_ms: not in base units",
        "wormfs_open_total: _total on a gauge",
        "wormfs_heartbeat_age: names a time or size without its unit",
        "wormfs_gets: unbounded labels ['key']",
        "wormfs_disk_errors: 101 label sets",
    ):
        assert expected in found, found


def test_the_cluster_merge_keeps_each_series_once() -> None:
    node = node_text()
    registry = CollectorRegistry()
    registry.register(MergedCollector([coordinator_text(), node, node, gateway_text()]))
    merged = generate_latest(registry).decode()
    assert metriclint.problems(merged) == []
    assert len(metriclint.samples(merged, "wormfs_disk_capacity_bytes")) == 1
    builds = {labels["daemon"] for labels, _ in metriclint.samples(merged, "wormfs_build_info")}
    assert builds == {"coordinator", "storage-node", "gateway"}
    # One TYPE line per family, as promtool demands.
    types = re.findall(r"^# TYPE (\S+)", merged, re.M)
    assert len(types) == len(set(types))


def known_series() -> set[str]:
    names: set[str] = set()
    for text in (gateway_text(), node_text(), coordinator_text()):
        for name, kind in metriclint.families(text).items():
            names.add(name)
            if kind == "counter":
                names.add(name + "_total")
            if kind == "histogram":
                names |= {name + "_bucket", name + "_count", name + "_sum"}
    names.add("wormfs_zookeeper_connected")  # only with ZooKeeper
    return names


def series_in(expr: str) -> set[str]:
    return set(re.findall(r"\bwormfs_[a-z0-9_]+", expr))


def test_alerts_and_dashboard_use_only_series_that_exist() -> None:
    known = known_series()
    rules = yaml.safe_load((MONITORING / "alerts.yml").read_text())
    exprs = [rule["expr"] for group in rules["groups"] for rule in group["rules"]]
    dashboard = json.loads((MONITORING / "grafana-dashboard.json").read_text())
    exprs += [t["expr"] for panel in dashboard["panels"] for t in panel["targets"]]
    used = set().union(*(series_in(e) for e in exprs))
    assert used, "no series found in the monitoring files"
    assert used - known == set()
    # The alerts the issue asks for are there.
    names = {rule["alert"] for group in rules["groups"] for rule in group["rules"]}
    assert {
        "WormfsSegmentsUnrecoverable",
        "WormfsNodeDown",
        "WormfsDiskFailed",
        "WormfsCapacityForecast",
        "WormfsScrubOverdue",
    } <= names
