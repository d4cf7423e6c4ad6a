"""The profiles resource: named erasure-coding profiles, the storage classes they serve, and a
bucket's default class.

Layer: coordinator admin package, a resource module (``ROUTES``), over ``Repository.profiles``
(``coordinator/db/profiles.py``; the class -> profile mapping is documented in
``wormfs.wire.profiles``). Contract:

* ``GET /profiles`` lists every profile by name with what is stored under it (object versions,
  logical bytes, raw bytes at its k+m/k); ``GET /profiles/{name}`` one of them.
* ``POST /profiles`` creates one; invalid codec/k/m/sizes, a k+m wider than the cluster's
  writable disks and a class that is not a valid name are ``InvalidInput`` (400); a taken name
  or class is ``ProfileExists`` (409).
* ``DELETE /profiles/{name}`` is ``ProfileInUse`` (409) while objects, uploads or a bucket's
  default class use its class, and always for ``standard`` (the coding config's).
* ``GET|PUT /buckets/{bucket}/storage-class`` read and set a bucket's default class (the
  class of objects written without ``x-amz-storage-class``); a class nothing serves is
  ``InvalidStorageClass`` (400). A PATCH of the bucket itself can call
  ``Repository.profiles.set_bucket_class`` the same way.
"""

from __future__ import annotations

from wormfs.coordinator.admin.paging import Page, PageQuery, page_after
from wormfs.coordinator.admin.routes import AdminCall, Route
from wormfs.wire.profiles import BucketClass, ProfileInfo, ProfileSpec


async def list_profiles(call: AdminCall) -> Page[ProfileInfo]:
    q: PageQuery = call.query
    found = (await call.repo.profiles.list()).profiles
    return page_after(found, lambda p: [p.name], q)


async def create_profile(call: AdminCall) -> ProfileInfo:
    spec: ProfileSpec = call.body
    call.target = f"profiles/{spec.name}"
    return await call.repo.profiles.create(spec)


async def get_profile(call: AdminCall) -> ProfileInfo:
    return await call.repo.profiles.get(call.path("name"))


async def delete_profile(call: AdminCall) -> None:
    await call.repo.profiles.delete(call.path("name"))


async def get_bucket_class(call: AdminCall) -> BucketClass:
    return await call.repo.profiles.bucket_class(call.path("bucket"))


async def set_bucket_class(call: AdminCall) -> BucketClass:
    req: BucketClass = call.body
    return await call.repo.profiles.set_bucket_class(call.path("bucket"), req)


ROUTES = (
    Route(
        "GET",
        "/profiles",
        list_profiles,
        "Erasure-coding profiles by name, with the objects and bytes stored under each",
        query=PageQuery,
        response=Page[ProfileInfo],
        tag="profiles",
    ),
    Route(
        "POST",
        "/profiles",
        create_profile,
        "Create a named profile, optionally serving an S3 storage class",
        scope="admin",
        request=ProfileSpec,
        response=ProfileInfo,
        status=201,
        action="profile.create",
        tag="profiles",
    ),
    Route(
        "GET",
        "/profiles/{name}",
        get_profile,
        "One profile with the objects and bytes stored under it",
        response=ProfileInfo,
        tag="profiles",
    ),
    Route(
        "DELETE",
        "/profiles/{name}",
        delete_profile,
        "Delete a profile nothing uses (ProfileInUse otherwise)",
        scope="admin",
        action="profile.delete",
        tag="profiles",
    ),
    Route(
        "GET",
        "/buckets/{bucket}/storage-class",
        get_bucket_class,
        "A bucket's default storage class",
        response=BucketClass,
        tag="profiles",
    ),
    Route(
        "PUT",
        "/buckets/{bucket}/storage-class",
        set_bucket_class,
        "Set a bucket's default storage class (for writes that name none)",
        scope="admin",
        request=BucketClass,
        response=BucketClass,
        action="bucket.storage_class",
        tag="profiles",
    ),
)
