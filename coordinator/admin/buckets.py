"""The buckets resource: listed by name, created with an owner, read with usage, deleted if empty.

Layer: coordinator admin package, a resource module (``ROUTES``). The owner of a created
bucket is a user id (the root user's when absent; one that is no user is ``InvalidInput``).
A bucket's usage is its object versions and their bytes (delete markers excluded) and its
unfinished multipart uploads. The list answers each bucket of the page with its usage and
default storage class (``BucketSummary``), read for the whole page in one statement
(``AdminViews.bucket_page``), paged by name in SQL. ``GET`` of one bucket answers it with
its usage and default class; ``PATCH`` sets what an operator may change on a bucket, its
default ``storage_class`` (through ``Repository.profiles.set_bucket_class``: a class no
profile serves is ``InvalidStorageClass``) and its ``owner_id`` (a user; ``InvalidInput``
otherwise), audited as ``bucket.update``; each field is checked before any is written, and an
absent field is left as it is. Deleting a bucket that holds objects or uploads is
``BucketNotEmpty`` (409).
"""

from __future__ import annotations

import msgspec

from wormfs.coordinator.admin.paging import Page, PageQuery, cursor_key, page_from
from wormfs.coordinator.admin.routes import AdminCall, Route
from wormfs.coordinator.db.admin_buckets import AdminBuckets
from wormfs.coordinator.db.admin_views import BucketSummary, Usage
from wormfs.coordinator.db.identity_admin import IdentityAdmin
from wormfs.errors import InvalidInputError
from wormfs.wire.coordinator import BucketInfo, CreateBucket, ObjectLockConfig
from wormfs.wire.profiles import BucketClass


class CreateBucketRequest(msgspec.Struct, frozen=True):
    name: str
    owner_id: str | None = None  # a user id; the root user when absent
    region: str = "us-east-1"


class BucketQuery(PageQuery, frozen=True, kw_only=True):
    owner: str | None = None  # only the buckets of this user id


class BucketDetail(msgspec.Struct, frozen=True):
    bucket: BucketInfo
    usage: Usage
    storage_class: str  # the default class of objects written without one
    versioning: str = ""  # "" (never enabled), "Enabled" or "Suspended"
    object_lock: ObjectLockConfig = ObjectLockConfig()  # enabled, and the default retention
    lifecycle_rules: int = 0  # how many lifecycle rules it has (the lifecycle job applies them)
    encryption: str | None = None  # its default encryption's algorithm (None: none set)


class BucketPatch(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """The settable fields of a bucket; an absent one stays as it is."""

    storage_class: str | None = None
    owner_id: str | None = None


async def list_buckets(call: AdminCall) -> Page[BucketSummary]:
    q: BucketQuery = call.query
    after = cursor_key(q)
    if after is not None and (len(after) != 1 or not isinstance(after[0], str)):
        raise InvalidInputError("cursor is not one this API gave out")
    start = str(after[0]) if after is not None else None
    rows = await call.views.bucket_page(q.owner or None, start, q.limit + 1)
    return page_from(rows, lambda b: [b.name], q.limit)


async def create_bucket(call: AdminCall) -> BucketInfo:
    req: CreateBucketRequest = call.body
    call.target, call.bucket = f"buckets/{req.name}", req.name
    if req.owner_id and not await IdentityAdmin(call.repo.db).user_exists(req.owner_id):
        raise InvalidInputError(f"owner_id {req.owner_id!r} is not a user")
    owner = req.owner_id or await call.repo.identity.ensure_root("", "")
    return await call.repo.buckets.create(req.name, CreateBucket(owner_id=owner, region=req.region))


async def get_bucket(call: AdminCall) -> BucketDetail:
    name = call.path("bucket")
    info = await call.repo.buckets.get(name)
    usage = await call.views.usage(name)
    found = await call.repo.profiles.bucket_class(name)
    repo = call.repo
    rules = (await repo.access.lifecycle(name, None)).config
    encryption = (await repo.access.encryption(name, None)).config
    return BucketDetail(
        bucket=info,
        usage=usage,
        storage_class=found.storage_class,
        versioning=(await repo.access.versioning(name, None)).status,
        object_lock=await repo.locks.config(name, None),
        lifecycle_rules=0 if rules is None else len(rules.rules),
        encryption=None if encryption is None else encryption.sse_algorithm,
    )


async def update_bucket(call: AdminCall) -> BucketDetail:
    req: BucketPatch = call.body
    name = call.path("bucket")
    await call.repo.buckets.get(name)  # NoSuchBucket before anything else
    # Check each field before writing any, so that a refused one changes nothing.
    if req.owner_id is not None and not await IdentityAdmin(call.repo.db).user_exists(req.owner_id):
        raise InvalidInputError(f"owner_id {req.owner_id!r} is not a user")
    if req.storage_class is not None:
        await call.repo.profiles.set_bucket_class(name, BucketClass(req.storage_class))
    if req.owner_id is not None:
        await AdminBuckets(call.repo.db).set_owner(name, req.owner_id)
    return await get_bucket(call)


async def delete_bucket(call: AdminCall) -> None:
    await call.repo.buckets.delete(call.path("bucket"))


ROUTES = (
    Route(
        "GET",
        "/buckets",
        list_buckets,
        "Buckets by name, each with its owner, usage and default storage class",
        query=BucketQuery,
        response=Page[BucketSummary],
        tag="buckets",
    ),
    Route(
        "POST",
        "/buckets",
        create_bucket,
        "Create a bucket owned by a user",
        scope="admin",
        request=CreateBucketRequest,
        response=BucketInfo,
        status=201,
        action="bucket.create",
        tag="buckets",
    ),
    Route(
        "GET",
        "/buckets/{bucket}",
        get_bucket,
        "One bucket with its usage (objects, bytes, unfinished uploads) and default class",
        response=BucketDetail,
        tag="buckets",
    ),
    Route(
        "PATCH",
        "/buckets/{bucket}",
        update_bucket,
        "Set a bucket's default storage class and/or owner; absent fields stay",
        scope="admin",
        request=BucketPatch,
        response=BucketDetail,
        action="bucket.update",
        tag="buckets",
    ),
    Route(
        "DELETE",
        "/buckets/{bucket}",
        delete_bucket,
        "Delete an empty bucket (BucketNotEmpty otherwise)",
        scope="admin",
        action="bucket.delete",
        tag="buckets",
    ),
)
