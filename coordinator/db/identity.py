"""Users and access keys.

Layer: coordinator database package; statements in SQLAlchemy Core over ``tables``, each
method one transaction through ``Database.read`` / ``Database.write``. Contract:

* ``create_user`` makes a user with a canonical id (64 hex, as S3 shows in Owner fields) and
  one access key pair, generating the key (20 uppercase letters and digits) and the secret
  (40 letters and digits) when absent. A key that exists already -> ``ConflictError`` (also
  when two creates of one key race: the loser's write is re-run and finds the key).
* ``get_access_key`` -> ``AccessKeyInfo`` or ``NoSuchAccessKeyError`` (also for a disabled
  key or a key of a disabled user: S3 then answers InvalidAccessKeyId).
* ``delete_user`` refuses while the user owns buckets (``ConflictError``), like IAM's
  DeleteConflict, so no bucket is left without an owner record.
* ``ensure_root`` is idempotent across restarts: the root user's id is kept in
  ``cluster_meta``; a configured root key that exists is kept as it is, a new one is added to
  the root user.

Secrets are never logged.
"""

from __future__ import annotations

import logging
import re
import secrets
import string
import time
from dataclasses import dataclass

from sqlalchemy import bindparam, delete, exists, insert, select, update

from wormfs.coordinator.db.database import Database
from wormfs.coordinator.db.tables import access_keys, buckets, cluster_meta, users
from wormfs.coordinator.db.tx import Tx
from wormfs.errors import ConflictError, InvalidInputError, NoSuchAccessKeyError, NotFoundError
from wormfs.wire.coordinator import AccessKeyInfo, CreateUser, UserInfo, UserList

log = logging.getLogger(__name__)

ACCESS_KEY_ALPHABET = string.ascii_uppercase + string.digits
SECRET_KEY_ALPHABET = string.ascii_letters + string.digits
ROOT_DISPLAY_NAME = "root"

_KEY_EXISTS = select(access_keys.c.access_key).where(
    access_keys.c.access_key == bindparam("access_key")
)
_INSERT_USER = insert(users)
_EMAIL_TAKEN = select(users.c.user_id).where(users.c.email == bindparam("email"))
# An address as S3 grants name it: something@domain, no spaces (RFC 5321 allows more; S3's
# grants never need it).
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
_INSERT_KEY = insert(access_keys)
_USERS = select(users.c.user_id, users.c.display_name, users.c.email, users.c.created).order_by(
    users.c.created, users.c.user_id
)
_KEYS = select(access_keys.c.access_key, access_keys.c.secret_key, access_keys.c.user_id).order_by(
    access_keys.c.created
)
_USER = select(users.c.user_id).where(users.c.user_id == bindparam("user_id"))
_OWNS_BUCKETS = select(exists().where(buckets.c.owner_id == bindparam("user_id")))
_ROOT_USER_ID = select(cluster_meta.c.root_user_id).where(cluster_meta.c.id == 1)
_META_EXISTS = select(cluster_meta.c.id).where(cluster_meta.c.id == 1)
_SEED_META = insert(cluster_meta).values(id=1, leader_epoch=0, leader_id="", leader_since=0.0)
_SET_ROOT = (
    update(cluster_meta)
    .where(cluster_meta.c.id == 1)
    .values(root_user_id=bindparam("root_user_id"))
)
_DROP_KEYS = delete(access_keys).where(access_keys.c.user_id == bindparam("user_id"))
_DROP_USER = delete(users).where(users.c.user_id == bindparam("user_id"))
_ACCESS_KEY = (
    select(
        access_keys.c.access_key,
        access_keys.c.secret_key,
        access_keys.c.user_id,
        users.c.display_name,
    )
    .join(users, users.c.user_id == access_keys.c.user_id)
    .where(access_keys.c.access_key == bindparam("access_key"))
    # A disabled key, or any key of a disabled user, authenticates nothing (revision 0007).
    .where(~access_keys.c.disabled, ~users.c.disabled)
)


def new_user_id() -> str:
    return secrets.token_hex(32)


def new_access_key() -> str:
    return "".join(secrets.choice(ACCESS_KEY_ALPHABET) for _ in range(20))


def new_secret_key() -> str:
    return "".join(secrets.choice(SECRET_KEY_ALPHABET) for _ in range(40))


def _check_key_text(what: str, value: str) -> None:
    if not 1 <= len(value) <= 128 or not value.isprintable() or any(c.isspace() for c in value):
        raise InvalidInputError(f"{what} must be 1 to 128 printable characters without spaces")


def _create_user(
    tx: Tx,
    user_id: str,
    display_name: str,
    access_key: str,
    secret_key: str,
    now: float,
    email: str | None = None,
) -> None:
    if tx.one(_KEY_EXISTS, {"access_key": access_key}) is not None:
        raise ConflictError(f"access key {access_key} exists already")
    if email is not None and tx.one(_EMAIL_TAKEN, {"email": email}) is not None:
        raise ConflictError(f"another user has the e-mail address {email}")
    tx.run(
        _INSERT_USER,
        {"user_id": user_id, "display_name": display_name, "created": now, "email": email},
    )
    tx.run(
        _INSERT_KEY,
        {"access_key": access_key, "secret_key": secret_key, "user_id": user_id, "created": now},
    )


