"""Clients layer: the file-namespace client of the coordinator (``wormfs.wire.fs`` is the
contract), used by the FUSE mount.

One method per ``/v1/fs`` route, typed with the wire structs, over the coordinator client's
leader discovery (``CoordinatorClient.call``), so requests are signed, follow the leader and
raise the domain error a failure names. Every call acts for ``owner_id``, the user the mount
was started for. Paths travel in the query string or the JSON body, never the URL path.
"""

from __future__ import annotations

from wormfs.clients.coordinator import CoordinatorClient, bucket_segment
from wormfs.wire.fs import (
    FsEntry,
    FsEntryList,
    FsStats,
    MakeEntry,
    PosixAttrs,
    RemoveEntry,
    RenameEntry,
    SetAttributes,
    SetXattr,
    XattrMode,
    XattrSet,
)


class FsClient:
    def __init__(self, coordinator: CoordinatorClient, bucket: str, owner_id: str) -> None:
        self.coordinator = coordinator
        self.bucket = bucket
        self.owner_id = owner_id
        self._base = f"/v1/fs/{bucket_segment(bucket)}"

    async def entry(self, path: str) -> FsEntry:
        return await self.coordinator.call(
            "GET", f"{self._base}/entry", FsEntry, query={"path": path, "owner_id": self.owner_id}
        )

    async def entries(
        self, directory: str, token: str | None = None, limit: int = 1000
    ) -> FsEntryList:
        query = {"dir": directory, "limit": str(limit), "owner_id": self.owner_id}
        if token:
            query["token"] = token
        return await self.coordinator.call("GET", f"{self._base}/entries", FsEntryList, query=query)

    async def mkdir(self, path: str, attrs: PosixAttrs) -> FsEntry:
        body = MakeEntry(path=path, owner_id=self.owner_id, attrs=attrs)
        return await self.coordinator.call("POST", f"{self._base}/mkdir", FsEntry, body=body)

    async def create(
        self, path: str, attrs: PosixAttrs, data: bytes = b"", content_type: str | None = None
    ) -> FsEntry:
        body = MakeEntry(
            path=path, owner_id=self.owner_id, attrs=attrs, data=data, content_type=content_type
        )
        return await self.coordinator.call("POST", f"{self._base}/create", FsEntry, body=body)

    async def setattr(
        self,
        path: str,
        ctime_ns: int,
        *,
        mode: int | None = None,
        uid: int | None = None,
        gid: int | None = None,
        atime_ns: int | None = None,
        mtime_ns: int | None = None,
    ) -> FsEntry:
        body = SetAttributes(
            path=path,
            owner_id=self.owner_id,
            ctime_ns=ctime_ns,
            mode=mode,
            uid=uid,
            gid=gid,
            atime_ns=atime_ns,
            mtime_ns=mtime_ns,
        )
        return await self.coordinator.call("POST", f"{self._base}/setattr", FsEntry, body=body)

    async def remove(self, path: str, directory: bool) -> None:
        body = RemoveEntry(path=path, owner_id=self.owner_id, directory=directory)
        await self.coordinator.http.request("POST", f"{self._base}/remove", body=body)

    async def rename(
        self, source: str, target: str, *, noreplace: bool = False, exchange: bool = False
    ) -> None:
        body = RenameEntry(
            source=source,
            target=target,
            owner_id=self.owner_id,
            noreplace=noreplace,
            exchange=exchange,
        )
        await self.coordinator.http.request("POST", f"{self._base}/rename", body=body)

    async def xattrs(self, path: str) -> XattrSet:
        return await self.coordinator.call(
            "GET", f"{self._base}/xattrs", XattrSet, query={"path": path, "owner_id": self.owner_id}
        )

    async def set_xattr(self, path: str, name: str, value: bytes, mode: XattrMode = "set") -> None:
        body = SetXattr(path=path, owner_id=self.owner_id, name=name, value=value, mode=mode)
        await self.coordinator.http.request("POST", f"{self._base}/xattrs", body=body)

    async def remove_xattr(self, path: str, name: str) -> None:
        await self.coordinator.http.request(
            "DELETE",
            f"{self._base}/xattrs",
            query={"path": path, "name": name, "owner_id": self.owner_id},
        )

    async def stats(self) -> FsStats:
        return await self.coordinator.call("GET", "/v1/fs/stats", FsStats)
