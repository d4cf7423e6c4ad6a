"""boto3 with its default settings against a real cluster, over http and https.

``upload_file`` / ``download_file`` choose for themselves: a single PUT below 8 MiB, a
multipart upload in 8 MiB parts above (with a CRC32 per part, COMPOSITE object checksum),
ranged parallel GETs to download; over https every checksum travels in an aws-chunked
trailer. The sizes cross the stripe (256 KiB), segment (2 MiB) and multipart boundaries.
"""

from __future__ import annotations

import hashlib
import io
from pathlib import Path

import pytest
from integration.cluster import Cluster
from s3compat.support import SEGMENT, SIZES, STRIPE, digest, empty_bucket, unique, write_files

pytestmark = pytest.mark.integration


def test_upload_download_file(cluster: Cluster, tmp_path: Path) -> None:
    s3 = cluster.s3()
    bucket = unique("boto3")
    s3.create_bucket(Bucket=bucket)
    digests = write_files(tmp_path / "up", SIZES)
    try:
        for name in SIZES:
            s3.upload_file(str(tmp_path / "up" / name), bucket, f"files/{name}")
        listed = s3.list_objects_v2(Bucket=bucket, Prefix="files/")
        assert {o["Key"]: o["Size"] for o in listed["Contents"]} == {
            f"files/{n}": size for n, size in SIZES.items()
        }
        head = s3.head_object(Bucket=bucket, Key="files/multipart", ChecksumMode="ENABLED")
        assert head["ETag"].endswith('-3"')  # 17 MiB in 8 MiB parts
        assert head["ChecksumType"] == "COMPOSITE" and head["ChecksumCRC32"].endswith("-3")
        small = s3.head_object(
            Bucket=bucket, Key="files/segment-plus-three", ChecksumMode="ENABLED"
        )
        assert small["ChecksumType"] == "FULL_OBJECT" and "ChecksumCRC32" in small
        (tmp_path / "down").mkdir()
        for name in SIZES:
            target = tmp_path / "down" / name
            s3.download_file(bucket, f"files/{name}", str(target))
            assert digest(target) == digests[name], name
    finally:
        empty_bucket(s3, bucket)


def test_streams_and_boundary_ranges(cluster: Cluster) -> None:
    s3 = cluster.s3()
    bucket = unique("boto3")
    s3.create_bucket(Bucket=bucket)
    data = bytes(range(256)) * ((2 * SEGMENT + 3 * STRIPE) // 256) + b"tail"
    try:
        # A non-seekable stream of unknown length: boto3 goes multipart on its own.
        s3.upload_fileobj(io.BufferedReader(io.BytesIO(data)), bucket, "stream")
        out = io.BytesIO()
        s3.download_fileobj(bucket, "stream", out)
        assert out.getvalue() == data
        s3.put_object(Bucket=bucket, Key="put", Body=data)
        # Ranges that start, end or straddle stripe and segment boundaries.
        for start, end in (
            (STRIPE - 1, STRIPE + 1),
            (SEGMENT - 5, SEGMENT + 5),
            (SEGMENT, SEGMENT + STRIPE),
            (0, 2 * SEGMENT + 1),
            (len(data) - 7, len(data)),
        ):
            got = s3.get_object(Bucket=bucket, Key="put", Range=f"bytes={start}-{end - 1}")
            assert got["Body"].read() == data[start:end], (start, end)
        answer = s3.get_object(Bucket=bucket, Key="put")
        assert hashlib.md5(answer["Body"].read()).hexdigest() == hashlib.md5(data).hexdigest()
    finally:
        empty_bucket(s3, bucket)
