"""Metrics and logs of a real cluster: counts that add up, clean expositions, tied request ids.

Real processes: ``wormfs server`` with two gateway workers (``integration.servers``), and a
cluster with fast durability jobs for the disk-loss test (``integration.durability_helpers``).

* After exactly 100 PUTs and 100 GETs spread over both workers (each must have served some,
  read from its own multiprocess file), the summed ``wormfs_s3_requests_total`` of PutObject
  is exactly 100 on any worker's ``/metrics`` and in the cluster exposition, and the duration
  histogram's ``_count`` agrees.
* ``promtool check metrics`` and the naming lint find nothing in the gateway's, the storage
  node's, the coordinator's, the cluster's and the admin address's ``/metrics``.
* The access log has one line per S3 request, read back field by field (``awslog``) with the
  request id each response carried; the JSON daemon logs parse, and the id of one PUT is on
  lines of the gateway, the coordinator and the storage node.
* After a disk is lost, ``wormfs_segments_degraded`` is above 0, reads of segments that had a
  data fragment there count as degraded reads, and the gauge is 0 again after repair.
"""

from __future__ import annotations

import json
import urllib.request
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import awslog
import metriclint
import promtool
import pytest
from integration.durability_helpers import (
    check_objects,
    disk_id_of,
    fast_cluster,
    placements,
    put_objects,
    wait_repaired,
)
from integration.servers import Server
from prometheus_client.mmap_dict import MmapedDict
from waiting import wait_until

pytestmark = pytest.mark.integration

REQUESTS = 100
BODY = bytes(range(256)) * 274  # 70,144 bytes: above inline_max, so chunks on the node


def scrape(url: str) -> str:
    with urllib.request.urlopen(url, timeout=10) as resp:
        assert resp.headers["Content-Type"].startswith("text/plain; version=")
        return str(resp.read().decode())


def total(text: str, name: str, **labels: str) -> float:
    return sum(
        value
        for found, value in metriclint.samples(text, name)
        if all(found.get(k) == v for k, v in labels.items())
    )


def ready_address(server: Server, name: str) -> str:
    info = json.loads((server.data_dir / "run" / f"{name}.json").read_text())
    return str(info["address"])


def served_by_worker(server: Server, pid: int) -> Counter[str]:
    """Requests by operation that one worker counted (its own multiprocess file)."""
    path = server.data_dir / "run" / "metrics" / "gateway" / f"counter_{pid}.db"
    counts: Counter[str] = Counter()
    for key, value, _timestamp, _pos in MmapedDict.read_all_values_from_file(str(path)):
        _family, name, labels, _help = json.loads(key)
        if name == "wormfs_s3_requests_total":
            counts[labels["operation"]] += int(value)
    return counts


