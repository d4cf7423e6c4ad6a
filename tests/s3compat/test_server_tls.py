"""``wormfs server`` over HTTPS: the certificate and key come from WORMFS_TLS_CERT /
WORMFS_TLS_KEY, every gateway worker serves them on the shared port, the banner shows the
https endpoint, and a client that trusts the CA works (one that does not is refused)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from botocore.exceptions import SSLError
from integration.certs import make_test_ca
from integration.servers import Server

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def test_server_serves_https(tmp_path: Path) -> None:
    ca = make_test_ca(tmp_path / "tls")
    tls = {"WORMFS_TLS_CERT": str(ca.server_cert), "WORMFS_TLS_KEY": str(ca.server_key)}
    server = Server(tmp_path, ["--workers", "2"], extra_env=tls).start()
    try:
        assert f"S3 endpoint:  https://127.0.0.1:{server.port}" in server.log_text()
        s3 = server.s3(verify=str(ca.ca_cert), retries={"max_attempts": 1})
        s3.create_bucket(Bucket="secure")
        data = os.urandom(3 * 1024 * 1024 + 1)
        s3.put_object(Bucket="secure", Key="k", Body=data)
        got = s3.get_object(Bucket="secure", Key="k")
        assert got["Body"].read() == data
        # The system trust store does not know the test CA.
        untrusting = server.s3(verify=True, retries={"max_attempts": 1})
        with pytest.raises(SSLError):
            untrusting.list_buckets()
        # Idle keep-alive connections would hold the gateways' graceful stop.
        s3.close()
        untrusting.close()
    finally:
        code = server.stop()
    assert code == 0, server.log_text()