def _list_users(tx: Tx) -> UserList:
    rows = tx.all(_USERS)
    names = {u.user_id: u.display_name for u in rows}
    by_user: dict[str, list[AccessKeyInfo]] = {}
    for k in tx.all(_KEYS):
        by_user.setdefault(k.user_id, []).append(
            AccessKeyInfo(
                access_key=k.access_key,
                secret_key=k.secret_key,
                user_id=k.user_id,
                display_name=names.get(k.user_id, ""),
            )
        )
    return UserList(
        users=[
            UserInfo(
                user_id=u.user_id,
                display_name=u.display_name,
                created=u.created,
                access_keys=by_user.get(u.user_id, []),
                email=u.email or "",
            )
            for u in rows
        ]
    )


def _delete_user(tx: Tx, user_id: str) -> None:
    params = {"user_id": user_id}
    if tx.one(_USER, params) is None:
        raise NotFoundError(f"user {user_id!r} does not exist")
    if tx.scalar(_OWNS_BUCKETS, params):
        raise ConflictError(f"user {user_id!r} still owns buckets; delete them first")
    if tx.scalar(_ROOT_USER_ID) == user_id:
        raise ConflictError("the root user cannot be deleted")
    tx.run(_DROP_KEYS, params)
    tx.run(_DROP_USER, params)


def _access_key(tx: Tx, access_key: str) -> AccessKeyInfo:
    row = tx.one(_ACCESS_KEY, {"access_key": access_key})
    if row is None:
        raise NoSuchAccessKeyError(f"access key {access_key!r} is not known")
    return AccessKeyInfo(
        access_key=row.access_key,
        secret_key=row.secret_key,
        user_id=row.user_id,
        display_name=row.display_name,
    )


@dataclass(frozen=True)
class _Root:
    user_id: str
    created: bool  # the root user was created by this call
    key_added: bool  # the configured key was added by this call


def _ensure_root(tx: Tx, access_key: str, secret_key: str, new_id: str, now: float) -> _Root:
    if tx.one(_META_EXISTS) is None:
        tx.run(_SEED_META)
    root_id = tx.scalar(_ROOT_USER_ID)
    created = root_id is None or tx.one(_USER, {"user_id": root_id}) is None
    if created:
        root_id = new_id
        tx.run(
            _INSERT_USER, {"user_id": root_id, "display_name": ROOT_DISPLAY_NAME, "created": now}
        )
        tx.run(_SET_ROOT, {"root_user_id": root_id})
    key_added = bool(access_key) and tx.one(_KEY_EXISTS, {"access_key": access_key}) is None
    if key_added:
        _check_key_text("root access key", access_key)
        _check_key_text("root secret key", secret_key)
        tx.run(
            _INSERT_KEY,
            {
                "access_key": access_key,
                "secret_key": secret_key,
                "user_id": root_id,
                "created": now,
            },
        )
    return _Root(user_id=str(root_id), created=created, key_added=key_added)


class Identity:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def create_user(self, req: CreateUser) -> UserInfo:
        if not req.display_name or len(req.display_name) > 256:
            raise InvalidInputError("display_name must be 1 to 256 characters")
        access_key = req.access_key or new_access_key()
        secret_key = req.secret_key or new_secret_key()
        _check_key_text("access key", access_key)
        _check_key_text("secret key", secret_key)
        email = req.email.strip().lower() or None
        if email is not None and (len(email) > 320 or not _EMAIL.fullmatch(email)):
            raise InvalidInputError(f"{req.email!r} is not an e-mail address")
        now = time.time()
        user_id, name = new_user_id(), req.display_name
        await self._db.write(
            lambda tx: _create_user(tx, user_id, name, access_key, secret_key, now, email)
        )
        log.info("created user %s (%s) with access key %s", user_id, name, access_key)
        key = AccessKeyInfo(
            access_key=access_key, secret_key=secret_key, user_id=user_id, display_name=name
        )
        return UserInfo(
            user_id=user_id,
            display_name=name,
            created=now,
            access_keys=[key],
            email=email or "",
        )

    async def list_users(self) -> UserList:
        return await self._db.read(_list_users)

    async def delete_user(self, user_id: str) -> None:
        await self._db.write(lambda tx: _delete_user(tx, user_id))

    async def get_access_key(self, access_key: str) -> AccessKeyInfo:
        return await self._db.read(lambda tx: _access_key(tx, access_key))

    async def ensure_root(self, access_key: str, secret_key: str) -> str:
        """The root user's id, creating the user and the configured key if needed."""
        now, new_id = time.time(), new_user_id()
        root = await self._db.write(
            lambda tx: _ensure_root(tx, access_key, secret_key, new_id, now)
        )
        if root.created:
            log.info("created the root user %s", root.user_id)
        if root.key_added:
            log.info("added access key %s to the root user", access_key)
        return root.user_id