def test_counts_expositions_access_log_and_request_ids(tmp_path: Path) -> None:
    access_log = tmp_path / "access.log"
    server = Server(
        tmp_path,
        [
            "--workers",
            "2",
            "--log-format",
            "json",
            "--log-level",
            "DEBUG",
            "--access-log",
            str(access_log),
        ],
    ).start()
    try:
        s3 = server.s3(max_pool_connections=8)
        ids: dict[str, str] = {}  # request id -> what it was
        created = s3.create_bucket(Bucket="obs")
        ids[created["ResponseMetadata"]["RequestId"]] = "create"

        def put(i: int) -> tuple[str, str]:
            answer = s3.put_object(Bucket="obs", Key=f"k/{i:03d}", Body=BODY)
            return answer["ResponseMetadata"]["RequestId"], f"put k/{i:03d}"

        def get(i: int) -> tuple[str, str]:
            answer = s3.get_object(Bucket="obs", Key=f"k/{i:03d}")
            assert answer["Body"].read() == BODY
            return answer["ResponseMetadata"]["RequestId"], f"get k/{i:03d}"

        # Eight connections at once: SO_REUSEPORT spreads them over both workers.
        with ThreadPoolExecutor(8) as pool:
            ids.update(pool.map(put, range(REQUESTS)))
            ids.update(pool.map(get, range(REQUESTS)))
        assert len(ids) == 2 * REQUESTS + 1  # every request id is unique

        gateway = scrape(server.endpoint + "/metrics")
        assert total(gateway, "wormfs_s3_requests_total", operation="PutObject") == REQUESTS
        assert total(gateway, "wormfs_s3_requests_total", operation="GetObject") == REQUESTS
        assert total(gateway, "wormfs_s3_requests_total", operation="CreateBucket") == 1
        for operation in ("PutObject", "GetObject"):
            count = total(gateway, "wormfs_s3_request_duration_seconds_count", operation=operation)
            assert count == REQUESTS
        assert total(gateway, "wormfs_s3_received_bytes_total", operation="PutObject") >= (
            REQUESTS * len(BODY)
        )
        assert total(gateway, "wormfs_s3_sent_bytes_total", operation="GetObject") == (
            REQUESTS * len(BODY)
        )
        assert total(gateway, "wormfs_s3_requests_inflight") == 0
        # Both workers served some: each one's own file holds part of the 100.
        pids = [
            json.loads((server.data_dir / "run" / f"gateway-{n}.json").read_text())["pid"]
            for n in (1, 2)
        ]
        per_worker = [served_by_worker(server, pid) for pid in pids]
        assert all(w["PutObject"] + w["GetObject"] > 0 for w in per_worker), per_worker
        assert sum(w["PutObject"] for w in per_worker) == REQUESTS

        coordinator = ready_address(server, "coordinator")
        expositions = {
            "gateway": gateway,
            "storage node": scrape(ready_address(server, "storage-node-1") + "/metrics"),
            "coordinator": scrape(coordinator + "/metrics"),
            "cluster": scrape(coordinator + "/metrics/cluster"),
        }
        # The admin address serves the same whole-cluster exposition.
        expositions["admin"] = scrape(ready_address(server, "coordinator.admin") + "/metrics")
        for where, text in expositions.items():
            assert promtool.check_metrics(text) == "", where
            assert metriclint.problems(text) == [], where
        cluster = expositions["cluster"]
        assert total(cluster, "wormfs_s3_requests_total", operation="PutObject") == REQUESTS
        assert (
            total(cluster, "wormfs_disk_chunks")
            == total(expositions["storage node"], "wormfs_disk_chunks")
            > 0
        )
        assert total(cluster, "wormfs_node_up") == 1
        daemons = {
            labels["daemon"] for labels, _ in metriclint.samples(cluster, "wormfs_build_info")
        }
        assert daemons == {"coordinator", "storage-node", "gateway"}

        check_access_log(access_log, ids, server)
        check_json_logs(server, ids)
    finally:
        assert server.stop() == 0, server.log_text()[-5000:]


def check_access_log(path: Path, ids: dict[str, str], server: Server) -> None:
    def complete() -> list[dict[str, str]]:
        lines = path.read_text().splitlines() if path.exists() else []
        return [awslog.parse(line) for line in lines] if len(lines) >= len(ids) else []

    records = wait_until(complete, 10, message="an access-log line per request")
    assert sorted(r["request_id"] for r in records) == sorted(ids)  # one each, no other
    host = server.endpoint.removeprefix("http://")
    for record in records:
        what = ids[record["request_id"]]
        assert record["bucket"] == "obs"
        assert record["http_status"] == "200"
        assert record["error_code"] == ""
        assert record["remote_ip"] == "127.0.0.1"
        assert record["requester"] != ""
        assert (record["signature_version"], record["authentication_type"]) == (
            "SigV4",
            "AuthHeader",
        )
        assert record["host_header"] == host
        assert record["user_agent"].startswith("Boto3/")
        assert int(record["total_time"]) >= int(record["turn_around_time"]) >= 0
        assert record["host_id"] != ""
        if what == "create":
            assert record["operation"] == "REST.PUT.BUCKET"
            assert record["request_uri"] == "PUT /obs HTTP/1.1"
            continue
        verb, key = what.split()
        assert record["key"] == key
        assert record["object_size"] == str(len(BODY))
        if verb == "put":
            assert record["operation"] == "REST.PUT.OBJECT"
            assert record["request_uri"].startswith(f"PUT /obs/{key}")
            assert record["bytes_sent"] == ""
        else:
            assert record["operation"] == "REST.GET.OBJECT"
            assert record["request_uri"].startswith(f"GET /obs/{key}")
            assert record["bytes_sent"] == str(len(BODY))


