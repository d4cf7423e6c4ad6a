"""``wormfs server`` over HTTPS: the certificate and key come from WORMFS_TLS_CERT /
WORMFS_TLS_KEY, every gateway worker serves them on the shared port, the banner shows the
https endpoint, and a client that trusts the CA works (one that does not is refused)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import SSLError
from integration.certs import make_test_ca
from integration.cluster import free_port
from waiting import wait_until

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def test_server_serves_https(tmp_path: Path) -> None:
    ca = make_test_ca(tmp_path / "tls")
    port = free_port()
    log = tmp_path / "server.log"
    env = {k: v for k, v in os.environ.items() if not k.startswith("WORMFS_")}
    env.update(
        WORMFS_DATA_DIR=str(tmp_path / "data"),
        WORMFS_S3_ADDRESS=f"127.0.0.1:{port}",
        WORMFS_TLS_CERT=str(ca.server_cert),
        WORMFS_TLS_KEY=str(ca.server_key),
        PYTHONSAFEPATH="1",
    )
    wormfs = str(Path(sys.executable).with_name("wormfs"))
    with log.open("ab") as out:
        proc = subprocess.Popen(
            [wormfs, "server", "--workers", "2"], stdout=out, stderr=subprocess.STDOUT, env=env
        )
    try:

        def running() -> bool:
            assert proc.poll() is None, log.read_text()
            return "WormFS is running." in log.read_text(errors="replace")

        wait_until(running, 90, interval=0.1, message="wormfs server running")
        assert f"S3 endpoint:  https://127.0.0.1:{port}" in log.read_text()
        creds = json.loads((tmp_path / "data" / "credentials.json").read_text())

        def client(verify: str | bool) -> Any:
            return boto3.client(
                "s3",
                endpoint_url=f"https://127.0.0.1:{port}",
                aws_access_key_id=creds["access_key"],
                aws_secret_access_key=creds["secret_key"],
                region_name="us-east-1",
                verify=verify,
                config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1}),
            )

        s3 = client(str(ca.ca_cert))
        s3.create_bucket(Bucket="secure")
        data = os.urandom(3 * 1024 * 1024 + 1)
        s3.put_object(Bucket="secure", Key="k", Body=data)
        got = s3.get_object(Bucket="secure", Key="k")
        assert got["Body"].read() == data
        # The system trust store does not know the test CA.
        untrusting = client(True)
        with pytest.raises(SSLError):
            untrusting.list_buckets()
        # Idle keep-alive connections would hold the gateways' graceful stop.
        s3.close()
        untrusting.close()
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            code = proc.wait(60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            raise
    assert code == 0, log.read_text()
