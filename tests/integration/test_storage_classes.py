"""Acceptance: objects written under two profiles on one real cluster keep their own profile on
the disks, through the loss of a disk, repair and scrub; a class wider than the cluster is
refused. Profiles are made with the real CLI (``wormfs admin profile``).

Real processes (``integration.cluster``): a coordinator with repair and scrub on test time
scales and its admin listener, four storage nodes of two disks each (eight disks: a 4+2
segment still has a disk to be rebuilt on after one is lost) and a gateway; boto3 writes
STANDARD (4+2) and SMALL (2+1, 1 MiB segments) objects. The CLI is used over the admin API
(audited) and over the internal API.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.request
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError
from integration.cluster import Cluster
from integration.durability_helpers import (
    admin_url,
    assert_one_chunk_per_disk,
    check_objects,
    disk_id_of,
    fast_cluster,
    online_disks,
    scrub,
    wait_repaired,
)

pytestmark = pytest.mark.integration

MIB = 1024 * 1024
SIZE = 2 * MIB + 300 * 1024  # STANDARD: one segment of 6 chunks; SMALL: 3 segments of 3
TOKEN = "wfa_storage-classes-admin-token-0123456789abcdefghijklmnop"


def _admin(cluster: Cluster, *args: str, api: bool = False) -> subprocess.CompletedProcess[str]:
    """``wormfs admin profile ARGS`` over the internal API, or with ``api`` the admin API."""
    wormfs = str(Path(sys.executable).with_name("wormfs"))
    env = dict(os.environ, WORMFS_CLUSTER_SECRET=cluster.secret)
    where = ["--coordinator-url", cluster.coordinator_url]
    connect = ["--admin-url", admin_url(cluster), "--token", TOKEN] if api else []
    return subprocess.run(
        [wormfs, "admin", *where, "profile", *args, *connect],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def _audit(cluster: Cluster, action: str) -> list[tuple[str, str]]:
    request = urllib.request.Request(
        f"{admin_url(cluster)}/admin/v1/audit?action={action}",
        headers={"Authorization": f"Bearer {TOKEN}"},
    )
    with urllib.request.urlopen(request, timeout=10) as resp:
        return [(r["target"], r["result"]) for r in json.loads(resp.read())["items"]]


def _segments(cluster: Cluster, bucket: str, key: str) -> list[list[dict[str, Any]]]:
    manifest = cluster.coordinator_get(f"/v1/buckets/{bucket}/object", {"key": key})
    return [s["chunks"] for p in manifest["parts"] for s in p["segments"]]


def _profile(cluster: Cluster, bucket: str, key: str) -> tuple[int, int]:
    manifest = cluster.coordinator_get(f"/v1/buckets/{bucket}/object", {"key": key})
    return manifest["profile"]["k"], manifest["profile"]["m"]


def _chunks_on_disks(cluster: Cluster) -> set[str]:
    """The ids of every chunk file on every disk of the cluster."""
    return {path.stem for node in range(1, cluster.nodes + 1) for path in cluster.chunk_files(node)}


def _check_layout(cluster: Cluster, bucket: str, keys: dict[str, int]) -> None:
    """Each segment of each object has its own profile's k+m chunks, each on its own disk and
    present as a file there."""
    on_disks = _chunks_on_disks(cluster)
    for key, width in keys.items():
        for chunks in _segments(cluster, bucket, key):
            assert len(chunks) == width, (key, len(chunks))
            assert {c["chunk_id"] for c in chunks} <= on_disks, key
    assert_one_chunk_per_disk(cluster, bucket, list(keys))


@pytest.mark.slow
@pytest.mark.expected_log_errors(r"ERROR wormfs\.storage_node\.disks: disk \w+ .* is now offline")
def test_two_profiles_survive_a_lost_disk_repair_and_scrub_each_with_its_own(
    tmp_path: Path,
) -> None:
    with fast_cluster(tmp_path, nodes=4, disks_per_node=2, admin_token=TOKEN) as cluster:
        made = _admin(
            cluster,
            "create",
            "small",
            "--k",
            "2",
            "--m",
            "1",
            "--stripe-size",
            str(256 * 1024),
            "--segment-size",
            str(MIB),
            "--storage-class",
            "SMALL",
            "--json",
            api=True,
        )
        assert made.returncode == 0, made.stderr
        assert json.loads(made.stdout)["storage_class"] == "SMALL"
        for api in (True, False):
            wide = _admin(cluster, "create", "wide", "--k", "6", "--m", "3", api=api)
            assert wide.returncode == 1
            assert "needs k+m = 9 disks; the cluster has 8 writable" in wide.stderr
        # Only the calls over the admin API are audited, each once.
        assert _audit(cluster, "profile.create") == [
            ("profiles/wide", "InvalidInput"),
            ("profiles/small", "ok"),
        ]

        s3 = cluster.s3()
        s3.create_bucket(Bucket="two")
        objects: dict[str, bytes] = {}
        widths: dict[str, int] = {}
        for i in range(3):
            for storage_class, width in (("STANDARD", 6), ("SMALL", 3)):
                key = f"{storage_class.lower()}-{i}"
                objects[key] = os.urandom(SIZE + i)
                s3.put_object(Bucket="two", Key=key, Body=objects[key], StorageClass=storage_class)
                widths[key] = width
        assert {_profile(cluster, "two", k) for k in objects} == {(4, 2), (2, 1)}
        assert [
            len(_segments(cluster, "two", "small-0")),
            len(_segments(cluster, "two", "standard-0")),
        ] == [3, 1]
        _check_layout(cluster, "two", widths)
        # A class no profile serves, and one wider than the cluster, change nothing.
        with pytest.raises(ClientError) as refused:
            s3.put_object(Bucket="two", Key="x", Body=b"x" * SIZE, StorageClass="HUGE")
        assert refused.value.response["Error"]["Code"] == "InvalidStorageClass"

        for api in (True, False):
            listed = json.loads(_admin(cluster, "list", "--json", api=api).stdout)["profiles"]
            usage = {p["name"]: (p["objects"], p["bytes"]) for p in listed}
            assert usage["small"] == usage["standard"] == (3, 3 * SIZE + 3)
        plain = {line.split()[0]: line for line in _admin(cluster, "list").stdout.splitlines()}
        assert set(plain) == {"reduced-redundancy", "small", "standard"}
        assert " 2+1 " in plain["small"] and "class SMALL" in plain["small"]
        assert "3 objects" in plain["small"] and " 4+2 " in plain["standard"]

        lost = disk_id_of(cluster, 1, 2)
        on_lost = {p.stem for p in cluster.chunk_files(1, 2)}
        hit = Counter(
            key
            for key in objects
            for chunks in _segments(cluster, "two", key)
            for c in chunks
            if c["chunk_id"] in on_lost
        )
        assert hit, "the lost disk held no chunk of these objects"
        cluster.fail_disk(1, 2)
        check_objects(cluster, "two", objects)  # at most one fragment of any segment is gone
        wait_repaired(cluster, len(on_lost))
        assert lost not in online_disks(cluster)
        for key in objects:
            for chunks in _segments(cluster, "two", key):
                assert lost not in {c["disk_id"] for c in chunks}, key
        _check_layout(cluster, "two", widths)
        assert {_profile(cluster, "two", k) for k in objects} == {(4, 2), (2, 1)}
        check_objects(cluster, "two", objects)

        # A chunk lost on a healthy disk is found by the scrub and rebuilt into its own
        # object's profile: 2+1 stays 3 chunks a segment.
        victim = _segments(cluster, "two", "small-1")[1][0]["chunk_id"]
        path = next(
            p
            for node in range(1, cluster.nodes + 1)
            for p in cluster.chunk_files(node)
            if p.stem == victim
        )
        repaired_before = cluster.coordinator_get("/v1/repair/status")["repaired_chunks"]
        cluster.delete_chunk(path)
        found = scrub(cluster, deep=False)
        assert found["found_missing"] >= 1
        wait_repaired(cluster, repaired_before + 1)
        _check_layout(cluster, "two", widths)
        check_objects(cluster, "two", objects)
        again = scrub(cluster, deep=True)
        assert (again["found_missing"], again["found_corrupt"]) == (0, 0)

        # The bucket's default class over the admin API, read back over the internal one.
        assert _admin(cluster, "bucket-class", "two", "SMALL", api=True).stdout == "two: SMALL\n"
        assert _admin(cluster, "bucket-class", "two").stdout == "two: SMALL\n"
        in_use = _admin(cluster, "delete", "small", api=True)
        assert in_use.returncode == 1 and "ProfileInUse" in in_use.stderr
        assert _audit(cluster, "profile.delete") == [("profiles/small", "ProfileInUse")]