def check_json_logs(server: Server, ids: dict[str, str]) -> None:
    entries: list[dict[str, Any]] = []
    for line in server.log_text().splitlines():
        if line.startswith("{"):
            entries.append(json.loads(line))
    assert len(entries) > 100
    assert all(
        {"time", "level", "logger", "message", "process", "request_id"} <= set(e) for e in entries
    )
    put_id = next(rid for rid, what in ids.items() if what == "put k/000")
    processes = {e["process"] for e in entries if e["request_id"] == put_id}
    # The PUT's id is on the gateway's line and on those of the internal calls it made.
    assert {"gateway", "coordinator", "storage-node"} <= processes, processes


@pytest.mark.slow
@pytest.mark.expected_log_errors(r"ERROR wormfs\.storage_node\.disks: disk \w+ .* is now offline")
def test_degraded_segments_rise_when_a_disk_is_lost_and_fall_after_repair(tmp_path: Path) -> None:
    # Repair waits 10 s before rebuilding a lost disk: the degraded state lasts long enough to
    # be seen through the gauge's 5 s cache.
    with fast_cluster(tmp_path, nodes=3, disks_per_node=3, repair_delay=10.0) as cluster:
        objects = put_objects(cluster, "degraded", [300_000, 1024 * 1024, 2 * 1024 * 1024 + 5])
        metrics_url = cluster.coordinator_url + "/metrics"
        before = scrape(metrics_url)
        assert total(before, "wormfs_segments_degraded") == 0
        assert total(before, "wormfs_segments_unrecoverable") == 0
        # Placement is pseudo-random: lose the disk of node 1 that holds the most chunks (a
        # given disk may hold none of these 18).
        disk = max(
            range(1, cluster.disks_per_node + 1), key=lambda d: len(cluster.chunk_files(1, d))
        )
        lost = disk_id_of(cluster, 1, disk)
        expected = len(cluster.chunk_files(1, disk))
        assert expected > 0
        # Reads decode parity only where the lost disk held a data fragment (0..k-1 of 4+2).
        lost_data = sum(
            1
            for p in placements(cluster, "degraded", list(objects))
            if p["disk_id"] == lost and p["fragment_index"] < 4
        )
        cluster.fail_disk(1, disk)

        def degraded() -> float:
            return total(scrape(metrics_url), "wormfs_segments_degraded", missing="1")

        assert wait_until(degraded, 30, message="degraded segments > 0") > 0
        check_objects(cluster, "degraded", objects)  # read back whole, from what is left
        reads = total(scrape(cluster.s3_url + "/metrics"), "wormfs_gateway_degraded_reads_total")
        assert reads == lost_data
        wait_repaired(cluster, expected)
        wait_until(lambda: degraded() == 0, 30, message="degraded segments back to 0")
        after = scrape(metrics_url)
        assert total(after, "wormfs_segments_degraded") == 0
        assert total(after, "wormfs_segments_unrecoverable") == 0
        assert total(after, "wormfs_disk_state", disk=lost, state="lost") == 1
        assert total(after, "wormfs_repair_chunks_total") >= expected
        node = scrape(cluster.procs["node1"].address + "/metrics")
        assert total(node, "wormfs_disk_online", disk=lost) == 0
