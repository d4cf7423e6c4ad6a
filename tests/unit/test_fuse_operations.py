"""The mount's handlers over in-memory fakes of the namespace and the data plane.

Each test calls the pyfuse3 handlers as the kernel would (lookup before use, forget at the
end) and checks what they answer: attributes, errnos, the bytes a commit stores, the version
it is based on, and the inode table's lookup counts.
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pyfuse3
import pytest
from unit.fuse_fakes import FakeContent, FakeNamespace

from wormfs.errors import UnavailableError
from wormfs.fuse.attributes import Defaults
from wormfs.fuse.errnos import errno_of, guarded
from wormfs.fuse.files import Files
from wormfs.fuse.inodes import ROOT, InodeTable
from wormfs.fuse.operations import Operations

CTX: Any = SimpleNamespace(uid=1000, gid=1000, umask=0o022, pid=1)


class Replies:
    def __init__(self, room: int = 1000) -> None:
        self.room = room
        self.names: list[tuple[bytes, int, int]] = []

    def __call__(
        self, token: Any, name: bytes, attr: pyfuse3.EntryAttributes, next_id: int
    ) -> bool:
        if len(self.names) >= self.room:
            return False
        self.names.append((name, attr.st_ino, next_id))
        return True


class Mount:
    def __init__(self, tmp_path: Path, prefix: str = "", read_only: bool = False) -> None:
        self.ns = FakeNamespace()
        self.content = FakeContent(self.ns)
        self.table = InodeTable()
        self.replies = Replies()
        self.invalidated: list[tuple[int, bytes]] = []
        holder: list[Operations] = []
        self.files = Files(
            self.content, tmp_path / "cache", "bucket", lambda ino: holder[0].key_of(ino)
        )
        self.ops = Operations(
            self.ns,  # type: ignore[arg-type]
            self.files,
            self.table,
            Defaults(uid=7, gid=8, umask=0o027),
            prefix=prefix,
            read_only=read_only,
            reply=self.replies,
            invalidate=lambda parent, name: self.invalidated.append((parent, name)),
        )
        holder.append(self.ops)

    async def lookup(self, path: str) -> pyfuse3.EntryAttributes:
        ino = ROOT
        attr = None
        for part in path.split("/"):
            attr = await self.ops.lookup(ino, part.encode(), CTX)
            ino = attr.st_ino
        assert attr is not None
        return attr

    async def listing(self, path: str = "") -> list[str]:
        ino = (await self.lookup(path)).st_ino if path else ROOT
        fh = await self.ops.opendir(ino, CTX)
        self.replies.names.clear()
        await self.ops.readdir(fh, 0, None)  # type: ignore[arg-type]
        await self.ops.releasedir(fh)
        return [n.decode() for n, _, _ in self.replies.names]


async def fails(code: int, call: Any) -> None:
    with pytest.raises(pyfuse3.FUSEError) as info:
        await call
    assert info.value.errno == code, errno.errorcode.get(info.value.errno)


@pytest.fixture
def mount(tmp_path: Path) -> Mount:
    return Mount(tmp_path)


async def test_errno_table_and_guard() -> None:
    assert errno_of(UnavailableError("down")) == errno.EIO
    assert errno_of(ValueError("x")) is None

    @guarded
    async def broken() -> None:
        raise RuntimeError("a bug")

    await fails(errno.EIO, broken())


async def test_objects_show_with_defaults_and_implicit_dirs(mount: Mount) -> None:
    mount.ns.put("a/b/c.txt", b"hello")
    mount.ns.put("top", b"x" * 10)
    top = await mount.lookup("top")
    assert stat.S_ISREG(top.st_mode) and stat.S_IMODE(top.st_mode) == 0o640
    assert (top.st_uid, top.st_gid, top.st_size, top.st_nlink) == (7, 8, 10, 1)
    a = await mount.lookup("a")
    assert stat.S_ISDIR(a.st_mode) and stat.S_IMODE(a.st_mode) == 0o750 and a.st_nlink == 2
    assert a.st_ino >= 1 << 62  # implicit: a mount-local number
    assert (await mount.lookup("a")).st_ino == a.st_ino
    assert await mount.listing() == [".", "..", "a", "top"]
    assert await mount.listing("a/b") == [".", "..", "c.txt"]
    await fails(errno.ENOENT, mount.lookup("nope"))


async def test_lookup_counts_and_forget(mount: Mount) -> None:
    mount.ns.put("f", b"1")
    ino = (await mount.lookup("f")).st_ino
    await mount.lookup("f")
    await mount.listing()
    assert mount.table.lookups(ino) == 3
    await mount.ops.forget([(ino, 2)])
    assert mount.table.get(ino) is not None
    await mount.ops.forget([(ino, 1)])
    assert mount.table.get(ino) is None


async def test_readdir_resumes_at_offsets_through_pages_and_changes(mount: Mount) -> None:
    for i in range(5):
        mount.ns.put(f"d/f{i}", b"")
    ino = (await mount.lookup("d")).st_ino
    fh = await mount.ops.opendir(ino, CTX)
    mount.replies.room = 4
    await mount.ops.readdir(fh, 0, None)  # type: ignore[arg-type]
    assert [n for n, _, _ in mount.replies.names] == [b".", b"..", b"f0", b"f1"]
    resume = mount.replies.names[-1][2]
    mount.ns.put("d/a-new", b"")  # sorts before everything read so far
    del mount.ns.files["d/f2"]
    mount.replies.names.clear()
    mount.replies.room = 100
    await mount.ops.readdir(fh, resume, None)  # type: ignore[arg-type]
    names = [n for n, _, _ in mount.replies.names]
    assert b"f0" not in names and b"f1" not in names and b"f3" in names and b"f4" in names


async def test_mkdir_rmdir_errnos(mount: Mount) -> None:
    d = await mount.ops.mkdir(ROOT, b"d", 0o755, CTX)
    assert stat.S_ISDIR(d.st_mode) and d.st_uid == 1000
    assert "d" in mount.ns.dirs
    await fails(errno.EEXIST, mount.ops.mkdir(ROOT, b"d", 0o755, CTX))
    fi, attr = await mount.ops.create(d.st_ino, b"f", 0o644, os.O_WRONLY, CTX)
    await mount.ops.release(fi.fh)
    await fails(errno.ENOTEMPTY, mount.ops.rmdir(ROOT, b"d", CTX))
    await fails(errno.ENOTDIR, mount.ops.mkdir(attr.st_ino, b"x", 0o755, CTX))
    await mount.ops.unlink(d.st_ino, b"f", CTX)
    await mount.ops.rmdir(ROOT, b"d", CTX)
    await fails(errno.ENOENT, mount.ops.rmdir(ROOT, b"d", CTX))
    await fails(errno.ENAMETOOLONG, mount.ops.mkdir(ROOT, b"n" * 256, 0o755, CTX))


async def test_create_write_commits_on_flush_with_base_version(mount: Mount) -> None:
    fi, attr = await mount.ops.create(ROOT, b"f", 0o600, os.O_WRONLY, CTX)
    base = mount.ns.files["f"].version_id
    assert await mount.ops.write(fi.fh, 0, b"hello ") == 6
    assert await mount.ops.write(fi.fh, 6, b"world") == 5
    assert (await mount.ops.getattr(attr.st_ino, CTX)).st_size == 11  # the spool's size
    assert mount.ns.files["f"].data == b""
    await mount.ops.flush(fi.fh)
    record = mount.ns.files["f"]
    assert record.data == b"hello world" and record.ino == attr.st_ino
    assert record.version_id != base and stat.S_IMODE(record.attrs.mode) == 0o600
    await mount.ops.flush(fi.fh)  # clean: no second commit
    await mount.ops.release(fi.fh)
    assert mount.content.commits == ["f"]


async def test_partial_write_fetches_old_bytes_and_sparse_extend(mount: Mount) -> None:
    mount.ns.put("f", b"0123456789")
    ino = (await mount.lookup("f")).st_ino
    fi = await mount.ops.open(ino, os.O_RDWR, CTX)
    await mount.ops.write(fi.fh, 2, b"ab")
    await mount.ops.write(fi.fh, 14, b"Z")
    assert await mount.ops.read(fi.fh, 0, 100) == b"01ab456789\0\0\0\0Z"
    await mount.ops.release(fi.fh)
    assert mount.ns.files["f"].data == b"01ab456789\0\0\0\0Z"


async def test_open_flags_trunc_append(mount: Mount) -> None:
    mount.ns.put("f", b"old")
    ino = (await mount.lookup("f")).st_ino
    fi = await mount.ops.open(ino, os.O_WRONLY | os.O_TRUNC, CTX)
    await mount.ops.flush(fi.fh)
    await mount.ops.release(fi.fh)
    assert mount.ns.files["f"].data == b""
    fi = await mount.ops.open(ino, os.O_WRONLY | os.O_APPEND, CTX)
    await mount.ops.write(fi.fh, 0, b"ab")
    await mount.ops.write(fi.fh, 0, b"cd")  # O_APPEND: at the end whatever the offset
    await mount.ops.release(fi.fh)
    assert mount.ns.files["f"].data == b"abcd"


async def test_reads_of_one_open_are_of_one_version(mount: Mount) -> None:
    mount.ns.put("f", b"version one")
    ino = (await mount.lookup("f")).st_ino
    fi = await mount.ops.open(ino, os.O_RDONLY, CTX)
    record = mount.ns.files["f"]
    record.data, record.version_id = b"VERSION TWO", "v2"
    assert await mount.ops.read(fi.fh, 0, 100) == b"version one"
    await mount.ops.release(fi.fh)


async def test_conflict_is_estale_and_keeps_the_bytes(mount: Mount, tmp_path: Path) -> None:
    mount.ns.put("dir/f", b"base")
    ino = (await mount.lookup("dir/f")).st_ino
    fi = await mount.ops.open(ino, os.O_WRONLY | os.O_TRUNC, CTX)
    await mount.ops.write(fi.fh, 0, b"mine")
    mount.ns.files["dir/f"].version_id = "someone-else"  # a concurrent S3 PUT won
    await fails(errno.ESTALE, mount.ops.flush(fi.fh))
    await mount.ops.release(fi.fh)
    kept = list((tmp_path / "cache" / "conflicts" / "bucket" / "dir").iterdir())
    assert [p.read_bytes() for p in kept] == [b"mine"]
    assert kept[0].name.startswith("f.")


async def test_commit_errors_reach_fsync(mount: Mount) -> None:
    fi, _ = await mount.ops.create(ROOT, b"f", 0o644, os.O_WRONLY, CTX)
    await mount.ops.write(fi.fh, 0, b"data")
    mount.content.fail_next = UnavailableError("m+1 nodes down")
    await fails(errno.EIO, mount.ops.fsync(fi.fh, False))
    await mount.ops.fsync(fi.fh, False)  # still dirty: the retry commits
    assert mount.ns.files["f"].data == b"data"
    await mount.ops.release(fi.fh)


def setattr_fields(**changed: bool) -> Any:
    """pyfuse3's SetattrFields as a handler reads them: nothing changed but ``changed``."""
    names = ("size", "mode", "uid", "gid", "atime", "mtime")
    return SimpleNamespace(**{**{f"update_{n}": False for n in names}, **changed})


