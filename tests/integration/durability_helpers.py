"""Shared pieces of the durability integration tests: a cluster with fast background jobs.

Not a test module. ``fast_cluster`` starts a real cluster whose coordinator runs repair,
scrub and GC on test time scales (seconds instead of minutes or days) through its TOML
config; the helpers read the durability routes with the cluster secret.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from integration.cluster import Cluster

FAST_CONFIG = """
heartbeat_interval = 0.5
node_offline_after = 3.0
gc_interval = 0.5
gc_delay = {gc_delay}

[durability]
repair_delay = {repair_delay}
repair_scan_interval = 0.5
repair_retry = 0.5
repair_rate_mb = 0
repair_concurrency = 4
shallow_scrub_interval = 3600
deep_scrub_interval = 86400
scrub_rate_mb = 0
scrub_duty = 1.0
orphan_delay = {orphan_delay}
"""


def fast_config(repair_delay: float = 1.0, gc_delay: float = 5.0, orphan_delay: float = 3.0) -> str:
    return FAST_CONFIG.format(
        repair_delay=repair_delay, gc_delay=gc_delay, orphan_delay=orphan_delay
    )


@contextmanager
def fast_cluster(
    tmp_path: Path, nodes: int, disks_per_node: int, admin_token: str = "", **config: float
) -> Iterator[Cluster]:
    """A started cluster under ``tmp_path`` (where the log scan finds its logs), cleaned up.
    With ``admin_token``, the coordinator also serves its admin listener on a free port with
    that token (``admin_url`` finds it)."""
    toml = fast_config(**config)
    if admin_token:
        # Top-level keys first: TOML puts every key after a table header into that table.
        toml = f'admin_token = "{admin_token}"\n' + toml.replace(
            "[durability]", '[admin_listen]\nhost = "127.0.0.1"\nport = 0\n\n[durability]', 1
        )
    cluster = Cluster(
        nodes=nodes,
        disks_per_node=disks_per_node,
        coordinator_config=toml,
        root=tmp_path / "cluster",
    )
    try:
        cluster.start()
    except BaseException:
        print(cluster.logs())
        cluster.cleanup()
        raise
    try:
        yield cluster
    except BaseException:
        print(cluster.logs())
        raise
    finally:
        cluster.cleanup()


def admin_url(cluster: Cluster) -> str:
    """The base URL of the coordinator's admin listener (a cluster started with a token)."""
    ready = cluster.procs["coordinator"].ready_file
    return str(json.loads(ready.with_name(ready.stem + ".admin.json").read_text())["address"])


def put_objects(cluster: Cluster, bucket: str, sizes: list[int]) -> dict[str, bytes]:
    s3 = cluster.s3()
    s3.create_bucket(Bucket=bucket)
    objects = {f"obj-{i:03d}": os.urandom(size) for i, size in enumerate(sizes)}
    for key, data in objects.items():
        s3.put_object(Bucket=bucket, Key=key, Body=data)
    return objects


def check_objects(cluster: Cluster, bucket: str, objects: dict[str, bytes]) -> None:
    s3 = cluster.s3()
    for key, data in objects.items():
        got = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
        assert hashlib.sha256(got).digest() == hashlib.sha256(data).digest(), key


def repair_status(cluster: Cluster) -> dict[str, Any]:
    status: dict[str, Any] = cluster.coordinator_get("/v1/repair/status")
    return status


def wait_repaired(cluster: Cluster, at_least: int, timeout: float = 60.0) -> dict[str, Any]:
    def done() -> dict[str, Any] | None:
        status = repair_status(cluster)
        if status["queued"] == 0 and status["repaired_chunks"] >= at_least:
            return status
        return None

    result: dict[str, Any] = cluster.wait_until(done, timeout)
    return result


def scrub(cluster: Cluster, deep: bool = True, timeout: float = 60.0) -> dict[str, Any]:
    """Run a scrub now and wait for it to finish; returns its final status."""
    cluster.coordinator_post("/v1/scrub", {"deep": deep})

    def finished() -> dict[str, Any] | None:
        status: dict[str, Any] = cluster.coordinator_get("/v1/scrub/status")
        return None if status["running"] else status

    result: dict[str, Any] = cluster.wait_until(finished, timeout)
    return result


def placements(cluster: Cluster, bucket: str, keys: list[str]) -> list[dict[str, Any]]:
    """Every chunk placement of the current versions of ``keys``."""
    out: list[dict[str, Any]] = []
    for key in keys:
        manifest = cluster.coordinator_get(f"/v1/buckets/{bucket}/object", {"key": key})
        for part in manifest["parts"]:
            for segment in part["segments"]:
                out += segment["chunks"]
    return out


def online_disks(cluster: Cluster) -> set[str]:
    nodes = cluster.coordinator_get("/v1/nodes")["nodes"]
    return {
        d["disk_id"]
        for n in nodes
        if n["state"] == "online"
        for d in n["disks"]
        if d["state"] in ("online", "full")
    }


def disk_id_of(cluster: Cluster, node: int, disk: int) -> str:
    marker = json.loads((cluster.disk_path(node, disk) / ".wormfs-disk").read_text())
    return str(marker["disk_id"])


def assert_one_chunk_per_disk(cluster: Cluster, bucket: str, keys: list[str]) -> None:
    for key in keys:
        manifest = cluster.coordinator_get(f"/v1/buckets/{bucket}/object", {"key": key})
        for part in manifest["parts"]:
            for segment in part["segments"]:
                disks = [c["disk_id"] for c in segment["chunks"]]
                assert len(set(disks)) == len(disks), (key, disks)
