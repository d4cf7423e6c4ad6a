"""Metadata disaster recovery over real processes: the continuous backup on the storage nodes,
recovery with the database file gone or truncated (and a recovery killed with SIGKILL, run
again), the manual backup and restore round trip, and the consistency check."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config
from integration.cluster import Cluster
from waiting import wait_until

pytestmark = pytest.mark.slow
MIB = 1024 * 1024


def _client(cluster: Cluster, access: str, secret: str) -> Any:
    return boto3.client(
        "s3",
        endpoint_url=cluster.s3_url,
        aws_access_key_id=access,
        aws_secret_access_key=secret,
        region_name="us-east-1",
        config=Config(s3={"addressing_style": "path"}),
    )


def _write_mix(cluster: Cluster) -> dict[str, Any]:
    """Inline, chunked, multipart, overwritten and deleted keys, two users and buckets."""
    root = cluster.s3()
    bob = cluster.coordinator_post("/v1/users", {"display_name": "bob"})["access_keys"][0]
    bob_s3 = _client(cluster, bob["access_key"], bob["secret_key"])
    root.create_bucket(Bucket="alpha")
    bob_s3.create_bucket(Bucket="bravo")
    root.put_object(Bucket="alpha", Key="small", Body=b"inline bytes", Metadata={"a": "1"})
    root.put_object(Bucket="alpha", Key="big", Body=os.urandom(300_000), Metadata={"b": "2"})
    root.put_object(Bucket="alpha", Key="again", Body=b"first version")
    root.put_object(Bucket="alpha", Key="again", Body=os.urandom(200_000))
    root.put_object(Bucket="alpha", Key="gone", Body=b"to be deleted")
    root.delete_object(Bucket="alpha", Key="gone")
    upload = root.create_multipart_upload(Bucket="alpha", Key="multi", Metadata={"m": "3"})
    parts = []
    for number, body in ((1, os.urandom(5 * MIB)), (2, os.urandom(1000))):
        part = root.upload_part(
            Bucket="alpha", Key="multi", UploadId=upload["UploadId"], PartNumber=number, Body=body
        )
        parts.append({"PartNumber": number, "ETag": part["ETag"]})
    root.complete_multipart_upload(
        Bucket="alpha", Key="multi", UploadId=upload["UploadId"], MultipartUpload={"Parts": parts}
    )
    bob_s3.put_object(Bucket="bravo", Key="b/obj", Body=os.urandom(100_000))
    return {"bob": bob, "expected": _snapshot(cluster, bob)}


def _snapshot(cluster: Cluster, bob: dict[str, str]) -> dict[str, Any]:
    """Everything a client sees: buckets per user, listings, bodies, ETags, metadata."""
    out: dict[str, Any] = {}
    for who, client in (
        ("root", cluster.s3()),
        ("bob", _client(cluster, bob["access_key"], bob["secret_key"])),
    ):
        buckets = client.list_buckets()
        out[who] = {
            "owner": buckets["Owner"]["ID"],
            "buckets": [b["Name"] for b in buckets["Buckets"]],
        }
        for name in out[who]["buckets"]:
            listing = client.list_objects_v2(Bucket=name).get("Contents", [])
            out[f"list:{name}"] = [(o["Key"], o["Size"], o["ETag"]) for o in listing]
            for entry in listing:
                got = client.get_object(Bucket=name, Key=entry["Key"])
                out[f"obj:{name}/{entry['Key']}"] = (
                    got["Body"].read(),
                    got["ETag"],
                    got["Metadata"],
                )
    return out


def _wait_backup_covers(cluster: Cluster, when: float) -> dict[str, Any]:
    def covered() -> dict[str, Any] | None:
        status: dict[str, Any] = cluster.coordinator_get("/v1/metadata/backup")
        return status if status["recovery_point"] > when and not status["last_error"] else None

    return dict(wait_until(covered, 60.0, message="metadata backup caught up"))


def _admin(cluster: Cluster, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "wormfs.cli", "admin", *args],
        env=cluster.env(),
        capture_output=True,
        text=True,
        check=check,
        timeout=120,
    )


def _disk_args(cluster: Cluster) -> list[str]:
    return [a for d in range(1, 7) for a in ("--disk", str(cluster.disk_path(1, d)))]


def _start(tmp_path: Path) -> Cluster:
    return Cluster(root=tmp_path, coordinator_config="[backup]\nbackup_lag = 0.5\n").start()


def _restart(cluster: Cluster) -> None:
    cluster.procs.clear()
    cluster.start()


def _check_recovered(cluster: Cluster, mix: dict[str, Any]) -> None:
    assert _snapshot(cluster, mix["bob"]) == mix["expected"]
    with pytest.raises(cluster.s3().exceptions.NoSuchKey):
        cluster.s3().get_object(Bucket="alpha", Key="gone")
    assert "gone" not in [k for k, _, _ in mix["expected"]["list:alpha"]]


def test_recover_after_the_database_file_is_deleted(tmp_path: Path) -> None:
    cluster = _start(tmp_path)
    try:
        mix = _write_mix(cluster)
        status = _wait_backup_covers(cluster, time.time())
        assert status["enabled"] and status["generation"] >= 1
        shown = _admin(cluster, "--coordinator-url", cluster.coordinator_url, "metadata", "status")
        assert "recovery point" in shown.stdout
        cluster.stop()
        database = tmp_path / "meta" / "wormfs.db"
        for suffix in ("", "-wal", "-shm"):
            Path(f"{database}{suffix}").unlink(missing_ok=True)
        out = _admin(
            cluster, "metadata", "recover", "--database", str(database), *_disk_args(cluster)
        )
        assert "recovery point:" in out.stdout and "header scan:" in out.stdout, out.stdout
        # Everything chunked is in the backup already, the multipart object's parts too.
        assert "recovered from headers: 0 versions" in out.stdout, out.stdout
        assert "not recovered from headers: 0" in out.stdout, out.stdout
        _restart(cluster)
        _check_recovered(cluster, mix)
        # Users still authenticate, and writes go on after recovery.
        bob = _client(cluster, mix["bob"]["access_key"], mix["bob"]["secret_key"])
        bob.put_object(Bucket="bravo", Key="after", Body=b"x")
        assert bob.get_object(Bucket="bravo", Key="after")["Body"].read() == b"x"
    finally:
        cluster.stop()


def test_recover_a_truncated_database_killed_midway_and_run_again(tmp_path: Path) -> None:
    cluster = _start(tmp_path)
    try:
        mix = _write_mix(cluster)
        _wait_backup_covers(cluster, time.time())
        cluster.stop()
        database = tmp_path / "meta" / "wormfs.db"
        with database.open("r+b") as f:
            f.truncate(4096)
        for suffix in ("-wal", "-shm"):
            Path(f"{database}{suffix}").unlink(missing_ok=True)
        args = [sys.executable, "-m", "wormfs.cli", "admin", "metadata", "recover"]
        args += ["--database", str(database), *_disk_args(cluster)]
        first = subprocess.Popen(args, env=cluster.env(), stdout=subprocess.DEVNULL)
        tmp = database.with_name(database.name + ".recover-tmp")
        wait_until(lambda: tmp.exists() or first.poll() is not None, 60.0, interval=0.001)
        first.send_signal(signal.SIGKILL)
        first.wait(30)
        again = subprocess.run(
            [*args, "--force"], env=cluster.env(), capture_output=True, text=True, timeout=120
        )
        assert again.returncode == 0, again.stderr
        assert "restored generation" in again.stdout
        assert list(tmp_path.glob("meta/wormfs.db.damaged-*")), "the damaged file is kept"
        _restart(cluster)
        _check_recovered(cluster, mix)
    finally:
        cluster.stop()


def test_manual_backup_restore_round_trip_and_check(tmp_path: Path) -> None:
    cluster = _start(tmp_path)
    try:
        mix = _write_mix(cluster)
        saved = tmp_path / "saved.db"
        url = ["--coordinator-url", cluster.coordinator_url]
        _admin(cluster, *url, "metadata", "backup", "--to", str(saved))
        cluster.s3().put_object(Bucket="alpha", Key="later", Body=b"after the backup")
        cluster.stop()
        database = tmp_path / "meta" / "wormfs.db"
        _admin(cluster, "metadata", "restore", "--from", str(saved), "--database", str(database))
        check = _admin(
            cluster, "metadata", "check", "--database", str(database), *_disk_args(cluster)
        )
        assert "0 problems" in check.stdout, check.stdout
        _restart(cluster)
        assert _snapshot(cluster, mix["bob"]) == mix["expected"]  # "later" is not there
        cluster.stop()
        # A planted inconsistency: one chunk file of an object removed from its disk.
        victim = cluster.chunk_files()[0]
        victim.unlink()
        found = _admin(
            cluster,
            "metadata",
            "check",
            "--database",
            str(database),
            *_disk_args(cluster),
            check=False,
        )
        assert found.returncode == 1 and victim.stem in found.stdout, found.stdout
    finally:
        cluster.stop()


def test_recover_by_asking_the_running_nodes(tmp_path: Path) -> None:
    cluster = _start(tmp_path)
    try:
        mix = _write_mix(cluster)
        _wait_backup_covers(cluster, time.time())
        cluster.stop_proc("gateway")
        cluster.stop_proc("coordinator")
        database = tmp_path / "meta" / "wormfs.db"
        for suffix in ("", "-wal", "-shm"):
            Path(f"{database}{suffix}").unlink(missing_ok=True)
        node = cluster.procs["node1"].address
        out = _admin(cluster, "metadata", "recover", "--database", str(database), "--node", node)
        assert "backup chunks copied" in out.stdout and "not reachable" not in out.stdout
        assert "restored generation" in out.stdout, out.stdout
        assert not (tmp_path / "meta" / "recover-fetch").exists()
        cluster.stop()
        _restart(cluster)
        _check_recovered(cluster, mix)
    finally:
        cluster.stop()
