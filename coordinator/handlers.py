"""HTTP handlers of the coordinator API: exactly the routes of ``wormfs.wire.coordinator``.

Layer: coordinator, the top; below it only the repositories. Each handler parses the request
(path, query, typed JSON body), calls one repository method and answers with the wire struct;
domain errors travel up to ``wormfs.internal.http.internal_middleware``, which answers with an
``ErrorBody`` and the error's status. Keys travel in the query string, never the path.

Besides the contract: ``GET /healthz`` (unauthenticated, for load balancers), and an optional
``delimiter`` on the uploads listing (S3's ListMultipartUploads has one; ``UploadList`` already
carries ``common_prefixes``).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import msgspec
from aiohttp import web

from wormfs.coordinator.db.repo import Repository
from wormfs.coordinator.election import ELECTION
from wormfs.errors import InvalidInputError
from wormfs.internal.http import json_response, read_json
from wormfs.wire.acl import AclSetting, OwnershipSetting
from wormfs.wire.coordinator import (
    BeginWrite,
    BucketPolicy,
    BucketVersioning,
    CommitObject,
    CommitPart,
    CompleteUpload,
    CoordinatorHealth,
    CreateBucket,
    CreateUpload,
    CreateUser,
    DeleteConditions,
    Heartbeat,
    LegalHold,
    NodeRegistration,
    ObjectLockConfig,
    ObjectRetention,
    PublicAccessBlockSetting,
    PutInline,
    TagSet,
)
from wormfs.wire.cors import CorsSetting
from wormfs.wire.encryption import EncryptionSetting
from wormfs.wire.lifecycle import LifecycleSetting

REPO = web.AppKey("repo", Repository)


def _repo(request: web.Request) -> Repository:
    return request.app[REPO]


def _int(request: web.Request, name: str, default: int) -> int:
    raw = request.query.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise InvalidInputError(f"query parameter {name} must be an integer") from None


def _key(request: web.Request) -> str:
    key = request.query.get("key")
    if key is None:
        raise InvalidInputError("query parameter key is required")
    return key


def _no_content() -> web.Response:
    return web.Response(status=204)


# ---- health and nodes -------------------------------------------------------------------------
async def healthz(request: web.Request) -> web.Response:
    return json_response({"status": "ok"})


async def health(request: web.Request) -> web.Response:
    repo = _repo(request)
    nodes, disks = await repo.cluster.counts()
    # With an election, "leader" means serving as the leader now (elected, published, and
    # connected to ZooKeeper); alone, the coordinator leads once it holds the epoch.
    election = request.app.get(ELECTION)
    leader = election.serving if election is not None else repo.db.epoch is not None
    return json_response(
        CoordinatorHealth(status="ok", leader=leader, nodes_online=nodes, disks_online=disks)
    )


async def register_node(request: web.Request) -> web.Response:
    reg = await read_json(request, NodeRegistration)
    return json_response(await _repo(request).cluster.register(reg))


async def heartbeat(request: web.Request) -> web.Response:
    beat = await read_json(request, Heartbeat)
    return json_response(
        await _repo(request).cluster.heartbeat(request.match_info["node_id"], beat)
    )


async def list_nodes(request: web.Request) -> web.Response:
    return json_response(await _repo(request).cluster.list_nodes())


# ---- users and keys ---------------------------------------------------------------------------
async def create_user(request: web.Request) -> web.Response:
    req = await read_json(request, CreateUser)
    return json_response(await _repo(request).identity.create_user(req))


async def list_users(request: web.Request) -> web.Response:
    return json_response(await _repo(request).identity.list_users())


async def delete_user(request: web.Request) -> web.Response:
    await _repo(request).identity.delete_user(request.match_info["user_id"])
    return _no_content()


async def get_access_key(request: web.Request) -> web.Response:
    key = request.match_info["access_key"]
    return json_response(await _repo(request).identity.get_access_key(key))


# ---- buckets ----------------------------------------------------------------------------------
async def list_buckets(request: web.Request) -> web.Response:
    owner_id = request.query.get("owner_id") or None
    return json_response(await _repo(request).buckets.list(owner_id))


async def create_bucket(request: web.Request) -> web.Response:
    req = await read_json(request, CreateBucket)
    return json_response(await _repo(request).buckets.create(request.match_info["bucket"], req))


async def get_bucket(request: web.Request) -> web.Response:
    return json_response(await _repo(request).buckets.get(request.match_info["bucket"]))


async def delete_bucket(request: web.Request) -> web.Response:
    await _repo(request).buckets.delete(request.match_info["bucket"])
    return _no_content()


async def list_objects(request: web.Request) -> web.Response:
    q = request.query
    page = await _repo(request).listing.objects(
        request.match_info["bucket"],
        prefix=q.get("prefix", ""),
        delimiter=q.get("delimiter", ""),
        start_after=q.get("start_after", ""),
        max_keys=_int(request, "max_keys", 1000),
    )
    return json_response(page)


async def list_versions(request: web.Request) -> web.Response:
    q = request.query
    page = await _repo(request).listing.versions(
        request.match_info["bucket"],
        prefix=q.get("prefix", ""),
        delimiter=q.get("delimiter", ""),
        key_marker=q.get("key_marker", ""),
        version_id_marker=q.get("version_id_marker", ""),
        max_keys=_int(request, "max_keys", 1000),
    )
    return json_response(page)


# ---- objects ----------------------------------------------------------------------------------
async def begin_write(request: web.Request) -> web.Response:
    req = await read_json(request, BeginWrite)
    return json_response(await _repo(request).objects.begin_write(req))


async def commit_object(request: web.Request) -> web.Response:
    req = await read_json(request, CommitObject)
    return json_response(await _repo(request).objects.commit(req))


async def put_inline(request: web.Request) -> web.Response:
    req = await read_json(request, PutInline)
    return json_response(await _repo(request).objects.put_inline(req))


async def get_object(request: web.Request) -> web.Response:
    q = request.query
    manifest = await _repo(request).objects.get(
        request.match_info["bucket"],
        _key(request),
        q.get("version_id") or None,
        q.get("owner_id") or None,
    )
    return json_response(manifest)


def _optional_int(request: web.Request, name: str) -> int | None:
    return None if request.query.get(name) is None else _int(request, name, 0)


async def delete_object(request: web.Request) -> web.Response:
    q = request.query
    conditions = DeleteConditions(
        if_match=q.get("if_match"),
        last_modified=_optional_int(request, "if_match_last_modified"),
        size=_optional_int(request, "if_match_size"),
    )
    result = await _repo(request).objects.delete(
        request.match_info["bucket"],
        _key(request),
        q.get("version_id") or None,
        q.get("owner_id") or None,
        conditions if conditions.given else None,
        bypass_governance=q.get("bypass_governance") == "1",
    )
    return json_response(result)


# ---- tags -------------------------------------------------------------------------------------
async def put_object_tags(request: web.Request) -> web.Response:
    q = request.query
    req = await read_json(request, TagSet)
    result = await _repo(request).tags.set_object(
        request.match_info["bucket"],
        _key(request),
        q.get("version_id") or None,
        q.get("owner_id") or None,
        dict(req.tags or {}),
    )
    return json_response(result)


async def get_bucket_tags(request: web.Request) -> web.Response:
    tags = await _repo(request).tags.bucket(
        request.match_info["bucket"], request.query.get("owner_id") or None
    )
    return json_response(tags)


async def put_bucket_tags(request: web.Request) -> web.Response:
    req = await read_json(request, TagSet)
    await _repo(request).tags.set_bucket(
        request.match_info["bucket"], request.query.get("owner_id") or None, req.tags
    )
    return _no_content()


# ---- bucket settings kept as one document each ----------------------------------------------
@dataclass(frozen=True)
class _Setting:
    """One bucket setting the gateway reads and replaces whole: a ``*Setting`` struct whose
    ``field`` holds the document (None: removed), and the repository's pair of calls."""

    kind: type[msgspec.Struct]
    field: str
    read: Callable[[Repository], Callable[[str, str | None], Awaitable[msgspec.Struct]]]
    write: Callable[[Repository], Callable[[str, str | None, Any], Awaitable[None]]]


