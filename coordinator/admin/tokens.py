"""The tokens resource: admin bearer tokens listed, created (shown once) and revoked.

Layer: coordinator admin package, a resource module (``ROUTES``). Every route needs an
admin-scope token: a read token must not mint itself an admin one.
"""

from __future__ import annotations

import msgspec

from wormfs.coordinator.admin.paging import Page, PageQuery, cursor_key, page_from
from wormfs.coordinator.admin.routes import AdminCall, Route
from wormfs.coordinator.db.admin_tokens import AdminTokenInfo, NewAdminToken, TokenScope


class CreateToken(msgspec.Struct, frozen=True):
    name: str
    scope: TokenScope = "read"
    expires_at: float | None = None  # seconds since the epoch; none: never expires


async def list_tokens(call: AdminCall) -> Page[AdminTokenInfo]:
    q: PageQuery = call.query
    after = cursor_key(q)
    rows = await call.tokens.page(q.limit + 1, str(after[0]) if after else "")
    return page_from(rows, lambda t: [t.name], q.limit)


async def create_token(call: AdminCall) -> NewAdminToken:
    req: CreateToken = call.body
    call.target = f"tokens/{req.name}"
    made = await call.tokens.create(req.name, req.scope, req.expires_at)
    call.target = f"tokens/{made.info.token_id}"
    return made


async def revoke_token(call: AdminCall) -> AdminTokenInfo:
    return await call.tokens.revoke(call.path("token"))


ROUTES = (
    Route(
        "GET",
        "/tokens",
        list_tokens,
        "Admin tokens (never the tokens themselves), by name",
        scope="admin",
        query=PageQuery,
        response=Page[AdminTokenInfo],
        tag="tokens",
    ),
    Route(
        "POST",
        "/tokens",
        create_token,
        "Create an admin token; the token is in this answer only",
        scope="admin",
        request=CreateToken,
        response=NewAdminToken,
        status=201,
        action="token.create",
        tag="tokens",
    ),
    Route(
        "POST",
        "/tokens/{token}/revoke",
        revoke_token,
        "Revoke an admin token (by id or name); it authenticates nothing from now on",
        scope="admin",
        response=AdminTokenInfo,
        action="token.revoke",
        tag="tokens",
    ),
)
