"""Acceptance: a gateway killed during 50 concurrent PUTs leaves no partial object and, after
the GC delay, no chunk; chunks no metadata references are found by the inventory scan.
"""

from __future__ import annotations

import os
import shutil
import threading
import time
from pathlib import Path

import pytest
from integration.cluster import Cluster
from integration.durability_helpers import fast_cluster, placements, scrub
from waiting import wait_until

from wormfs.storage_node.chunkfiles import chunk_subdir

pytestmark = pytest.mark.integration


def _on_disk(cluster: Cluster) -> set[str]:
    return {p.stem for n in range(1, cluster.nodes + 1) for p in cluster.chunk_files(n)}


def _referenced(cluster: Cluster, bucket: str) -> set[str]:
    keys = [o["key"] for o in cluster.coordinator_get(f"/v1/buckets/{bucket}/objects")["objects"]]
    return {c["chunk_id"] for c in placements(cluster, bucket, keys)}


@pytest.mark.slow
def test_gateway_killed_during_50_puts_leaves_no_partial_object_and_no_orphans(
    tmp_path: Path,
) -> None:
    with fast_cluster(tmp_path, nodes=3, disks_per_node=2, gc_delay=3.0) as cluster:
        s3 = cluster.s3(retries={"max_attempts": 1}, connect_timeout=5, read_timeout=20)
        s3.create_bucket(Bucket="crash")
        payloads = {f"k{i:02d}": os.urandom(256 * 1024 * (1 + i % 8)) for i in range(50)}
        outcome: dict[str, bool] = {}

        def put(key: str) -> None:
            try:
                s3.put_object(Bucket="crash", Key=key, Body=payloads[key])
                outcome[key] = True
            except Exception:
                outcome[key] = False

        threads = [threading.Thread(target=put, args=(k,)) for k in payloads]
        for t in threads:
            t.start()
        # Kill once the first PUTs are acknowledged: the others are still in flight.
        wait_until(lambda: any(outcome.values()), message="a first PUT acknowledged")
        cluster.kill_gateway()
        for t in threads:
            t.join(30)
        cluster.start_gateway()
        s3 = cluster.s3()
        listed = [o["Key"] for o in s3.list_objects_v2(Bucket="crash").get("Contents", [])]
        # Every acknowledged PUT is there; whatever is listed reads back whole.
        assert {k for k, ok in outcome.items() if ok} <= set(listed)
        assert len(listed) < 50, "the kill came too late to interrupt any write"
        for key in listed:
            assert s3.get_object(Bucket="crash", Key=key)["Body"].read() == payloads[key]
        # After the GC delay the abandoned writes' chunks are gone; nothing referenced is.
        referenced = _referenced(cluster, "crash")
        cluster.wait_until(lambda: _on_disk(cluster) == referenced, 40)
        for key in listed:
            assert s3.get_object(Bucket="crash", Key=key)["Body"].read() == payloads[key]


@pytest.mark.slow
def test_inventory_scan_removes_unreferenced_chunks_after_the_safety_delay(tmp_path: Path) -> None:
    with fast_cluster(tmp_path, nodes=3, disks_per_node=2, orphan_delay=2.0) as cluster:
        s3 = cluster.s3()
        s3.create_bucket(Bucket="keep")
        s3.put_object(Bucket="keep", Key="a", Body=os.urandom(100_000))
        referenced = _referenced(cluster, "keep")
        # A chunk file no metadata knows of (as if a delete was lost to a crash), and a fresh
        # one that must survive the scan because it is younger than the safety delay.
        source = cluster.chunk_files(1)[0]
        chunks_dir = source.parent.parent
        old = chunks_dir / chunk_subdir("0" * 31 + "1") / ("0" * 31 + "1.chunk")
        fresh = chunks_dir / chunk_subdir("f" * 31 + "1") / ("f" * 31 + "1.chunk")
        for path in (old, fresh):
            path.parent.mkdir(exist_ok=True)
            shutil.copy(source, path)
        past = time.time() - 3600
        os.utime(old, (past, past))
        found = scrub(cluster, deep=False)
        assert found["found_orphans"] == 1
        cluster.wait_until(lambda: not old.exists(), 15)
        assert fresh.exists()
        assert referenced <= _on_disk(cluster)
        assert s3.get_object(Bucket="keep", Key="a")["Body"].read()
        Path(fresh).unlink()