async def test_truncate_by_path_and_setattr(mount: Mount) -> None:
    mount.ns.put("f", b"0123456789")
    attr = await mount.lookup("f")
    fields = setattr_fields(update_size=True)
    attr.st_size = 4
    out = await mount.ops.setattr(attr.st_ino, attr, fields, None, CTX)
    assert out.st_size == 4 and mount.ns.files["f"].data == b"0123"
    fields = SimpleNamespace(**{**vars(fields), "update_size": False, "update_mode": True})
    fields.update_mtime = True
    attr.st_mode = stat.S_IFREG | 0o600
    attr.st_mtime_ns = 5_000_000_000
    out = await mount.ops.setattr(attr.st_ino, attr, fields, None, CTX)
    assert stat.S_IMODE(out.st_mode) == 0o600 and out.st_mtime_ns == 5_000_000_000
    assert out.st_uid == 7  # the defaults the kernel was shown became the stored owner


async def test_symlink_readlink_and_link_eperm(mount: Mount) -> None:
    attr = await mount.ops.symlink(ROOT, b"l", b"target/path", CTX)
    assert stat.S_ISLNK(attr.st_mode)
    assert await mount.ops.readlink(attr.st_ino, CTX) == b"target/path"
    await fails(errno.EPERM, mount.ops.link(attr.st_ino, ROOT, b"l2", CTX))


