"""``Namespace``: the file-namespace repository (the ``/v1/fs`` routes of ``wormfs.wire.fs``).

Layer: coordinator database package, bundled in ``Repository`` (``db/repo.py``). Each method
checks its paths (``wormfs.wire.fs.check_path``: ``NameTooLongError``, or
``InvalidInputError`` for what is not a path) and runs one operation of ``db/namespace.py``,
``db/namespace_moves.py`` or ``db/namespace_attrs.py`` as exactly one transaction: reads
through ``Database.read``, changes through ``Database.write`` (write gate and fencing). Every
operation checks, in its own transaction, that ``owner_id`` owns the bucket.
"""

from __future__ import annotations

import time

from wormfs.config import CodingConfig
from wormfs.coordinator.db import namespace, namespace_attrs, namespace_moves
from wormfs.coordinator.db.database import Database
from wormfs.errors import InvalidInputError
from wormfs.wire.fs import (
    FsEntry,
    FsEntryList,
    FsStats,
    MakeEntry,
    RemoveEntry,
    RenameEntry,
    SetAttributes,
    SetXattr,
    XattrSet,
    check_path,
)


def checked(bucket: str, path: str) -> str:
    """``path`` if it is a path (see ``wormfs.wire.fs.check_path``)."""
    try:
        check_path(bucket, path)
    except ValueError as bad:
        raise InvalidInputError(str(bad)) from None
    return path


class Namespace:
    def __init__(
        self, db: Database, coding: CodingConfig, gc_delay: float, offline_after: float
    ) -> None:
        self._db = db
        self._coding = coding
        self._gc_delay = gc_delay
        self._offline_after = offline_after

    async def entry(self, bucket: str, owner_id: str, path: str) -> FsEntry:
        checked(bucket, path)
        return await self._db.read(lambda tx: namespace.entry(tx, bucket, owner_id, path))

    async def entries(
        self, bucket: str, owner_id: str, directory: str, token: str | None, limit: int
    ) -> FsEntryList:
        checked(bucket, directory)
        if limit < 1:
            raise InvalidInputError("limit must be at least 1")
        return await self._db.read(
            lambda tx: namespace.entries(tx, bucket, owner_id, directory, token, limit)
        )

    async def mkdir(self, bucket: str, req: MakeEntry) -> FsEntry:
        checked(bucket, req.path)
        profile, gc_delay = self._coding.profile, self._gc_delay
        return await self._db.write(
            lambda tx: namespace.mkdir(tx, bucket, req, profile, time.time(), gc_delay)
        )

    async def create(self, bucket: str, req: MakeEntry) -> FsEntry:
        checked(bucket, req.path)
        profile, gc_delay = self._coding.profile, self._gc_delay
        return await self._db.write(
            lambda tx: namespace.create(tx, bucket, req, profile, time.time(), gc_delay)
        )

    async def remove(self, bucket: str, req: RemoveEntry) -> None:
        checked(bucket, req.path)
        profile, gc_delay = self._coding.profile, self._gc_delay
        await self._db.write(
            lambda tx: namespace.remove(tx, bucket, req, profile, time.time(), gc_delay)
        )

    async def rename(self, bucket: str, req: RenameEntry) -> None:
        checked(bucket, req.source)
        checked(bucket, req.target)
        profile, gc_delay = self._coding.profile, self._gc_delay
        await self._db.write(
            lambda tx: namespace_moves.rename(tx, bucket, req, profile, time.time(), gc_delay)
        )

    async def setattr(self, bucket: str, req: SetAttributes) -> FsEntry:
        checked(bucket, req.path)
        profile = self._coding.profile
        return await self._db.write(
            lambda tx: namespace_attrs.setattr_entry(tx, bucket, req, profile, time.time())
        )

    async def xattrs(self, bucket: str, owner_id: str, path: str) -> XattrSet:
        checked(bucket, path)
        return await self._db.read(lambda tx: namespace_attrs.xattrs_of(tx, bucket, owner_id, path))

    async def set_xattr(self, bucket: str, req: SetXattr) -> None:
        checked(bucket, req.path)
        namespace_attrs.check_xattr(req.name, req.value)
        profile = self._coding.profile
        await self._db.write(
            lambda tx: namespace_attrs.set_xattr(tx, bucket, req, profile, time.time())
        )

    async def remove_xattr(self, bucket: str, owner_id: str, path: str, name: str) -> None:
        checked(bucket, path)
        namespace_attrs.check_xattr(name)
        await self._db.write(
            lambda tx: namespace_attrs.remove_xattr(tx, bucket, owner_id, path, name)
        )

    async def stats(self) -> FsStats:
        profile, offline_after = self._coding.profile, self._offline_after
        return await self._db.read(
            lambda tx: namespace_attrs.stats(tx, profile, time.time(), offline_after)
        )
