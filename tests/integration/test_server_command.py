"""``wormfs server`` (what ``make run`` starts): one command, a working cluster, clean stop.

Runs the real console script with a temp data dir and a free S3 port, uses it with boto3,
stops it with SIGTERM (every child must exit and the server with 0), starts it again over the
same data dir, and reads the object back with the credentials it generated the first time.
"""

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
from waiting import wait_until

pytestmark = pytest.mark.integration


def _start(data_dir: Path, port: int, log: Path) -> subprocess.Popen[bytes]:
    env = dict(os.environ)
    env.pop("WORMFS_ROOT_ACCESS_KEY", None)
    env.pop("WORMFS_ROOT_SECRET_KEY", None)
    env.pop("WORMFS_CLUSTER_SECRET", None)
    env.update(
        WORMFS_DATA_DIR=str(data_dir),
        WORMFS_S3_ADDRESS=f"127.0.0.1:{port}",
        PYTHONSAFEPATH="1",
    )
    wormfs = Path(sys.executable).with_name("wormfs")
    with log.open("ab") as out:
        proc = subprocess.Popen(
            [str(wormfs), "server", "--workers", "2"], stdout=out, stderr=subprocess.STDOUT, env=env
        )

    def running() -> bool:
        if proc.poll() is not None:
            raise AssertionError(f"server exited early:\n{log.read_text()}")
        return "WormFS is running." in log.read_text(errors="replace")

    try:
        wait_until(running, 90, interval=0.1, message="wormfs server running")
    except TimeoutError:
        proc.kill()
        raise AssertionError(f"server not ready:\n{log.read_text()}") from None
    return proc


def _stop(proc: subprocess.Popen[bytes], log: Path) -> None:
    proc.send_signal(signal.SIGTERM)
    try:
        code = proc.wait(60)
    except subprocess.TimeoutExpired:
        proc.kill()
        raise AssertionError(f"server did not stop:\n{log.read_text()}") from None
    assert code == 0, log.read_text()


def _client(data_dir: Path, port: int) -> object:
    creds = json.loads((data_dir / "credentials.json").read_text())
    return boto3.client(
        "s3",
        endpoint_url=f"http://127.0.0.1:{port}",
        aws_access_key_id=creds["access_key"],
        aws_secret_access_key=creds["secret_key"],
        region_name="us-east-1",
        config=Config(s3={"addressing_style": "path"}),
    )


def test_server_runs_stops_and_keeps_data(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    port = free_port()
    log = tmp_path / "server-1.log"
    proc = _start(data_dir, port, log)
    try:
        creds = json.loads((data_dir / "credentials.json").read_text())
        assert creds["access_key"] in log.read_text()  # printed for the user
        assert (data_dir / "credentials.json").stat().st_mode & 0o777 == 0o600
        s3 = _client(data_dir, port)
        s3.create_bucket(Bucket="keep")  # type: ignore[attr-defined]
        s3.put_object(Bucket="keep", Key="k", Body=b"persistent bytes")  # type: ignore[attr-defined]
    finally:
        _stop(proc, log)
    assert sorted(p.name for p in data_dir.iterdir() if p.name.startswith("disk")) == [
        f"disk{i}" for i in range(1, 7)
    ]
    log = tmp_path / "server-2.log"
    proc = _start(data_dir, port, log)
    try:
        s3 = _client(data_dir, port)
        body = s3.get_object(Bucket="keep", Key="k")["Body"].read()  # type: ignore[attr-defined]
        assert body == b"persistent bytes"
    finally:
        _stop(proc, log)
