"""The walking skeleton end to end: real processes, real S3 clients with default settings.

boto3 and aws-cli both send CRC checksums by default (headers over http); aws-cli switches to
multipart uploads and ranged parallel downloads above 8 MiB, so the 100 MiB case crosses
segment, stripe and multipart boundaries.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest
from integration.cluster import Cluster

pytestmark = pytest.mark.integration


def _file(path: Path, size: int) -> str:
    data = os.urandom(size)
    path.write_bytes(data)
    return hashlib.sha256(data).hexdigest()


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_boto3_put_get_list_delete(cluster: Cluster) -> None:
    s3 = cluster.s3()
    s3.create_bucket(Bucket="boto")
    assert "boto" in [b["Name"] for b in s3.list_buckets()["Buckets"]]
    payloads = {"empty": b"", "small": os.urandom(1024), "stripes": os.urandom(3 * 1024 * 1024 + 7)}
    for key, data in payloads.items():
        s3.put_object(Bucket="boto", Key=key, Body=data)
    for key, data in payloads.items():
        got = s3.get_object(Bucket="boto", Key=key)
        assert got["Body"].read() == data
        assert got["ETag"] == f'"{hashlib.md5(data).hexdigest()}"'
    # A range that straddles a stripe boundary.
    data = payloads["stripes"]
    part = s3.get_object(Bucket="boto", Key="stripes", Range="bytes=1048000-2097999")
    assert part["Body"].read() == data[1048000:2098000]
    listed = s3.list_objects_v2(Bucket="boto")
    assert sorted(o["Key"] for o in listed["Contents"]) == sorted(payloads)
    assert {o["Key"]: o["Size"] for o in listed["Contents"]} == {
        k: len(v) for k, v in payloads.items()
    }
    for key in payloads:
        s3.delete_object(Bucket="boto", Key=key)
    assert s3.list_objects_v2(Bucket="boto")["KeyCount"] == 0


@pytest.mark.slow
def test_boto3_upload_download_file_multipart(cluster: Cluster, tmp_path: Path) -> None:
    s3 = cluster.s3()
    s3.create_bucket(Bucket="transfer")
    src = tmp_path / "src.bin"
    digest = _file(src, 20 * 1024 * 1024 + 5)
    s3.upload_file(str(src), "transfer", "big.bin")
    head = s3.head_object(Bucket="transfer", Key="big.bin")
    assert head["ContentLength"] == src.stat().st_size
    assert head["ETag"].endswith('-3"')  # 8 MiB parts: multipart ETag
    dst = tmp_path / "dst.bin"
    s3.download_file("transfer", "big.bin", str(dst))
    assert _digest(dst) == digest


@pytest.mark.slow
def test_aws_cli_session(cluster: Cluster, tmp_path: Path) -> None:
    cluster.aws("s3", "mb", "s3://cli")
    sizes = {"zero.bin": 0, "one-kib.bin": 1024, "hundred-mib.bin": 100 * 1024 * 1024}
    digests = {}
    for name, size in sizes.items():
        digests[name] = _file(tmp_path / name, size)
        cluster.aws("s3", "cp", str(tmp_path / name), f"s3://cli/{name}")
    listing = cluster.aws("s3", "ls", "s3://cli/").stdout
    for name, size in sizes.items():
        assert name in listing
        assert f" {size} {name}" in listing
    down = tmp_path / "down"
    down.mkdir()
    for name in sizes:
        cluster.aws("s3", "cp", f"s3://cli/{name}", str(down / name))
        assert _digest(down / name) == digests[name]
    for name in sizes:
        cluster.aws("s3", "rm", f"s3://cli/{name}")
    assert cluster.aws("s3", "ls", "s3://cli/").stdout.strip() == ""


def test_get_survives_a_lost_disk(cluster: Cluster) -> None:
    """Deleting every chunk on one data directory: GETs decode from the other five."""
    s3 = cluster.s3()
    s3.create_bucket(Bucket="degraded")
    data = os.urandom(2 * 1024 * 1024 + 12345)
    s3.put_object(Bucket="degraded", Key="obj", Body=data)
    # Disk 1 holds a data fragment of every segment (one chunk per disk, 6 disks, 4+2).
    removed = cluster.delete_chunks(node=1, disk=1)
    assert removed >= 1
    assert s3.get_object(Bucket="degraded", Key="obj")["Body"].read() == data
    removed = cluster.delete_chunks(node=1, disk=2)
    assert removed >= 1
    assert s3.get_object(Bucket="degraded", Key="obj")["Body"].read() == data


def test_corrupt_chunk_is_decoded_around(cluster: Cluster) -> None:
    s3 = cluster.s3()
    s3.create_bucket(Bucket="bitrot")
    data = os.urandom(1024 * 1024 + 99)
    s3.put_object(Bucket="bitrot", Key="obj", Body=data)
    before = set(cluster.chunk_files())
    # Flip a byte in the middle of every chunk of one disk.
    for path in cluster.chunk_files(node=1, disk=3):
        if path in before:
            cluster.corrupt_chunk(path)
    assert s3.get_object(Bucket="bitrot", Key="obj")["Body"].read() == data


def test_objects_survive_a_restart(tmp_path: Path) -> None:
    cluster = Cluster(root=tmp_path / "cluster")
    try:
        cluster.start()
        s3 = cluster.s3()
        s3.create_bucket(Bucket="durable")
        data = os.urandom(1536 * 1024)
        s3.put_object(Bucket="durable", Key="a/b/c.bin", Body=data)
        cluster.restart()
        s3 = cluster.s3()
        assert s3.get_object(Bucket="durable", Key="a/b/c.bin")["Body"].read() == data
        assert [b["Name"] for b in s3.list_buckets()["Buckets"]] == ["durable"]
    except BaseException:
        print(cluster.logs())
        raise
    finally:
        cluster.cleanup()
