"""The admin API's framework over a real coordinator: auth, errors, request ids, audit, paging,
and the OpenAPI document generated from the route table."""

from __future__ import annotations

import logging
import time
from typing import Any

import pytest
from component.admin_harness import ADMIN_TOKEN, NO_TOKEN, AdminHarness, admin_running
from openapi_spec_validator import validate

from wormfs.coordinator.admin.server import ROUTES
from wormfs.coordinator.admin.table import TABLE


@pytest.fixture
async def admin(database_url: str) -> Any:
    async with admin_running(database_url) as harness:
        yield harness


async def _audit(admin: AdminHarness, **params: str) -> list[dict[str, Any]]:
    body = await admin.ok("GET", "/audit", params={"limit": "100", **params})
    return list(body["items"])


async def test_no_token_is_401_with_the_error_shape(admin: AdminHarness) -> None:
    status, body, headers = await admin.call("GET", "/tokens", token=NO_TOKEN)
    assert status == 401
    assert body["code"] == "Unauthorized"
    assert body["request_id"] == headers["x-request-id"]
    assert headers["WWW-Authenticate"] == "Bearer"
    status, body, _ = await admin.call("GET", "/tokens", token="wfa_not-a-token")
    assert (status, body["code"]) == (401, "Unauthorized")


async def test_request_id_reused_when_sane_else_new(admin: AdminHarness) -> None:
    _, _, headers = await admin.call("GET", "/tokens", headers={"x-request-id": "abc-123"})
    assert headers["x-request-id"] == "abc-123"
    _, _, headers = await admin.call("GET", "/tokens", headers={"x-request-id": "bad id!"})
    assert headers["x-request-id"] not in ("", "bad id!")
    status, body, headers = await admin.call("GET", "/no/such/thing")
    assert (status, body["code"]) == (404, "NoSuchRoute")
    assert body["request_id"] == headers["x-request-id"]


async def test_read_token_on_a_mutating_call_is_403_and_audited(admin: AdminHarness) -> None:
    made = await admin.ok("POST", "/tokens", json={"name": "reader", "scope": "read"})
    reader = made["token"]
    assert reader.startswith("wfa_")
    assert (await admin.call("GET", "/audit", token=reader))[0] == 200
    status, body, headers = await admin.call(
        "POST", "/tokens", token=reader, json={"name": "x", "scope": "admin"}
    )
    assert (status, body["code"]) == (403, "AccessDenied")
    rows = await _audit(admin, actor="reader")
    assert [(r["action"], r["result"], r["request_id"]) for r in rows] == [
        ("token.create", "AccessDenied", headers["x-request-id"])
    ]


async def test_a_mutating_call_refused_401_is_logged_not_audited(
    admin: AdminHarness, caplog: pytest.LogCaptureFixture
) -> None:
    other = await admin.ok("POST", "/tokens", json={"name": "gone", "scope": "admin"})
    await admin.ok("POST", f"/tokens/{other['info']['token_id']}/revoke")
    before = await _audit(admin)
    unknown = "wfa_not-a-token-at-all-0123456789abcdefghijklmnopqrstu"
    refused = []
    with caplog.at_level(logging.WARNING, logger="wormfs.coordinator.admin"):
        for token in (NO_TOKEN, unknown, other["token"]):
            status, body, headers = await admin.call(
                "POST", "/tokens", token=token, json={"name": "intruder", "scope": "admin"}
            )
            assert (status, body["code"]) == (401, "Unauthorized")
            refused.append(headers["x-request-id"])
        # A read refused 401 is neither audited nor logged as a refused mutation.
        assert (await admin.call("GET", "/tokens", token=unknown))[0] == 401
    assert await _audit(admin) == before
    warnings = [r for r in caplog.records if "not audited" in r.getMessage()]
    assert len(warnings) == 3, [r.getMessage() for r in caplog.records]
    for record, request_id in zip(warnings, refused, strict=True):
        line = record.getMessage()
        assert record.levelno == logging.WARNING
        assert "POST /admin/v1/tokens" in line and request_id in line
        assert unknown not in line and other["token"] not in line
    assert "was revoked" in warnings[2].getMessage()
    # An authenticated caller of too small a scope is still audited (403).
    reader = (await admin.ok("POST", "/tokens", json={"name": "r", "scope": "read"}))["token"]
    assert (await admin.call("POST", "/tokens/nope/revoke", token=reader))[0] == 403
    assert [(r["actor"], r["result"]) for r in (await _audit(admin))[:1]] == [("r", "AccessDenied")]


async def test_expired_and_revoked_tokens_are_401(admin: AdminHarness) -> None:
    soon = time.time() + 0.5
    made = await admin.ok(
        "POST", "/tokens", json={"name": "brief", "scope": "admin", "expires_at": soon}
    )
    assert (await admin.call("GET", "/tokens", token=made["token"]))[0] == 200
    from waiting import eventually

    async def expired() -> bool:
        return (await admin.call("GET", "/tokens", token=made["token"]))[0] == 401

    await eventually(expired, timeout=5)
    other = await admin.ok("POST", "/tokens", json={"name": "other", "scope": "admin"})
    revoked = await admin.ok("POST", f"/tokens/{other['info']['token_id']}/revoke")
    assert revoked["revoked_at"] is not None
    status, body, _ = await admin.call("GET", "/tokens", token=other["token"])
    assert (status, body["code"]) == (401, "Unauthorized")
    assert "revoked" in body["message"] and other["token"] not in body["message"]


