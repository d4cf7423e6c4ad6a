"""The pyfuse3 handlers: POSIX requests from the kernel as coordinator transactions and data.

Layer: fuse, over ``FsClient`` (namespace, ``wormfs.wire.fs``), ``Files`` (file bytes) and
``InodeTable``. Contract: every handler is ``guarded`` (any failure answers an errno, see
``wormfs.fuse.errnos``); a namespace change (create, mkdir, mknod, symlink, unlink, rmdir,
rename, setattr, xattrs) is one coordinator request that has committed when the handler
answers. Paths are relative to the mount's root; ``key`` adds the mount's prefix.

Not in this round: ``link`` answers EPERM (hard links come with the coordinator's inode
split); a read-only mount answers EROFS to every change. ``access`` is left to the kernel
(``default_permissions``), and so are flock/fcntl locks (local to this mount).
"""

from __future__ import annotations

import errno
import logging
import os
import stat
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import cast

import msgspec
import pyfuse3

from wormfs.clients.fs import FsClient
from wormfs.fuse.attributes import Defaults, entry_attributes, now_ns, of_entry, posix_of
from wormfs.fuse.errnos import guarded
from wormfs.fuse.files import Files
from wormfs.fuse.inodes import ROOT, InodeTable, child_path, parent_path
from wormfs.wire.fs import FsEntry, PosixAttrs, check_path

log = logging.getLogger(__name__)

PAGE = 1000  # entries asked per directory page
XATTR_NAMESPACE = "user."  # the only namespace stored; others answer ENOTSUP
STATFS_BLOCK = 4096
FREE_INODES = 1 << 32  # inodes are not a limited resource: report plenty

ReaddirReply = Callable[[pyfuse3.ReaddirToken, bytes, pyfuse3.EntryAttributes, int], bool]


def _fail(code: int) -> pyfuse3.FUSEError:
    return pyfuse3.FUSEError(code)


def _invalidate_entry(parent: int, name: bytes) -> None:
    # Asynchronous: pyfuse3's notifier thread tells the kernel (a synchronous call from a
    # handler can deadlock against the request being answered).
    pyfuse3.invalidate_entry_async(parent, name, ignore_enoent=True)


@dataclass
class DirHandle:
    """One open directory: the entries read so far (ordinals are stable offsets)."""

    ino: int
    path: str
    entries: list[FsEntry] = field(default_factory=list)
    token: str | None = None
    done: bool = False