_SETTINGS: dict[str, _Setting] = {
    "lifecycle": _Setting(
        LifecycleSetting, "config", lambda r: r.access.lifecycle, lambda r: r.access.set_lifecycle
    ),
    "cors": _Setting(CorsSetting, "config", lambda r: r.access.cors, lambda r: r.access.set_cors),
    "encryption": _Setting(
        EncryptionSetting,
        "config",
        lambda r: r.access.encryption,
        lambda r: r.access.set_encryption,
    ),
    "ownership": _Setting(
        OwnershipSetting,
        "ownership",
        lambda r: r.access.ownership,
        lambda r: r.access.set_ownership,
    ),
    "acl": _Setting(AclSetting, "acl", lambda r: r.access.acl, lambda r: r.access.set_acl),
}


def _setting_routes() -> list[web.RouteDef]:
    """GET and PUT ``/v1/buckets/{bucket}/<name>`` for every setting of ``_SETTINGS``."""
    routes = []
    for name, setting in _SETTINGS.items():

        async def get(request: web.Request, setting: _Setting = setting) -> web.Response:
            read = setting.read(_repo(request))
            answer = await read(request.match_info["bucket"], request.query.get("owner_id") or None)
            return json_response(answer)

        async def put(request: web.Request, setting: _Setting = setting) -> web.Response:
            req = await read_json(request, setting.kind)
            write = setting.write(_repo(request))
            await write(
                request.match_info["bucket"],
                request.query.get("owner_id") or None,
                getattr(req, setting.field),
            )
            return _no_content()

        routes += [
            web.get(f"/v1/buckets/{{bucket}}/{name}", get),
            web.put(f"/v1/buckets/{{bucket}}/{name}", put),
        ]
    return routes


