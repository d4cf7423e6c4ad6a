"""Acceptance: bitrot in 20 chunk files is read around, found by the scrub, and repaired.

Also: a chunk file deleted from a healthy disk is found by a shallow scrub; and the read path
reports a missing chunk, which the coordinator confirms with its node and queues for repair.
"""

from __future__ import annotations

import random
from collections import defaultdict
from pathlib import Path

import pytest
from integration.cluster import Cluster
from integration.durability_helpers import (
    check_objects,
    fast_cluster,
    placements,
    put_objects,
    repair_status,
    scrub,
    wait_repaired,
)

pytestmark = pytest.mark.integration


def _chunk_paths(cluster: Cluster) -> dict[str, Path]:
    files: dict[str, Path] = {}
    for node in range(1, cluster.nodes + 1):
        for path in cluster.chunk_files(node):
            files[path.stem] = path
    return files


def _pick(cluster: Cluster, bucket: str, keys: list[str], count: int, per_key: int) -> list[str]:
    """``count`` chunk ids, at most ``per_key`` per object (each object is one segment)."""
    by_key: dict[str, list[str]] = defaultdict(list)
    for key in keys:
        for chunk in placements(cluster, bucket, [key]):
            by_key[key].append(chunk["chunk_id"])
    rng = random.Random(7)
    chosen: list[str] = []
    for key in keys:
        chosen += rng.sample(by_key[key], per_key)
        if len(chosen) >= count:
            break
    return chosen[:count]


@pytest.mark.slow
@pytest.mark.expected_log_errors(r"unreadable mid-stream; cutting the stream: .* fails its CRC32C")
def test_bitrot_in_20_chunks_is_read_around_found_and_repaired(tmp_path: Path) -> None:
    with fast_cluster(tmp_path, nodes=3, disks_per_node=2) as cluster:
        sizes = [random.Random(i).randrange(1, 3 * 1024 * 1024) for i in range(12)]
        objects = put_objects(cluster, "rot", sizes)
        cluster.coordinator_post("/v1/repair/pause")
        chosen = _pick(cluster, "rot", list(objects), 20, per_key=2)
        files = _chunk_paths(cluster)
        rng = random.Random(11)
        for chunk_id in chosen:
            path = files[chunk_id]
            cluster.corrupt_chunk(path, rng.randrange(0, path.stat().st_size))
        # Every GET returns the right bytes (reads decode around the corrupt fragments).
        check_objects(cluster, "rot", objects)
        found = scrub(cluster, deep=True)
        assert found["found_corrupt"] == 20
        queued = {c for c, *_ in cluster_entries(cluster)}
        assert queued == set(chosen)
        cluster.coordinator_post("/v1/repair/resume")
        status = wait_repaired(cluster, 20)
        assert status["repaired_chunks"] == 20
        check_objects(cluster, "rot", objects)
        again = scrub(cluster, deep=True)
        assert (again["found_missing"], again["found_corrupt"]) == (0, 0)
        # The corrupt files themselves were collected.
        cluster.wait_until(lambda: not set(chosen) & set(_chunk_paths(cluster)), 20)


def cluster_entries(cluster: Cluster) -> list[tuple[str, str]]:
    status = repair_status(cluster)
    assert status["queued"] >= 0
    entries: list[tuple[str, str]] = [
        (e["chunk_id"], e["reason"]) for e in cluster.coordinator_get("/v1/repair/queue")["entries"]
    ]
    return entries


@pytest.mark.slow
def test_deleted_chunk_found_by_shallow_scrub_and_read_path(tmp_path: Path) -> None:
    with fast_cluster(tmp_path, nodes=3, disks_per_node=2) as cluster:
        # The small one is still above the gateway's inline_max (64 KiB), so it has chunks.
        objects = put_objects(cluster, "gone", [2 * 1024 * 1024, 100_000])
        cluster.coordinator_post("/v1/repair/pause")
        first, second = (placements(cluster, "gone", [k])[0]["chunk_id"] for k in objects)
        files = _chunk_paths(cluster)
        cluster.delete_chunk(files[first])
        found = scrub(cluster, deep=False)
        assert found["found_missing"] == 1
        assert [c for c, _ in cluster_entries(cluster)] == [first]
        # A read meets the second missing chunk and reports it.
        cluster.delete_chunk(files[second])
        check_objects(cluster, "gone", objects)
        cluster.wait_until(lambda: len(cluster_entries(cluster)) == 2, 10)
        cluster.coordinator_post("/v1/repair/resume")
        wait_repaired(cluster, 2)
        check_objects(cluster, "gone", objects)
        assert scrub(cluster, deep=True)["found_missing"] == 0
