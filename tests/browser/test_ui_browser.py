"""The web UI in a real headless Chromium over a real cluster (four nodes, eight disks).

Every page loads with no console error and no request to any host but 127.0.0.1; objects put
with boto3 show on the Buckets page within 5 s without a reload; a killed storage node turns
"down" on Nodes within the heartbeat timeout + 5 s and is a reason on Overview; the repair
job's progress bar moves, pausing it changes its state and adds exactly one audit row. A
screenshot of each page is saved (see ``artifacts``).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from browser.conftest import HEARTBEAT_TIMEOUT, UiCluster, UiPage
from waiting import wait_until

pytestmark = pytest.mark.integration  # real processes: their logs are scanned

PAGES = {
    "overview": "/ui/",
    "nodes": "/ui/nodes",
    "disks": "/ui/disks",
    "buckets": "/ui/buckets",
    "users": "/ui/users",
    "jobs": "/ui/jobs",
    "profiles": "/ui/profiles",
    "audit": "/ui/audit",
}


def _text(ui: UiPage, selector: str) -> str:
    found = ui.page.query_selector(selector)
    return "" if found is None else str(found.inner_text()).strip()


def test_every_page_loads_clean_and_offline(
    ui: UiPage, ui_cluster: UiCluster, artifacts: Path
) -> None:
    s3 = ui_cluster.cluster.s3()
    s3.create_bucket(Bucket="shots")
    s3.put_object(Bucket="shots", Key="dir/hello.txt", Body=b"hello")
    for name, path in {**PAGES, "bucket": "/ui/buckets/shots"}.items():
        ui.goto(path)
        ui.page.wait_for_load_state("networkidle")
        # One live-region refresh happens too (htmx, every 2 s).
        with ui.page.expect_response(lambda r: r.request.headers.get("hx-request") == "true"):
            pass
        print(f"{name}: {ui.shot(artifacts, name)}")
    assert ui.errors == []
    assert ui.hosts == {"127.0.0.1"}, ui.urls


def test_phone_width_has_no_horizontal_page_scroll(
    chromium: Any, ui_cluster: UiCluster, artifacts: Path
) -> None:
    from browser.conftest import log_in

    phone = log_in(chromium, ui_cluster.admin_url, viewport={"width": 390, "height": 844})
    try:
        for name, path in PAGES.items():
            phone.goto(path)
            # Wide tables scroll inside their own box; the page itself never does.
            width = phone.page.evaluate("document.documentElement.scrollWidth")
            assert width <= 390, (name, width)
        phone.goto("/ui/nodes")
        print(f"phone: {phone.shot(artifacts, 'phone-nodes')}")
        assert phone.errors == []
    finally:
        phone.page.context.close()


def test_ten_puts_show_on_buckets_within_5_s_without_a_reload(
    ui: UiPage, ui_cluster: UiCluster
) -> None:
    s3 = ui_cluster.cluster.s3()
    s3.create_bucket(Bucket="live-count")
    ui.goto("/ui/buckets")
    ui.page.evaluate("window.__notReloaded = true")
    assert _text(ui, 'tr[data-bucket="live-count"] td.objects') == "0"
    for i in range(10):
        s3.put_object(Bucket="live-count", Key=f"k{i}", Body=b"x" * (i + 1))
    started = time.monotonic()
    wait_until(
        lambda: _text(ui, 'tr[data-bucket="live-count"] td.objects') == "10",
        5.0,
        interval=0.1,
        message="the Buckets page shows 10 objects",
    )
    print(f"10 objects shown {time.monotonic() - started:.1f} s after the last PUT")
    assert ui.page.evaluate("window.__notReloaded") is True
    assert ui.errors == []


def test_a_corrupt_chunk_found_by_a_deep_scrub_counts_on_the_disks_page(
    ui: UiPage, ui_cluster: UiCluster
) -> None:
    import json

    cluster = ui_cluster.cluster
    s3 = cluster.s3()
    s3.create_bucket(Bucket="rot")
    before = set(cluster.chunk_files(1, 1))
    for i in range(6):  # erasure-coded; some land on node 1's first disk
        s3.put_object(Bucket="rot", Key=f"r{i}", Body=bytes([i]) * 300_000)
    fresh = sorted(set(cluster.chunk_files(1, 1)) - before)
    assert fresh, "no chunk landed on node 1, disk 1"
    cluster.corrupt_chunk(fresh[0])
    marker = json.loads((cluster.disk_path(1, 1) / ".wormfs-disk").read_text())
    disk_id = str(marker["disk_id"])
    cell = f'tr[data-disk="{disk_id}"] td.disk-errors'
    ui.goto(f"/ui/disks?node={marker['node_id']}")
    wait_until(lambda: _text(ui, cell).startswith("I/O 0, checksum 0"), 10.0, message="counts")
    _admin(ui_cluster, "POST", "/jobs", {"kind": "scrub", "deep": True, "disk_ids": [disk_id]})
    wait_until(
        lambda: _text(ui, cell).startswith("I/O 0, checksum 1"),
        30.0,
        interval=0.2,
        message="the corrupt chunk counted on the Disks page",
    )
    assert ui.errors == []


def _repair_row(ui: UiPage) -> Any:
    return ui.page.query_selector('tr[data-kind="repair"]')


def _progress(ui: UiPage) -> tuple[float, float]:
    bar = ui.page.query_selector('tr[data-kind="repair"] progress.job-progress')
    if bar is None:
        return (0.0, 0.0)
    value = bar.get_attribute("value")
    return (float(value or 0), float(bar.get_attribute("max") or 0))


def _admin(ui_cluster: UiCluster, method: str, path: str, body: Any = None) -> Any:
    import json
    import urllib.request

    from browser.conftest import ADMIN_TOKEN

    request = urllib.request.Request(
        ui_cluster.admin_url + "/admin/v1" + path,
        method=method,
        data=None if body is None else json.dumps(body).encode(),
        headers={"Authorization": f"Bearer {ADMIN_TOKEN}", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as answer:
        return json.loads(answer.read() or b"null")


@pytest.mark.slow
def test_killed_node_goes_down_then_repair_moves_and_pausing_it_is_audited_once(
    ui: UiPage, ui_cluster: UiCluster, artifacts: Path
) -> None:
    cluster = ui_cluster.cluster
    s3 = cluster.s3()
    s3.create_bucket(Bucket="durable")
    for i in range(40):  # above the inline limit: erasure-coded, 6 chunks each over 8 disks
        s3.put_object(Bucket="durable", Key=f"obj-{i:02d}", Body=bytes([i]) * 100_000)
    # Slow repair down, so that its progress can be watched moving.
    _admin(ui_cluster, "PUT", "/jobs/throttles/repair", {"items_per_s": 3})
    victim = "node4"
    ui.goto("/ui/nodes")
    rows_before = ui.page.query_selector_all("tr[data-node] td.node-state")
    assert [r.inner_text() for r in rows_before] == ["online"] * 4
    killed_at = time.monotonic()
    cluster.kill_node(4)

    def down_rows() -> list[str]:
        return [
            str(row.get_attribute("data-node"))
            for row in ui.page.query_selector_all("tr[data-node]")
            if row.query_selector("td.node-state").inner_text() == "down"
        ]

    down = wait_until(down_rows, HEARTBEAT_TIMEOUT + 5.0, interval=0.2, message="a node shown down")
    print(f"{victim} shown down {time.monotonic() - killed_at:.1f} s after kill -9")
    assert len(down) == 1
    print(f"nodes-down: {ui.shot(artifacts, 'nodes-down')}")
    ui.goto("/ui/")
    reasons = ui.page.inner_text("#health-reasons")
    assert "node down" in reasons and down[0] in reasons
    assert _text(ui, "#health-status").lower() == "degraded"

    ui.goto("/ui/jobs?kind=repair")
    first = wait_until(
        lambda: _progress(ui)[0] > 0 and _progress(ui), 30.0, message="repair under way"
    )
    later = wait_until(
        lambda: _progress(ui)[0] > first[0] and _progress(ui),
        15.0,
        interval=0.2,
        message="the repair progress bar moves",
    )
    print(f"repair progress {first} -> {later}")
    print(f"jobs: {ui.shot(artifacts, 'jobs-repair')}")
    job_id = str(_repair_row(ui).get_attribute("data-job"))
    before = _admin(ui_cluster, "GET", "/audit?action=job.pause&limit=100")["items"]
    ui.page.click(f'tr[data-job="{job_id}"] form[action$="/pause"] button')
    ui.page.wait_for_url("**/ui/jobs*")
    wait_until(
        lambda: _text(ui, f'tr[data-job="{job_id}"] td.job-state') == "paused",
        5.0,
        message="the repair job shown paused",
    )
    after = _admin(ui_cluster, "GET", "/audit?action=job.pause&limit=100")["items"]
    assert len(after) == len(before) + 1
    assert after[0]["actor"] == "initial" and after[0]["result"] == "ok"
    assert after[0]["target"] == f"jobs/{job_id}"
    assert _admin(ui_cluster, "GET", f"/jobs/{job_id}")["state"] == "paused"
    _admin(ui_cluster, "POST", f"/jobs/{job_id}/resume")
    assert ui.errors == []
    assert ui.hosts == {"127.0.0.1"}


def test_revoking_the_token_sends_an_open_page_to_the_login_form(
    chromium: Any, ui_cluster: UiCluster
) -> None:
    from browser.conftest import log_in

    made = _admin(ui_cluster, "POST", "/tokens", {"name": "short-lived", "scope": "read"})
    page = log_in(chromium, ui_cluster.admin_url, made["token"])
    try:
        page.goto("/ui/nodes")
        _admin(ui_cluster, "POST", f"/tokens/{made['info']['token_id']}/revoke")
        # The next refresh of the live region (every 2 s) finds the session gone.
        page.page.wait_for_url(ui_cluster.admin_url + "/ui/login", timeout=5000)
        assert page.errors == []
    finally:
        page.page.context.close()