async def put_object_acl(request: web.Request) -> web.Response:
    req = await read_json(request, AclSetting)
    q = request.query
    result = await _repo(request).tags.set_object_acl(
        request.match_info["bucket"],
        _key(request),
        q.get("version_id") or None,
        q.get("owner_id") or None,
        req.acl,
    )
    return json_response(result)


# ---- Object Lock ------------------------------------------------------------------------------
async def get_object_lock(request: web.Request) -> web.Response:
    config = await _repo(request).locks.config(
        request.match_info["bucket"], request.query.get("owner_id") or None
    )
    return json_response(config)


async def put_object_lock(request: web.Request) -> web.Response:
    req = await read_json(request, ObjectLockConfig)
    await _repo(request).locks.set_config(
        request.match_info["bucket"], request.query.get("owner_id") or None, req
    )
    return _no_content()


async def put_object_retention(request: web.Request) -> web.Response:
    q = request.query
    req = await read_json(request, ObjectRetention)
    result = await _repo(request).locks.set_retention(
        request.match_info["bucket"],
        _key(request),
        q.get("version_id") or None,
        q.get("owner_id") or None,
        req,
    )
    return json_response(result)


async def put_object_legal_hold(request: web.Request) -> web.Response:
    q = request.query
    req = await read_json(request, LegalHold)
    result = await _repo(request).locks.set_legal_hold(
        request.match_info["bucket"],
        _key(request),
        q.get("version_id") or None,
        q.get("owner_id") or None,
        req.on,
    )
    return json_response(result)


# ---- access settings --------------------------------------------------------------------------
async def get_bucket_access(request: web.Request) -> web.Response:
    return json_response(await _repo(request).access.get(request.match_info["bucket"]))


async def put_bucket_policy(request: web.Request) -> web.Response:
    req = await read_json(request, BucketPolicy)
    await _repo(request).access.set_policy(
        request.match_info["bucket"], request.query.get("owner_id") or None, req.policy
    )
    return _no_content()


async def put_public_access_block(request: web.Request) -> web.Response:
    req = await read_json(request, PublicAccessBlockSetting)
    await _repo(request).access.set_public_access_block(
        request.match_info["bucket"], request.query.get("owner_id") or None, req.block
    )
    return _no_content()


async def get_bucket_versioning(request: web.Request) -> web.Response:
    access = _repo(request).access
    owner = request.query.get("owner_id") or None
    return json_response(await access.versioning(request.match_info["bucket"], owner))


async def put_bucket_versioning(request: web.Request) -> web.Response:
    req = await read_json(request, BucketVersioning)
    await _repo(request).access.set_versioning(
        request.match_info["bucket"], request.query.get("owner_id") or None, req.status
    )
    return _no_content()


# ---- multipart uploads ------------------------------------------------------------------------
async def create_upload(request: web.Request) -> web.Response:
    req = await read_json(request, CreateUpload)
    return json_response(await _repo(request).uploads.create(req))


