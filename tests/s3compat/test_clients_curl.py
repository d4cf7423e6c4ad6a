"""curl (the Debian package) as the public: unsigned requests against a real cluster, over http
and https, let in only where an ACL or a bucket policy says so.

Its command line is curl's defaults plus the suite's CA over https; nothing is signed but the
presigned URL boto3 makes for the private object.
"""

from __future__ import annotations

import json
import shutil
import subprocess

import pytest
from integration.cluster import Cluster
from s3compat.support import unique

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed"),
]


def curl(cluster: Cluster, url: str) -> tuple[int, bytes]:
    """The status and body of a plain GET (curl writes the status after the body)."""
    command = ["curl", "--silent", "--show-error", "--write-out", "\n%{http_code}", url]
    if cluster.ca_bundle is not None:
        command[1:1] = ["--cacert", cluster.ca_bundle]
    done = subprocess.run(command, capture_output=True, timeout=60, check=True)
    body, _, status = done.stdout.rpartition(b"\n")
    return int(status), body


def test_unsigned_reads_follow_acls_and_policies(cluster: Cluster) -> None:
    s3 = cluster.s3()
    bucket = unique("curl")
    s3.create_bucket(Bucket=bucket, ObjectOwnership="ObjectWriter")
    base = f"{cluster.s3_url}/{bucket}"
    s3.put_object(Bucket=bucket, Key="public.txt", Body=b"for everyone", ACL="public-read")
    s3.put_object(Bucket=bucket, Key="private.txt", Body=b"for the owner")
    s3.put_object(Bucket=bucket, Key="shared/by-policy.txt", Body=b"by policy")
    assert curl(cluster, f"{base}/public.txt") == (200, b"for everyone")
    status, body = curl(cluster, f"{base}/private.txt")
    assert status == 403 and b"<Code>AccessDenied</Code>" in body
    assert curl(cluster, base)[0] == 403  # listing: the bucket's ACL is private
    signed = s3.generate_presigned_url(
        "get_object", Params={"Bucket": bucket, "Key": "private.txt"}, ExpiresIn=300
    )
    assert curl(cluster, signed) == (200, b"for the owner")
    policy = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": "*",
                "Action": "s3:GetObject",
                "Resource": f"arn:aws:s3:::{bucket}/shared/*",
            }
        ],
    }
    s3.put_bucket_policy(Bucket=bucket, Policy=json.dumps(policy))
    assert curl(cluster, f"{base}/shared/by-policy.txt") == (200, b"by policy")
    assert curl(cluster, f"{base}/private.txt")[0] == 403
