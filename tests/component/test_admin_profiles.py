"""The admin API's profiles resource over a real coordinator (both engines): the seeded
profiles, create and its refusals, usage per profile, delete refused while used, a bucket's
default class, one audit row per mutating call, and a read token refused on them."""

from __future__ import annotations

from typing import Any

import pytest
from component.admin_harness import AdminHarness, admin_running
from component.coordinator_harness import make_bucket, put, register

COLD = {
    "name": "cold",
    "k": 3,
    "m": 2,
    "stripe_size": 4096,
    "segment_size": 8192,
    "storage_class": "COLD",
}


@pytest.fixture
async def admin(database_url: str) -> Any:
    async with admin_running(database_url) as harness:
        yield harness


async def _audit(admin: AdminHarness, action: str) -> list[tuple[str, str]]:
    body = await admin.ok("GET", "/audit", params={"limit": "100", "action": action})
    return [(r["target"], r["result"]) for r in body["items"]]


async def test_profiles_listed_created_used_and_deleted(admin: AdminHarness) -> None:
    client = admin.coordinator.client
    await register(client, "n1")
    listed = await admin.ok("GET", "/profiles")
    seeded = {p["name"]: (p["k"], p["m"], p["storage_class"]) for p in listed["items"]}
    assert seeded == {
        "standard": (4, 2, "STANDARD"),
        "reduced-redundancy": (5, 1, "REDUCED_REDUNDANCY"),
    }

    made = await admin.ok("POST", "/profiles", json=COLD)
    assert (made["k"], made["m"], made["objects"]) == (3, 2, 0)
    status, body, _ = await admin.call("POST", "/profiles", json={**COLD, "name": "wide", "k": 6})
    assert (status, body["code"]) == (400, "InvalidInput")
    assert "needs k+m = 8 disks; the cluster has 6 writable" in body["message"]
    status, body, _ = await admin.call("POST", "/profiles", json={**COLD, "name": "again"})
    assert (status, body["code"]) == (409, "ProfileExists")

    await make_bucket(client, "bkt")
    put_class = await admin.ok("PUT", "/buckets/bkt/storage-class", json={"storage_class": "COLD"})
    assert put_class == {"storage_class": "COLD"}
    # Written without a class: the bucket's default picks profile cold and its segment size,
    # and the commit stores the class granted.
    manifest = await put(client, "bkt", "k", size=20_000)
    assert (manifest.profile.k, manifest.profile.m) == (3, 2)
    assert manifest.attributes.storage_class == "COLD"
    assert [len(s.chunks) for s in manifest.parts[0].segments] == [5, 5, 5]
    cold = await admin.ok("GET", "/profiles/cold")
    assert (cold["objects"], cold["bytes"], cold["raw_bytes"]) == (1, 20_000, 20_000 * 5 // 3)

    status, body, _ = await admin.call("DELETE", "/profiles/cold")
    assert (status, body["code"]) == (409, "ProfileInUse")
    await client.delete_object("bkt", "k")
    status, body, _ = await admin.call("DELETE", "/profiles/cold")
    assert (status, body["code"]) == (409, "ProfileInUse")
    assert "default of bucket(s) bkt" in body["message"]
    await admin.ok("PUT", "/buckets/bkt/storage-class", json={"storage_class": "STANDARD"})
    assert (await admin.call("DELETE", "/profiles/cold"))[0] == 204
    assert (await admin.call("GET", "/profiles/cold"))[1]["code"] == "NoSuchProfile"
    status, body, _ = await admin.call(
        "PUT", "/buckets/bkt/storage-class", json={"storage_class": "COLD"}
    )
    assert (status, body["code"]) == (400, "InvalidStorageClass")

    assert await _audit(admin, "profile.create") == [
        ("profiles/again", "ProfileExists"),
        ("profiles/wide", "InvalidInput"),
        ("profiles/cold", "ok"),
    ]
    assert [r for _, r in await _audit(admin, "profile.delete")] == [
        "ok",
        "ProfileInUse",
        "ProfileInUse",
    ]


async def test_a_read_token_lists_profiles_but_cannot_change_them(admin: AdminHarness) -> None:
    await register(admin.coordinator.client, "n1")
    reader = (await admin.ok("POST", "/tokens", json={"name": "reader", "scope": "read"}))["token"]
    assert (await admin.call("GET", "/profiles", token=reader))[0] == 200
    assert (await admin.call("POST", "/profiles", token=reader, json=COLD))[0] == 403
    assert (await admin.call("DELETE", "/profiles/reduced-redundancy", token=reader))[0] == 403
    names = [
        p["name"] for p in (await admin.ok("GET", "/profiles", params={"limit": "1"}))["items"]
    ]
    assert names == ["reduced-redundancy"]  # paged by name


async def test_the_openapi_document_describes_the_profiles_routes(admin: AdminHarness) -> None:
    doc = await admin.ok("GET", "/openapi.json")
    assert {"get", "post"} <= set(doc["paths"]["/admin/v1/profiles"])
    assert {"get", "delete"} <= set(doc["paths"]["/admin/v1/profiles/{name}"])
    assert {"get", "put"} <= set(doc["paths"]["/admin/v1/buckets/{bucket}/storage-class"])