async def test_tokens_never_listed_and_each_mutation_audited_once(admin: AdminHarness) -> None:
    made = await admin.ok("POST", "/tokens", json={"name": "ci", "scope": "read"})
    listed = await admin.ok("GET", "/tokens")
    assert made["token"] not in str(listed)
    names = [t["name"] for t in listed["items"]]
    assert names == sorted(names) and "ci" in names and "initial" in names
    status, body, headers = await admin.call("POST", "/tokens", json={"name": "ci"})
    assert (status, body["code"]) == (409, "Conflict")
    status, body, bad = await admin.call("POST", "/tokens", json={"scope": "read"})
    assert (status, body["code"]) == (400, "InvalidInput")
    rows = await _audit(admin, action="token.create")
    assert [r["result"] for r in rows] == ["InvalidInput", "Conflict", "ok"]
    assert [r["request_id"] for r in rows[:2]] == [bad["x-request-id"], headers["x-request-id"]]
    assert {r["actor"] for r in rows} == {"initial"}
    assert rows[2]["target"] == f"tokens/{made['info']['token_id']}"


async def test_paging_walks_250_rows_without_skip_or_repeat(admin: AdminHarness) -> None:
    for i in range(250):
        await admin.ok("POST", "/tokens", json={"name": f"t{i:03d}", "scope": "read"})
    for path, key in (("/tokens", "name"), ("/audit", "id")):
        seen: list[Any] = []
        cursor = None
        pages = 0
        while True:
            params = {"limit": "100"} | ({"cursor": cursor} if cursor else {})
            body = await admin.ok("GET", path, params=params)
            assert len(body["items"]) <= 100
            seen += [item[key] for item in body["items"]]
            pages += 1
            cursor = body["next_cursor"]
            if cursor is None:
                break
        assert len(seen) == len(set(seen)) and pages == 3
        if path == "/tokens":
            assert seen == sorted(seen) and len(seen) == 251  # and "initial"
        else:
            assert seen == sorted(seen, reverse=True) and len(seen) == 250
    assert (await admin.call("GET", "/tokens", params={"limit": "101"}))[0] == 400
    assert (await admin.call("GET", "/tokens", params={"cursor": "%%%"}))[0] == 400


async def test_openapi_document_lists_every_route_of_the_router(admin: AdminHarness) -> None:
    status, doc, _ = await admin.call("GET", "/openapi.json", token=NO_TOKEN)
    assert status == 200
    assert doc["openapi"] == "3.1.0" and doc["info"]["title"]
    validate(doc)  # the OpenAPI 3.1 schema itself (openapi-spec-validator)
    documented = {(m.upper(), p) for p, ops in doc["paths"].items() for m in ops}
    admin_app = _admin_app(admin)
    served = {
        (r.method, r.resource.canonical)
        for r in admin_app.router.routes()
        if r.method != "HEAD" and r.resource is not None
        if r.resource.canonical.startswith("/admin/v1/")
    }
    assert documented == served == {(r.method, r.full_path) for r in TABLE}
    refs = _refs(doc)
    assert refs and refs <= set(doc["components"]["schemas"])
    for path, ops in doc["paths"].items():
        for op in ops.values():
            assert op["operationId"] and op["summary"] and "default" in op["responses"]
            names = {p["name"] for p in op["parameters"] if p["in"] == "path"}
            assert names == set(_placeholders(path))
    ops = [op for ops in doc["paths"].values() for op in ops.values()]
    assert len({op["operationId"] for op in ops}) == len(ops)


def _admin_app(admin: AdminHarness) -> Any:
    # The admin app is the one whose routes the listener serves: find it by its ROUTES key.
    from aiohttp import web

    for runner_app in _apps(admin.coordinator.app):
        if isinstance(runner_app, web.Application) and ROUTES in runner_app:
            return runner_app
    raise AssertionError("no admin app")


def _apps(core: Any) -> list[Any]:
    from wormfs.coordinator.admin.server import ADMIN_APP

    return [core[ADMIN_APP]]


def _placeholders(path: str) -> list[str]:
    import re

    return re.findall(r"\{(\w+)\}", path)


def _refs(node: Any) -> set[str]:
    if isinstance(node, dict):
        found = {node["$ref"].rsplit("/", 1)[-1]} if "$ref" in node else set()
        for value in node.values():
            found |= _refs(value)
        return found
    if isinstance(node, list):
        return set().union(*(_refs(v) for v in node)) if node else set()
    return set()


async def test_configured_token_is_kept_across_restarts(admin: AdminHarness) -> None:
    listed = await admin.ok("GET", "/tokens", token=ADMIN_TOKEN)
    assert [t["scope"] for t in listed["items"] if t["name"] == "initial"] == ["admin"]
