"""The mount process: refusals at start, a read-only mount, and a clean stop on SIGTERM that
commits what is still open."""

from __future__ import annotations

import errno
import os
import signal
import subprocess
from pathlib import Path
from typing import Any

import pytest
from integration.cluster import Cluster, free_port
from mounting import BUCKET, Mounted

pytestmark = pytest.mark.fuse


def refused(mounted: Mounted) -> str:
    """Run a mount that must refuse; its error output (the mount point stays unmounted)."""
    mounted.mountpoint.mkdir(parents=True, exist_ok=True)
    result = subprocess.run(
        mounted.command(), env=mounted.cluster.env(), capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 1, (result.returncode, result.stderr)
    assert not os.path.ismount(mounted.mountpoint)
    return result.stderr


def test_missing_bucket_foreign_bucket_and_no_coordinator(
    cluster: Cluster, s3: Any, tmp_path: Path
) -> None:
    missing = Mounted(cluster, "no-such-bucket", tmp_path / "a", tmp_path / "a.log")
    assert "NoSuchBucket" in refused(missing)
    other = cluster.coordinator_post("/v1/users", {"display_name": "someone-else"})
    key = other["access_keys"][0]["access_key"]
    foreign = Mounted(cluster, BUCKET, tmp_path / "b", tmp_path / "b.log", ["--user", key])
    assert "belongs to another user" in refused(foreign)
    down = Mounted(cluster, BUCKET, tmp_path / "c", tmp_path / "c.log")
    down.mountpoint.mkdir()
    command = down.command()
    command[command.index("--coordinator-url") + 1] = f"http://127.0.0.1:{free_port()}"
    result = subprocess.run(command, env=cluster.env(), capture_output=True, text=True, timeout=60)
    assert result.returncode == 1 and "Unavailable" in result.stderr, result.stderr


def test_read_only(cluster: Cluster, s3: Any, tmp_path: Path) -> None:
    s3.put_object(Bucket=BUCKET, Key="ro/file", Body=b"readable")
    mounted = Mounted(cluster, BUCKET, tmp_path / "ro", tmp_path / "ro.log", ["--read-only"])
    mounted.start()
    try:
        assert (mounted.mountpoint / "ro" / "file").read_bytes() == b"readable"
        with pytest.raises(OSError) as info:
            (mounted.mountpoint / "ro" / "new").write_bytes(b"x")
        assert info.value.errno == errno.EROFS
        with pytest.raises(OSError) as info:
            os.mkdir(mounted.mountpoint / "d")
        assert info.value.errno == errno.EROFS
    finally:
        assert mounted.stop() == 0


def test_sigterm_commits_open_files_and_unmounts(cluster: Cluster, s3: Any, tmp_path: Path) -> None:
    mounted = Mounted(cluster, BUCKET, tmp_path / "m", tmp_path / "m.log")
    mounted.start()
    try:
        fd = os.open(mounted.mountpoint / "open-at-stop", os.O_WRONLY | os.O_CREAT, 0o644)
        os.write(fd, b"written, never closed")
        assert mounted.process is not None
        mounted.process.send_signal(signal.SIGTERM)
        assert mounted.process.wait(30) == 0, mounted.log()
        assert not os.path.ismount(mounted.mountpoint)
        try:
            os.close(fd)
        except OSError:
            pass  # the file system is gone; the bytes were committed before it went
        got = s3.get_object(Bucket=BUCKET, Key="open-at-stop")["Body"].read()
        assert got == b"written, never closed"
    finally:
        mounted.stop()


def test_prefix_mounts_show_the_keys_below_it(cluster: Cluster, s3: Any, tmp_path: Path) -> None:
    missing = Mounted(cluster, f"{BUCKET}:no/such/prefix", tmp_path / "p", tmp_path / "p.log")
    assert "does not exist" in refused(missing)
    s3.put_object(Bucket=BUCKET, Key="pre/sub/f", Body=b"below the prefix")
    s3.put_object(Bucket=BUCKET, Key="pre/file", Body=b"a file")
    as_file = Mounted(cluster, f"{BUCKET}:pre/file", tmp_path / "q", tmp_path / "q.log")
    assert "is a file" in refused(as_file)
    mounted = Mounted(cluster, f"{BUCKET}:pre", tmp_path / "pre", tmp_path / "pre.log")
    mounted.start()
    try:
        assert sorted(os.listdir(mounted.mountpoint)) == ["file", "sub"]
        assert (mounted.mountpoint / "sub" / "f").read_bytes() == b"below the prefix"
        (mounted.mountpoint / "sub" / "new").write_bytes(b"written under the prefix")
        got = s3.get_object(Bucket=BUCKET, Key="pre/sub/new")["Body"].read()
        assert got == b"written under the prefix"
    finally:
        assert mounted.stop() == 0