async def test_rename_follows_open_files_and_flags(mount: Mount) -> None:
    fi, attr = await mount.ops.create(ROOT, b"a", 0o644, os.O_WRONLY, CTX)
    await mount.ops.write(fi.fh, 0, b"moved")
    await mount.ops.rename(ROOT, b"a", ROOT, b"b", 0, CTX)
    await mount.ops.release(fi.fh)
    assert mount.ns.files["b"].data == b"moved" and "a" not in mount.ns.files
    assert mount.table.path(attr.st_ino) == "b"
    mount.ns.put("c", b"c")
    await fails(
        errno.EEXIST, mount.ops.rename(ROOT, b"b", ROOT, b"c", pyfuse3.RENAME_NOREPLACE, CTX)
    )
    await mount.ops.rename(ROOT, b"b", ROOT, b"c", pyfuse3.RENAME_EXCHANGE, CTX)
    assert mount.ns.files["c"].data == b"moved" and mount.ns.files["b"].data == b"c"
    await mount.ops.mkdir(ROOT, b"d", 0o755, CTX)
    await fails(
        errno.EINVAL, mount.ops.rename(ROOT, b"d", (await mount.lookup("d")).st_ino, b"x", 0, CTX)
    )


async def test_xattrs_user_namespace_only(mount: Mount) -> None:
    mount.ns.put("f", b"")
    ino = (await mount.lookup("f")).st_ino
    await mount.ops.setxattr(ino, b"user.k", b"v", CTX)
    assert await mount.ops.getxattr(ino, b"user.k", CTX) == b"v"
    assert await mount.ops.listxattr(ino, CTX) == [b"user.k"]
    await fails(errno.ENODATA, mount.ops.getxattr(ino, b"user.none", CTX))
    await fails(errno.ENOTSUP, mount.ops.getxattr(ino, b"security.selinux", CTX))
    await mount.ops.removexattr(ino, b"user.k", CTX)
    await fails(errno.ENODATA, mount.ops.removexattr(ino, b"user.k", CTX))


