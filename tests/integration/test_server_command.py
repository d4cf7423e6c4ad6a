"""``wormfs server`` (what ``make run`` starts): one command, a working cluster, clean stop.

Runs the real console script with a temp data dir and a free S3 port, uses it with boto3,
stops it with SIGTERM (every child must exit and the server with 0), starts it again over the
same data dir, and reads the object back with the credentials it generated the first time;
the second run logs at WARNING, and so do its children (``--log-level`` reaches them).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from integration.servers import Server

pytestmark = pytest.mark.integration


def test_server_runs_stops_and_keeps_data(tmp_path: Path) -> None:
    server = Server(tmp_path, ["--workers", "2"]).start()
    try:
        creds = server.credentials
        assert creds["access_key"] in server.log_text()  # printed for the user
        assert (server.data_dir / "credentials.json").stat().st_mode & 0o777 == 0o600
        s3 = server.s3()
        s3.create_bucket(Bucket="keep")
        s3.put_object(Bucket="keep", Key="k", Body=b"persistent bytes")
    finally:
        assert server.stop() == 0, server.log_text()
    assert server.running_children() == []
    assert sorted(p.name for p in server.data_dir.iterdir() if p.name.startswith("disk")) == [
        f"disk{i}" for i in range(1, 7)
    ]
    first_run = len(server.log_text())
    server.args = ["--workers", "1", "--log-level", "WARNING"]
    server.start()
    try:
        body = server.s3().get_object(Bucket="keep", Key="k")["Body"].read()
        assert body == b"persistent bytes"
    finally:
        assert server.stop() == 0, server.log_text()
    second_run = server.log_text()[first_run:]
    assert "WormFS is running." in second_run
    assert not re.search(r"^\S+ \S+ \S+\[\d+\] INFO ", second_run, re.MULTILINE), second_run
