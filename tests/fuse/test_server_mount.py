"""``wormfs server --mount BUCKET=DIR``: the mount starts with the cluster (creating the bucket
for the root user), serves, and stops with it, unmounted; killed, it is mounted again."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from integration.servers import Server
from mounting import fuse_available, unmount

pytestmark = pytest.mark.fuse


def test_server_mounts_a_bucket_and_unmounts_at_stop(tmp_path: Path) -> None:
    fuse_available()
    mountpoint = tmp_path / "mnt"
    server = Server(tmp_path, ["--workers", "1", "--mount", f"served={mountpoint}"])
    try:
        server.start()
        assert os.path.ismount(mountpoint)
        (mountpoint / "hello").write_bytes(b"through the server's mount")
        body = server.s3().get_object(Bucket="served", Key="hello")["Body"].read()
        assert body == b"through the server's mount"
    finally:
        code = server.stop()  # the server stops its own children
        unmount(mountpoint)
    assert code == 0, server.log_text()
    assert not os.path.ismount(mountpoint)


def test_server_restarts_a_mount_killed_with_sigkill(tmp_path: Path) -> None:
    """The mount process dies (kill -9): the server clears the dead mount ("not connected")
    and mounts again; what was written and closed before reads back through it."""
    fuse_available()
    mountpoint = tmp_path / "mnt"
    server = Server(tmp_path, ["--workers", "1", "--mount", f"served={mountpoint}"])
    try:
        server.start()
        (mountpoint / "kept").write_bytes(b"closed before the kill")
        killed = server.kill_child("mount-served")
        status = server.wait_restarted("mount-served", 1)
        assert status["pid"] != killed and os.path.ismount(mountpoint)
        assert (mountpoint / "kept").read_bytes() == b"closed before the kill"
        (mountpoint / "after").write_bytes(b"written through the new mount")
        body = server.s3().get_object(Bucket="served", Key="after")["Body"].read()
        assert body == b"written through the new mount"
    finally:
        code = server.stop()
        unmount(mountpoint)
    assert code == 0, server.log_text()
    assert not os.path.ismount(mountpoint)
