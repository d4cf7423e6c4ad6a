"""Files made and written through the mount take their bucket's default storage class and its
profile, whatever class the version they replace had (set with ``wormfs admin profile
bucket-class``)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from integration.cluster import Cluster
from mounting import BUCKET, Mounted

pytestmark = pytest.mark.fuse


def _key(mount: Mounted, path: Path) -> str:
    return str(path.relative_to(mount.mountpoint))


def _set_default(cluster: Cluster, storage_class: str) -> None:
    wormfs = str(Path(sys.executable).with_name("wormfs"))
    admin = [wormfs, "admin", "--coordinator-url", cluster.coordinator_url, "profile"]
    done = subprocess.run(
        [*admin, "bucket-class", BUCKET, storage_class],
        env=dict(os.environ, WORMFS_CLUSTER_SECRET=cluster.secret),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"{BUCKET}: {storage_class}"


def _profile(cluster: Cluster, key: str) -> tuple[int, int]:
    manifest = cluster.coordinator_get(f"/v1/buckets/{BUCKET}/object", {"key": key})
    return manifest["profile"]["k"], manifest["profile"]["m"]


def test_mount_writes_take_the_bucket_default_class(
    root: Path, mount: Mounted, s3: Any, cluster: Cluster
) -> None:
    big, small = root / "big.bin", root / "small.txt"
    s3.put_object(Bucket=BUCKET, Key=_key(mount, big), Body=b"s3", StorageClass="STANDARD")
    _set_default(cluster, "REDUCED_REDUNDANCY")
    try:
        data = os.urandom(300 * 1024)  # erasure-coded, not inline
        big.write_bytes(data)
        small.write_bytes(b"inline")
        (root / "empty").touch()
        for path in (big, small, root / "empty"):
            head = s3.head_object(Bucket=BUCKET, Key=_key(mount, path))
            assert head["StorageClass"] == "REDUCED_REDUNDANCY", path.name
        assert _profile(cluster, _key(mount, big)) == (5, 1)
        assert s3.get_object(Bucket=BUCKET, Key=_key(mount, big))["Body"].read() == data
    finally:
        _set_default(cluster, "STANDARD")
    again = root / "again.bin"
    again.write_bytes(os.urandom(300 * 1024))
    head = s3.head_object(Bucket=BUCKET, Key=_key(mount, again))
    assert "StorageClass" not in head and _profile(cluster, _key(mount, again)) == (4, 2)
