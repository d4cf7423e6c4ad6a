"""Object Lock against ``wormfs server``'s real processes: every way to remove a locked
version is refused and its bytes stay readable — S3 deletes with and without a version id,
DeleteObjects, overwrites, a lifecycle rule due to expire it, the admin API's and CLI's
bucket delete — while the same rule removes unlocked versions.

Lifecycle days last two seconds here (``WORMFS_LIFECYCLE_DAY_SECONDS``), so its passes come
every half second and a rule of one day is due two seconds after a write."""

from __future__ import annotations

import datetime
import hashlib
import json
import subprocess
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError
from integration.servers import Server, server_env, wormfs_command
from waiting import wait_until

pytestmark = [pytest.mark.integration, pytest.mark.timeout(240)]

BUCKET = "vault"
DAY = 2.0


def _code(call: Any, **kwargs: Any) -> str:
    with pytest.raises(ClientError) as info:
        call(**kwargs)
    return str(info.value.response["Error"]["Code"])


def _admin_delete(server: Server, path: str) -> tuple[int, Any]:
    url = server.status()["admin_url"] + "/admin/v1" + path
    token = (server.data_dir / "admin.token").read_text().strip()
    request = urllib.request.Request(url, method="DELETE")
    request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=10) as resp:
            return resp.status, None
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def test_no_way_removes_a_locked_version(tmp_path: Path) -> None:
    server = Server(
        tmp_path, ["--workers", "1"], extra_env={"WORMFS_LIFECYCLE_DAY_SECONDS": str(DAY)}
    ).start()
    try:
        s3 = server.s3()
        s3.create_bucket(Bucket=BUCKET, ObjectLockEnabledForBucket=True)
        until = datetime.datetime.now(datetime.UTC) + datetime.timedelta(days=365)
        bodies = {"governed": b"g" * 300_000, "complied": b"c" * 300_000, "held": b"h" * 1000}
        locks: dict[str, dict[str, Any]] = {
            "governed": {"ObjectLockMode": "GOVERNANCE", "ObjectLockRetainUntilDate": until},
            "complied": {"ObjectLockMode": "COMPLIANCE", "ObjectLockRetainUntilDate": until},
            "held": {"ObjectLockLegalHoldStatus": "ON"},
        }
        versions = {
            key: s3.put_object(Bucket=BUCKET, Key=key, Body=body, **locks[key])["VersionId"]
            for key, body in bodies.items()
        }
        free = s3.put_object(Bucket=BUCKET, Key="free", Body=b"f" * 300_000)["VersionId"]

        for key, version in versions.items():
            assert _code(s3.delete_object, Bucket=BUCKET, Key=key, VersionId=version) == (
                "AccessDenied"
            )
        answer = s3.delete_objects(
            Bucket=BUCKET,
            Delete={"Objects": [{"Key": k, "VersionId": v} for k, v in versions.items()]},
        )
        assert sorted(e["Code"] for e in answer["Errors"]) == ["AccessDenied"] * 3
        assert _code(  # COMPLIANCE ignores the governance bypass
            s3.delete_object,
            Bucket=BUCKET,
            Key="complied",
            VersionId=versions["complied"],
            BypassGovernanceRetention=True,
        ) == ("AccessDenied")
        # Overwrites and plain deletes leave the locked versions non-current.
        for key in bodies:
            s3.put_object(Bucket=BUCKET, Key=key, Body=b"newer")
        s3.delete_object(Bucket=BUCKET, Key="held")
        s3.put_object(Bucket=BUCKET, Key="free", Body=b"newer")

        # A lifecycle rule due to delete every non-current version a day after it was
        # replaced: the unlocked one goes, the locked ones stay.
        s3.put_bucket_lifecycle_configuration(
            Bucket=BUCKET,
            LifecycleConfiguration={
                "Rules": [
                    {
                        "ID": "sweep",
                        "Filter": {"Prefix": ""},
                        "Status": "Enabled",
                        "NoncurrentVersionExpiration": {"NoncurrentDays": 1},
                    }
                ]
            },
        )

        def free_version_gone() -> bool:
            listed = s3.list_object_versions(Bucket=BUCKET, Prefix="free")["Versions"]
            return free not in {v["VersionId"] for v in listed}

        wait_until(free_version_gone, 60, message="the lifecycle rule expired the free version")

        # The admin API and CLI refuse to delete the bucket; S3 does too.
        status, body = _admin_delete(server, f"/buckets/{BUCKET}")
        assert status == 409 and body["code"], body
        env = server_env(server.data_dir, server.port)
        cli = subprocess.run(
            [wormfs_command(), "admin", "bucket", "delete", BUCKET],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert cli.returncode == 1 and "BucketNotEmpty" in cli.stderr, cli.stderr
        assert _code(s3.delete_bucket, Bucket=BUCKET) == "BucketNotEmpty"

        # More lifecycle passes come and go; the locked versions stay whole (a version's
        # chunks reach the GC queue only with its row's removal, which never happened: the
        # GC side is test_coordinator_object_lock.py's).
        for key, version in versions.items():
            got = s3.get_object(Bucket=BUCKET, Key=key, VersionId=version)
            data = got["Body"].read()
            assert hashlib.sha256(data).digest() == hashlib.sha256(bodies[key]).digest(), key
        metrics = urllib.request.urlopen(server.status()["admin_url"] + "/metrics", timeout=10)
        text = metrics.read().decode()
        skips = [
            line for line in text.splitlines() if line.startswith("wormfs_lifecycle_locked_skips")
        ]
        assert skips and float(skips[0].split()[-1]) >= 3, skips
    except BaseException:
        print(server.log_text()[-20000:])
        raise
    finally:
        server.stop()
