"""Fixtures of the browser tier: a real cluster with its admin listener, and headless Chromium.

Layer: test support. ``ui_cluster`` (module scope) is ``integration.cluster.Cluster`` with
four storage nodes of two disks (4+2 over eight disks: a node's death leaves six, so repair
has somewhere to rebuild), background jobs on test time scales, and the coordinator's admin
listener on a free port with ``ADMIN_TOKEN`` as its configured token; ``UiCluster.admin_url``
is read from the coordinator's admin ready file. ``chromium`` (module scope) is Debian's
``/usr/bin/chromium`` launched by Playwright with the flags that keep it off the network;
``ui`` is a fresh page logged in through the login form, recording console errors and the
URL of every request (``UiPage.errors``, ``UiPage.hosts``). ``artifacts`` is the directory
for screenshots: ``$WORMFS_UI_ARTIFACTS``, else a temp dir; its path is printed.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from integration.cluster import Cluster
from integration.durability_helpers import fast_config

from wormfs.runtime.bootstrap import admin_ready_file

ADMIN_TOKEN = "wfa_browser-test-admin-token-0123456789abcdefghijk"
CHROMIUM = Path("/usr/bin/chromium")
# Without the background-networking flags Chromium tries to reach Google's services; with
# them a page makes only the requests it asks for (checked by every test: 127.0.0.1 only).
FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ARTIFACTS_ENV = "WORMFS_UI_ARTIFACTS"
HEARTBEAT_TIMEOUT = 3.0  # node_offline_after of fast_config


@dataclass
class UiCluster:
    cluster: Cluster

    @property
    def admin_url(self) -> str:
        ready = admin_ready_file(self.cluster.procs["coordinator"].ready_file)
        return str(json.loads(ready.read_text())["address"])

    def log_files(self) -> list[Path]:
        return self.cluster.log_files()


def _require_chromium() -> None:
    if CHROMIUM.exists():
        return
    reason = f"{CHROMIUM} is missing (apt-get install chromium)"
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(f"{reason} (required under CI)", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="module")
def ui_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[UiCluster]:
    config = (
        f'admin_token = "{ADMIN_TOKEN}"\n'
        + fast_config(repair_delay=1.0)
        + '\n[admin_listen]\nhost = "127.0.0.1"\nport = 0\n'
    )
    cluster = Cluster(
        nodes=4,
        disks_per_node=2,
        coordinator_config=config,
        root=tmp_path_factory.mktemp("ui-cluster"),
    )
    try:
        cluster.start()
    except BaseException:
        print(cluster.logs())
        cluster.cleanup()
        raise
    try:
        yield UiCluster(cluster)
    finally:
        cluster.cleanup()


@pytest.fixture(scope="module")
def artifacts() -> Path:
    folder = Path(os.environ.get(ARTIFACTS_ENV) or tempfile.mkdtemp(prefix="wormfs-ui-"))
    folder.mkdir(parents=True, exist_ok=True)
    print(f"\nweb UI screenshots go to {folder}")
    return folder


@pytest.fixture(scope="module")
def chromium() -> Iterator[Any]:
    _require_chromium()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=FLAGS)
        try:
            yield browser
        finally:
            browser.close()


@dataclass
class UiPage:
    page: Any  # playwright.sync_api.Page
    base: str
    errors: list[str] = field(default_factory=list)
    urls: list[str] = field(default_factory=list)

    @property
    def hosts(self) -> set[str]:
        return {urlsplit(u).hostname or "" for u in self.urls if not u.startswith("data:")}

    def goto(self, path: str) -> Any:
        response = self.page.goto(self.base + path)
        assert response is not None and response.status == 200, (path, response)
        return response

    def shot(self, folder: Path, name: str) -> Path:
        path = folder / f"{name}.png"
        self.page.screenshot(path=str(path), full_page=True)
        return path


def log_in(chromium: Any, base: str, token: str = ADMIN_TOKEN, **context: Any) -> UiPage:
    """A new browser context and page, logged in through the login form."""
    page = chromium.new_context(**context).new_page()
    ui = UiPage(page, base)
    page.on("console", lambda m: m.type == "error" and ui.errors.append(m.text))
    page.on("pageerror", lambda e: ui.errors.append(str(e)))
    page.on("request", lambda r: ui.urls.append(r.url))
    page.on("dialog", lambda d: d.accept())  # the confirm() of delete and decommission
    ui.goto("/ui/login")
    page.fill("#token", token)
    page.click("button[type=submit]")
    page.wait_for_url(base + "/ui/")
    return ui


@pytest.fixture
def ui(chromium: Any, ui_cluster: UiCluster) -> Iterator[UiPage]:
    page = log_in(chromium, ui_cluster.admin_url)
    try:
        yield page
    finally:
        page.page.context.close()