class Operations(pyfuse3.Operations):
    supports_dot_lookup = True
    enable_writeback_cache = False

    def __init__(
        self,
        fs: FsClient,
        files: Files,
        table: InodeTable,
        defaults: Defaults,
        prefix: str = "",
        read_only: bool = False,
        reply: ReaddirReply | None = None,
        invalidate: Callable[[int, bytes], None] | None = None,
    ) -> None:
        """``reply`` and ``invalidate`` are pyfuse3's ``readdir_reply`` and a call of
        ``invalidate_entry_async`` unless given (unit tests run without a kernel)."""
        super().__init__()
        self.fs = fs
        self.files = files
        self.table = table
        self.defaults = defaults
        self.prefix = prefix.strip("/")
        self.read_only = read_only
        self._reply: ReaddirReply = reply or pyfuse3.readdir_reply
        self._invalidate = invalidate or _invalidate_entry
        self._last: dict[int, FsEntry] = {}  # the last entry seen per known ino
        self._fetched: dict[int, float] = {}  # when it came from the coordinator (monotonic)
        self._dirs: dict[int, DirHandle] = {}
        self._next_dir = 1
        # Called once the kernel's INIT is answered (the mount raises its read-ahead then).
        self.on_init: Callable[[], None] | None = None

    def init(self) -> None:
        # Must never raise (pyfuse3 has no request to answer here).
        try:
            if self.on_init is not None:
                self.on_init()
        except Exception:
            log.exception("init failed")

    # ---- paths and attributes -----------------------------------------------------------------
    def key(self, path: str) -> str:
        """The bucket path of a mount path (the prefix prepended)."""
        if not self.prefix:
            return path
        return f"{self.prefix}/{path}" if path else self.prefix

    def key_of(self, ino: int) -> str | None:
        path = self.table.path(ino)
        return None if path is None else self.key(path)

    def _path(self, ino: int) -> str:
        path = self.table.path(ino)
        if path is None:
            raise _fail(errno.ENOENT)
        return path

    def _child(self, parent: int, name: bytes) -> str:
        try:
            text = name.decode("utf-8")
        except UnicodeDecodeError:
            raise _fail(errno.EILSEQ) from None
        path = child_path(self._path(parent), text)
        check_path(self.fs.bucket, self.key(path))
        return path

    def _writable(self) -> None:
        if self.read_only:
            raise _fail(errno.EROFS)

    def _attrs(self, ino: int, entry: FsEntry, fresh: bool = True) -> pyfuse3.EntryAttributes:
        """What the kernel sees: the entry, with an open writer's size and times over it.
        ``fresh``: the entry is the coordinator's answer of now (else the last one seen)."""
        self._last[ino] = entry
        if fresh:
            self._fetched[ino] = time.monotonic()
        state = self.files.state(ino)
        if state is not None:
            return entry_attributes(
                ino, state.attrs, state.size, max(entry.nlink, 1), self.defaults
            )
        return of_entry(ino, entry, self.defaults)

    async def _entry(self, path: str) -> FsEntry:
        return await self.fs.entry(self.key(path))

    def _made(self, path: str, entry: FsEntry) -> pyfuse3.EntryAttributes:
        ino = self.table.number(entry.ino, path)
        self._learn(ino, path)
        return self._attrs(ino, entry)

    def _learn(self, ino: int, path: str) -> None:
        """Count a reference the kernel took. An ino the kernel knows under another name now
        names this path (moved by someone else, or the number of a file deleted through S3
        given to a new one): the kernel's entry for the old name is dropped, so it cannot
        reach this file by it."""
        old = self.table.path(ino)
        if old is not None and old != path and ino != ROOT:
            parent = self.table.find(parent_path(old)) if "/" in old else ROOT
            self._invalidate(parent, old.rpartition("/")[2].encode("utf-8"))
        self.table.learn(ino, path)

    def _new_attrs(self, mode: int, ctx: pyfuse3.RequestContext, rdev: int = 0) -> PosixAttrs:
        ns = now_ns()
        return PosixAttrs(
            mode=mode, uid=ctx.uid, gid=ctx.gid, atime_ns=ns, mtime_ns=ns, ctime_ns=ns, rdev=rdev
        )

    # ---- lookups and attributes ---------------------------------------------------------------
    @guarded
    async def lookup(
        self, parent_inode: int, name: bytes, ctx: pyfuse3.RequestContext
    ) -> pyfuse3.EntryAttributes:
        if name == b".":
            path = self._path(parent_inode)
        elif name == b"..":
            path = parent_path(self._path(parent_inode))
        else:
            path = self._child(parent_inode, name)
        return self._made(path, await self._entry(path))

    async def forget(self, inode_list: Sequence[tuple[int, int]]) -> None:
        # Must never raise (pyfuse3 has no request to answer here).
        try:
            for ino, count in inode_list:
                self.table.forget(ino, count)
                if self.table.get(ino) is None:
                    self._last.pop(ino, None)
                    self._fetched.pop(ino, None)
        except Exception:
            log.exception("forget failed")

    @guarded
    async def getattr(self, inode: int, ctx: pyfuse3.RequestContext) -> pyfuse3.EntryAttributes:
        node = self.table.get(inode)
        if node is None:
            raise _fail(errno.ENOENT)
        if node.path is None:
            # Unlinked but still open (or known): its last attributes.
            last = self._last.get(inode)
            if last is None:
                raise _fail(errno.ENOENT)
            return self._attrs(inode, last, fresh=False)
        cached = self._recent_directory(inode)
        if cached is not None:
            return cached
        entry = await self._entry(node.path)
        if inode != ROOT and not node.implicit and entry.ino != inode:
            if self.files.state(inode) is not None and inode in self._last:
                return self._attrs(inode, self._last[inode], fresh=False)
            # The name now belongs to another file (an S3 PUT, another mount): the kernel
            # looks the path up again on ESTALE.
            raise _fail(errno.ESTALE)
        return self._attrs(inode, entry)

    def _recent_directory(self, inode: int) -> pyfuse3.EntryAttributes | None:
        """A directory's attributes seen less than the attribute timeout ago, for that long.

        The kernel asks for a directory's attributes again after every create, unlink or
        rename in it (it invalidates them, and ``default_permissions`` needs them for the next
        lookup), but those leave the directory's own attributes as they were: they change by
        setattr (which answers fresh ones, kept here) or elsewhere (S3, other mounts), which
        the kernel's own cache would show no sooner. So the answer is the last one, good for
        what is left of its timeout: never older than the timeout, as the kernel's cache."""
        last = self._last.get(inode)
        if last is None or last.kind != "dir":
            return None
        left = self.defaults.attr_timeout - (time.monotonic() - self._fetched.get(inode, -1e18))
        if left <= 0:
            return None
        attr = self._attrs(inode, last, fresh=False)
        attr.attr_timeout = left
        attr.entry_timeout = min(attr.entry_timeout, left)
        return attr

    @guarded
    async def setattr(
        self,
        inode: int,
        attr: pyfuse3.EntryAttributes,
        fields: pyfuse3.SetattrFields,
        fh: int | None,
        ctx: pyfuse3.RequestContext,
    ) -> pyfuse3.EntryAttributes:
        self._writable()
        path = self._path(inode)
        entry = await self._entry(path)
        if fields.update_size:
            await self._resize(inode, path, entry, attr.st_size)
        changes: dict[str, int] = {}
        if fields.update_mode:
            changes["mode"] = attr.st_mode & 0o7777
        if fields.update_uid:
            changes["uid"] = attr.st_uid
        if fields.update_gid:
            changes["gid"] = attr.st_gid
        if fields.update_atime:
            changes["atime_ns"] = attr.st_atime_ns
        if fields.update_mtime:
            changes["mtime_ns"] = attr.st_mtime_ns
        if changes:
            entry = await self._set(inode, path, entry, changes)
        elif fields.update_size:
            entry = await self._entry(path)
        return self._attrs(inode, entry)

    async def _set(self, inode: int, path: str, entry: FsEntry, changes: dict[str, int]) -> FsEntry:
        ctime = now_ns()
        current = posix_of(entry, self.defaults)
        if entry.attrs is None:
            # Nothing stored yet: store the defaults the kernel was shown, with the change.
            changes = {
                "mode": current.mode & 0o7777,
                "uid": current.uid,
                "gid": current.gid,
                "atime_ns": current.atime_ns,
                "mtime_ns": current.mtime_ns,
                **changes,
            }
        updated = await self.fs.setattr(self.key(path), ctime, **changes)
        state = self.files.state(inode)
        if state is not None:
            mode = changes.get("mode")
            merged = {k: v for k, v in changes.items() if k != "mode"}
            if mode is not None:
                merged["mode"] = stat.S_IFMT(state.attrs.mode) | mode
            state.attrs = msgspec.structs.replace(state.attrs, ctime_ns=ctime, **merged)
        return updated

    async def _resize(self, inode: int, path: str, entry: FsEntry, size: int) -> None:
        if entry.kind == "dir":
            raise _fail(errno.EISDIR)
        state = self.files.state(inode)
        if state is not None:
            await self.files.truncate(state, size)
            return
        # truncate(2) by path with no open file: a change committed at once.
        fresh = await self._entry(path)
        temporary = await self.files.temporary(
            inode, self.key(path), fresh, posix_of(fresh, self.defaults)
        )
        try:
            await self.files.truncate(temporary, size)
            await self.files.commit(temporary)
        finally:
            await self.files.done_temporary(temporary)

    @guarded
    async def readlink(self, inode: int, ctx: pyfuse3.RequestContext) -> bytes:
        entry = await self._entry(self._path(inode))
        if entry.attrs is None or not stat.S_ISLNK(entry.attrs.mode):
            raise _fail(errno.EINVAL)
        content = self.files.content
        manifest = await content.manifest(entry.path, entry.version_id)
        return await content.read(manifest, 0, manifest.size)

    # ---- making and removing names ------------------------------------------------------------
    @guarded
    async def mknod(
        self, parent_inode: int, name: bytes, mode: int, rdev: int, ctx: pyfuse3.RequestContext
    ) -> pyfuse3.EntryAttributes:
        self._writable()
        path = self._child(parent_inode, name)
        attrs = self._new_attrs(mode & ~ctx.umask, ctx, rdev)
        return self._made(path, await self.fs.create(self.key(path), attrs))

    @guarded
    async def mkdir(
        self, parent_inode: int, name: bytes, mode: int, ctx: pyfuse3.RequestContext
    ) -> pyfuse3.EntryAttributes:
        self._writable()
        path = self._child(parent_inode, name)
        attrs = self._new_attrs(stat.S_IFDIR | (mode & 0o7777 & ~ctx.umask), ctx)
        return self._made(path, await self.fs.mkdir(self.key(path), attrs))

    @guarded
    async def symlink(
        self, parent_inode: int, name: bytes, target: bytes, ctx: pyfuse3.RequestContext
    ) -> pyfuse3.EntryAttributes:
        self._writable()
        path = self._child(parent_inode, name)
        attrs = self._new_attrs(stat.S_IFLNK | 0o777, ctx)
        return self._made(path, await self.fs.create(self.key(path), attrs, data=target))

    @guarded
    async def unlink(self, parent_inode: int, name: bytes, ctx: pyfuse3.RequestContext) -> None:
        await self._remove(parent_inode, name, directory=False)

    @guarded
    async def rmdir(self, parent_inode: int, name: bytes, ctx: pyfuse3.RequestContext) -> None:
        await self._remove(parent_inode, name, directory=True)

    async def _remove(self, parent_inode: int, name: bytes, directory: bool) -> None:
        self._writable()
        path = self._child(parent_inode, name)
        await self.fs.remove(self.key(path), directory=directory)
        self.table.unlinked(path)

    @guarded
    async def rename(
        self,
        parent_inode_old: int,
        name_old: bytes,
        parent_inode_new: int,
        name_new: bytes,
        flags: int,
        ctx: pyfuse3.RequestContext,
    ) -> None:
        self._writable()
        source = self._child(parent_inode_old, name_old)
        target = self._child(parent_inode_new, name_new)
        exchange = bool(flags & pyfuse3.RENAME_EXCHANGE)
        await self.fs.rename(
            self.key(source),
            self.key(target),
            noreplace=bool(flags & pyfuse3.RENAME_NOREPLACE),
            exchange=exchange,
        )
        if exchange:
            self.table.exchanged(source, target)
        else:
            self.table.moved(source, target)

    @guarded
    async def link(
        self, inode: int, new_parent_inode: int, new_name: bytes, ctx: pyfuse3.RequestContext
    ) -> pyfuse3.EntryAttributes:
        self._writable()
        raise _fail(errno.EPERM)  # hard links: not yet (docs/fuse.md)

    # ---- files --------------------------------------------------------------------------------
    def _file_info(self, fh: int) -> pyfuse3.FileInfo:
        # keep_cache off: each open starts from the current version (close-to-open).
        return pyfuse3.FileInfo(fh=fh, keep_cache=False)

    @guarded
    async def open(self, inode: int, flags: int, ctx: pyfuse3.RequestContext) -> pyfuse3.FileInfo:
        writes = (flags & os.O_ACCMODE) != os.O_RDONLY or bool(flags & os.O_TRUNC)
        if writes:
            self._writable()
        path = self._path(inode)
        entry = await self._entry(path)
        if entry.kind == "dir":
            raise _fail(errno.EISDIR)
        if entry.ino != inode:
            raise _fail(errno.ESTALE)  # replaced since the kernel looked it up: look again
        state = self.files.state(inode)
        attrs = state.attrs if state is not None else posix_of(entry, self.defaults)
        self._last[inode] = entry
        fh = await self.files.open(inode, self.key(path), entry, attrs, flags)
        return self._file_info(fh)

    @guarded
    async def create(
        self, parent_inode: int, name: bytes, mode: int, flags: int, ctx: pyfuse3.RequestContext
    ) -> tuple[pyfuse3.FileInfo, pyfuse3.EntryAttributes]:
        self._writable()
        path = self._child(parent_inode, name)
        attrs = self._new_attrs(stat.S_IFREG | (mode & 0o7777 & ~ctx.umask), ctx)
        entry = await self.fs.create(self.key(path), attrs)
        ino = self.table.number(entry.ino, path)
        fh = await self.files.open(ino, self.key(path), entry, attrs, flags & ~os.O_TRUNC)
        self._learn(ino, path)
        return self._file_info(fh), self._attrs(ino, entry)

    @guarded
    async def read(self, fh: int, off: int, size: int) -> bytes:
        # pyfuse3 replies with any contiguous buffer: a view of a cached window is not copied.
        return cast(bytes, await self.files.read(fh, off, size))

    @guarded
    async def write(self, fh: int, off: int, buf: bytes) -> int:
        return await self.files.write(fh, off, buf)

    @guarded
    async def flush(self, fh: int) -> None:
        await self.files.flush(fh)

    @guarded
    async def fsync(self, fh: int, datasync: bool) -> None:
        await self.files.sync(fh)

    @guarded
    async def release(self, fh: int) -> None:
        await self.files.release(fh)

    # ---- directories --------------------------------------------------------------------------
    @guarded
    async def opendir(self, inode: int, ctx: pyfuse3.RequestContext) -> int:
        path = self._path(inode)
        fh = self._next_dir
        self._next_dir += 1
        self._dirs[fh] = DirHandle(inode, path)
        return fh

    @guarded
    async def readdir(self, fh: int, start_id: int, token: pyfuse3.ReaddirToken) -> None:
        handle = self._dirs[fh]
        # Offsets: 1 after ".", 2 after "..", 2 + n after the n-th entry of this handle's
        # listing, which only grows (pages are appended in key order), so an offset names the
        # same place however the directory changes meanwhile.
        position = start_id
        while True:
            if position < 2:
                name = b"." if position == 0 else b".."
                # The kernel makes no dentries of these; only st_ino and the type matter.
                if position == 0:
                    ino = handle.ino
                else:
                    ino = self.table.find(parent_path(handle.path)) if handle.path else ROOT
                attr = self._dot_attrs(ino)
                if not self._reply(token, name, attr, position + 1):
                    return
                position += 1
                continue
            index = position - 2
            while index >= len(handle.entries) and not handle.done:
                await self._next_page(handle)
            if index >= len(handle.entries):
                return
            entry = handle.entries[index]
            child = child_path(handle.path, entry.name)
            ino = self.table.number(entry.ino, child)
            attr = self._attrs(ino, entry)
            if not self._reply(token, entry.name.encode("utf-8"), attr, position + 1):
                return
            self._learn(ino, child)
            position += 1

    def _dot_attrs(self, ino: int) -> pyfuse3.EntryAttributes:
        attr = pyfuse3.EntryAttributes()
        attr.st_ino = ino
        attr.st_mode = stat.S_IFDIR | 0o755
        return attr

    async def _next_page(self, handle: DirHandle) -> None:
        page = await self.fs.entries(self.key(handle.path), token=handle.token, limit=PAGE)
        handle.entries.extend(page.entries)
        handle.token = page.next_token
        handle.done = page.next_token is None

    @guarded
    async def releasedir(self, fh: int) -> None:
        self._dirs.pop(fh, None)

    @guarded
    async def fsyncdir(self, fh: int, datasync: bool) -> None:
        return None  # every namespace change is committed before its handler answers

    @guarded
    async def statfs(self, ctx: pyfuse3.RequestContext) -> pyfuse3.StatvfsData:
        stats = await self.fs.stats()
        data = pyfuse3.StatvfsData()
        data.f_bsize = STATFS_BLOCK
        data.f_frsize = STATFS_BLOCK
        data.f_blocks = stats.capacity_bytes // STATFS_BLOCK
        data.f_bfree = stats.free_bytes // STATFS_BLOCK
        data.f_bavail = stats.free_bytes // STATFS_BLOCK
        data.f_files = stats.files + FREE_INODES
        data.f_ffree = FREE_INODES
        data.f_favail = FREE_INODES
        data.f_namemax = 255
        return data

    # ---- extended attributes ------------------------------------------------------------------
    @staticmethod
    def _xattr_name(name: bytes) -> str:
        text = name.decode("utf-8", "surrogateescape")
        if not text.startswith(XATTR_NAMESPACE):
            raise _fail(errno.ENOTSUP)
        return text

    def _xattr_key(self, inode: int, changing: bool) -> str | None:
        """The key whose xattrs ``inode`` has; None for the bucket's root, which has none."""
        if changing:
            self._writable()
        key = self.key(self._path(inode))
        if key == "" and changing:
            raise _fail(errno.ENOTSUP)
        return key or None

    async def _xattrs(self, inode: int) -> dict[str, bytes]:
        key = self._xattr_key(inode, changing=False)
        return {} if key is None else (await self.fs.xattrs(key)).values

    @guarded
    async def getxattr(self, inode: int, name: bytes, ctx: pyfuse3.RequestContext) -> bytes:
        wanted = self._xattr_name(name)
        values = await self._xattrs(inode)
        if wanted not in values:
            raise _fail(errno.ENODATA)
        return values[wanted]

    @guarded
    async def listxattr(self, inode: int, ctx: pyfuse3.RequestContext) -> list[bytes]:
        values = await self._xattrs(inode)
        return [n.encode("utf-8", "surrogateescape") for n in sorted(values)]

    @guarded
    async def setxattr(
        self, inode: int, name: bytes, value: bytes, ctx: pyfuse3.RequestContext
    ) -> None:
        wanted = self._xattr_name(name)
        key = self._xattr_key(inode, changing=True)
        assert key is not None
        await self.fs.set_xattr(key, wanted, value)

    @guarded
    async def removexattr(self, inode: int, name: bytes, ctx: pyfuse3.RequestContext) -> None:
        wanted = self._xattr_name(name)
        key = self._xattr_key(inode, changing=True)
        assert key is not None
        await self.fs.remove_xattr(key, wanted)
