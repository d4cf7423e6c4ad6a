"""Clients layer: the coordinator API client (``wormfs.wire.coordinator`` is the contract).

One method per route, typed with the wire structs, over ``wormfs.internal.http.InternalClient``
(through ``wormfs.clients.leader.LeaderLocator``, which finds the leading coordinator among
several): every request is signed with the cluster secret; an error body raises the domain
error it names (``NoSuchBucketError``, ``PreconditionFailedError``...), an unreachable
coordinator raises ``UnavailableError``. Object keys go in the query string, never the path; path
segments (bucket names, ids, access keys) must be made of unreserved URL characters.
"""

from __future__ import annotations

import string
from typing import Any, TypeVar

import aiohttp
import msgspec

from wormfs.clients.leader import FAILOVER_TIMEOUT, LeaderLocator, parse_urls
from wormfs.errors import InvalidBucketNameError, InvalidInputError, WormError
from wormfs.wire.acl import Acl, AclSetting, OwnershipSetting
from wormfs.wire.coordinator import (
    AccessKeyInfo,
    BeginWrite,
    BucketAccess,
    BucketInfo,
    BucketList,
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
    DeleteResult,
    Heartbeat,
    LegalHold,
    NodeList,
    NodeRegistration,
    ObjectList,
    ObjectLockConfig,
    ObjectManifest,
    ObjectRetention,
    PartList,
    PartRecord,
    PublicAccessBlock,
    PublicAccessBlockSetting,
    PutInline,
    RegisterResult,
    TaggedVersion,
    TagSet,
    UploadInfo,
    UploadList,
    UserInfo,
    UserList,
    VersionList,
    WriteGrant,
)
from wormfs.wire.cors import CorsConfig, CorsSetting
from wormfs.wire.encryption import BucketEncryption, EncryptionSetting
from wormfs.wire.lifecycle import LifecycleConfig, LifecycleSetting

T = TypeVar("T")
_UNRESERVED = frozenset(string.ascii_letters + string.digits + "-._~")


def _seg(value: str, error: type[WormError] = InvalidInputError) -> str:
    """One path segment. Only unreserved characters are allowed: the server verifies the
    signature over the decoded path, so a segment must read the same encoded and decoded.
    Every id, access key and valid bucket name qualifies; anything else is refused here."""
    if not value or not set(value) <= _UNRESERVED:
        raise error(f"{value!r} cannot be used as a path segment")
    return value


def path_segment(value: str) -> str:
    """Any name as one path segment (``InvalidInputError`` if it cannot be one)."""
    return _seg(value)


def bucket_segment(name: str) -> str:
    """A bucket name as a path segment (``InvalidBucketNameError`` if it cannot be one)."""
    return _seg(name, InvalidBucketNameError)


