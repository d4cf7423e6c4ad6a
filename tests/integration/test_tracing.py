"""Tracing (optional): one S3 PUT is one trace across the gateway, the coordinator and the nodes.

Real processes (``integration.cluster``) with ``WORMFS_TRACING`` naming a file per process;
spans are read back from those JSON lines once the cluster has stopped (which flushes them).
Without ``WORMFS_TRACING``, starting a daemon's code imports nothing of OpenTelemetry.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from integration.cluster import Cluster

pytestmark = pytest.mark.integration

BODY = bytes(range(256)) * 1200  # 307,200 bytes: chunked, one chunk on each of 6 disks


def read_spans(folder: Path) -> list[dict[str, Any]]:
    spans = []
    for path in sorted(folder.glob("spans-*.jsonl")):
        for line in path.read_text().splitlines():
            span = json.loads(line)
            span["file"] = path.name  # one file per process
            spans.append(span)
    return spans


def service(span: dict[str, Any]) -> str:
    return str(span["resource"]["attributes"]["service.name"])


def test_one_put_is_one_trace_across_processes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("opentelemetry.sdk", reason="the tracing extra is not installed")
    spans_dir = tmp_path / "spans"
    spans_dir.mkdir()
    monkeypatch.setenv("WORMFS_TRACING", str(spans_dir / "spans-{pid}.jsonl"))
    cluster = Cluster(nodes=3, disks_per_node=2, root=tmp_path / "cluster")
    try:
        cluster.start()
        s3 = cluster.s3()
        s3.create_bucket(Bucket="traced")
        s3.put_object(Bucket="traced", Key="one", Body=BODY)
    finally:
        cluster.cleanup()  # SIGTERM: every daemon flushes its spans before it exits
    spans = read_spans(spans_dir)
    assert {"wormfs-gateway", "wormfs-coordinator", "wormfs-storage-node"} <= {
        service(s) for s in spans
    }
    puts = [
        s
        for s in spans
        if service(s) == "wormfs-gateway"
        and s["kind"] == "SpanKind.SERVER"
        and s["attributes"].get("http.method") == "PUT"
        and s["attributes"].get("http.target") == "/traced/one"
    ]
    assert len(puts) == 1, sorted(s["name"] for s in spans if service(s) == "wormfs-gateway")
    put = puts[0]
    in_trace = [s for s in spans if s["context"]["trace_id"] == put["context"]["trace_id"]]
    # The gateway's calls: client spans under its server span.
    clients = {
        s["context"]["span_id"]
        for s in in_trace
        if service(s) == "wormfs-gateway" and s["kind"] == "SpanKind.CLIENT"
    }
    assert clients
    node_servers = [
        s
        for s in in_trace
        if service(s) == "wormfs-storage-node" and s["kind"] == "SpanKind.SERVER"
    ]
    coordinator_servers = [
        s for s in in_trace if service(s) == "wormfs-coordinator" and s["kind"] == "SpanKind.SERVER"
    ]
    # One chunk PUT to each of the 6 disks, on all 3 nodes, each the server span of a node
    # whose parent is a client span of the gateway: its traceparent reached the node.
    assert len(node_servers) == 6
    assert all(s["parent_id"] in clients for s in node_servers)
    assert len({s["file"] for s in node_servers}) == 3
    assert all(s["attributes"]["http.method"] == "PUT" for s in node_servers)
    # The coordinator's begin and commit of the write are in the same trace.
    assert len(coordinator_servers) >= 2
    assert all(s["parent_id"] in clients for s in coordinator_servers)


def test_without_tracing_nothing_of_opentelemetry_is_imported() -> None:
    code = (
        "import sys\n"
        "import wormfs.cli.main, wormfs.gateway.app, wormfs.coordinator.app, "
        "wormfs.storage_node.app, wormfs.runtime.startup\n"
        "from wormfs.runtime.tracing import start_tracing\n"
        "assert start_tracing('gateway', {}) is None\n"
        "print(sorted(m for m in sys.modules if m.startswith('opentelemetry')))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert done.stdout.strip() == "[]", done.stdout + done.stderr
