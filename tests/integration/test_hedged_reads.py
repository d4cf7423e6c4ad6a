"""A hung node (SIGSTOP: its sockets accept, nothing answers) costs reads latency, not errors:
fragment opens and block reads that do not answer in time are hedged with parity.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from integration.durability_helpers import check_objects, fast_cluster, put_objects

pytestmark = pytest.mark.integration


@pytest.mark.slow
def test_reads_hedge_around_a_hung_node(tmp_path: Path) -> None:
    with fast_cluster(tmp_path, nodes=3, disks_per_node=2, repair_delay=600.0) as cluster:
        objects = put_objects(cluster, "hung", [50_000, 2 * 1024 * 1024 + 3, 4 * 1024 * 1024])
        cluster.hang_node(2)
        try:
            # Each GET waits about one hedge delay per stalled step, never the stalled node's
            # socket timeout (the storage client's 60 s read timeout): a client that gives up
            # after half of that, without retrying, sees every GET succeed only if reads hedge.
            impatient = cluster.s3(retries={"max_attempts": 1}, read_timeout=30)
            for key, data in objects.items():
                assert impatient.get_object(Bucket="hung", Key=key)["Body"].read() == data, key
        finally:
            cluster.unhang_node(2)
        check_objects(cluster, "hung", objects)
