"""The admin API's resources over a real coordinator: health with its reasons, cluster, nodes,
disks, buckets, users and keys; one audit row per mutating call; no token in any log line."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from component.admin_harness import ADMIN_TOKEN, NO_TOKEN, AdminHarness, admin_running
from component.coordinator_harness import disks, make_bucket, put, register

from wormfs.errors import NoSuchAccessKeyError
from wormfs.wire.coordinator import NodeRegistration


@pytest.fixture
async def admin(database_url: str) -> Any:
    async with admin_running(database_url) as harness:
        yield harness


async def _reregister(admin: AdminHarness, node: str, offline: int) -> None:
    reported = disks(node, 6)
    reported = [
        d if i >= offline else type(d)(**{**_fields(d), "state": "offline"})
        for i, d in enumerate(reported)
    ]
    await admin.coordinator.client.register_node(
        NodeRegistration(node_id=node, address="http://127.0.0.1:9", disks=reported)
    )


def _fields(struct: Any) -> dict[str, Any]:
    return {f: getattr(struct, f) for f in struct.__struct_fields__}


async def test_health_needs_no_token_and_lists_reasons(admin: AdminHarness) -> None:
    status, body, _ = await admin.call("GET", "/health", token=NO_TOKEN)
    assert (status, body["status"]) == (503, "unavailable")
    assert [r["kind"] for r in body["reasons"]] == ["no_storage"]
    await register(admin.coordinator.client, "n1")
    status, body, _ = await admin.call("GET", "/health", token=NO_TOKEN)
    assert (status, body["status"], body["reasons"]) == (200, "healthy", [])
    await make_bucket(admin.coordinator.client, "bkt1")
    await put(admin.coordinator.client, "bkt1", "k", size=10_000)
    await _reregister(admin, "n1", offline=1)
    status, body, _ = await admin.call("GET", "/health", token=NO_TOKEN)
    assert (status, body["status"]) == (200, "degraded")
    kinds = {(r["kind"], r["target"]) for r in body["reasons"]}
    assert ("disk_offline", "n1-d0") in kinds and ("segments_degraded", "cluster") in kinds
    await _reregister(admin, "n1", offline=3)  # 3 of 4+2 chunks gone: fewer than k
    status, body, _ = await admin.call("GET", "/health", token=NO_TOKEN)
    assert (status, body["status"]) == (503, "unavailable")
    assert "segments_unrecoverable" in {r["kind"] for r in body["reasons"]}
    assert all(set(r) == {"kind", "target", "detail"} for r in body["reasons"])


async def test_cluster_numbers(admin: AdminHarness) -> None:
    await register(admin.coordinator.client, "n1")
    await make_bucket(admin.coordinator.client, "bkt1")
    await put(admin.coordinator.client, "bkt1", "a", size=100)
    await put(admin.coordinator.client, "bkt1", "b", size=50)
    assert (await admin.call("GET", "/cluster", token=NO_TOKEN))[0] == 401
    view = await admin.ok("GET", "/cluster")
    assert (view["nodes"], view["nodes_online"], view["disks"], view["disks_online"]) == (
        1,
        1,
        6,
        6,
    )
    assert view["objects"] == 2 and view["object_bytes"] == 150
    assert view["raw_capacity_bytes"] == 6 * 200 * 1024**3
    assert view["usable_capacity_bytes"] == view["raw_capacity_bytes"] * 4 // 6
    assert view["default_profile"]["k"] == 4 and view["leader"] is True
    assert view["zookeeper"] == "none" and view["version"]


async def test_nodes_and_disks_with_filters_and_drains(admin: AdminHarness) -> None:
    await register(admin.coordinator.client, "n1", count=3)
    await register(admin.coordinator.client, "n2", count=3)
    nodes = await admin.ok("GET", "/nodes")
    assert [n["node_id"] for n in nodes["items"]] == ["n1", "n2"]
    assert nodes["items"][0]["disks"] == 3 and nodes["next_cursor"] is None
    detail = await admin.ok("GET", "/nodes/n2")
    assert [d["disk_id"] for d in detail["disks"]] == ["n2-d0", "n2-d1", "n2-d2"]
    assert (await admin.call("GET", "/nodes/nx"))[0] == 404
    page = await admin.ok("GET", "/disks", params={"node": "n1", "limit": "2"})
    assert [d["disk_id"] for d in page["items"]] == ["n1-d0", "n1-d1"]
    page = await admin.ok("GET", "/disks", params={"node": "n1", "cursor": page["next_cursor"]})
    assert [d["disk_id"] for d in page["items"]] == ["n1-d2"]
    drained = await admin.ok("POST", "/disks/n1-d1/drain")
    assert [d["disk_id"] for d in drained["disks"]] == ["n1-d1"]
    page = await admin.ok("GET", "/disks", params={"state": "drained"})
    page2 = await admin.ok("GET", "/disks", params={"state": "draining"})
    assert [d["disk_id"] for d in page["items"] + page2["items"]] == ["n1-d1"]
    await admin.ok("POST", "/disks/n1-d1/undrain")
    await admin.ok("POST", "/nodes/n2/decommission")
    assert (await admin.call("POST", "/disks/nope/drain"))[0] == 404
    assert (await admin.call("GET", "/disks", params={"state": "weird"}))[0] == 400
    rows = (await admin.ok("GET", "/audit"))["items"]
    assert [(r["action"], r["target"], r["result"]) for r in rows] == [
        ("disk.drain", "disks/nope/drain", "NotFound"),
        ("node.decommission", "nodes/n2/decommission", "ok"),
        ("disk.undrain", "disks/n1-d1/undrain", "ok"),
        ("disk.drain", "disks/n1-d1/drain", "ok"),
    ]


async def test_buckets_create_usage_delete_if_empty(admin: AdminHarness) -> None:
    await register(admin.coordinator.client, "n1")
    user = await admin.ok("POST", "/users", json={"display_name": "alice"})
    made = await admin.ok("POST", "/buckets", json={"name": "photos", "owner_id": user["user_id"]})
    assert made["owner_id"] == user["user_id"] and made["owner_display_name"] == "alice"
    status, body, _ = await admin.call("POST", "/buckets", json={"name": "photos"})
    assert status == 409
    status, body, _ = await admin.call("POST", "/buckets", json={"name": "x1y", "owner_id": "no"})
    assert (status, body["code"]) == (400, "InvalidInput")
    await put(admin.coordinator.client, "photos", "a", size=100, owner=user["user_id"])
    detail = await admin.ok("GET", "/buckets/photos")
    assert detail["usage"] == {"objects": 1, "bytes": 100, "uploads": 0}
    status, body, _ = await admin.call("DELETE", "/buckets/photos")
    assert (status, body["code"]) == (409, "BucketNotEmpty")
    await admin.ok("POST", "/buckets", json={"name": "empty"})
    status, _, _ = await admin.call("DELETE", "/buckets/empty")
    assert status == 204
    listed = await admin.ok("GET", "/buckets", params={"owner": user["user_id"]})
    assert [b["name"] for b in listed["items"]] == ["photos"]
    assert (await admin.call("GET", "/buckets/empty"))[1]["code"] == "NoSuchBucket"
    rows = (await admin.ok("GET", "/audit", params={"bucket": "photos"}))["items"]
    assert [(r["action"], r["result"]) for r in rows] == [
        ("bucket.delete", "BucketNotEmpty"),
        ("bucket.create", "BucketAlreadyExists"),  # the root user asked
        ("bucket.create", "ok"),
    ]


async def test_users_and_keys_secrets_shown_once_disable_enable(admin: AdminHarness) -> None:
    identity = admin.coordinator.repo.identity
    made = await admin.ok("POST", "/users", json={"display_name": "bob"})
    user_id, first = made["user_id"], made["access_keys"][0]
    listed = await admin.ok("GET", "/users")
    assert first["secret_key"] not in str(listed)
    assert {u["display_name"] for u in listed["items"]} == {"root", "bob"}
    key = await admin.ok("POST", f"/users/{user_id}/keys", json={})
    assert key["secret_key"] and key["user_id"] == user_id
    detail = await admin.ok("GET", f"/users/{user_id}")
    assert key["secret_key"] not in str(detail) and len(detail["keys"]) == 2
    await admin.ok("POST", f"/users/{user_id}/disable")
    with pytest.raises(NoSuchAccessKeyError):
        await identity.get_access_key(first["access_key"])
    await admin.ok("POST", f"/users/{user_id}/enable")
    assert (await identity.get_access_key(first["access_key"])).user_id == user_id
    disabled = await admin.ok("POST", f"/keys/{key['access_key']}/disable")
    assert disabled["disabled"] is True
    with pytest.raises(NoSuchAccessKeyError):
        await identity.get_access_key(key["access_key"])
    await admin.ok("POST", f"/keys/{key['access_key']}/enable")
    assert (await admin.call("DELETE", f"/keys/{key['access_key']}"))[0] == 204
    keys = await admin.ok("GET", f"/users/{user_id}/keys")
    assert [k["access_key"] for k in keys["items"]] == [first["access_key"]]
    assert (await admin.call("DELETE", f"/users/{user_id}"))[0] == 204
    assert (await admin.call("GET", f"/users/{user_id}"))[0] == 404
    actions = [r["action"] for r in (await admin.ok("GET", "/audit"))["items"]]
    assert actions == [
        "user.delete",
        "key.delete",
        "key.enable",
        "key.disable",
        "user.enable",
        "user.disable",
        "key.create",
        "user.create",
    ]


async def test_no_token_in_any_log_line(
    database_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    async with admin_running(database_url) as admin:
        made = await admin.ok("POST", "/tokens", json={"name": "secretive", "scope": "admin"})
        token = made["token"]
        await admin.ok("GET", "/cluster", token=token)
        await admin.call("POST", "/buckets", token=token, json={"name": "Bad_Name"})
        await admin.ok("POST", f"/tokens/{made['info']['token_id']}/revoke")
        await admin.call("GET", "/cluster", token=token)  # 401 now
        await admin.call("GET", "/cluster", token=token + "x")
    text = caplog.text + "".join(str(r.args) for r in caplog.records)
    assert "secretive" in text  # the name is logged, so the capture works
    for secret in (token, ADMIN_TOKEN, token[4:20]):
        assert secret not in text
