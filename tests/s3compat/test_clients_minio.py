"""The minio Python SDK with its default settings against a real cluster, over http and https.

minio signs every payload (SHA-256) over http and sends UNSIGNED-PAYLOAD over https, goes
multipart above 5 MiB (and for streams of unknown length), copies and composes with
UploadPartCopy and presigns with SigV4. Over https its urllib3 pool trusts the suite's CA
with certificate and hostname checks on.
"""

from __future__ import annotations

import datetime
import io
from pathlib import Path

import pytest
import urllib3
from integration.cluster import ACCESS_KEY, SECRET_KEY, Cluster
from minio import Minio
from minio.commonconfig import ComposeSource, CopySource
from minio.deleteobjects import DeleteObject
from s3compat.support import REGION, SIZES, digest, unique, write_files

pytestmark = pytest.mark.integration


def minio_client(cluster: Cluster) -> tuple[Minio, urllib3.PoolManager]:
    pool = urllib3.PoolManager(
        cert_reqs="CERT_REQUIRED",
        ca_certs=cluster.ca_bundle,
        timeout=urllib3.Timeout(connect=10, read=60),
        retries=urllib3.Retry(total=1),
    )
    client = Minio(
        cluster.s3_url.split("://", 1)[1],
        access_key=ACCESS_KEY,
        secret_key=SECRET_KEY,
        secure=cluster.s3_url.startswith("https://"),
        region=REGION,
        http_client=pool,
    )
    return client, pool


def test_minio_session(cluster: Cluster, tmp_path: Path) -> None:
    client, pool = minio_client(cluster)
    bucket = unique("minio")
    assert not client.bucket_exists(bucket)
    client.make_bucket(bucket)
    assert client.bucket_exists(bucket)
    digests = write_files(tmp_path / "up", SIZES)
    for name in SIZES:
        client.fput_object(bucket, f"files/{name}", str(tmp_path / "up" / name))
    for name in SIZES:
        client.fget_object(bucket, f"files/{name}", str(tmp_path / "down" / name))
        assert digest(tmp_path / "down" / name) == digests[name], name
    stat = client.stat_object(bucket, "files/multipart")
    assert stat.size == SIZES["multipart"] and stat.etag.endswith("-4")  # 5 MiB parts (rounded)
    # A stream of unknown length (multipart), ranged reads across segment boundaries.
    data = (tmp_path / "up" / "segment-plus-three").read_bytes() * 3
    client.put_object(bucket, "stream", io.BytesIO(data), -1, part_size=5 * 1024 * 1024)
    response = client.get_object(bucket, "stream", offset=2 * 1024 * 1024 - 2, length=9)
    try:
        assert response.read() == data[2 * 1024 * 1024 - 2 : 2 * 1024 * 1024 + 7]
    finally:
        response.close()
        response.release_conn()
    # Server-side copy and compose (UploadPartCopy).
    client.copy_object(bucket, "copy", CopySource(bucket, "files/stripe-plus-one"))
    client.compose_object(
        bucket,
        "composed",
        [ComposeSource(bucket, "files/multipart"), ComposeSource(bucket, "files/one-byte")],
    )
    composed = tmp_path / "composed"
    client.fget_object(bucket, "composed", str(composed))
    expected = (tmp_path / "up" / "multipart").read_bytes() + (
        tmp_path / "up" / "one-byte"
    ).read_bytes()
    assert composed.read_bytes() == expected
    # Presigned SigV4 URLs.
    expires = datetime.timedelta(minutes=5)
    put_url = client.presigned_put_object(bucket, "presigned", expires=expires)
    assert pool.request("PUT", put_url, body=b"via url").status == 200
    get_url = client.presigned_get_object(bucket, "presigned", expires=expires)
    assert pool.request("GET", get_url).data == b"via url"
    names = [o.object_name for o in client.list_objects(bucket, recursive=True)]
    assert sorted(names) == sorted(
        ["composed", "copy", "presigned", "stream", *(f"files/{n}" for n in SIZES)]
    )
    # Without recursion "files/" is a common prefix (listed after the page's objects).
    assert sorted(o.object_name for o in client.list_objects(bucket)) == [
        "composed", "copy", "files/", "presigned", "stream"
    ]  # fmt: skip
    errors = list(client.remove_objects(bucket, [DeleteObject(n) for n in names]))
    assert errors == []
    client.remove_bucket(bucket)
    assert not client.bucket_exists(bucket)
