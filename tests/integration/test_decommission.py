"""Acceptance: decommissioning a node while reads run fails no read and leaves it empty; the
admin CLI shows repair progress and starts scrubs; a rebalance evens out a new disk. The
decommission and the disk actions after it go through the admin API (``--admin-url``), each
audited; the other commands through the internal API.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from integration.cluster import Cluster
from integration.durability_helpers import (
    admin_url,
    assert_one_chunk_per_disk,
    check_objects,
    fast_cluster,
    online_disks,
    placements,
    put_objects,
)

pytestmark = pytest.mark.integration

SIZES = [10_000, 700_000, 2 * 1024 * 1024, 3 * 1024 * 1024 + 5] * 3


TOKEN = "wfa_decommission-admin-token-0123456789abcdefghijklmnopqrs"


def run_admin(
    cluster: Cluster, *args: str, api: bool = False, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    """``wormfs admin ARGS`` over the internal API, or with ``api`` the admin API."""
    wormfs = str(Path(sys.executable).with_name("wormfs"))
    env = dict(os.environ, WORMFS_CLUSTER_SECRET=cluster.secret)
    connect = ["--admin-url", admin_url(cluster), "--token", TOKEN] if api else []
    return subprocess.run(
        [wormfs, "admin", "--coordinator-url", cluster.coordinator_url, *args, *connect],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def admin(cluster: Cluster, *args: str, api: bool = False, timeout: float = 60) -> str:
    result = run_admin(cluster, *args, api=api, timeout=timeout)
    assert result.returncode == 0, result.stderr
    return result.stdout


def admin_get(cluster: Cluster, path: str) -> Any:
    request = urllib.request.Request(
        f"{admin_url(cluster)}/admin/v1{path}", headers={"Authorization": f"Bearer {TOKEN}"}
    )
    with urllib.request.urlopen(request, timeout=10) as resp:
        return json.loads(resp.read())


def node_id(cluster: Cluster, node: int) -> str:
    address = cluster.procs[f"node{node}"].address.rstrip("/")
    nodes = cluster.coordinator_get("/v1/nodes")["nodes"]
    return str(next(n["node_id"] for n in nodes if n["address"] == address))


@pytest.mark.slow
def test_decommission_node_while_reads_run(tmp_path: Path) -> None:
    with fast_cluster(
        tmp_path, nodes=4, disks_per_node=2, admin_token=TOKEN, gc_delay=2.0
    ) as cluster:
        objects = put_objects(cluster, "dec", SIZES)
        moved_expected = len(cluster.chunk_files(4))
        assert moved_expected
        failures: list[str] = []
        reads = 0
        stop = threading.Event()

        def reader() -> None:
            nonlocal reads
            s3 = cluster.s3()
            while not stop.is_set():
                for key, data in objects.items():
                    try:
                        if s3.get_object(Bucket="dec", Key=key)["Body"].read() != data:
                            failures.append(f"{key}: wrong bytes")
                    except Exception as exc:
                        failures.append(f"{key}: {exc!r}")
                    reads += 1

        thread = threading.Thread(target=reader)
        thread.start()
        try:
            out = admin(
                cluster, "node", "decommission", node_id(cluster, 4), "--timeout", "60", api=True
            )
        finally:
            stop.set()
            thread.join(60)
        assert "decommissioned" in out
        assert not failures, failures[:5]
        assert reads > 0
        node4 = {d["disk_id"] for d in _disks_of(cluster, 4)}
        assert not {p["disk_id"] for p in placements(cluster, "dec", list(objects))} & node4
        assert_one_chunk_per_disk(cluster, "dec", list(objects))
        cluster.wait_until(lambda: not cluster.chunk_files(4), 30)
        assert "drained" in admin(cluster, "drain", "status")
        drains = admin_get(cluster, "/drains")["disks"]
        assert {d["disk_id"] for d in drains if d["state"] == "drained"} == node4
        # Disk actions over the admin API: audited, errors as code: message (request id).
        disk = sorted(node4)[0]
        admin(cluster, "disk", "undrain", disk, api=True)
        refused = run_admin(cluster, "disk", "drain", "no-such-disk", api=True)
        assert refused.returncode == 1 and "NotFound" in refused.stderr, refused.stderr
        audit = admin_get(cluster, "/audit")["items"]
        assert [(r["action"], r["target"], r["result"]) for r in audit] == [
            ("disk.drain", "disks/no-such-disk/drain", "NotFound"),
            ("disk.undrain", f"disks/{disk}/undrain", "ok"),
            ("node.decommission", f"nodes/{node_id(cluster, 4)}/decommission", "ok"),
        ]
        check_objects(cluster, "dec", objects)
        status = admin(cluster, "repair", "status")
        assert "queued:           0 chunks" in status
        moved = json.loads(admin(cluster, "repair", "status", "--json"))
        assert moved["repaired_chunks"] == moved_expected


def _disks_of(cluster: Cluster, node: int) -> list[dict[str, str]]:
    wanted = node_id(cluster, node)
    nodes = cluster.coordinator_get("/v1/nodes")["nodes"]
    return list(next(n["disks"] for n in nodes if n["node_id"] == wanted))


@pytest.mark.slow
def test_admin_scrub_and_repair_commands(tmp_path: Path) -> None:
    with fast_cluster(tmp_path, nodes=3, disks_per_node=2) as cluster:
        objects = put_objects(cluster, "cli", [100_000, 1_500_000])
        path = cluster.chunk_files(2)[0]
        cluster.corrupt_chunk(path)
        out = admin(cluster, "scrub", "--wait")
        assert "finished" in out
        assert "1 corrupt" in out
        assert "bytes" not in out or "verified" in out
        cluster.wait_until(lambda: "queued:           0 chunks" in admin(cluster, "repair"), 30)
        assert "repaired:         1 chunks" in admin(cluster, "repair", "status")
        assert "empty" in admin(cluster, "repair", "list")
        check_objects(cluster, "cli", objects)
        assert len(online_disks(cluster)) == 6


@pytest.mark.slow
def test_added_node_takes_new_data_and_rebalance_moves_chunks_to_it(tmp_path: Path) -> None:
    with fast_cluster(tmp_path, nodes=3, disks_per_node=2, gc_delay=1.0) as cluster:
        objects = put_objects(cluster, "grow", SIZES)
        new = cluster.add_node()
        cluster.wait_disks(8)
        assert not cluster.chunk_files(new)
        out = admin(cluster, "rebalance", "--tolerance", "0.0")
        assert "moves queued" in out
        moved = int(out.split()[0])
        assert moved > 0
        cluster.wait_until(lambda: "queued:           0 chunks" in admin(cluster, "repair"), 60)
        new_disks = {d["disk_id"] for d in _disks_of(cluster, new)}
        placed = [p["disk_id"] for p in placements(cluster, "grow", list(objects))]
        assert sum(1 for d in placed if d in new_disks) == moved
        assert_one_chunk_per_disk(cluster, "grow", list(objects))
        check_objects(cluster, "grow", objects)
        # New data goes to the new node too.
        more = put_objects(cluster, "grow2", [1_000_000] * 4)
        placed = [p["disk_id"] for p in placements(cluster, "grow2", list(more))]
        assert set(placed) & new_disks