async def get_upload(request: web.Request) -> web.Response:
    return json_response(await _repo(request).uploads.get(request.match_info["upload_id"]))


async def commit_part(request: web.Request) -> web.Response:
    req = await read_json(request, CommitPart)
    upload_id = request.match_info["upload_id"]
    return json_response(await _repo(request).uploads.commit_part(upload_id, req))


async def list_parts(request: web.Request) -> web.Response:
    page = await _repo(request).uploads.list_parts(
        request.match_info["upload_id"],
        marker=_int(request, "marker", 0),
        max_parts=_int(request, "max_parts", 1000),
    )
    return json_response(page)


async def complete_upload(request: web.Request) -> web.Response:
    req = await read_json(request, CompleteUpload)
    upload_id = request.match_info["upload_id"]
    return json_response(await _repo(request).uploads.complete(upload_id, req))


async def abort_upload(request: web.Request) -> web.Response:
    await _repo(request).uploads.abort(request.match_info["upload_id"])
    return _no_content()


async def list_uploads(request: web.Request) -> web.Response:
    q = request.query
    page = await _repo(request).listing.uploads(
        request.match_info["bucket"],
        prefix=q.get("prefix", ""),
        delimiter=q.get("delimiter", ""),
        key_marker=q.get("key_marker", ""),
        upload_id_marker=q.get("upload_id_marker", ""),
        max_uploads=_int(request, "max_uploads", 1000),
    )
    return json_response(page)


def add_routes(app: web.Application) -> None:
    app.router.add_routes(
        [
            web.get("/healthz", healthz),
            web.get("/v1/health", health),
            web.post("/v1/nodes/register", register_node),
            web.post("/v1/nodes/{node_id}/heartbeat", heartbeat),
            web.get("/v1/nodes", list_nodes),
            web.post("/v1/users", create_user),
            web.get("/v1/users", list_users),
            web.delete("/v1/users/{user_id}", delete_user),
            web.get("/v1/access-keys/{access_key}", get_access_key),
            web.get("/v1/buckets", list_buckets),
            web.put("/v1/buckets/{bucket}", create_bucket),
            web.get("/v1/buckets/{bucket}", get_bucket),
            web.delete("/v1/buckets/{bucket}", delete_bucket),
            web.get("/v1/buckets/{bucket}/objects", list_objects),
            web.get("/v1/buckets/{bucket}/versions", list_versions),
            web.post("/v1/writes", begin_write),
            web.post("/v1/objects/commit", commit_object),
            web.post("/v1/objects/inline", put_inline),
            web.get("/v1/buckets/{bucket}/object", get_object),
            web.delete("/v1/buckets/{bucket}/object", delete_object),
            web.put("/v1/buckets/{bucket}/object/tags", put_object_tags),
            web.put("/v1/buckets/{bucket}/object/acl", put_object_acl),
            web.put("/v1/buckets/{bucket}/object/retention", put_object_retention),
            web.put("/v1/buckets/{bucket}/object/legal-hold", put_object_legal_hold),
            web.get("/v1/buckets/{bucket}/object-lock", get_object_lock),
            web.put("/v1/buckets/{bucket}/object-lock", put_object_lock),
            web.get("/v1/buckets/{bucket}/tags", get_bucket_tags),
            web.put("/v1/buckets/{bucket}/tags", put_bucket_tags),
            web.get("/v1/buckets/{bucket}/access", get_bucket_access),
            web.put("/v1/buckets/{bucket}/access/policy", put_bucket_policy),
            web.put("/v1/buckets/{bucket}/access/public-access-block", put_public_access_block),
            web.get("/v1/buckets/{bucket}/versioning", get_bucket_versioning),
            web.put("/v1/buckets/{bucket}/versioning", put_bucket_versioning),
            web.post("/v1/uploads", create_upload),
            web.get("/v1/uploads/{upload_id}", get_upload),
            web.post("/v1/uploads/{upload_id}/parts", commit_part),
            web.get("/v1/uploads/{upload_id}/parts", list_parts),
            web.post("/v1/uploads/{upload_id}/complete", complete_upload),
            web.delete("/v1/uploads/{upload_id}", abort_upload),
            web.get("/v1/buckets/{bucket}/uploads", list_uploads),
            *_setting_routes(),
        ]
    )
