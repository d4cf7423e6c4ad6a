"""Users and access keys.

Layer: coordinator database package. Contract:

* ``create_user`` makes a user with a canonical id (64 hex, as S3 shows in Owner fields) and
  one access key pair, generating the key (20 uppercase letters and digits) and the secret
  (40 letters and digits) when absent. A key that exists already -> ``ConflictError``.
* ``get_access_key`` -> ``AccessKeyInfo`` or ``NoSuchAccessKeyError``.
* ``delete_user`` refuses while the user owns buckets (``ConflictError``), like IAM's
  DeleteConflict, so no bucket is left without an owner record.
* ``ensure_root`` is idempotent across restarts: the root user's id is kept in
  ``cluster_meta``; a configured root key that exists is kept as it is, a new one is added to
  the root user.

Secrets are never logged; ``AccessKey.__repr__`` leaves them out.
"""

from __future__ import annotations

import logging
import secrets
import string
import time

from sqlalchemy import delete, exists, select
from sqlalchemy.exc import IntegrityError

from wormfs.coordinator.db.database import Database, retry_races
from wormfs.coordinator.db.models import AccessKey, Bucket, ClusterMeta, User
from wormfs.errors import ConflictError, InvalidInputError, NoSuchAccessKeyError, NotFoundError
from wormfs.wire.coordinator import AccessKeyInfo, CreateUser, UserInfo, UserList

log = logging.getLogger(__name__)

ACCESS_KEY_ALPHABET = string.ascii_uppercase + string.digits
SECRET_KEY_ALPHABET = string.ascii_letters + string.digits
ROOT_DISPLAY_NAME = "root"


def new_user_id() -> str:
    return secrets.token_hex(32)


def new_access_key() -> str:
    return "".join(secrets.choice(ACCESS_KEY_ALPHABET) for _ in range(20))


def new_secret_key() -> str:
    return "".join(secrets.choice(SECRET_KEY_ALPHABET) for _ in range(40))


def _check_key_text(what: str, value: str) -> None:
    if not 1 <= len(value) <= 128 or not value.isprintable() or any(c.isspace() for c in value):
        raise InvalidInputError(f"{what} must be 1 to 128 printable characters without spaces")


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
        now = time.time()
        user = User(user_id=new_user_id(), display_name=req.display_name, created=now)
        try:
            async with self._db.write() as session:
                if await session.get(AccessKey, access_key) is not None:
                    raise ConflictError(f"access key {access_key} exists already")
                session.add(user)
                await session.flush()
                session.add(
                    AccessKey(
                        access_key=access_key,
                        secret_key=secret_key,
                        user_id=user.user_id,
                        created=now,
                    )
                )
        except IntegrityError:  # a concurrent create of the same key (PostgreSQL)
            raise ConflictError(f"access key {access_key} exists already") from None
        log.info(
            "created user %s (%s) with access key %s", user.user_id, user.display_name, access_key
        )
        key = AccessKeyInfo(
            access_key=access_key,
            secret_key=secret_key,
            user_id=user.user_id,
            display_name=user.display_name,
        )
        return UserInfo(
            user_id=user.user_id, display_name=user.display_name, created=now, access_keys=[key]
        )

    async def list_users(self) -> UserList:
        async with self._db.read() as session:
            users = list(await session.scalars(select(User).order_by(User.created, User.user_id)))
            keys = list(await session.scalars(select(AccessKey).order_by(AccessKey.created)))
        by_user: dict[str, list[AccessKeyInfo]] = {}
        names = {u.user_id: u.display_name for u in users}
        for k in keys:
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
                )
                for u in users
            ]
        )

    @retry_races
    async def delete_user(self, user_id: str) -> None:
        async with self._db.write() as session:
            user = await session.get(User, user_id)
            if user is None:
                raise NotFoundError(f"user {user_id!r} does not exist")
            if await session.scalar(select(exists().where(Bucket.owner_id == user_id))):
                raise ConflictError(f"user {user_id!r} still owns buckets; delete them first")
            meta = await session.get(ClusterMeta, 1)
            if meta is not None and meta.root_user_id == user_id:
                raise ConflictError("the root user cannot be deleted")
            await session.execute(delete(AccessKey).where(AccessKey.user_id == user_id))
            await session.delete(user)

    async def get_access_key(self, access_key: str) -> AccessKeyInfo:
        async with self._db.read() as session:
            row = (
                await session.execute(
                    select(AccessKey, User.display_name)
                    .join(User, User.user_id == AccessKey.user_id)
                    .where(AccessKey.access_key == access_key)
                )
            ).first()
        if row is None:
            raise NoSuchAccessKeyError(f"access key {access_key!r} is not known")
        key, display_name = row
        return AccessKeyInfo(
            access_key=key.access_key,
            secret_key=key.secret_key,
            user_id=key.user_id,
            display_name=display_name,
        )

    async def ensure_root(self, access_key: str, secret_key: str) -> str:
        """The root user's id, creating the user and the configured key if needed."""
        now = time.time()
        async with self._db.write() as session:
            meta = await session.get(ClusterMeta, 1)
            if meta is None:
                meta = ClusterMeta(id=1, leader_epoch=0, leader_id="", leader_since=0.0)
                session.add(meta)
            root = await session.get(User, meta.root_user_id) if meta.root_user_id else None
            if root is None:
                root = User(user_id=new_user_id(), display_name=ROOT_DISPLAY_NAME, created=now)
                session.add(root)
                meta.root_user_id = root.user_id
                log.info("created the root user %s", root.user_id)
            await session.flush()
            if access_key and await session.get(AccessKey, access_key) is None:
                _check_key_text("root access key", access_key)
                _check_key_text("root secret key", secret_key)
                session.add(
                    AccessKey(
                        access_key=access_key,
                        secret_key=secret_key,
                        user_id=root.user_id,
                        created=now,
                    )
                )
                log.info("added access key %s to the root user", access_key)
            return root.user_id
