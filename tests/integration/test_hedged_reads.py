"""A hung node (SIGSTOP: its sockets accept, nothing answers) costs reads latency, not errors:
fragment opens and block reads that do not answer in time are hedged with parity.
"""

from __future__ import annotations

import time

import pytest
from integration.durability_helpers import check_objects, fast_cluster, put_objects

pytestmark = pytest.mark.integration


@pytest.mark.slow
def test_reads_hedge_around_a_hung_node() -> None:
    with fast_cluster(nodes=3, disks_per_node=2, repair_delay=600.0) as cluster:
        objects = put_objects(cluster, "hung", [50_000, 2 * 1024 * 1024 + 3, 4 * 1024 * 1024])
        cluster.hang_node(2)
        try:
            started = time.monotonic()
            check_objects(cluster, "hung", objects)
            took = time.monotonic() - started
        finally:
            cluster.unhang_node(2)
        # Each GET waits at most about one hedge delay per stalled step, never a socket timeout.
        print(f"3 GETs with a hung node took {took:.2f}s")
        assert took < 6 * len(objects), took
        check_objects(cluster, "hung", objects)
