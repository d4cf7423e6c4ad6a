"""The users and keys resources: users created, disabled, enabled, deleted; their key pairs.

Layer: coordinator admin package, a resource module (``ROUTES``). A secret key appears in the
answer of the call that made it (user create, key create) and nowhere else: lists and gets
show access keys only. A disabled user's keys, and a disabled key, authenticate no S3
request (``InvalidAccessKeyId``) until enabled again: at once on the coordinator, and on a
gateway once its cache of the key expires (``CREDENTIALS_TTL``, 10 s).
"""

from __future__ import annotations

from typing import Any

import msgspec

from wormfs.coordinator.admin.paging import Page, PageQuery, page_after
from wormfs.coordinator.admin.routes import AdminCall, Handler, Route, admin_post
from wormfs.coordinator.db.identity import new_access_key, new_secret_key
from wormfs.coordinator.db.identity_admin import IdentityAdmin, KeyView, NewKey, UserView
from wormfs.errors import NotFoundError
from wormfs.wire.coordinator import CreateUser, UserInfo


class CreateKey(msgspec.Struct, frozen=True):
    access_key: str | None = None  # generated when absent
    secret_key: str | None = None


class UserDetail(msgspec.Struct, frozen=True):
    user: UserView
    keys: list[KeyView]


def _identity(call: AdminCall) -> IdentityAdmin:
    return IdentityAdmin(call.repo.db)


async def _user(call: AdminCall, user_id: str) -> UserView:
    for user in await _identity(call).users():
        if user.user_id == user_id:
            return user
    raise NotFoundError(f"user {user_id!r} does not exist")


async def list_users(call: AdminCall) -> Page[UserView]:
    return page_after(await _identity(call).users(), lambda u: [u.user_id], call.query)


async def create_user(call: AdminCall) -> UserInfo:
    made = await call.repo.identity.create_user(call.body)
    call.target = f"users/{made.user_id}"
    return made


async def get_user(call: AdminCall) -> UserDetail:
    user_id = call.path("user_id")
    keys = await _identity(call).keys(user_id)
    return UserDetail(user=await _user(call, user_id), keys=keys)


async def _set_disabled(call: AdminCall, disabled: bool) -> UserView:
    user_id = call.path("user_id")
    await _identity(call).set_user_disabled(user_id, disabled)
    return await _user(call, user_id)


async def disable_user(call: AdminCall) -> UserView:
    return await _set_disabled(call, True)


async def enable_user(call: AdminCall) -> UserView:
    return await _set_disabled(call, False)


async def delete_user(call: AdminCall) -> None:
    await call.repo.identity.delete_user(call.path("user_id"))


async def list_keys(call: AdminCall) -> Page[KeyView]:
    keys = await _identity(call).keys(call.path("user_id"))
    return page_after(keys, lambda k: [k.access_key], call.query)


async def create_key(call: AdminCall) -> NewKey:
    req: CreateKey = call.body
    access_key = req.access_key or new_access_key()
    made = await _identity(call).add_key(
        call.path("user_id"), access_key, req.secret_key or new_secret_key()
    )
    call.target = f"keys/{made.access_key}"
    return made


async def disable_key(call: AdminCall) -> KeyView:
    access_key = call.path("access_key")
    await _identity(call).set_key_disabled(access_key, True)
    return await _identity(call).key(access_key)


async def enable_key(call: AdminCall) -> KeyView:
    access_key = call.path("access_key")
    await _identity(call).set_key_disabled(access_key, False)
    return await _identity(call).key(access_key)


async def delete_key(call: AdminCall) -> None:
    await _identity(call).delete_key(call.path("access_key"))


def _post(path: str, handler: Handler, summary: str, action: str, response: Any) -> Route:
    return admin_post(path, handler, summary, action, response, "users")


ROUTES = (
    Route(
        "GET",
        "/users",
        list_users,
        "Users (without keys' secrets), by user id",
        query=PageQuery,
        response=Page[UserView],
        tag="users",
    ),
    Route(
        "POST",
        "/users",
        create_user,
        "Create a user with one key pair; the secret key is in this answer only",
        scope="admin",
        request=CreateUser,
        response=UserInfo,
        status=201,
        action="user.create",
        tag="users",
    ),
    Route(
        "GET",
        "/users/{user_id}",
        get_user,
        "One user and its keys",
        response=UserDetail,
        tag="users",
    ),
    _post(
        "/users/{user_id}/disable",
        disable_user,
        "Disable a user: its keys stop working",
        "user.disable",
        UserView,
    ),
    _post(
        "/users/{user_id}/enable", enable_user, "Enable a disabled user", "user.enable", UserView
    ),
    Route(
        "DELETE",
        "/users/{user_id}",
        delete_user,
        "Delete a user and its keys (refused while it owns buckets)",
        scope="admin",
        action="user.delete",
        tag="users",
    ),
    Route(
        "GET",
        "/users/{user_id}/keys",
        list_keys,
        "A user's access keys (never the secrets)",
        query=PageQuery,
        response=Page[KeyView],
        tag="users",
    ),
    Route(
        "POST",
        "/users/{user_id}/keys",
        create_key,
        "Add a key pair to a user; the secret key is in this answer only",
        scope="admin",
        request=CreateKey,
        response=NewKey,
        status=201,
        action="key.create",
        tag="users",
    ),
    _post(
        "/keys/{access_key}/disable", disable_key, "Disable an access key", "key.disable", KeyView
    ),
    _post(
        "/keys/{access_key}/enable",
        enable_key,
        "Enable a disabled access key",
        "key.enable",
        KeyView,
    ),
    Route(
        "DELETE",
        "/keys/{access_key}",
        delete_key,
        "Delete an access key",
        scope="admin",
        action="key.delete",
        tag="users",
    ),
)
