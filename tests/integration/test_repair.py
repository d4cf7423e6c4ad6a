"""Acceptance: lost disks and nodes are survived by reads and rebuilt with no admin action.

Real processes (``integration.cluster``), coordinator jobs on test time scales. The first disk
of a node also holds the node's state (its id), so the tests fail other disks.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from integration.durability_helpers import (
    assert_one_chunk_per_disk,
    check_objects,
    disk_id_of,
    fast_cluster,
    online_disks,
    placements,
    put_objects,
    scrub,
    wait_repaired,
)

pytestmark = pytest.mark.integration

SIZES = [1, 1000, 300_000, 1024 * 1024, 3 * 1024 * 1024 + 17, 5 * 1024 * 1024]


@pytest.mark.slow
@pytest.mark.expected_log_errors(r"ERROR wormfs\.storage_node\.disks: disk \w+ .* is now offline")
def test_two_disks_lost_reads_survive_and_repair_restores_redundancy(tmp_path: Path) -> None:
    with fast_cluster(tmp_path, nodes=3, disks_per_node=3) as cluster:
        objects = put_objects(cluster, "lost", SIZES)
        lost = [disk_id_of(cluster, 1, 2), disk_id_of(cluster, 2, 3)]
        expected = len(cluster.chunk_files(1, 2)) + len(cluster.chunk_files(2, 3))
        assert expected > 0
        cluster.fail_disk(1, 2)
        cluster.fail_disk(2, 3)
        # m = 2 of every segment's k+m disks are gone: every object still reads back.
        check_objects(cluster, "lost", objects)
        status = wait_repaired(cluster, expected)
        assert status["repaired_chunks"] == expected
        live = online_disks(cluster)
        assert not set(lost) & live
        placed = placements(cluster, "lost", list(objects))
        assert all(p["disk_id"] in live for p in placed)
        # Invariant 2 still holds after repair: one chunk of a segment per disk.
        assert_one_chunk_per_disk(cluster, "lost", list(objects))
        check_objects(cluster, "lost", objects)
        again = scrub(cluster, deep=True)
        assert (again["found_missing"], again["found_corrupt"]) == (0, 0)


@pytest.mark.slow
def test_node_killed_reads_survive_and_repair_restores_redundancy(tmp_path: Path) -> None:
    with fast_cluster(tmp_path, nodes=3, disks_per_node=3) as cluster:
        objects = put_objects(cluster, "node", SIZES)
        expected = len(cluster.chunk_files(3))
        cluster.kill_node(3)
        check_objects(cluster, "node", objects)
        wait_repaired(cluster, expected)
        live = online_disks(cluster)
        placed = placements(cluster, "node", list(objects))
        assert all(p["disk_id"] in live for p in placed)
        assert_one_chunk_per_disk(cluster, "node", list(objects))
        check_objects(cluster, "node", objects)
        again = scrub(cluster, deep=True)
        assert (again["found_missing"], again["found_corrupt"]) == (0, 0)
