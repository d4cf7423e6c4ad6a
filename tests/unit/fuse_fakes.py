"""In-memory fakes of the mount's two peers, for unit tests of ``wormfs.fuse`` only.

``FakeNamespace`` plays ``FsClient`` as ``wormfs.wire.fs`` describes the routes (files are
keys, directories explicit markers or implicit prefixes, a name both ways is the directory);
``FakeContent`` plays ``wormfs.fuse.content.Content`` over the same store (manifests carry the
bytes inline; a commit is conditional on its base version). Integration tests in tests/fuse/
run the real ones.
"""

from __future__ import annotations

import hashlib
import stat
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import msgspec

from wormfs.errors import (
    DirectoryNotEmptyError,
    EntryExistsError,
    InvalidMoveError,
    IsADirectoryEntryError,
    NoSuchAttributeError,
    NoSuchEntryError,
    NoSuchKeyError,
    NotADirectoryEntryError,
    StaleVersionError,
)
from wormfs.format.layout import Profile
from wormfs.ids import new_version_id
from wormfs.wire.coordinator import ObjectAttributes, ObjectManifest
from wormfs.wire.fs import FsEntry, FsEntryList, FsStats, FsWrite, PosixAttrs

PROFILE = Profile(codec="isal_rs_vand", k=4, m=2, stripe_size=1024 * 1024)


@dataclass
class Record:
    ino: int
    attrs: PosixAttrs | None
    data: bytes = b""
    version_id: str = field(default_factory=new_version_id)
    last_modified: float = 1_700_000_000.0
    xattrs: dict[str, bytes] = field(default_factory=dict)


def _parent(path: str) -> str:
    return path.rpartition("/")[0]


def _below(path: str, root: str) -> bool:
    return path == root or path.startswith(root + "/")


