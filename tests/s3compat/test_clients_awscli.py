"""aws-cli with its default settings against a real cluster, over http and https.

``aws s3`` (mb, cp, sync, ls, mv, rm, rb, presign) switches to multipart uploads, multipart
copies (UploadPartCopy) and ranged downloads above 8 MiB and sends CRC32 checksums (trailers
over https); ``aws s3api`` drives single operations. The https cluster's CA is given through
``AWS_CA_BUNDLE``, as a user of a private CA would.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest
import requests
from integration.cluster import Cluster
from s3compat.support import SIZES, digest, outcome, unique, write_files

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def aws(cluster: Cluster, *args: str) -> str:
    result = cluster.aws(*args, check=False)
    assert result.returncode == 0, f"aws {' '.join(args)}:\n{result.stdout}\n{result.stderr}"
    return result.stdout


def api(cluster: Cluster, *args: str) -> Any:
    out = aws(cluster, "s3api", *args, "--output", "json")
    return json.loads(out) if out.strip() else {}


def test_aws_s3_commands(cluster: Cluster, tmp_path: Path) -> None:
    bucket = unique("cli")
    digests = write_files(tmp_path / "up", SIZES)
    aws(cluster, "s3", "mb", f"s3://{bucket}")
    aws(cluster, "s3", "sync", str(tmp_path / "up"), f"s3://{bucket}/tree/")
    listing = aws(cluster, "s3", "ls", "--recursive", f"s3://{bucket}/")
    for name, size in SIZES.items():
        assert f" {size} tree/{name}" in listing, listing
    # A second sync has nothing to do.
    assert aws(cluster, "s3", "sync", str(tmp_path / "up"), f"s3://{bucket}/tree/").strip() == ""
    # Server-side copy (multipart copy above 8 MiB), move, then download everything back.
    aws(cluster, "s3", "cp", f"s3://{bucket}/tree/multipart", f"s3://{bucket}/copy/multipart")
    aws(cluster, "s3", "mv", f"s3://{bucket}/copy/multipart", f"s3://{bucket}/moved/multipart")
    aws(cluster, "s3", "sync", f"s3://{bucket}/tree/", str(tmp_path / "down"))
    for name in SIZES:
        assert digest(tmp_path / "down" / name) == digests[name], name
    # Checked in process (each aws-cli run costs seconds): the copy and the move's result.
    s3 = cluster.s3()
    moved = s3.get_object(Bucket=bucket, Key="moved/multipart")["Body"].read()
    assert hashlib.sha256(moved).hexdigest() == digests["multipart"]
    assert outcome(lambda: s3.head_object(Bucket=bucket, Key="copy/multipart")) == (404, "404")
    # A presigned URL (aws-cli v1 presigns with its default signer).
    url = aws(cluster, "s3", "presign", f"s3://{bucket}/tree/one-byte", "--expires-in", "300")
    got = requests.get(url.strip(), timeout=30, verify=cluster.ca_bundle or True)
    assert got.status_code == 200 and len(got.content) == 1
    aws(cluster, "s3", "rm", f"s3://{bucket}/tree/empty")
    aws(cluster, "s3", "rm", "--recursive", f"s3://{bucket}/tree/")
    left = s3.list_objects_v2(Bucket=bucket)["Contents"]
    assert [o["Key"] for o in left] == ["moved/multipart"]
    aws(cluster, "s3", "rb", "--force", f"s3://{bucket}")
    assert outcome(lambda: s3.head_bucket(Bucket=bucket)) == (404, "404")


def test_aws_s3api_commands(cluster: Cluster, tmp_path: Path) -> None:
    bucket = unique("cliapi")
    part = tmp_path / "part"
    part.write_bytes(b"p" * (5 * 1024 * 1024))
    api(cluster, "create-bucket", "--bucket", bucket)
    put = api(
        cluster, "put-object", "--bucket", bucket, "--key", "sha", "--body", str(part),
        "--checksum-algorithm", "SHA256", "--metadata", "color=blue",
    )  # fmt: skip
    assert "ChecksumSHA256" in put
    head = api(
        cluster, "head-object", "--bucket", bucket, "--key", "sha", "--checksum-mode", "ENABLED"
    )
    assert head["Metadata"] == {"color": "blue"} and "ChecksumSHA256" in head
    attributes = api(
        cluster, "get-object-attributes", "--bucket", bucket, "--key", "sha",
        "--object-attributes", "ETag", "ObjectSize", "Checksum",
    )  # fmt: skip
    assert attributes["ObjectSize"] == 5 * 1024 * 1024
    # Multipart by hand, with CRC32C part checksums.
    upload = api(
        cluster, "create-multipart-upload", "--bucket", bucket, "--key", "mp",
        "--checksum-algorithm", "CRC32C",
    )  # fmt: skip
    upload_id = upload["UploadId"]
    parts = []
    for number in (1, 2):
        answer = api(
            cluster, "upload-part", "--bucket", bucket, "--key", "mp", "--upload-id", upload_id,
            "--part-number", str(number), "--body", str(part), "--checksum-algorithm", "CRC32C",
        )  # fmt: skip
        parts.append(
            {
                "PartNumber": number,
                "ETag": answer["ETag"],
                "ChecksumCRC32C": answer["ChecksumCRC32C"],
            }
        )
    listed = api(cluster, "list-parts", "--bucket", bucket, "--key", "mp", "--upload-id", upload_id)
    assert [p["PartNumber"] for p in listed["Parts"]] == [1, 2]
    api(
        cluster, "complete-multipart-upload", "--bucket", bucket, "--key", "mp",
        "--upload-id", upload_id, "--multipart-upload", json.dumps({"Parts": parts}),
    )  # fmt: skip
    ranged = tmp_path / "ranged"
    answer = api(
        cluster, "get-object", "--bucket", bucket, "--key", "mp",
        "--range", "bytes=5242870-5242889", str(ranged),
    )  # fmt: skip
    assert answer["ContentRange"] == "bytes 5242870-5242889/10485760"
    assert ranged.read_bytes() == b"p" * 20
    page = api(cluster, "list-objects-v2", "--bucket", bucket, "--max-keys", "1")
    assert page["IsTruncated"] is True and page["KeyCount"] == 1
    # The probes Terraform and friends make answer as AWS does for a bucket never configured.
    assert api(cluster, "get-bucket-ownership-controls", "--bucket", bucket)["OwnershipControls"]
    failed = cluster.aws("s3api", "get-bucket-policy", "--bucket", bucket, check=False)
    assert failed.returncode != 0 and "NoSuchBucketPolicy" in failed.stderr
    deleted = api(
        cluster, "delete-objects", "--bucket", bucket, "--delete",
        json.dumps({"Objects": [{"Key": "sha"}, {"Key": "mp"}]}),
    )  # fmt: skip
    assert sorted(d["Key"] for d in deleted["Deleted"]) == ["mp", "sha"]
    api(cluster, "delete-bucket", "--bucket", bucket)
