"""The web UI of a real ``wormfs server`` (what ``make run`` starts) in headless Chromium: the
login with the token ``wormfs server`` keeps in its data dir, the Overview, and the object
browser's folders, download (a presigned GET the browser fetches from the S3 gateway) and
delete (one audit row), every request to 127.0.0.1. The Overview's screenshot is the one the
README shows (``overview.png`` among the artifacts)."""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from browser.conftest import UiPage, log_in
from integration.servers import Server
from waiting import wait_until

pytestmark = pytest.mark.integration  # real processes: their logs are scanned


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    root = tmp_path_factory.mktemp("ui-server")
    started = Server(
        root, ["--workers", "1"], extra_env={"WORMFS_ADMIN_ADDRESS": "127.0.0.1:0"}
    ).start()
    try:
        yield started
    finally:
        started.stop()


def _token(server: Server) -> str:
    return (server.data_dir / "admin.token").read_text().strip()


@pytest.fixture
def ui(chromium: Any, server: Server) -> Iterator[UiPage]:
    page = log_in(chromium, server.status()["admin_url"], _token(server), accept_downloads=True)
    try:
        yield page
    finally:
        page.page.context.close()


def _audit(server: Server, action: str) -> list[dict[str, Any]]:
    request = urllib.request.Request(
        server.status()["admin_url"] + f"/admin/v1/audit?action={action}",
        headers={"Authorization": f"Bearer {_token(server)}"},
    )
    with urllib.request.urlopen(request, timeout=10) as answer:
        return list(json.loads(answer.read())["items"])


def test_overview_of_a_fresh_server(ui: UiPage, server: Server, artifacts: Path) -> None:
    s3 = server.s3()
    s3.create_bucket(Bucket="photos")
    for i in range(3):
        s3.put_object(Bucket="photos", Key=f"2026/12/img-{i}.jpg", Body=b"\xff" * (200_000 + i))
    ui.goto("/ui/")
    wait_until(lambda: "3" in ui.page.inner_text("#object-count"), 10.0, message="3 objects")
    assert ui.page.inner_text("#health-status").lower() == "healthy"
    ui.page.set_viewport_size({"width": 1280, "height": 900})
    print(f"overview: {ui.shot(artifacts, 'overview')}")
    assert ui.errors == []
    assert ui.hosts == {"127.0.0.1"}


def test_object_browser_downloads_through_the_gateway_and_deletes(
    ui: UiPage, server: Server, artifacts: Path
) -> None:
    s3 = server.s3()
    s3.create_bucket(Bucket="browse")
    body = b"hello from the object browser\n" * 5000  # erasure-coded (above inline_max)
    s3.put_object(Bucket="browse", Key="docs/readme.txt", Body=body)
    s3.put_object(Bucket="browse", Key="top.txt", Body=b"top")
    ui.goto("/ui/buckets/browse")
    ui.page.click("text=docs/")
    ui.page.wait_for_selector('tr[data-key="docs/readme.txt"]')
    print(f"objects: {ui.shot(artifacts, 'objects')}")
    with ui.page.expect_download() as download:
        ui.page.click('tr[data-key="docs/readme.txt"] a:has-text("download")')
    saved = download.value.path()
    assert Path(saved).read_bytes() == body
    gateway = f"127.0.0.1:{server.port}"
    assert any(gateway in url and "X-Amz-Signature=" in url for url in ui.urls)

    before = len(_audit(server, "object.delete"))
    ui.page.click('tr[data-key="docs/readme.txt"] button:has-text("delete")')
    ui.page.wait_for_selector('tr[data-key="docs/readme.txt"]', state="detached")
    listed = s3.list_objects_v2(Bucket="browse").get("Contents", [])
    assert [o["Key"] for o in listed] == ["top.txt"]
    rows = _audit(server, "object.delete")
    assert len(rows) == before + 1
    assert (rows[0]["target"], rows[0]["bucket"], rows[0]["result"]) == (
        "buckets/browse/docs/readme.txt",
        "browse",
        "ok",
    )
    assert ui.errors == []
    assert ui.hosts == {"127.0.0.1"}


def test_the_server_prints_the_web_ui_url(server: Server) -> None:
    assert f"Web UI:       {server.status()['admin_url']}/ui/" in server.log_text()
