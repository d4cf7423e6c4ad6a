"""Every page of the web UI over a real coordinator, and its buttons: each runs the admin
API's route once, with its audit row, and refuses without the CSRF token or an admin scope."""

from __future__ import annotations

import re
from typing import Any

import aiohttp
from component.admin_harness import AdminHarness
from component.test_ui_login import _login, admin, browser

__all__ = ["admin", "browser"]  # the fixtures, shared with the login tests

PAGES = [
    "/ui/",
    "/ui/nodes",
    "/ui/disks",
    "/ui/buckets",
    "/ui/users",
    "/ui/jobs",
    "/ui/profiles",
    "/ui/audit",
]


async def _audit(admin: AdminHarness, **params: str) -> list[dict[str, Any]]:
    body = await admin.ok("GET", "/audit", params={"limit": "100", **params})
    return list(body["items"])


async def test_every_page_renders_whole_and_as_a_live_region(
    admin: AdminHarness, browser: aiohttp.ClientSession
) -> None:
    await _login(browser, admin.url)
    for page in PAGES:
        async with browser.get(admin.url + page) as resp:
            text = await resp.text()
            assert resp.status == 200, (page, text[:2000])
            assert "<html" in text and 'id="live"' in text, page
            assert "does not serve" not in text, page
        async with browser.get(admin.url + page, headers={"HX-Request": "true"}) as resp:
            text = await resp.text()
            assert resp.status == 200, (page, text[:2000])
            assert "<html" not in text, page
    async with browser.get(admin.url + "/ui/static/vendor/htmx.min.js") as resp:
        assert resp.status == 200
        assert resp.content_type == "text/javascript"
    async with browser.get(admin.url + "/ui/static/nope.js") as resp:
        assert resp.status == 404


async def test_bucket_create_and_delete_from_the_ui_are_audited_once(
    admin: AdminHarness, browser: aiohttp.ClientSession
) -> None:
    csrf = await _login(browser, admin.url)
    form = {"csrf": csrf, "name": "ui-made", "back": "/ui/buckets"}
    async with browser.post(admin.url + "/ui/buckets", data=form) as resp:
        assert resp.status == 200
        assert str(resp.url).endswith("/ui/buckets")
        page = await resp.text()
    assert 'data-bucket="ui-made"' in page
    assert "bucket create ui-made" in page or "done" in page
    rows = await _audit(admin, bucket="ui-made")
    assert [(r["action"], r["actor"], r["result"]) for r in rows] == [
        ("bucket.create", "initial", "ok")
    ]
    # The same again fails (the API's error, shown as a flash) and is audited with its code.
    async with browser.post(admin.url + "/ui/buckets", data=form) as resp:
        assert "error" in await resp.text()
    rows = await _audit(admin, bucket="ui-made")
    assert len(rows) == 2 and rows[0]["result"] != "ok"
    delete = {"csrf": csrf, "back": "/ui/buckets"}
    async with browser.post(admin.url + "/ui/buckets/ui-made/delete", data=delete) as resp:
        assert 'data-bucket="ui-made"' not in await resp.text()
    newest = (await _audit(admin, bucket="ui-made"))[0]
    assert newest["action"] == "bucket.delete"


async def test_posts_without_csrf_change_nothing_and_write_no_audit_row(
    admin: AdminHarness, browser: aiohttp.ClientSession
) -> None:
    await _login(browser, admin.url)
    before = await _audit(admin)
    async with browser.post(admin.url + "/ui/buckets", data={"name": "forged"}) as resp:
        assert resp.status == 403
    async with browser.post(
        admin.url + "/ui/buckets", data={"name": "forged", "csrf": "guess"}
    ) as resp:
        assert resp.status == 403
    assert await _audit(admin) == before
    status, _, _ = await admin.call("GET", "/buckets/forged")
    assert status == 404


async def test_a_read_token_sees_pages_but_its_posts_are_refused_and_audited(
    admin: AdminHarness, browser: aiohttp.ClientSession
) -> None:
    made = await admin.ok("POST", "/tokens", json={"name": "viewer", "scope": "read"})
    csrf = await _login(browser, admin.url, made["token"])
    async with browser.get(admin.url + "/ui/buckets") as resp:
        assert resp.status == 200
    form = {"csrf": csrf, "name": "not-allowed", "back": "/ui/buckets"}
    async with browser.post(admin.url + "/ui/buckets", data=form) as resp:
        assert "read scope" in await resp.text()
    rows = await _audit(admin, actor="viewer")
    assert [(r["action"], r["result"]) for r in rows] == [("bucket.create", "AccessDenied")]


async def test_a_new_key_secret_is_shown_once_and_never_in_a_url(
    admin: AdminHarness, browser: aiohttp.ClientSession
) -> None:
    csrf = await _login(browser, admin.url)
    user = await admin.ok("POST", "/users", json={"display_name": "carol"})
    url = f"{admin.url}/ui/users/{user['user_id']}/keys"
    async with browser.post(url, data={"csrf": csrf, "back": "/ui/users"}) as resp:
        assert resp.status == 200
        page = await resp.text()
        assert "?" not in str(resp.url)
    secret = re.search(r'id="shown-secret">([^<]+)<', page)
    assert secret is not None and len(secret.group(1)) >= 20
    async with browser.get(f"{admin.url}/ui/users/{user['user_id']}") as resp:
        assert secret.group(1) not in await resp.text()
    rows = await _audit(admin, action="key.create")
    assert len(rows) == 1 and rows[0]["result"] == "ok"


