"""``wormfs server --mount BUCKET=DIR``: the mount starts with the cluster (creating the bucket
for the root user), serves, and stops with it, unmounted."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import boto3
import pytest
from botocore.config import Config
from integration.cluster import free_port
from mounting import fuse_available, unmount
from waiting import wait_until

pytestmark = pytest.mark.fuse


def test_server_mounts_a_bucket_and_unmounts_at_stop(tmp_path: Path) -> None:
    fuse_available()
    data_dir, mountpoint, log = tmp_path / "data", tmp_path / "mnt", tmp_path / "server.log"
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("WORMFS_ROOT_")}
    env.pop("WORMFS_CLUSTER_SECRET", None)
    env.update(WORMFS_DATA_DIR=str(data_dir), WORMFS_S3_ADDRESS=f"127.0.0.1:{port}")
    wormfs = Path(sys.executable).with_name("wormfs")
    command = [str(wormfs), "server", "--workers", "1", "--mount", f"served={mountpoint}"]
    with log.open("ab") as out:
        proc = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env=env)
    try:

        def running() -> bool:
            if proc.poll() is not None:
                raise AssertionError(f"server exited early:\n{log.read_text()}")
            return "WormFS is running." in log.read_text(errors="replace")

        wait_until(running, 90, interval=0.1, message="wormfs server running")
        assert os.path.ismount(mountpoint)
        (mountpoint / "hello").write_bytes(b"through the server's mount")
        creds = json.loads((data_dir / "credentials.json").read_text())
        s3 = boto3.client(
            "s3",
            endpoint_url=f"http://127.0.0.1:{port}",
            aws_access_key_id=creds["access_key"],
            aws_secret_access_key=creds["secret_key"],
            region_name="us-east-1",
            config=Config(s3={"addressing_style": "path"}),
        )
        body = s3.get_object(Bucket="served", Key="hello")["Body"].read()
        assert body == b"through the server's mount"
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(60) == 0, log.read_text()
        assert not os.path.ismount(mountpoint)
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)  # the server stops its own children
            try:
                proc.wait(60)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        unmount(mountpoint)
