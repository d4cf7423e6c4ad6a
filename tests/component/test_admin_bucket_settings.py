"""A bucket's settings over a real coordinator (both engines): GET /admin/v1/buckets/{name}
shows its default storage class, PATCH sets the class and/or the owner (checked before
anything is written, one audit row each, whatever the outcome), and the UI's bucket page
shows the class and changes it through its form."""

from __future__ import annotations

from typing import Any

import aiohttp
from component.admin_harness import AdminHarness
from component.coordinator_harness import make_bucket, put, register
from component.test_ui_login import _login, admin, browser

from wormfs.wire.coordinator import CreateBucket, ObjectLockConfig
from wormfs.wire.encryption import BucketEncryption
from wormfs.wire.lifecycle import LifecycleConfig, LifecycleRule

__all__ = ["admin", "browser"]  # the fixtures, shared with the login tests


async def _updates(admin: AdminHarness) -> list[tuple[str, str]]:
    body = await admin.ok("GET", "/audit", params={"action": "bucket.update"})
    return [(r["target"], r["result"]) for r in body["items"]]


async def test_get_shows_the_class_and_patch_sets_class_and_owner(admin: AdminHarness) -> None:
    client = admin.coordinator.client
    await register(client, "n1")
    await make_bucket(client, "docs")
    detail = await admin.ok("GET", "/buckets/docs")
    assert detail["storage_class"] == "STANDARD"
    user = await admin.ok("POST", "/users", json={"display_name": "carol"})

    patched = await admin.ok("PATCH", "/buckets/docs", json={"storage_class": "REDUCED_REDUNDANCY"})
    assert patched["storage_class"] == "REDUCED_REDUNDANCY"
    assert patched["bucket"]["owner_id"] == "owner-a"  # absent: unchanged
    # The class is the one new objects take.
    manifest = await put(client, "docs", "k", size=100)
    assert manifest.attributes.storage_class == "REDUCED_REDUNDANCY"
    assert (await admin.ok("GET", "/buckets/docs/storage-class")) == {
        "storage_class": "REDUCED_REDUNDANCY"
    }

    other = await admin.ok("POST", "/users", json={"display_name": "dave"})
    patched = await admin.ok("PATCH", "/buckets/docs", json={"owner_id": user["user_id"]})
    assert patched["bucket"]["owner_display_name"] == "carol"
    assert patched["storage_class"] == "REDUCED_REDUNDANCY"
    assert patched["usage"]["objects"] == 1

    # Refusals change nothing: a bad class with a good owner, a good class with no user.
    status, body, _ = await admin.call(
        "PATCH", "/buckets/docs", json={"storage_class": "NOPE", "owner_id": other["user_id"]}
    )
    assert (status, body["code"]) == (400, "InvalidStorageClass")
    status, body, _ = await admin.call(
        "PATCH", "/buckets/docs", json={"storage_class": "STANDARD", "owner_id": "nobody"}
    )
    assert (status, body["code"]) == (400, "InvalidInput")
    status, body, _ = await admin.call("PATCH", "/buckets/docs", json={"region": "x"})
    assert (status, body["code"]) == (400, "InvalidInput")
    status, body, _ = await admin.call("PATCH", "/buckets/none-here", json={})
    assert (status, body["code"]) == (404, "NoSuchBucket")
    after = await admin.ok("GET", "/buckets/docs")
    assert (after["storage_class"], after["bucket"]["owner_id"]) == (
        "REDUCED_REDUNDANCY",
        user["user_id"],
    )
    assert await _updates(admin) == [
        ("buckets/none-here", "NoSuchBucket"),
        ("buckets/docs", "InvalidInput"),
        ("buckets/docs", "InvalidInput"),
        ("buckets/docs", "InvalidStorageClass"),
        ("buckets/docs", "ok"),
        ("buckets/docs", "ok"),
    ]
    doc = await admin.ok("GET", "/openapi.json")
    assert "patch" in doc["paths"]["/admin/v1/buckets/{bucket}"]


async def test_the_bucket_page_shows_the_class_and_its_form_sets_it(
    admin: AdminHarness, browser: aiohttp.ClientSession
) -> None:
    await register(admin.coordinator.client, "n1")
    await make_bucket(admin.coordinator.client, "pics")
    csrf = await _login(browser, admin.url)
    page = f"{admin.url}/ui/buckets/pics"

    async def shown() -> tuple[int, str]:
        async with browser.get(page) as resp:
            return resp.status, await resp.text()

    status, text = await shown()
    assert status == 200, text[:2000]
    assert '<strong class="storage-class">STANDARD</strong>' in text
    assert 'action="/ui/buckets/pics/set"' in text
    assert '<option value="REDUCED_REDUNDANCY">' in text
    form: dict[str, Any] = {
        "csrf": csrf,
        "storage_class": "REDUCED_REDUNDANCY",
        "owner_id": "",
        "back": "/ui/buckets/pics",
    }
    async with browser.post(f"{admin.url}/ui/buckets/pics/set", data=form) as resp:
        assert resp.status == 200 and str(resp.url).endswith("/ui/buckets/pics")
        text = await resp.text()
    assert "done" in text
    assert '<strong class="storage-class">REDUCED_REDUNDANCY</strong>' in text
    assert '<option value="REDUCED_REDUNDANCY" selected>' in text
    assert (await admin.ok("GET", "/buckets/pics"))["storage_class"] == "REDUCED_REDUNDANCY"
    async with browser.post(
        f"{admin.url}/ui/buckets/pics/set", data={**form, "storage_class": "NOPE"}
    ) as resp:
        assert "error" in await resp.text()
    assert await _updates(admin) == [
        ("buckets/pics", "InvalidStorageClass"),
        ("buckets/pics", "ok"),
    ]
    # The live refresh shows the class, not the form.
    async with browser.get(page, headers={"HX-Request": "true"}) as resp:
        text = await resp.text()
    assert "REDUCED_REDUNDANCY" in text and "Bucket settings" not in text


async def test_detail_shows_versioning_object_lock_and_lifecycle(admin: AdminHarness) -> None:
    client = admin.coordinator.client
    await register(client, "n1")
    await make_bucket(client, "plain")
    detail = await admin.ok("GET", "/buckets/plain")
    assert (detail["versioning"], detail["object_lock"]["enabled"], detail["lifecycle_rules"]) == (
        "",
        False,
        0,
    )
    assert detail["encryption"] is None
    await client.create_bucket("vault", CreateBucket(owner_id="owner-a", object_lock=True))
    await client.put_object_lock(
        "vault", None, ObjectLockConfig(enabled=True, mode="COMPLIANCE", days=7)
    )
    rule = LifecycleRule(id="old", enabled=True, noncurrent_days=30)
    await client.put_bucket_lifecycle("vault", None, LifecycleConfig(rules=[rule]))
    await client.put_bucket_encryption("vault", None, BucketEncryption("aws:kms", "k1"))
    detail = await admin.ok("GET", "/buckets/vault")
    assert detail["versioning"] == "Enabled"
    assert detail["object_lock"] == {"enabled": True, "mode": "COMPLIANCE", "days": 7, "years": 0}
    assert detail["lifecycle_rules"] == 1
    assert detail["encryption"] == "aws:kms"
    # The admin API deletes only empty buckets: a locked version keeps its bucket.
    await put(client, "vault", "k")
    status, body, _ = await admin.call("DELETE", "/buckets/vault")
    assert status == 409 and body["code"]
