"""Recovery from chunk headers over real processes: the database and every backup gone, the
objects rebuilt from chunk format v2 headers alone (one disk missing too); and a backup older
than some writes, those writes brought back from the headers."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from integration.cluster import Cluster
from waiting import wait_until

from wormfs.runtime.metarecover import find_pieces

pytestmark = pytest.mark.slow
MIB = 1024 * 1024
CODING = "[coding]\nstripe_size = 262144\nsegment_size = 1048576\n"


def _admin(cluster: Cluster, *args: str) -> subprocess.CompletedProcess[str]:
    out = subprocess.run(
        [sys.executable, "-m", "wormfs.cli", "admin", *args],
        env=cluster.env(),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stdout + out.stderr
    return out


def _disks(cluster: Cluster, count: int = 6) -> list[str]:
    return [a for d in range(1, count + 1) for a in ("--disk", str(cluster.disk_path(1, d)))]


def _drop_database(root: Path) -> Path:
    database = root / "meta" / "wormfs.db"
    for suffix in ("", "-wal", "-shm"):
        Path(f"{database}{suffix}").unlink(missing_ok=True)
    return database


def _put(s3: Any, key: str, body: bytes, **extra: Any) -> dict[str, Any]:
    s3.put_object(Bucket="alpha", Key=key, Body=body, **extra)
    return _read(s3, key)


def _read(s3: Any, key: str) -> dict[str, Any]:
    got = s3.get_object(Bucket="alpha", Key=key, ChecksumMode="ENABLED")
    return {
        "body": got["Body"].read(),
        "etag": got["ETag"],
        "metadata": got["Metadata"],
        "type": got["ContentType"],
        "crc": got.get("ChecksumCRC32C"),
    }


def test_recover_from_headers_alone_with_a_disk_missing(tmp_path: Path) -> None:
    cluster = Cluster(root=tmp_path, coordinator_config="[backup]\nenabled = false\n" + CODING)
    cluster.start()
    try:
        s3 = cluster.s3()
        s3.create_bucket(Bucket="alpha")
        owner = s3.list_buckets()["Owner"]["ID"]
        expected = {
            "big": _put(
                s3,
                "big",
                os.urandom(int(2.5 * MIB)),  # three segments
                Metadata={"colour": "blue", "n": "1"},
                ContentType="image/png",
                ChecksumAlgorithm="CRC32C",
            ),
            "plain": _put(s3, "plain", os.urandom(200_000)),
        }
        s3.put_object(Bucket="alpha", Key="again", Body=os.urandom(150_000))
        expected["again"] = _put(s3, "again", os.urandom(170_000), Metadata={"v": "2"})
        s3.put_object(Bucket="alpha", Key="small", Body=b"inline bytes")
        upload = s3.create_multipart_upload(Bucket="alpha", Key="multi")
        part = s3.upload_part(
            Bucket="alpha", Key="multi", UploadId=upload["UploadId"], PartNumber=1, Body=b"m" * MIB
        )
        s3.complete_multipart_upload(
            Bucket="alpha",
            Key="multi",
            UploadId=upload["UploadId"],
            MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": part["ETag"]}]},
        )
        cluster.stop()
        database = _drop_database(tmp_path)
        started = time.monotonic()
        out = _admin(
            cluster,
            "metadata",
            "recover",
            "--database",
            str(database),
            "--root-owner",
            owner,
            *_disks(cluster, 5),  # the sixth disk is not there: k=4 of 6 chunks suffice
        )
        elapsed = time.monotonic() - started
        assert "no usable metadata backup" in out.stdout, out.stdout
        assert "recovered from headers: 3 versions" in out.stdout, out.stdout
        assert "superseded by a newer version: 1" in out.stdout, out.stdout
        assert "alpha/multi" in out.stdout and "multipart upload" in out.stdout, out.stdout
        assert "degraded segments (repair needed): 5" in out.stdout, out.stdout
        assert elapsed < 60
        cluster.procs.clear()
        cluster.start()
        s3 = cluster.s3()
        for key, want in expected.items():
            assert _read(s3, key) == want, key
        assert want["crc"] is None and expected["big"]["crc"] is not None
        listed = [o["Key"] for o in s3.list_objects_v2(Bucket="alpha")["Contents"]]
        assert listed == ["again", "big", "plain"]  # inline and multipart are not
        with pytest.raises(s3.exceptions.NoSuchKey):
            s3.get_object(Bucket="alpha", Key="small")
        s3.put_object(Bucket="alpha", Key="after", Body=b"writes go on")
        assert s3.get_object(Bucket="alpha", Key="after")["Body"].read() == b"writes go on"
    finally:
        cluster.stop()


def test_writes_after_the_backup_come_back_from_headers(tmp_path: Path) -> None:
    cluster = Cluster(root=tmp_path, coordinator_config="[backup]\nbackup_lag = 0.5\n" + CODING)
    cluster.start()
    try:
        s3 = cluster.s3()
        s3.create_bucket(Bucket="alpha")
        before = {"old": _put(s3, "old", os.urandom(300_000), Metadata={"when": "before"})}
        s3.put_object(Bucket="alpha", Key="small", Body=b"inline, in the backup")
        mark = time.time()

        def covered() -> bool:
            status = cluster.coordinator_get("/v1/metadata/backup")
            return bool(status["recovery_point"] > mark and not status["last_error"])

        wait_until(covered, 60.0, message="metadata backup caught up")
        cut = time.time()
        after = {
            "new": _put(s3, "new", os.urandom(400_000), Metadata={"when": "after"}),
            "old": _put(s3, "old", os.urandom(250_000), ContentType="text/csv"),
        }
        cluster.stop()
        disks = [cluster.disk_path(1, d) for d in range(1, 7)]
        # The backup is older than the writes above: its pieces shipped after them go.
        for name, chunks in find_pieces(disks).items():
            if name.snapshot_ms > cut * 1000:
                for chunk in chunks:
                    chunk.path.unlink()
        database = _drop_database(tmp_path)
        out = _admin(cluster, "metadata", "recover", "--database", str(database), *_disks(cluster))
        assert "restored generation" in out.stdout, out.stdout
        assert "recovered from headers: 2 versions" in out.stdout, out.stdout
        # The backup's "old" was replaced by the newer one from the headers (retired), and
        # counted as superseded: per key the newest version wins.
        assert "superseded by a newer version: 1" in out.stdout, out.stdout
        cluster.procs.clear()
        cluster.start()
        s3 = cluster.s3()
        assert _read(s3, "new") == after["new"]
        assert _read(s3, "old") == after["old"] != before["old"]
        assert s3.get_object(Bucket="alpha", Key="small")["Body"].read() == b"inline, in the backup"
    finally:
        cluster.stop()