class CoordinatorClient:
    """``base_url`` is one coordinator's base URL or several separated by commas; with
    ``zookeeper_hosts`` the leader is also looked up in ZooKeeper. Requests go to the leading
    coordinator and fail over within ``failover_timeout`` seconds (``wormfs.clients.leader``).
    With ZooKeeper configured, ``close()`` must be awaited when done (it stops kazoo)."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        base_url: str,
        secret: bytes,
        *,
        zookeeper_hosts: str = "",
        zookeeper_path: str = "/wormfs",
        failover_timeout: float = FAILOVER_TIMEOUT,
    ) -> None:
        self.http = LeaderLocator(
            session,
            parse_urls(base_url),
            secret,
            zookeeper_hosts=zookeeper_hosts,
            zookeeper_path=zookeeper_path,
            failover_timeout=failover_timeout,
        )

    @property
    def base_url(self) -> str:
        """The coordinator requests go to now (the leader, once one answered)."""
        return self.http.base_url

    async def call(self, method: str, path: str, kind: type[T], **kwargs: Any) -> T:
        """Any coordinator route, through leader discovery (for callers needing e.g. a
        ``timeout``); the typed methods below are the usual way in."""
        return await self.http.call(method, path, kind, **kwargs)

    async def close(self) -> None:
        await self.http.close()

    # ---- health and nodes ---------------------------------------------------------------------
    async def health(self) -> CoordinatorHealth:
        return await self.http.call("GET", "/v1/health", CoordinatorHealth)

    async def register_node(self, registration: NodeRegistration) -> RegisterResult:
        return await self.http.call("POST", "/v1/nodes/register", RegisterResult, body=registration)

    async def heartbeat(self, node_id: str, beat: Heartbeat) -> RegisterResult:
        return await self.http.call(
            "POST", f"/v1/nodes/{_seg(node_id)}/heartbeat", RegisterResult, body=beat
        )

    async def list_nodes(self) -> NodeList:
        return await self.http.call("GET", "/v1/nodes", NodeList)

    # ---- users and keys -----------------------------------------------------------------------
    async def create_user(self, request: CreateUser) -> UserInfo:
        return await self.http.call("POST", "/v1/users", UserInfo, body=request)

    async def list_users(self) -> UserList:
        return await self.http.call("GET", "/v1/users", UserList)

    async def delete_user(self, user_id: str) -> None:
        await self.http.request("DELETE", f"/v1/users/{_seg(user_id)}")

    async def get_access_key(self, access_key: str) -> AccessKeyInfo:
        return await self.http.call("GET", f"/v1/access-keys/{_seg(access_key)}", AccessKeyInfo)

    # ---- buckets ------------------------------------------------------------------------------
    async def list_buckets(self, owner_id: str | None = None) -> BucketList:
        query = {"owner_id": owner_id} if owner_id else None
        return await self.http.call("GET", "/v1/buckets", BucketList, query=query)

    async def create_bucket(self, name: str, request: CreateBucket) -> BucketInfo:
        return await self.http.call(
            "PUT", f"/v1/buckets/{bucket_segment(name)}", BucketInfo, body=request
        )

    async def get_bucket(self, name: str) -> BucketInfo:
        return await self.http.call("GET", f"/v1/buckets/{bucket_segment(name)}", BucketInfo)

    async def delete_bucket(self, name: str) -> None:
        await self.http.request("DELETE", f"/v1/buckets/{bucket_segment(name)}")

    async def list_objects(
        self,
        bucket: str,
        prefix: str = "",
        delimiter: str = "",
        start_after: str = "",
        max_keys: int = 1000,
    ) -> ObjectList:
        query = {"max_keys": str(max_keys)}
        for name, value in (
            ("prefix", prefix),
            ("delimiter", delimiter),
            ("start_after", start_after),
        ):
            if value:
                query[name] = value
        return await self.http.call(
            "GET", f"/v1/buckets/{bucket_segment(bucket)}/objects", ObjectList, query=query
        )

    async def list_versions(
        self,
        bucket: str,
        prefix: str = "",
        delimiter: str = "",
        key_marker: str = "",
        version_id_marker: str = "",
        max_keys: int = 1000,
    ) -> VersionList:
        query = {"max_keys": str(max_keys)}
        for name, value in (
            ("prefix", prefix),
            ("delimiter", delimiter),
            ("key_marker", key_marker),
            ("version_id_marker", version_id_marker),
        ):
            if value:
                query[name] = value
        return await self.http.call(
            "GET", f"/v1/buckets/{bucket_segment(bucket)}/versions", VersionList, query=query
        )

    # ---- objects ------------------------------------------------------------------------------
    async def begin_write(self, request: BeginWrite) -> WriteGrant:
        return await self.http.call("POST", "/v1/writes", WriteGrant, body=request)

    async def commit_object(self, request: CommitObject) -> ObjectManifest:
        return await self.http.call("POST", "/v1/objects/commit", ObjectManifest, body=request)

    async def put_inline(self, request: PutInline) -> ObjectManifest:
        return await self.http.call("POST", "/v1/objects/inline", ObjectManifest, body=request)

    async def get_object(
        self, bucket: str, key: str, version_id: str | None = None, owner_id: str | None = None
    ) -> ObjectManifest:
        """The manifest (with the bytes of an inline object); with ``owner_id``, the
        coordinator first checks that this user owns the bucket (``AccessDeniedError``)."""
        return await self.http.call(
            "GET",
            f"/v1/buckets/{bucket_segment(bucket)}/object",
            ObjectManifest,
            query=_object_query(key, version_id, owner_id),
        )

    async def delete_object(
        self,
        bucket: str,
        key: str,
        version_id: str | None = None,
        owner_id: str | None = None,
        conditions: DeleteConditions | None = None,
        bypass_governance: bool = False,
    ) -> DeleteResult:
        query = _object_query(key, version_id, owner_id)
        if conditions is not None:
            query.update(_delete_condition_query(conditions))
        if bypass_governance:
            query["bypass_governance"] = "1"
        return await self.http.call(
            "DELETE", f"/v1/buckets/{bucket_segment(bucket)}/object", DeleteResult, query=query
        )

    # ---- tags ---------------------------------------------------------------------------------
    async def put_object_tags(
        self,
        bucket: str,
        key: str,
        version_id: str | None,
        owner_id: str | None,
        tags: dict[str, str],
    ) -> TaggedVersion:
        return await self.http.call(
            "PUT",
            f"/v1/buckets/{bucket_segment(bucket)}/object/tags",
            TaggedVersion,
            query=_object_query(key, version_id, owner_id),
            body=TagSet(tags=tags),
        )

    async def bucket_tags(self, bucket: str, owner_id: str | None) -> TagSet:
        return await self.http.call(
            "GET", f"/v1/buckets/{bucket_segment(bucket)}/tags", TagSet, query=_owner(owner_id)
        )

    async def put_bucket_tags(
        self, bucket: str, owner_id: str | None, tags: dict[str, str] | None
    ) -> None:
        await self.http.request(
            "PUT",
            f"/v1/buckets/{bucket_segment(bucket)}/tags",
            query=_owner(owner_id),
            body=TagSet(tags=tags),
        )

    # ---- lifecycle and CORS -------------------------------------------------------------------
    # ---- bucket settings kept as one document each (coordinator/handlers.py: _SETTINGS) ----
    async def _setting(self, bucket: str, owner_id: str | None, name: str, kind: type[T]) -> T:
        path = f"/v1/buckets/{bucket_segment(bucket)}/{name}"
        return await self.http.call("GET", path, kind, query=_owner(owner_id))

    async def _put_setting(
        self, bucket: str, owner_id: str | None, name: str, body: msgspec.Struct
    ) -> None:
        path = f"/v1/buckets/{bucket_segment(bucket)}/{name}"
        await self.http.request("PUT", path, query=_owner(owner_id), body=body)

    async def bucket_lifecycle(self, bucket: str, owner_id: str | None) -> LifecycleSetting:
        return await self._setting(bucket, owner_id, "lifecycle", LifecycleSetting)

    async def put_bucket_lifecycle(
        self, bucket: str, owner_id: str | None, config: LifecycleConfig | None
    ) -> None:
        await self._put_setting(bucket, owner_id, "lifecycle", LifecycleSetting(config=config))

    async def bucket_cors(self, bucket: str, owner_id: str | None) -> CorsSetting:
        return await self._setting(bucket, owner_id, "cors", CorsSetting)

    async def put_bucket_cors(
        self, bucket: str, owner_id: str | None, config: CorsConfig | None
    ) -> None:
        await self._put_setting(bucket, owner_id, "cors", CorsSetting(config=config))

    async def bucket_encryption(self, bucket: str, owner_id: str | None) -> EncryptionSetting:
        return await self._setting(bucket, owner_id, "encryption", EncryptionSetting)

    async def put_bucket_encryption(
        self, bucket: str, owner_id: str | None, config: BucketEncryption | None
    ) -> None:
        await self._put_setting(bucket, owner_id, "encryption", EncryptionSetting(config=config))

    async def bucket_ownership(self, bucket: str, owner_id: str | None) -> OwnershipSetting:
        return await self._setting(bucket, owner_id, "ownership", OwnershipSetting)

    async def put_bucket_ownership(
        self, bucket: str, owner_id: str | None, ownership: str | None
    ) -> None:
        await self._put_setting(bucket, owner_id, "ownership", OwnershipSetting(ownership))

    async def bucket_acl(self, bucket: str, owner_id: str | None) -> AclSetting:
        return await self._setting(bucket, owner_id, "acl", AclSetting)

    async def put_bucket_acl(self, bucket: str, owner_id: str | None, acl: Acl | None) -> None:
        await self._put_setting(bucket, owner_id, "acl", AclSetting(acl))

    async def put_object_acl(
        self, bucket: str, key: str, version_id: str | None, owner_id: str | None, acl: Acl | None
    ) -> TaggedVersion:
        return await self.http.call(
            "PUT",
            f"/v1/buckets/{bucket_segment(bucket)}/object/acl",
            TaggedVersion,
            query=_object_query(key, version_id, owner_id),
            body=AclSetting(acl),
        )

    # ---- Object Lock --------------------------------------------------------------------------
    async def object_lock(self, bucket: str, owner_id: str | None) -> ObjectLockConfig:
        return await self.http.call(
            "GET",
            f"/v1/buckets/{bucket_segment(bucket)}/object-lock",
            ObjectLockConfig,
            query=_owner(owner_id),
        )

    async def put_object_lock(
        self, bucket: str, owner_id: str | None, config: ObjectLockConfig
    ) -> None:
        await self.http.request(
            "PUT",
            f"/v1/buckets/{bucket_segment(bucket)}/object-lock",
            query=_owner(owner_id),
            body=config,
        )

    async def put_object_retention(
        self,
        bucket: str,
        key: str,
        version_id: str | None,
        owner_id: str | None,
        retention: ObjectRetention,
    ) -> TaggedVersion:
        return await self.http.call(
            "PUT",
            f"/v1/buckets/{bucket_segment(bucket)}/object/retention",
            TaggedVersion,
            query=_object_query(key, version_id, owner_id),
            body=retention,
        )

    async def put_object_legal_hold(
        self, bucket: str, key: str, version_id: str | None, owner_id: str | None, on: bool
    ) -> TaggedVersion:
        return await self.http.call(
            "PUT",
            f"/v1/buckets/{bucket_segment(bucket)}/object/legal-hold",
            TaggedVersion,
            query=_object_query(key, version_id, owner_id),
            body=LegalHold(on=on),
        )

    # ---- access settings ----------------------------------------------------------------------
    async def bucket_access(self, bucket: str) -> BucketAccess:
        return await self.http.call(
            "GET", f"/v1/buckets/{bucket_segment(bucket)}/access", BucketAccess
        )

    async def put_bucket_policy(
        self, bucket: str, owner_id: str | None, policy: str | None
    ) -> None:
        await self.http.request(
            "PUT",
            f"/v1/buckets/{bucket_segment(bucket)}/access/policy",
            query=_owner(owner_id),
            body=BucketPolicy(policy=policy),
        )

    async def put_public_access_block(
        self, bucket: str, owner_id: str | None, block: PublicAccessBlock | None
    ) -> None:
        await self.http.request(
            "PUT",
            f"/v1/buckets/{bucket_segment(bucket)}/access/public-access-block",
            query=_owner(owner_id),
            body=PublicAccessBlockSetting(block=block),
        )

    async def bucket_versioning(self, bucket: str, owner_id: str | None) -> BucketVersioning:
        return await self.http.call(
            "GET",
            f"/v1/buckets/{bucket_segment(bucket)}/versioning",
            BucketVersioning,
            query=_owner(owner_id),
        )

    async def put_bucket_versioning(self, bucket: str, owner_id: str | None, status: str) -> None:
        await self.http.request(
            "PUT",
            f"/v1/buckets/{bucket_segment(bucket)}/versioning",
            query=_owner(owner_id),
            body=BucketVersioning(status=status),  # type: ignore[arg-type]
        )

    # ---- multipart uploads --------------------------------------------------------------------
    async def create_upload(self, request: CreateUpload) -> UploadInfo:
        return await self.http.call("POST", "/v1/uploads", UploadInfo, body=request)

    async def get_upload(self, upload_id: str) -> UploadInfo:
        return await self.http.call("GET", f"/v1/uploads/{_seg(upload_id)}", UploadInfo)

    async def commit_part(self, upload_id: str, request: CommitPart) -> PartRecord:
        return await self.http.call(
            "POST", f"/v1/uploads/{_seg(upload_id)}/parts", PartRecord, body=request
        )

    async def list_parts(self, upload_id: str, marker: int = 0, max_parts: int = 1000) -> PartList:
        return await self.http.call(
            "GET",
            f"/v1/uploads/{_seg(upload_id)}/parts",
            PartList,
            query={"marker": str(marker), "max_parts": str(max_parts)},
        )

    async def complete_upload(self, upload_id: str, request: CompleteUpload) -> ObjectManifest:
        return await self.http.call(
            "POST", f"/v1/uploads/{_seg(upload_id)}/complete", ObjectManifest, body=request
        )

    async def abort_upload(self, upload_id: str) -> None:
        await self.http.request("DELETE", f"/v1/uploads/{_seg(upload_id)}")

    async def list_uploads(
        self,
        bucket: str,
        prefix: str = "",
        key_marker: str = "",
        upload_id_marker: str = "",
        max_uploads: int = 1000,
        delimiter: str = "",
    ) -> UploadList:
        query = {"max_uploads": str(max_uploads)}
        for name, value in (
            ("prefix", prefix),
            ("key_marker", key_marker),
            ("upload_id_marker", upload_id_marker),
            ("delimiter", delimiter),
        ):
            if value:
                query[name] = value
        return await self.http.call(
            "GET", f"/v1/buckets/{bucket_segment(bucket)}/uploads", UploadList, query=query
        )


def _delete_condition_query(conditions: DeleteConditions) -> dict[str, str]:
    """A conditional delete's conditions as the query parameters the coordinator reads."""
    query = {}
    if conditions.if_match is not None:
        query["if_match"] = conditions.if_match
    if conditions.last_modified is not None:
        query["if_match_last_modified"] = str(conditions.last_modified)
    if conditions.size is not None:
        query["if_match_size"] = str(conditions.size)
    return query


def _owner(owner_id: str | None) -> dict[str, str]:
    return {"owner_id": owner_id} if owner_id else {}


def _object_query(key: str, version_id: str | None, owner_id: str | None) -> dict[str, str]:
    query = {"key": key}
    if version_id:
        query["version_id"] = version_id
    if owner_id:
        query["owner_id"] = owner_id
    return query
