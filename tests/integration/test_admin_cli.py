"""``wormfs admin user ...`` against a running cluster, and what the new keys may do."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError
from integration.cluster import Cluster
from waiting import wait_until

from wormfs.gateway.object_service import CREDENTIALS_TTL

pytestmark = pytest.mark.integration


def _admin(cluster: Cluster, *args: str) -> str:
    wormfs = str(Path(sys.executable).with_name("wormfs"))
    env = dict(os.environ, WORMFS_CLUSTER_SECRET=cluster.secret)
    result = subprocess.run(
        [wormfs, "admin", "--coordinator-url", cluster.coordinator_url, "user", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_users_are_isolated(cluster: Cluster) -> None:
    out = _admin(
        cluster,
        "add",
        "alice",
        "--access-key",
        "ALICEACCESSKEY000001",
        "--secret-key",
        "alice-secret-key-0123456789012345678901",
    )
    assert "ALICEACCESSKEY000001" in out
    user_id = next(line.split()[-1] for line in out.splitlines() if line.startswith("user id"))
    assert "alice" in _admin(cluster, "list")

    alice = boto3.client(
        "s3",
        endpoint_url=cluster.s3_url,
        aws_access_key_id="ALICEACCESSKEY000001",
        aws_secret_access_key="alice-secret-key-0123456789012345678901",
        region_name="us-east-1",
        config=Config(s3={"addressing_style": "path"}),
    )
    root = cluster.s3()
    root.create_bucket(Bucket="roots")
    root.put_object(Bucket="roots", Key="secret.txt", Body=b"root only")
    alice.create_bucket(Bucket="alices")
    assert [b["Name"] for b in alice.list_buckets()["Buckets"]] == ["alices"]
    assert "alices" not in [b["Name"] for b in root.list_buckets()["Buckets"]]
    for call in (
        lambda: alice.get_object(Bucket="roots", Key="secret.txt"),
        lambda: alice.put_object(Bucket="roots", Key="x", Body=b"x"),
        lambda: alice.list_objects_v2(Bucket="roots"),
        lambda: alice.delete_object(Bucket="roots", Key="secret.txt"),
    ):
        with pytest.raises(ClientError) as info:
            call()
        assert info.value.response["Error"]["Code"] == "AccessDenied"
    assert root.get_object(Bucket="roots", Key="secret.txt")["Body"].read() == b"root only"

    alice.delete_bucket(Bucket="alices")
    _admin(cluster, "remove", user_id)
    assert "alice" not in _admin(cluster, "list")

    # Gateways cache credentials for CREDENTIALS_TTL seconds; the key must stop working after.
    def refused() -> bool:
        try:
            alice.list_buckets()
        except ClientError as exc:
            return bool(exc.response["Error"]["Code"] == "InvalidAccessKeyId")
        return False

    wait_until(refused, CREDENTIALS_TTL + 5, interval=0.5, message="the removed key refused")
