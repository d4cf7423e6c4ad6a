"""BucketSettings: the bucket configuration half of the object service, over the coordinator.

Layer: gateway domain (``ObjectService`` is one; see ``wormfs.gateway.object_service``).
Contract: each call reads or replaces one setting of a bucket the principal owns (the
coordinator checks the owner: ``AccessDeniedError`` for anyone else; ``NoSuchBucketError``):
its policy, public access block, versioning, CORS rules, default encryption, lifecycle rules,
Object Lock configuration, tags, Object Ownership and ACL, and the per-version retention,
legal hold and ACL. Documents arrive validated by the handlers (S3's rules). ``users`` names
the cluster's users for ACL documents (canonical id -> display name), ``emails`` for grants by
e-mail address (address -> canonical id), read at most every ``USERS_TTL`` seconds.
"""

from __future__ import annotations

import time

from wormfs.clients.coordinator import CoordinatorClient
from wormfs.gateway.service import Principal
from wormfs.wire.acl import Acl
from wormfs.wire.coordinator import (
    BucketAccess,
    ObjectLockConfig,
    ObjectRetention,
    PublicAccessBlock,
    TaggedVersion,
)
from wormfs.wire.cors import CorsConfig
from wormfs.wire.encryption import BucketEncryption
from wormfs.wire.lifecycle import LifecycleConfig

USERS_TTL = 10.0


class BucketSettings:
    def __init__(self, coordinator: CoordinatorClient) -> None:
        self._coordinator = coordinator
        self._users: tuple[float, dict[str, str], dict[str, str]] | None = None

    async def _user_maps(self) -> tuple[dict[str, str], dict[str, str]]:
        now = time.monotonic()
        if self._users is None or now - self._users[0] > USERS_TTL:
            listed = (await self._coordinator.list_users()).users
            names = {u.user_id: u.display_name for u in listed}
            emails = {u.email: u.user_id for u in listed if u.email}
            self._users = (now, names, emails)
        return self._users[1], self._users[2]

    async def users(self) -> dict[str, str]:
        """Every user's canonical id -> display name (cached for ``USERS_TTL``)."""
        return (await self._user_maps())[0]

    async def emails(self) -> dict[str, str]:
        """Every e-mail address a user has (lower case) -> its canonical id (cached)."""
        return (await self._user_maps())[1]

    async def bucket_access(self, bucket: str) -> BucketAccess:
        return await self._coordinator.bucket_access(bucket)

    async def put_bucket_policy(
        self, principal: Principal, bucket: str, policy: str | None
    ) -> None:
        await self._coordinator.put_bucket_policy(bucket, principal.user_id, policy)

    async def put_public_access_block(
        self, principal: Principal, bucket: str, block: PublicAccessBlock | None
    ) -> None:
        await self._coordinator.put_public_access_block(bucket, principal.user_id, block)

    async def bucket_versioning(self, principal: Principal, bucket: str) -> str:
        status = await self._coordinator.bucket_versioning(bucket, principal.user_id)
        return status.status

    async def put_bucket_versioning(self, principal: Principal, bucket: str, status: str) -> None:
        await self._coordinator.put_bucket_versioning(bucket, principal.user_id, status)

    async def bucket_cors(self, principal: Principal, bucket: str) -> CorsConfig | None:
        return (await self._coordinator.bucket_cors(bucket, principal.user_id)).config

    async def put_bucket_cors(
        self, principal: Principal, bucket: str, config: CorsConfig | None
    ) -> None:
        await self._coordinator.put_bucket_cors(bucket, principal.user_id, config)

    async def bucket_encryption(self, principal: Principal, bucket: str) -> BucketEncryption | None:
        return (await self._coordinator.bucket_encryption(bucket, principal.user_id)).config

    async def put_bucket_encryption(
        self, principal: Principal, bucket: str, config: BucketEncryption | None
    ) -> None:
        await self._coordinator.put_bucket_encryption(bucket, principal.user_id, config)

    async def bucket_lifecycle(self, principal: Principal, bucket: str) -> LifecycleConfig | None:
        return (await self._coordinator.bucket_lifecycle(bucket, principal.user_id)).config

    async def put_bucket_lifecycle(
        self, principal: Principal, bucket: str, config: LifecycleConfig | None
    ) -> None:
        await self._coordinator.put_bucket_lifecycle(bucket, principal.user_id, config)

    async def object_lock(self, principal: Principal, bucket: str) -> ObjectLockConfig:
        return await self._coordinator.object_lock(bucket, principal.user_id)

    async def put_object_lock(
        self, principal: Principal, bucket: str, config: ObjectLockConfig
    ) -> None:
        await self._coordinator.put_object_lock(bucket, principal.user_id, config)

    async def put_object_retention(
        self,
        principal: Principal,
        bucket: str,
        key: str,
        version_id: str | None,
        retention: ObjectRetention,
    ) -> TaggedVersion:
        return await self._coordinator.put_object_retention(
            bucket, key, version_id, principal.user_id, retention
        )

    async def put_object_legal_hold(
        self, principal: Principal, bucket: str, key: str, version_id: str | None, on: bool
    ) -> TaggedVersion:
        return await self._coordinator.put_object_legal_hold(
            bucket, key, version_id, principal.user_id, on
        )

    async def bucket_tags(self, principal: Principal, bucket: str) -> dict[str, str] | None:
        return (await self._coordinator.bucket_tags(bucket, principal.user_id)).tags

    async def put_bucket_tags(
        self, principal: Principal, bucket: str, tags: dict[str, str] | None
    ) -> None:
        await self._coordinator.put_bucket_tags(bucket, principal.user_id, tags)

    async def bucket_ownership(self, principal: Principal, bucket: str) -> str | None:
        return (await self._coordinator.bucket_ownership(bucket, principal.user_id)).ownership

    async def put_bucket_ownership(
        self, principal: Principal, bucket: str, ownership: str | None
    ) -> None:
        await self._coordinator.put_bucket_ownership(bucket, principal.user_id, ownership)

    async def bucket_acl(self, principal: Principal, bucket: str) -> Acl | None:
        return (await self._coordinator.bucket_acl(bucket, principal.user_id)).acl

    async def put_bucket_acl(self, principal: Principal, bucket: str, acl: Acl | None) -> None:
        await self._coordinator.put_bucket_acl(bucket, principal.user_id, acl)

    async def put_object_acl(
        self, principal: Principal, bucket: str, key: str, version_id: str | None, acl: Acl | None
    ) -> TaggedVersion:
        return await self._coordinator.put_object_acl(
            bucket, key, version_id, principal.user_id, acl
        )
