"""``wormfs server --recover`` over a real server: the metadata backup it ships (seen through
the admin API's ``/admin/v1/metadata/backup``), the database deleted, the server started with
``--recover``, and every object acknowledged before the recovery point read back."""

from __future__ import annotations

import json
import os
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from integration.servers import Server
from waiting import wait_until

pytestmark = pytest.mark.slow


def _admin_get(server: Server, path: str) -> Any:
    url = server.status()["admin_url"] + path
    token = (server.data_dir / "admin.token").read_text().strip()
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"})
    with urllib.request.urlopen(request, timeout=10) as resp:
        return json.loads(resp.read())


def test_server_recover_rebuilds_a_deleted_database(tmp_path: Path) -> None:
    server = Server(tmp_path, ["--workers", "1"]).start()
    try:
        s3 = server.s3()
        s3.create_bucket(Bucket="keep")
        objects = {"small": b"inline object", "big": os.urandom(400_000)}
        for key, body in objects.items():
            s3.put_object(Bucket="keep", Key=key, Body=body, Metadata={"k": key})
        etags = {k: s3.head_object(Bucket="keep", Key=k)["ETag"] for k in objects}
        acked = time.time()

        def covered() -> dict[str, Any] | None:
            status: dict[str, Any] = _admin_get(server, "/admin/v1/metadata/backup")
            return status if status["recovery_point"] > acked else None

        status = wait_until(covered, 60.0, message="the backup covers the writes")
        assert status["enabled"] and not status["stale"]
    finally:
        assert server.stop() == 0, server.log_text()
    database = server.data_dir / "meta" / "wormfs.db"
    for suffix in ("", "-wal", "-shm"):
        Path(f"{database}{suffix}").unlink(missing_ok=True)
    server.args = ["--workers", "1", "--recover"]
    server.start()
    try:
        assert "recovery point:" in server.log_text()
        s3 = server.s3()
        for key, body in objects.items():
            got = s3.get_object(Bucket="keep", Key=key)
            assert (got["Body"].read(), got["ETag"], got["Metadata"]) == (
                body,
                etags[key],
                {"k": key},
            )
    finally:
        assert server.stop() == 0, server.log_text()
