"""Clients layer: the storage-class routes of ``wormfs.wire.profiles`` on the coordinator.

``ProfileClient`` is used by ``wormfs admin profile`` and by tests. Errors are the domain
errors of ``wormfs.internal.http.InternalClient``: an unreachable coordinator is
``UnavailableError``, an error body raises the error it names (``NoSuchProfileError``,
``ProfileInUseError``, ``InvalidStorageClassError``...).
"""

from __future__ import annotations

from wormfs.clients.coordinator import bucket_segment, path_segment
from wormfs.internal.http import InternalClient
from wormfs.wire.profiles import BucketClass, ProfileInfo, ProfileList, ProfileSpec


class ProfileClient:
    """Named profiles and bucket default classes."""

    def __init__(self, http: InternalClient) -> None:
        self.http = http

    async def list(self) -> ProfileList:
        return await self.http.call("GET", "/v1/profiles", ProfileList)

    async def create(self, spec: ProfileSpec) -> ProfileInfo:
        return await self.http.call("POST", "/v1/profiles", ProfileInfo, body=spec)

    async def get(self, name: str) -> ProfileInfo:
        return await self.http.call("GET", f"/v1/profiles/{path_segment(name)}", ProfileInfo)

    async def delete(self, name: str) -> None:
        await self.http.request("DELETE", f"/v1/profiles/{path_segment(name)}")

    async def bucket_class(self, bucket: str) -> BucketClass:
        return await self.http.call(
            "GET", f"/v1/buckets/{bucket_segment(bucket)}/storage-class", BucketClass
        )

    async def set_bucket_class(self, bucket: str, storage_class: str) -> BucketClass:
        return await self.http.call(
            "PUT",
            f"/v1/buckets/{bucket_segment(bucket)}/storage-class",
            BucketClass,
            body=BucketClass(storage_class=storage_class),
        )
