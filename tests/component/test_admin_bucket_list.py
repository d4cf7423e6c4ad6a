"""The admin API's bucket list over a real coordinator (both engines): each bucket of a page
with its usage (object versions, bytes, unfinished uploads) and default storage class, paged
by name with the cursor, filtered by owner; read for the whole page in one statement, and the
UI's Buckets page shows it with that one read (no read per bucket)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import aiohttp
from component.admin_harness import AdminHarness
from component.coordinator_harness import make_bucket, put, register
from component.test_ui_login import _login, admin, browser

from wormfs.wire.coordinator import CreateUpload

__all__ = ["admin", "browser"]  # the fixtures, shared with the login tests


@contextmanager
def reads_of(admin: AdminHarness) -> Iterator[list[str]]:
    """The read transactions the coordinator's database runs meanwhile, by operation."""
    db = admin.coordinator.repo.db
    seen: list[str] = []
    real = db.read

    async def counted(fn: Any) -> Any:
        seen.append(getattr(fn, "__qualname__", repr(fn)))
        return await real(fn)

    db.read = counted  # type: ignore[method-assign]
    try:
        yield seen
    finally:
        del db.read


async def _seed(admin: AdminHarness) -> None:
    client = admin.coordinator.client
    await register(client, "n1")
    for name in ("b-alpha", "b-beta", "b-gamma"):
        await make_bucket(client, name)
    await put(client, "b-alpha", "one", size=100)
    await put(client, "b-alpha", "two", size=250)
    await put(client, "b-gamma", "x", size=7)
    await client.create_upload(CreateUpload(bucket="b-gamma", key="mp", owner_id="owner-a"))
    await admin.ok(
        "PUT", "/buckets/b-beta/storage-class", json={"storage_class": "REDUCED_REDUNDANCY"}
    )


async def test_the_list_carries_usage_and_class_paged_by_name(admin: AdminHarness) -> None:
    await _seed(admin)
    first = await admin.ok("GET", "/buckets", params={"limit": "2"})
    assert [(b["name"], b["usage"], b["storage_class"]) for b in first["items"]] == [
        ("b-alpha", {"objects": 2, "bytes": 350, "uploads": 0}, "STANDARD"),
        ("b-beta", {"objects": 0, "bytes": 0, "uploads": 0}, "REDUCED_REDUNDANCY"),
    ]
    assert first["next_cursor"]
    rest = await admin.ok("GET", "/buckets", params={"limit": "2", "cursor": first["next_cursor"]})
    assert [(b["name"], b["usage"]) for b in rest["items"]] == [
        ("b-gamma", {"objects": 1, "bytes": 7, "uploads": 1})
    ]
    assert rest["next_cursor"] is None
    # The list agrees with each bucket's own GET.
    for b in first["items"] + rest["items"]:
        assert (await admin.ok("GET", f"/buckets/{b['name']}"))["usage"] == b["usage"]
    owner = first["items"][0]["owner_id"]
    mine = await admin.ok("GET", "/buckets", params={"owner": owner})
    assert len(mine["items"]) == 3
    assert (await admin.ok("GET", "/buckets", params={"owner": "nobody"}))["items"] == []
    status, body, _ = await admin.call("GET", "/buckets", params={"cursor": "bm9wZQ"})
    assert (status, body["code"]) == (400, "InvalidInput")


async def test_a_page_of_the_list_and_of_the_ui_is_one_read(
    admin: AdminHarness, browser: aiohttp.ClientSession
) -> None:
    await _seed(admin)
    with reads_of(admin) as seen:
        await admin.ok("GET", "/buckets")
    assert [r.split(".")[:2] for r in seen] == [
        ["AdminTokens", "authenticate"],
        ["AdminViews", "bucket_page"],
    ]
    await _login(browser, admin.url)
    with reads_of(admin) as seen:
        async with browser.get(admin.url + "/ui/buckets") as resp:
            text = await resp.text()
            assert resp.status == 200, text[:2000]
    # The session and its token are checked too; the buckets are one read, not one each.
    assert len([r for r in seen if "bucket_page" in r]) == 1, seen
    assert len(seen) <= 3, seen
    assert text.count("data-bucket=") == 3
    assert "REDUCED_REDUNDANCY" in text and "350 B" in text, text