class FakeNamespace:
    bucket = "bucket"
    owner_id = "owner"

    def __init__(self) -> None:
        self.files: dict[str, Record] = {}
        self.dirs: dict[str, Record] = {}  # explicit markers
        self._ino = 2
        self.calls: list[str] = []

    def _new_ino(self) -> int:
        self._ino += 1
        return self._ino

    # ---- helpers for tests --------------------------------------------------------------------
    def put(self, key: str, data: bytes) -> Record:
        """What an S3 PUT does: a new file (new ino) at ``key``, no POSIX attributes."""
        record = Record(self._new_ino(), None, data)
        self.files[key] = record
        return record

    def _is_dir(self, path: str) -> bool:
        if path == "" or path in self.dirs:
            return True
        return any(k.startswith(path + "/") for k in [*self.files, *self.dirs])

    def _entry(self, path: str) -> FsEntry:
        name = path.rpartition("/")[2]
        if self._is_dir(path):
            marker = self.dirs.get(path)
            return FsEntry(
                path=path,
                name=name,
                ino=marker.ino if marker else 0,
                kind="dir",
                size=0,
                nlink=2,
                last_modified=marker.last_modified if marker else 0.0,
                attrs=marker.attrs if marker else None,
                version_id=marker.version_id if marker else None,
            )
        record = self.files.get(path)
        if record is None:
            raise NoSuchEntryError(bucket=self.bucket, key=path)
        return FsEntry(
            path=path,
            name=name,
            ino=record.ino,
            kind="file",
            size=len(record.data),
            nlink=1,
            last_modified=record.last_modified,
            attrs=record.attrs,
            version_id=record.version_id,
            etag=hashlib.md5(record.data).hexdigest(),
        )

    def _check_parent(self, path: str) -> None:
        parent = _parent(path)
        if parent in self.files:
            raise NotADirectoryEntryError(bucket=self.bucket, key=parent)
        if not self._is_dir(parent):
            raise NoSuchEntryError(bucket=self.bucket, key=parent)
        if path in self.files or self._is_dir(path):
            raise EntryExistsError(bucket=self.bucket, key=path)

    # ---- FsClient -----------------------------------------------------------------------------
    async def entry(self, path: str) -> FsEntry:
        self.calls.append(f"entry {path}")
        return self._entry(path)

    async def entries(
        self, directory: str, token: str | None = None, limit: int = 1000
    ) -> FsEntryList:
        self.calls.append(f"entries {directory} {token}")
        if not self._is_dir(directory):
            raise NoSuchEntryError(bucket=self.bucket, key=directory)
        base = directory + "/" if directory else ""
        names = sorted(
            {k[len(base) :].split("/")[0] for k in [*self.files, *self.dirs] if k.startswith(base)}
        )
        names = [n for n in names if n and (token is None or n > token)]
        page = names[:limit]
        more = len(names) > limit
        return FsEntryList(
            entries=[self._entry(base + n) for n in page],
            next_token=page[-1] if more else None,
        )

    async def mkdir(self, path: str, attrs: PosixAttrs) -> FsEntry:
        self._check_parent(path)
        self.dirs[path] = Record(self._new_ino(), attrs)
        return self._entry(path)

    async def create(
        self, path: str, attrs: PosixAttrs, data: bytes = b"", content_type: str | None = None
    ) -> FsEntry:
        self._check_parent(path)
        self.files[path] = Record(self._new_ino(), attrs, data)
        return self._entry(path)

    async def setattr(self, path: str, ctime_ns: int, **changes: int | None) -> FsEntry:
        entry = self._entry(path)
        if entry.kind == "dir" and path not in self.dirs:
            self.dirs[path] = Record(self._new_ino(), None)
        record = self.dirs.get(path) or self.files[path]
        base = record.attrs or PosixAttrs(
            mode=(stat.S_IFDIR | 0o755) if entry.kind == "dir" else (stat.S_IFREG | 0o644),
            uid=0,
            gid=0,
            atime_ns=0,
            mtime_ns=0,
            ctime_ns=0,
        )
        given = {k: v for k, v in changes.items() if v is not None}
        if "mode" in given:
            given["mode"] = stat.S_IFMT(base.mode) | given["mode"]
        record.attrs = msgspec.structs.replace(base, ctime_ns=ctime_ns, **given)
        return self._entry(path)

    async def remove(self, path: str, directory: bool) -> None:
        entry = self._entry(path)
        if directory:
            if entry.kind != "dir":
                raise NotADirectoryEntryError(bucket=self.bucket, key=path)
            if any(k.startswith(path + "/") for k in [*self.files, *self.dirs]):
                raise DirectoryNotEmptyError(bucket=self.bucket, key=path)
            self.dirs.pop(path, None)
        else:
            if entry.kind == "dir":
                raise IsADirectoryEntryError(bucket=self.bucket, key=path)
            del self.files[path]

    def _take(self, path: str) -> dict[str, tuple[bool, Record]]:
        taken: dict[str, tuple[bool, Record]] = {}
        for table, is_file in ((self.files, True), (self.dirs, False)):
            for key in [k for k in table if _below(k, path)]:
                taken[key[len(path) :]] = (is_file, table.pop(key))
        return taken

    def _place(self, path: str, taken: dict[str, tuple[bool, Record]]) -> None:
        for rest, (is_file, record) in taken.items():
            (self.files if is_file else self.dirs)[path + rest] = record

    async def rename(
        self, source: str, target: str, *, noreplace: bool = False, exchange: bool = False
    ) -> None:
        src = self._entry(source)
        if _below(target, source) and target != source:
            raise InvalidMoveError(bucket=self.bucket, key=target)
        exists = target in self.files or self._is_dir(target)
        if exchange:
            if not exists:
                raise NoSuchEntryError(bucket=self.bucket, key=target)
            a, b = self._take(source), self._take(target)
            self._place(target, a)
            self._place(source, b)
            return
        if exists:
            if noreplace:
                raise EntryExistsError(bucket=self.bucket, key=target)
            dst = self._entry(target)
            if dst.kind == "dir" and src.kind != "dir":
                raise IsADirectoryEntryError(bucket=self.bucket, key=target)
            if dst.kind != "dir" and src.kind == "dir":
                raise NotADirectoryEntryError(bucket=self.bucket, key=target)
            if dst.kind == "dir" and any(
                k.startswith(target + "/") for k in [*self.files, *self.dirs]
            ):
                raise DirectoryNotEmptyError(bucket=self.bucket, key=target)
            self._take(target)
        else:
            self._check_parent(target)
        self._place(target, self._take(source))

    def _record(self, path: str) -> Record:
        record = self.files.get(path) or self.dirs.get(path)
        if record is None:
            raise NoSuchEntryError(bucket=self.bucket, key=path)
        return record

    async def xattrs(self, path: str) -> msgspec.Struct:
        from wormfs.wire.fs import XattrSet

        return XattrSet(values=dict(self._record(path).xattrs))

    async def set_xattr(self, path: str, name: str, value: bytes, mode: str = "set") -> None:
        self._record(path).xattrs[name] = value

    async def remove_xattr(self, path: str, name: str) -> None:
        record = self._record(path)
        if name not in record.xattrs:
            raise NoSuchAttributeError(bucket=self.bucket, key=path)
        del record.xattrs[name]

    async def stats(self) -> FsStats:
        return FsStats(capacity_bytes=1 << 40, free_bytes=1 << 39, files=len(self.files))

    # ---- the content side (what a commit or a manifest read does) ----------------------------
    def manifest_of(self, key: str, version_id: str | None) -> ObjectManifest:
        record = self.files.get(key)
        if record is None or (version_id is not None and record.version_id != version_id):
            raise NoSuchKeyError(bucket=self.bucket, key=key, version_id=version_id)
        return ObjectManifest(
            bucket=self.bucket,
            key=key,
            version_id=record.version_id,
            owner_id=self.owner_id,
            size=len(record.data),
            etag=f'"{hashlib.md5(record.data).hexdigest()}"',
            last_modified=record.last_modified,
            profile=PROFILE,
            parts=[],
            inline=record.data,
        )

    def commit(self, key: str, data: bytes, fs: FsWrite) -> ObjectManifest:
        record = self.files.get(key)
        current = record.version_id if record is not None else None
        if current != fs.base_version_id or (record is not None and record.ino != fs.ino):
            raise StaleVersionError(bucket=self.bucket, key=key)
        self.files[key] = Record(fs.ino, fs.attrs, data, xattrs=record.xattrs if record else {})
        return self.manifest_of(key, None)


class FakeContent:
    def __init__(self, namespace: FakeNamespace) -> None:
        self.namespace = namespace
        self.commits: list[str] = []
        self.fail_next: Exception | None = None

    async def manifest(self, key: str, version_id: str | None) -> ObjectManifest:
        return self.namespace.manifest_of(key, version_id)

    async def read(self, manifest: ObjectManifest, start: int, end: int) -> bytes:
        assert manifest.inline is not None
        return manifest.inline[start:end]

    async def stream(self, manifest: ObjectManifest, start: int, end: int) -> AsyncIterator[bytes]:
        yield await self.read(manifest, start, end)

    async def commit(
        self, key: str, spool: object, fs: FsWrite, attributes: ObjectAttributes
    ) -> ObjectManifest:
        if self.fail_next is not None:
            error, self.fail_next = self.fail_next, None
            raise error
        data = await spool.read_all()  # type: ignore[attr-defined]
        self.commits.append(key)
        return self.namespace.commit(key, data, fs)
