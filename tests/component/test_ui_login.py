"""The web UI over a real coordinator's admin listener: login, session cookie, CSRF, logout,
and a page that shows what the admin API answers."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from http.cookies import SimpleCookie

import aiohttp
import pytest
from component.admin_harness import ADMIN_TOKEN, AdminHarness, admin_running

CSRF_INPUT = re.compile(r'name="csrf" value="([^"]+)"')


@pytest.fixture
async def admin(database_url: str) -> AsyncIterator[AdminHarness]:
    async with admin_running(database_url) as harness:
        yield harness


@pytest.fixture
async def browser() -> AsyncIterator[aiohttp.ClientSession]:
    # unsafe=True: keep cookies of an IP-address host (127.0.0.1), as a browser does.
    jar = aiohttp.CookieJar(unsafe=True)
    async with aiohttp.ClientSession(cookie_jar=jar) as session:
        yield session


async def _csrf(browser: aiohttp.ClientSession, url: str) -> str:
    async with browser.get(url) as resp:
        assert resp.status == 200, resp.status
        found = CSRF_INPUT.search(await resp.text())
        assert found is not None
        return found.group(1)


async def _login(browser: aiohttp.ClientSession, base: str, token: str = ADMIN_TOKEN) -> str:
    """Log in; answers the session's CSRF token (from the Overview's logout form)."""
    csrf = await _csrf(browser, f"{base}/ui/login")
    async with browser.post(
        f"{base}/ui/login", data={"csrf": csrf, "token": token}, allow_redirects=False
    ) as resp:
        assert resp.status == 303, await resp.text()
        cookie = SimpleCookie(resp.headers["Set-Cookie"])
        morsel = cookie["wormfs_session"]
        assert morsel["httponly"] and morsel["samesite"] == "Strict"
        assert morsel["path"] == "/ui"
    return await _csrf(browser, f"{base}/ui/audit")


async def test_pages_need_a_session(admin: AdminHarness, browser: aiohttp.ClientSession) -> None:
    async with browser.get(f"{admin.url}/ui/audit", allow_redirects=False) as resp:
        assert resp.status == 303
        assert resp.headers["Location"] == "/ui/login"
    async with browser.get(f"{admin.url}/ui/audit", headers={"HX-Request": "true"}) as resp:
        assert resp.status == 200
        assert resp.headers["HX-Redirect"] == "/ui/login"
        assert await resp.read() == b""
    async with browser.get(f"{admin.url}/", allow_redirects=False) as resp:
        assert resp.status == 303


async def test_login_needs_its_csrf_token_and_a_valid_token(
    admin: AdminHarness, browser: aiohttp.ClientSession
) -> None:
    login = f"{admin.url}/ui/login"
    csrf = await _csrf(browser, login)
    async with browser.post(login, data={"token": ADMIN_TOKEN}) as resp:
        assert resp.status == 403
    async with browser.post(login, data={"token": ADMIN_TOKEN, "csrf": "forged"}) as resp:
        assert resp.status == 403
    async with browser.post(login, data={"token": "wfa_wrong", "csrf": csrf}) as resp:
        assert resp.status == 401
        assert "unknown, revoked or expired" in await resp.text()
        assert "wfa_wrong" not in await resp.text()
    assert "wormfs_session" not in {c.key for c in browser.cookie_jar}


async def test_session_csrf_on_posts_and_logout(
    admin: AdminHarness, browser: aiohttp.ClientSession
) -> None:
    csrf = await _login(browser, admin.url)
    async with browser.get(f"{admin.url}/ui/audit") as resp:
        assert resp.status == 200
        assert resp.headers["Cache-Control"] == "no-store"
        assert "script-src 'self'" in resp.headers["Content-Security-Policy"]
    logout = f"{admin.url}/ui/logout"
    async with browser.post(logout, data={}, allow_redirects=False) as resp:
        assert resp.status == 403  # no CSRF token: still logged in
    async with browser.get(f"{admin.url}/ui/audit", allow_redirects=False) as resp:
        assert resp.status == 200
    async with browser.post(logout, data={"csrf": csrf}, allow_redirects=False) as resp:
        assert resp.status == 303
    async with browser.get(f"{admin.url}/ui/audit", allow_redirects=False) as resp:
        assert resp.status == 303


async def test_a_revoked_token_ends_its_sessions(
    admin: AdminHarness, browser: aiohttp.ClientSession
) -> None:
    made = await admin.ok("POST", "/tokens", json={"name": "ops", "scope": "admin"})
    await _login(browser, admin.url, made["token"])
    await admin.ok("POST", f"/tokens/{made['info']['token_id']}/revoke")
    async with browser.get(f"{admin.url}/ui/audit", allow_redirects=False) as resp:
        assert resp.status == 303
        assert resp.headers["Location"] == "/ui/login"


async def test_audit_page_shows_the_api_rows_filtered_and_live(
    admin: AdminHarness, browser: aiohttp.ClientSession
) -> None:
    for name in ("alpha", "beta"):
        await admin.ok("POST", "/tokens", json={"name": name, "scope": "read"})
    await _login(browser, admin.url)
    async with browser.get(f"{admin.url}/ui/audit", params={"target": "tokens"}) as resp:
        page = await resp.text()
    assert "<html" in page and 'id="live"' in page
    async with browser.get(
        f"{admin.url}/ui/audit", params={"actor": "initial"}, headers={"HX-Request": "true"}
    ) as resp:
        live = await resp.text()
    assert "<html" not in live  # the live region alone
    assert live.count("token.create") == 2
    async with browser.get(f"{admin.url}/ui/audit", params={"actor": "nobody"}) as resp:
        assert "No audit records match." in await resp.text()


async def test_logging_in_records_the_tokens_last_use(
    admin: AdminHarness, browser: aiohttp.ClientSession
) -> None:
    made = await admin.ok("POST", "/tokens", json={"name": "fresh", "scope": "read"})
    assert made["info"]["last_used"] is None
    await _login(browser, admin.url, made["token"])
    listed = await admin.ok("GET", "/tokens")
    fresh = next(t for t in listed["items"] if t["name"] == "fresh")
    assert fresh["last_used"] is not None
