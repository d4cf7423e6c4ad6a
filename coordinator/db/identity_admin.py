"""Users and access keys as the admin plane manages them: listed without secrets, disabled.

Layer: coordinator database package; statements in SQLAlchemy Core over ``tables``, each
method one transaction through ``Database.read`` / ``Database.write``. Beside
``identity`` (which creates users and answers the gateway's key look-ups). Contract:

* ``users()``: every user with ``disabled`` and its number of keys, in user id order.
* ``user_exists(user_id)``: whether the user exists.
* ``key(access_key)``: one key without its secret (``NotFoundError``).
* ``keys(user_id)``: the user's keys without their secrets (``NotFoundError`` for an unknown
  user), in access key order.
* ``set_user_disabled`` / ``set_key_disabled``: flip the flag (``NotFoundError`` when the row
  does not exist); ``identity.get_access_key`` then refuses the keys.
* ``add_key(user_id, access_key, secret_key)``: one more key pair for a user; a key that
  exists is ``ConflictError``. ``delete_key(access_key)`` drops one key.

Secrets never leave this module except in ``add_key``'s answer (the create response).
"""

from __future__ import annotations

import time

import msgspec
from sqlalchemy import bindparam, delete, func, insert, select, update

from wormfs.coordinator.db.database import Database
from wormfs.coordinator.db.identity import _check_key_text
from wormfs.coordinator.db.tables import access_keys, users
from wormfs.coordinator.db.tx import Row, Tx
from wormfs.errors import ConflictError, NotFoundError


class UserView(msgspec.Struct, frozen=True):
    user_id: str
    display_name: str
    created: float
    disabled: bool
    keys: int
    email: str = ""  # for S3 ACL grants by e-mail ("": none)


class KeyView(msgspec.Struct, frozen=True):
    access_key: str
    user_id: str
    created: float
    disabled: bool


class NewKey(msgspec.Struct, frozen=True):
    """A key pair just made: ``secret_key`` appears here only."""

    access_key: str
    secret_key: str
    user_id: str
    created: float


_KEY_COUNTS = (
    select(access_keys.c.user_id, func.count().label("n"))
    .group_by(access_keys.c.user_id)
    .subquery()
)
_USERS = (
    select(
        users.c.user_id,
        users.c.display_name,
        users.c.created,
        users.c.disabled,
        users.c.email,
        func.coalesce(_KEY_COUNTS.c.n, 0).label("keys"),
    )
    .outerjoin(_KEY_COUNTS, _KEY_COUNTS.c.user_id == users.c.user_id)
    .order_by(users.c.user_id)
)
_USER = select(users.c.user_id).where(users.c.user_id == bindparam("user_id"))
_KEYS = (
    select(
        access_keys.c.access_key,
        access_keys.c.user_id,
        access_keys.c.created,
        access_keys.c.disabled,
    )
    .where(access_keys.c.user_id == bindparam("user_id"))
    .order_by(access_keys.c.access_key)
)
_KEY = select(access_keys.c.access_key).where(access_keys.c.access_key == bindparam("access_key"))
_KEY_VIEW = select(
    access_keys.c.access_key, access_keys.c.user_id, access_keys.c.created, access_keys.c.disabled
).where(access_keys.c.access_key == bindparam("access_key"))
_DISABLE_USER = (
    update(users).where(users.c.user_id == bindparam("which")).values(disabled=bindparam("flag"))
)
_DISABLE_KEY = (
    update(access_keys)
    .where(access_keys.c.access_key == bindparam("which"))
    .values(disabled=bindparam("flag"))
)
_INSERT_KEY = insert(access_keys)
_DELETE_KEY = delete(access_keys).where(access_keys.c.access_key == bindparam("access_key"))


def _keys(tx: Tx, user_id: str) -> list[KeyView]:
    if tx.one(_USER, {"user_id": user_id}) is None:
        raise NotFoundError(f"user {user_id!r} does not exist")
    return [_key_view(r) for r in tx.all(_KEYS, {"user_id": user_id})]


def _key_view(row: Row) -> KeyView:
    return KeyView(
        access_key=row.access_key, user_id=row.user_id, created=row.created, disabled=row.disabled
    )


def _key(tx: Tx, access_key: str) -> KeyView:
    row = tx.one(_KEY_VIEW, {"access_key": access_key})
    if row is None:
        raise NotFoundError(f"access key {access_key!r} does not exist")
    return _key_view(row)


def _flag(tx: Tx, statement: object, which: str, flag: bool, what: str) -> None:
    if tx.run(statement, {"which": which, "flag": flag}) == 0:  # type: ignore[arg-type]
        raise NotFoundError(f"{what} {which!r} does not exist")


def _add_key(tx: Tx, key: NewKey) -> None:
    if tx.one(_USER, {"user_id": key.user_id}) is None:
        raise NotFoundError(f"user {key.user_id!r} does not exist")
    if tx.one(_KEY, {"access_key": key.access_key}) is not None:
        raise ConflictError(f"access key {key.access_key} exists already")
    tx.run(_INSERT_KEY, msgspec.structs.asdict(key))


def _delete_key(tx: Tx, access_key: str) -> None:
    if tx.run(_DELETE_KEY, {"access_key": access_key}) == 0:
        raise NotFoundError(f"access key {access_key!r} does not exist")


class IdentityAdmin:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def users(self) -> list[UserView]:
        rows = await self._db.read(lambda tx: tx.all(_USERS))
        return [
            UserView(
                user_id=r.user_id,
                display_name=r.display_name,
                created=r.created,
                disabled=bool(r.disabled),
                keys=int(r.keys),
                email=r.email or "",
            )
            for r in rows
        ]

    async def keys(self, user_id: str) -> list[KeyView]:
        return await self._db.read(lambda tx: _keys(tx, user_id))

    async def user_exists(self, user_id: str) -> bool:
        return await self._db.read(lambda tx: tx.one(_USER, {"user_id": user_id}) is not None)

    async def key(self, access_key: str) -> KeyView:
        return await self._db.read(lambda tx: _key(tx, access_key))

    async def set_user_disabled(self, user_id: str, disabled: bool) -> None:
        await self._db.write(lambda tx: _flag(tx, _DISABLE_USER, user_id, disabled, "user"))

    async def set_key_disabled(self, access_key: str, disabled: bool) -> None:
        await self._db.write(lambda tx: _flag(tx, _DISABLE_KEY, access_key, disabled, "access key"))

    async def add_key(self, user_id: str, access_key: str, secret_key: str) -> NewKey:
        _check_key_text("access key", access_key)
        _check_key_text("secret key", secret_key)
        key = NewKey(
            access_key=access_key, secret_key=secret_key, user_id=user_id, created=time.time()
        )
        await self._db.write(lambda tx: _add_key(tx, key))
        return key

    async def delete_key(self, access_key: str) -> None:
        await self._db.write(lambda tx: _delete_key(tx, access_key))