async def test_prefix_and_read_only(tmp_path: Path) -> None:
    mount = Mount(tmp_path, prefix="sub", read_only=True)
    mount.ns.put("sub/f", b"x")
    mount.ns.put("other", b"y")
    assert await mount.listing() == [".", "..", "f"]
    ino = (await mount.lookup("f")).st_ino
    await fails(errno.EROFS, mount.ops.open(ino, os.O_WRONLY, CTX))
    await fails(errno.EROFS, mount.ops.mkdir(ROOT, b"d", 0o755, CTX))
    fi = await mount.ops.open(ino, os.O_RDONLY, CTX)
    assert await mount.ops.read(fi.fh, 0, 10) == b"x"


async def test_statfs(mount: Mount) -> None:
    data = await mount.ops.statfs(CTX)
    assert data.f_blocks * data.f_frsize == 1 << 40 and data.f_namemax == 255


async def test_a_reused_ino_drops_the_kernels_old_name(mount: Mount) -> None:
    old = mount.ns.put("d/old", b"1")
    attr = await mount.lookup("d/old")
    del mount.ns.files["d/old"]  # an S3 DELETE ...
    mount.ns.files["d/new"] = old  # ... and the number given to a new file
    d = await mount.lookup("d")
    assert (await mount.ops.lookup(d.st_ino, b"new", CTX)).st_ino == attr.st_ino
    assert mount.invalidated == [(d.st_ino, b"old")]
    assert mount.table.path(attr.st_ino) == "d/new"