async def test_back_paths_stay_inside_the_ui(
    admin: AdminHarness, browser: aiohttp.ClientSession
) -> None:
    csrf = await _login(browser, admin.url)
    for back in ("https://example.com/", "//example.com/ui/", "/admin/v1/tokens"):
        form = {"csrf": csrf, "name": "b-" + str(abs(hash(back)))[:8], "back": back}
        async with browser.post(admin.url + "/ui/buckets", data=form, allow_redirects=False) as r:
            assert r.status == 303
            assert r.headers["Location"] == "/ui/"


async def test_job_pause_resume_and_throttle_from_the_jobs_page(
    admin: AdminHarness, browser: aiohttp.ClientSession
) -> None:
    csrf = await _login(browser, admin.url)
    jobs = await admin.ok("GET", "/jobs", params={"kind": "repair"})
    assert jobs["items"], jobs
    job_id = jobs["items"][0]["job_id"]
    async with browser.get(admin.url + "/ui/jobs?kind=repair") as resp:
        page = await resp.text()
    assert f'data-job="{job_id}"' in page and f"/ui/jobs/{job_id}/pause" in page
    back = {"csrf": csrf, "back": "/ui/jobs?kind=repair"}
    async with browser.post(f"{admin.url}/ui/jobs/{job_id}/pause", data=back) as resp:
        assert str(resp.url).endswith("/ui/jobs?kind=repair")
        assert f"/ui/jobs/{job_id}/resume" in await resp.text()
    assert (await admin.ok("GET", f"/jobs/{job_id}"))["state"] == "paused"
    rows = await _audit(admin, action="job.pause")
    assert [(r["target"], r["actor"], r["result"]) for r in rows] == [
        (f"jobs/{job_id}", "initial", "ok")
    ]
    async with browser.post(f"{admin.url}/ui/jobs/{job_id}/resume", data=back) as resp:
        assert resp.status == 200
    assert (await admin.ok("GET", f"/jobs/{job_id}"))["state"] == "running"
    throttle = {**back, "kind": "repair", "items_per_s": "5", "bytes_per_s": "0"}
    async with browser.post(admin.url + "/ui/jobs/throttle", data=throttle) as resp:
        assert "job throttle repair: done" in await resp.text()
    listed = await admin.ok("GET", "/jobs/throttles")
    repair = next(t for t in listed["throttles"] if t["kind"] == "repair")
    assert repair["throttle"]["items_per_s"] == 5
    assert len(await _audit(admin, action="job.throttle")) == 1


async def test_errors_are_pages_with_their_status_and_request_id(
    admin: AdminHarness, browser: aiohttp.ClientSession
) -> None:
    await _login(browser, admin.url)
    async with browser.get(admin.url + "/ui/buckets/no-such-bucket") as resp:
        assert resp.status == 404
        assert resp.content_type == "text/html"
        text = await resp.text()
        assert "NoSuchBucket" in text and resp.headers["x-request-id"] in text
    async with browser.get(admin.url + "/ui/audit", params={"since": "yesterday"}) as resp:
        assert resp.status == 400
        assert "not a date and time" in await resp.text()


async def test_node_drain_user_disable_and_profile_create_from_their_pages(
    admin: AdminHarness, browser: aiohttp.ClientSession
) -> None:
    from wormfs.wire.coordinator import NodeRegistration
    from wormfs.wire.storage import DiskInfo

    disks = [
        DiskInfo(f"ui-disk-{i}", f"/d{i}", "online", 1 << 30, 1 << 29, 1 << 29) for i in (1, 2)
    ]
    await admin.coordinator.repo.cluster.register(
        NodeRegistration("ui-node-1", "http://127.0.0.1:1", disks)
    )
    csrf = await _login(browser, admin.url)
    # Two writable disks: room for a 1+1 profile (a wider one is refused, as by the API).
    form = {"csrf": csrf, "back": "/ui/profiles", "name": "small", "k": "1", "m": "1"}
    async with browser.post(admin.url + "/ui/profiles", data=form) as resp:
        text = await resp.text()
    main = text[text.find("<main") :][:800]
    assert "<strong>small</strong>" in text and "1+1" in text, main
    back = {"csrf": csrf, "back": "/ui/nodes"}
    async with browser.post(admin.url + "/ui/nodes/ui-node-1/drain", data=back) as resp:
        assert "node drain ui-node-1: done" in await resp.text()
    async with browser.get(admin.url + "/ui/disks", params={"node": "ui-node-1"}) as resp:
        text = await resp.text()
    # Draining, or already drained: the disks hold no chunks.
    assert text.count('class="state-draining') + text.count('class="state-drained') == 2
    user = await admin.ok("POST", "/users", json={"display_name": "dave"})
    back["back"] = "/ui/users"
    async with browser.post(f"{admin.url}/ui/users/{user['user_id']}/disable", data=back) as r:
        assert f"/ui/users/{user['user_id']}/enable" in await r.text()
    assert (await admin.ok("GET", f"/users/{user['user_id']}"))["user"]["disabled"] is True
    actions = [r["action"] for r in await _audit(admin)]
    for action in ("node.drain", "user.disable", "profile.create"):
        assert actions.count(action) == 1, (action, actions)
