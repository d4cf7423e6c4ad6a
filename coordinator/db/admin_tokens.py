"""Admin API bearer tokens: made, checked, listed and revoked; only their SHA-256 is stored.

Layer: coordinator database package; statements in SQLAlchemy Core over ``tables``, each
method one transaction through ``Database.read`` / ``Database.write``. Contract:

* ``create(name, scope, expires_at)`` makes a token: ``wfa_`` + 43 URL-safe characters (32
  random bytes). The token itself is returned once, in ``NewAdminToken``, and never stored:
  the row keeps ``sha256(token)`` (hex). Names are unique (``ConflictError``).
* ``authenticate(token, now)`` finds the row by the token's hash and compares the hashes in
  constant time; an unknown, revoked or expired token is ``AuthError``, with a message that
  never repeats the token. ``touch`` records the last use at most once a minute per token.
* ``ensure(name, token)`` is idempotent across restarts: a token whose hash is known is left
  as it is (a revoked one stays revoked); otherwise it is added with admin scope.
* ``page(limit, after)`` lists tokens in name order, for key-ordered paging.
* ``revoke(token_id_or_name, now)`` sets ``revoked_at`` (once; revoking again keeps the
  first time); ``NotFoundError`` for an unknown token.

Tokens are never logged; only their names and ids are.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import secrets
import time
from typing import Literal

import msgspec
from sqlalchemy import bindparam, insert, or_, select, update

from wormfs.coordinator.db.database import Database
from wormfs.coordinator.db.tables import admin_tokens
from wormfs.coordinator.db.tx import Row, Tx
from wormfs.errors import AuthError, ConflictError, InvalidInputError, NotFoundError
from wormfs.ids import new_id

log = logging.getLogger(__name__)

TokenScope = Literal["read", "admin"]
TOKEN_PREFIX = "wfa_"
# A token's last use is written at most this often: one write per request would put the
# admin API's reads on the writer's queue.
TOUCH_EVERY = 60.0


class AdminTokenInfo(msgspec.Struct, frozen=True):
    """An admin token as listed: everything but the token, which is shown only once."""

    token_id: str
    name: str
    scope: TokenScope
    created: float
    expires_at: float | None = None
    last_used: float | None = None
    revoked_at: float | None = None


class NewAdminToken(msgspec.Struct, frozen=True):
    """A token just made: ``token`` is its only appearance anywhere."""

    token: str
    info: AdminTokenInfo


_INSERT = insert(admin_tokens)
_BY_HASH = select(admin_tokens).where(admin_tokens.c.token_hash == bindparam("token_hash"))
_BY_NAME = select(admin_tokens.c.token_id).where(admin_tokens.c.name == bindparam("name"))
_BY_ID_OR_NAME = select(admin_tokens).where(
    or_(admin_tokens.c.token_id == bindparam("which"), admin_tokens.c.name == bindparam("which"))
)
_PAGE = (
    select(admin_tokens)
    .where(admin_tokens.c.name > bindparam("after"))
    .order_by(admin_tokens.c.name)
    .limit(bindparam("limit"))
)
_REVOKE = (
    update(admin_tokens)
    .where(admin_tokens.c.token_id == bindparam("which"), admin_tokens.c.revoked_at.is_(None))
    .values(revoked_at=bindparam("now"))
)
_TOUCH = (
    update(admin_tokens)
    .where(admin_tokens.c.token_id == bindparam("which"))
    .values(last_used=bindparam("now"))
)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def new_token() -> str:
    raw = secrets.token_bytes(32)
    return TOKEN_PREFIX + base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _info(row: Row) -> AdminTokenInfo:
    return AdminTokenInfo(
        token_id=row.token_id,
        name=row.name,
        scope=row.scope,
        created=row.created,
        expires_at=row.expires_at,
        last_used=row.last_used,
        revoked_at=row.revoked_at,
    )


def check_name(name: str) -> None:
    if not 1 <= len(name) <= 128 or not name.isprintable():
        raise InvalidInputError("a token name must be 1 to 128 printable characters")


def _insert(tx: Tx, info: AdminTokenInfo, hashed: str) -> None:
    if tx.one(_BY_NAME, {"name": info.name}) is not None:
        raise ConflictError(f"an admin token named {info.name!r} exists already")
    tx.run(_INSERT, {**msgspec.structs.asdict(info), "token_hash": hashed})


def _ensure(tx: Tx, info: AdminTokenInfo, hashed: str) -> bool:
    if tx.one(_BY_HASH, {"token_hash": hashed}) is not None:
        return False
    if tx.one(_BY_NAME, {"name": info.name}) is not None:  # the name is another token's
        info = msgspec.structs.replace(info, name=f"{info.name}-{info.token_id[:8]}")
    _insert(tx, info, hashed)
    return True


def _authenticate(tx: Tx, hashed: str, now: float) -> AdminTokenInfo:
    row = tx.one(_BY_HASH, {"token_hash": hashed})
    # The look-up is by hash; the comparison of the stored hash is constant-time anyway.
    if row is None or not hmac.compare_digest(row.token_hash, hashed):
        raise AuthError("the admin token is not known")
    info = _info(row)
    if info.revoked_at is not None:
        raise AuthError(f"the admin token {info.name!r} was revoked")
    if info.expires_at is not None and info.expires_at <= now:
        raise AuthError(f"the admin token {info.name!r} has expired")
    return info


def _revoke(tx: Tx, which: str, now: float) -> AdminTokenInfo:
    row = tx.one(_BY_ID_OR_NAME, {"which": which})
    if row is None:
        raise NotFoundError(f"no admin token {which!r}")
    tx.run(_REVOKE, {"which": row.token_id, "now": now})
    return _info(tx.one(_BY_ID_OR_NAME, {"which": row.token_id}) or row)


class AdminTokens:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def create(
        self, name: str, scope: TokenScope, expires_at: float | None = None
    ) -> NewAdminToken:
        check_name(name)
        now = time.time()
        if expires_at is not None and expires_at <= now:
            raise InvalidInputError("expires_at must be in the future")
        token = new_token()
        info = AdminTokenInfo(
            token_id=new_id(), name=name, scope=scope, created=now, expires_at=expires_at
        )
        hashed = token_hash(token)
        await self._db.write(lambda tx: _insert(tx, info, hashed))
        log.info("created admin token %s (%s, scope %s)", info.token_id, name, scope)
        return NewAdminToken(token=token, info=info)

    async def ensure(self, name: str, token: str) -> bool:
        """Add ``token`` with admin scope unless its hash is known; True when it was added."""
        check_name(name)
        info = AdminTokenInfo(token_id=new_id(), name=name, scope="admin", created=time.time())
        hashed = token_hash(token)
        added = await self._db.write(lambda tx: _ensure(tx, info, hashed))
        if added:
            log.info("added the configured admin token %s (%s)", info.token_id, name)
        return added

    async def authenticate(self, token: str, now: float) -> AdminTokenInfo:
        hashed = token_hash(token)
        return await self._db.read(lambda tx: _authenticate(tx, hashed, now))

    async def touch(self, info: AdminTokenInfo, now: float) -> None:
        """Record a use of the token, at most once every ``TOUCH_EVERY`` seconds."""
        if info.last_used is not None and now - info.last_used < TOUCH_EVERY:
            return
        await self._db.write(lambda tx: tx.run(_TOUCH, {"which": info.token_id, "now": now}))

    async def page(self, limit: int, after: str = "") -> list[AdminTokenInfo]:
        rows = await self._db.read(lambda tx: tx.all(_PAGE, {"after": after, "limit": limit}))
        return [_info(r) for r in rows]

    async def revoke(self, which: str) -> AdminTokenInfo:
        now = time.time()
        info = await self._db.write(lambda tx: _revoke(tx, which, now))
        log.info("revoked admin token %s (%s)", info.token_id, info.name)
        return info