async def test_a_reader_opened_while_writing_reads_the_committed_bytes(mount: Mount) -> None:
    fi, attr = await mount.ops.create(ROOT, b"f", 0o644, os.O_WRONLY, CTX)
    reader = await mount.ops.open(attr.st_ino, os.O_RDONLY, CTX)
    await mount.ops.write(fi.fh, 0, b"fresh")
    assert await mount.ops.read(reader.fh, 0, 10) == b"fresh"  # the spool, while open
    await mount.ops.release(fi.fh)
    assert await mount.ops.read(reader.fh, 0, 10) == b"fresh"  # the committed version
    await mount.ops.release(reader.fh)


async def test_fsync_of_a_read_only_descriptor_commits_the_files_writes(mount: Mount) -> None:
    fi, attr = await mount.ops.create(ROOT, b"f", 0o644, os.O_WRONLY, CTX)
    await mount.ops.write(fi.fh, 0, b"unsaved")
    reader = await mount.ops.open(attr.st_ino, os.O_RDONLY, CTX)
    await mount.ops.flush(reader.fh)  # closing a reader commits nothing of the writer's
    assert mount.ns.files["f"].data == b""
    await mount.ops.fsync(reader.fh, False)
    assert mount.ns.files["f"].data == b"unsaved"
    await mount.ops.release(reader.fh)
    await mount.ops.release(fi.fh)


async def test_directory_attributes_are_reused_within_their_timeout(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import wormfs.fuse.operations as operations

    now = [1000.0]
    monkeypatch.setattr(operations.time, "monotonic", lambda: now[0])
    mount = Mount(tmp_path)
    d = await mount.ops.mkdir(ROOT, b"d", 0o755, CTX)
    await mount.ops.create(d.st_ino, b"f", 0o644, os.O_WRONLY, CTX)
    mount.ns.calls.clear()
    # What the kernel asks after a create in d: answered from the mkdir's entry, for the
    # rest of its timeout only.
    now[0] += 0.4
    attr = await mount.ops.getattr(d.st_ino, CTX)
    assert mount.ns.calls == [] and stat.S_ISDIR(attr.st_mode)
    assert attr.attr_timeout == pytest.approx(0.6)
    # A chmod answers fresh attributes, which are the ones reused then.
    fields = setattr_fields(update_mode=True)
    change = pyfuse3.EntryAttributes()
    change.st_mode = stat.S_IFDIR | 0o700
    await mount.ops.setattr(d.st_ino, change, fields, None, CTX)
    mount.ns.calls.clear()
    assert (await mount.ops.getattr(d.st_ino, CTX)).st_mode & 0o777 == 0o700
    assert mount.ns.calls == []
    # Past the timeout the coordinator is asked again; files are always asked.
    now[0] += 1.0
    await mount.ops.getattr(d.st_ino, CTX)
    assert mount.ns.calls == ["entry d"]
    f = await mount.lookup("d/f")
    mount.ns.calls.clear()
    await mount.ops.getattr(f.st_ino, CTX)
    assert mount.ns.calls == ["entry d/f"]
