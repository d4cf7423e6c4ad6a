"""The file namespace (``/v1/fs``, ``wormfs.wire.fs``) through the real coordinator over HTTP
with the real ``FsClient``, on SQLite and PostgreSQL: look-ups and directory pages over S3
objects and implicit directories, mkdir/create/remove with every error, writes of the mount
(``FsWrite``) with their base-version check and stable inode numbers, the POSIX <-> S3
metadata projection both ways, setattr, rename (files, whole directories, exchange), xattrs
and stats."""

from __future__ import annotations

import asyncio
import hashlib
import stat
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest
from component.coordinator_harness import (
    GIB,
    Running,
    make_bucket,
    make_config,
    put,
    register,
    running,
)
from sqlalchemy import func, insert, select

from wormfs.clients.fs import FsClient
from wormfs.coordinator.db.tables import inodes, objects
from wormfs.coordinator.db.tx import Tx
from wormfs.errors import (
    AccessDeniedError,
    AttributeExistsError,
    DirectoryNotEmptyError,
    EntryExistsError,
    InvalidInputError,
    InvalidMoveError,
    IsADirectoryEntryError,
    NameTooLongError,
    NoSuchAttributeError,
    NoSuchBucketError,
    NoSuchEntryError,
    NotADirectoryEntryError,
    ObjectLockedError,
    StaleVersionError,
)
from wormfs.wire.coordinator import (
    ObjectAttributes,
    ObjectLockConfig,
    ObjectManifest,
    PutInline,
)
from wormfs.wire.fs import DIRECTORY_TYPE, FsEntry, FsWrite, PosixAttrs

pytestmark = pytest.mark.timeout(90)

OWNER = "owner-a"
T = 1_700_000_000_123_456_789


def attrs(mode: int = stat.S_IFREG | 0o640, t: int = T, uid: int = 1000, **kw: int) -> PosixAttrs:
    return PosixAttrs(
        mode=mode, uid=uid, gid=kw.pop("gid", 100), atime_ns=t, mtime_ns=t, ctime_ns=t, **kw
    )


DIR = attrs(stat.S_IFDIR | 0o750)


@dataclass
class Fs:
    r: Running
    fs: FsClient

    async def put(
        self,
        key: str,
        data: bytes = b"x",
        meta: dict[str, str] | None = None,
        fs: FsWrite | None = None,
    ) -> ObjectManifest:
        """An inline PUT as the gateway makes it (with ``fs``: as the mount does)."""
        return await self.r.client.put_inline(
            PutInline(
                bucket="bkt",
                key=key,
                owner_id=OWNER,
                size=len(data),
                etag='"' + hashlib.md5(data).hexdigest() + '"',
                data=data,
                attributes=ObjectAttributes(user_metadata=meta or {}),
                fs=fs,
            )
        )

    async def names(self, directory: str = "", limit: int = 1000) -> list[str]:
        out: list[str] = []
        token = None
        while True:
            page = await self.fs.entries(directory, token, limit)
            out += [e.name + ("/" if e.kind == "dir" else "") for e in page.entries]
            token = page.next_token
            if token is None:
                return out

    async def keys(self) -> list[str]:
        return [o.key for o in (await self.r.client.list_objects("bkt")).objects]


@pytest.fixture
async def env(database_url: str) -> AsyncIterator[Fs]:
    async with running(make_config(database_url, node_offline_after=3600.0)) as r:
        await register(r.client, "node-1", 6)
        await make_bucket(r.client, "bkt", owner=OWNER)
        yield Fs(r, FsClient(r.client, "bkt", OWNER))


# ---- look-ups and directory pages -------------------------------------------------------------
async def test_s3_objects_and_implicit_directories(env: Fs) -> None:
    for key in ("a/b/c.txt", "a/d", "top", "x/", "bad//name", "a/./dot"):
        await env.put(key)
    root = await env.fs.entry("")
    assert (root.kind, root.ino, root.path) == ("dir", 1, "")
    a = await env.fs.entry("a")
    assert (a.kind, a.ino, a.attrs, a.version_id) == ("dir", 0, None, None)
    x = await env.fs.entry("x")  # explicit: the marker
    assert x.kind == "dir" and x.ino >= 2 and x.version_id is not None
    top = await env.fs.entry("top")
    assert (top.kind, top.size, top.nlink, top.attrs) == ("file", 1, 1, None)
    assert top.ino >= 2 and top.etag == md5_etag_of(b"x")
    assert await env.names() == ["a/", "bad/", "top", "x/"]
    assert await env.names("a") == ["b/", "d"]  # "a/./dot" is not a path: skipped
    assert await env.names("bad") == []  # "bad//name": an empty component
    assert await env.names("x") == []  # the marker is not an entry of its own directory
    with pytest.raises(NoSuchEntryError):
        await env.fs.entry("nope")
    with pytest.raises(NoSuchEntryError):
        await env.fs.entries("nope")
    with pytest.raises(NotADirectoryEntryError):
        await env.fs.entries("top")


def md5_etag_of(data: bytes) -> str:
    return '"' + hashlib.md5(data).hexdigest() + '"'


async def test_dir_wins_over_a_file_of_the_same_name(env: Fs) -> None:
    for key in ("d", "d.txt", "d-1", "d/inner", "e", "e/"):
        await env.put(key)
    assert (await env.fs.entry("d")).kind == "dir"
    assert (await env.fs.entry("e")).kind == "dir"
    assert await env.names() == ["d-1", "d.txt", "d/", "e/"]
    for limit in (1, 2, 3):
        assert await env.names(limit=limit) == ["d-1", "d.txt", "d/", "e/"]


async def test_pages_carry_attrs_and_never_skip_or_repeat(env: Fs) -> None:
    await env.fs.mkdir("dir", DIR)
    for i in range(30):
        await env.fs.create(f"dir/f{i:02}", attrs(), b"%d" % i)
    for i in range(5):
        await env.fs.mkdir(f"dir/sub{i}", DIR)
    await env.put("dir/implicit/deep")
    page = await env.fs.entries("dir", limit=7)
    assert len(page.entries) == 7 and page.next_token is not None
    assert all(e.attrs is not None and e.ino >= 2 for e in page.entries)
    seen = [e.name for e in page.entries]
    token = page.next_token
    # Concurrent changes between pages: a name before the cursor and one after it.
    await env.fs.remove("dir/f01", directory=False)
    await env.fs.create("dir/f99", attrs())
    while token is not None:
        page = await env.fs.entries("dir", token, limit=7)
        seen += [e.name for e in page.entries]
        token = page.next_token
    expected = [f"f{i:02}" for i in range(30)] + ["f99", "implicit"] + [f"sub{i}" for i in range(5)]
    assert seen == expected
    listed = {e.name: e for e in (await env.fs.entries("dir")).entries}
    assert listed["implicit"].ino == 0 and listed["sub0"].kind == "dir"
    assert listed["sub0"].attrs == DIR
    assert listed["f05"].attrs == attrs() and listed["f05"].size == 1
    assert listed["f05"] == await env.fs.entry("dir/f05")
    with pytest.raises(InvalidInputError):
        await env.fs.entries("dir", "not-a-token")


# ---- mkdir, create, remove --------------------------------------------------------------------
async def test_mkdir_and_create(env: Fs) -> None:
    d = await env.fs.mkdir("docs", DIR)
    assert (d.kind, d.path, d.name, d.nlink, d.attrs) == ("dir", "docs", "docs", 2, DIR)
    manifest = await env.r.client.get_object("bkt", "docs/")
    assert manifest.size == 0 and manifest.attributes.content_type == DIRECTORY_TYPE
    f = await env.fs.create("docs/readme", attrs(), b"hello")
    assert (f.kind, f.size, f.attrs, f.nlink) == ("file", 5, attrs(), 1)
    assert (await env.r.client.get_object("bkt", "docs/readme")).inline == b"hello"
    link = await env.fs.create("docs/link", attrs(stat.S_IFLNK | 0o777), b"readme")
    assert link.attrs is not None and stat.S_ISLNK(link.attrs.mode)
    dev = await env.fs.create("docs/dev", attrs(stat.S_IFCHR | 0o600, rdev=0x0501))
    assert dev.attrs is not None and dev.attrs.rdev == 0x0501
    fifo = await env.fs.create("docs/fifo", attrs(stat.S_IFIFO | 0o600))
    assert fifo.attrs is not None and stat.S_ISFIFO(fifo.attrs.mode)
    assert len({f.ino, link.ino, dev.ino, fifo.ino, d.ino}) == 5
    assert await env.names("docs") == ["dev", "fifo", "link", "readme"]

    with pytest.raises(EntryExistsError):
        await env.fs.mkdir("docs", DIR)
    with pytest.raises(EntryExistsError):
        await env.fs.create("docs", attrs())
    with pytest.raises(EntryExistsError):
        await env.fs.mkdir("docs/readme", DIR)
    with pytest.raises(EntryExistsError):
        await env.fs.create("docs/readme", attrs())
    with pytest.raises(NoSuchEntryError) as missing:
        await env.fs.create("nope/file", attrs())
    assert missing.value.key == "nope"
    with pytest.raises(NotADirectoryEntryError) as file_parent:
        await env.fs.mkdir("docs/readme/sub", DIR)
    assert file_parent.value.key == "docs/readme"
    with pytest.raises(InvalidInputError):
        await env.fs.mkdir("plain", attrs())  # no S_IFDIR
    with pytest.raises(InvalidInputError):
        await env.fs.create("dir-typed", DIR)
    with pytest.raises(InvalidInputError):
        await env.fs.create("a//b", attrs())
    with pytest.raises(NameTooLongError):
        await env.fs.create("n" * 256, attrs())
    long_path = "/".join(["p" * 200] * 6)  # 1,205 bytes: longer than any S3 key
    for depth in range(1, 6):
        await env.fs.mkdir("/".join(["p" * 200] * depth), DIR)
    assert (await env.fs.create(long_path, attrs(), b"deep")).size == 4
    assert (await env.fs.entry(long_path)).kind == "file"


async def test_remove(env: Fs) -> None:
    await env.fs.mkdir("d", DIR)
    await env.fs.create("d/f", attrs(), b"data")
    with pytest.raises(IsADirectoryEntryError):
        await env.fs.remove("d", directory=False)
    with pytest.raises(NotADirectoryEntryError):
        await env.fs.remove("d/f", directory=True)
    with pytest.raises(DirectoryNotEmptyError):
        await env.fs.remove("d", directory=True)
    with pytest.raises(NoSuchEntryError):
        await env.fs.remove("d/none", directory=False)
    await env.fs.remove("d/f", directory=False)
    assert await env.names("d") == []
    await env.fs.remove("d", directory=True)
    with pytest.raises(NoSuchEntryError):
        await env.fs.entry("d")
    assert await env.keys() == []


async def test_removing_the_last_entry_keeps_an_implicit_directory(env: Fs) -> None:
    await env.put("imp/only")
    assert (await env.fs.entry("imp")).ino == 0
    await env.fs.remove("imp/only", directory=False)
    kept = await env.fs.entry("imp")
    assert kept.kind == "dir" and kept.ino >= 2  # now explicit: its marker was made
    assert await env.keys() == ["imp/"]
    await env.fs.remove("imp", directory=True)
    assert await env.keys() == []


async def test_removed_versions_go_to_gc(env: Fs) -> None:
    grant, manifest = await chunked(env, "big", 10_000)
    assert not await env.r.gc_entries()
    await env.fs.remove("big", directory=False)
    queued = {c for c, _, _ in await env.r.gc_entries()}
    assert queued == {c.chunk_id for s in manifest.parts[0].segments for c in s.chunks}
    del grant


async def chunked(
    env: Fs, key: str, size: int, fs: FsWrite | None = None
) -> tuple[None, ObjectManifest]:
    """A chunked write as the gateway (or, with ``fs``, the mount) makes it."""
    return None, await put(env.r.client, "bkt", key, size, OWNER, fs=fs)


async def test_ownership_and_missing_bucket(env: Fs) -> None:
    other = FsClient(env.r.client, "bkt", "someone-else")
    with pytest.raises(AccessDeniedError):
        await other.entry("")
    with pytest.raises(AccessDeniedError):
        await other.mkdir("d", DIR)
    with pytest.raises(AccessDeniedError):
        await other.entries("")
    missing = FsClient(env.r.client, "nobucket", OWNER)
    with pytest.raises(NoSuchBucketError):
        await missing.entry("")
    with pytest.raises(NoSuchBucketError):
        await missing.create("f", attrs())


# ---- writes of the mount ----------------------------------------------------------------------
async def test_fs_writes_check_the_base_version_and_keep_the_ino(env: Fs) -> None:
    made = await env.fs.create("f", attrs(), b"v0")
    newer = attrs(t=T + 5)
    inline = await env.put(
        "f", b"v1", fs=FsWrite(ino=made.ino, base_version_id=made.version_id, attrs=newer)
    )
    after = await env.fs.entry("f")
    assert (after.ino, after.version_id, after.size, after.attrs) == (
        made.ino,
        inline.version_id,
        2,
        newer,
    )
    assert inline.attributes.user_metadata["mtime"] == "1700000000.123456794"
    # A stale base (the version before) is refused and changes nothing.
    with pytest.raises(StaleVersionError):
        await env.put(
            "f", b"v2", fs=FsWrite(ino=made.ino, base_version_id=made.version_id, attrs=newer)
        )
    with pytest.raises(StaleVersionError):  # the key has a current version
        await env.put("f", b"v2", fs=FsWrite(ino=made.ino, base_version_id=None, attrs=newer))
    with pytest.raises(StaleVersionError):  # another file's ino
        await env.put(
            "f",
            b"v2",
            fs=FsWrite(ino=made.ino + 100, base_version_id=inline.version_id, attrs=newer),
        )
    # Chunked commits alike: the ino stays, a stale commit is refused and its chunks queued.
    _, chunk = await chunked(
        env, "f", 5000, FsWrite(ino=made.ino, base_version_id=inline.version_id, attrs=newer)
    )
    assert (await env.fs.entry("f")).ino == made.ino
    with pytest.raises(StaleVersionError):
        await chunked(
            env, "f", 5000, FsWrite(ino=made.ino, base_version_id=inline.version_id, attrs=newer)
        )
    assert (await env.fs.entry("f")).version_id == chunk.version_id
    # A new file through a commit: no current version at the key.
    new = await env.put(
        "g", b"new", fs=FsWrite(ino=made.ino + 50, base_version_id=None, attrs=newer)
    )
    assert (await env.fs.entry("g")).ino == made.ino + 50 and new.size == 3
    with pytest.raises(InvalidInputError):
        await env.put("h", b"", fs=FsWrite(ino=1, base_version_id=None, attrs=newer))


async def test_an_s3_overwrite_is_a_new_file(env: Fs) -> None:
    made = await env.fs.create("f", attrs(), b"v0")
    await env.put("f", b"s3")
    after = await env.fs.entry("f")
    # A new file: the mount's attributes went with the old one. (Its number is new on
    # PostgreSQL; SQLite may hand the number of the row just deleted to the next one, as a
    # file system reuses the inode number of a deleted file.)
    assert after.attrs is None and after.version_id != made.version_id
    with pytest.raises(StaleVersionError):  # the mount's write based on the old file
        await env.put(
            "f", b"v2", fs=FsWrite(ino=made.ino, base_version_id=made.version_id, attrs=attrs())
        )
    # S3 DELETE of a file the mount made.
    again = await env.fs.create("g", attrs(), b"")
    await env.r.client.delete_object("bkt", "g", owner_id=OWNER)
    with pytest.raises(NoSuchEntryError):
        await env.fs.entry("g")
    del again
    # Both inode rows went with their files' last names.
    rows = await env.r.repo.db.read(lambda tx: tx.scalar(select(func.count()).select_from(inodes)))
    assert rows == 0


# ---- the projection both ways -----------------------------------------------------------------
async def test_s3_metadata_shows_as_attributes(env: Fs) -> None:
    await env.put("s3fs", meta={"mode": "33261", "uid": "7", "gid": "8", "mtime": "1600000000.5"})
    await env.put("rclone", meta={"mtime": "2020-09-13T12:26:40.25Z", "mode": "0100600"})
    await env.put(
        "gcs",
        meta={
            "goog-reserved-posix-mode": "100444",
            "goog-reserved-posix-uid": "3",
            "goog-reserved-file-mtime": "1600000000",
        },
    )
    await env.put("plain", meta={"color": "red"})
    await env.put("dir/", meta={"mode": str(stat.S_IFDIR | 0o700)})
    s3fs = (await env.fs.entry("s3fs")).attrs
    assert s3fs == PosixAttrs(
        mode=stat.S_IFREG | 0o755,
        uid=7,
        gid=8,
        atime_ns=1_600_000_000_500_000_000,
        mtime_ns=1_600_000_000_500_000_000,
        ctime_ns=1_600_000_000_500_000_000,
    )
    rclone = (await env.fs.entry("rclone")).attrs
    assert rclone is not None and rclone.mode == stat.S_IFREG | 0o600
    assert rclone.mtime_ns == 1_600_000_000_250_000_000
    gcs = (await env.fs.entry("gcs")).attrs
    assert gcs is not None and (gcs.mode, gcs.uid, gcs.mtime_ns) == (
        stat.S_IFREG | 0o444,
        3,
        1_600_000_000 * 10**9,
    )
    assert (await env.fs.entry("plain")).attrs is None
    d = (await env.fs.entry("dir")).attrs
    assert d is not None and d.mode == stat.S_IFDIR | 0o700
    listed = {e.name: e.attrs for e in (await env.fs.entries("")).entries}
    assert listed["s3fs"] == s3fs and listed["plain"] is None


async def test_created_files_carry_the_s3fs_projection(env: Fs) -> None:
    await env.fs.create("f", attrs(stat.S_IFREG | 0o600, uid=5, gid=6))
    meta = (await env.r.client.get_object("bkt", "f")).attributes.user_metadata
    assert meta == {
        "mode": str(stat.S_IFREG | 0o600),
        "uid": "5",
        "gid": "6",
        "mtime": "1700000000.123456789",
        "ctime": "1700000000.123456789",
        "atime": "1700000000.123456789",
    }


def _entry_kinds(entries: list[FsEntry]) -> dict[str, str]:
    return {e.name: e.kind for e in entries}


# ---- setattr ----------------------------------------------------------------------------------
async def test_setattr_changes_attrs_and_the_projection(env: Fs) -> None:
    made = await env.fs.create("f", attrs(stat.S_IFREG | 0o600))
    changed = await env.fs.setattr("f", T + 9, mode=0o4755 | stat.S_IFDIR, uid=42)
    assert changed.attrs is not None and changed.ino == made.ino
    assert changed.attrs.mode == stat.S_IFREG | 0o4755  # the file type never changes
    assert (changed.attrs.uid, changed.attrs.gid, changed.attrs.ctime_ns) == (42, 100, T + 9)
    timed = await env.fs.setattr("f", T + 10, atime_ns=5, mtime_ns=6)
    assert timed.attrs is not None and (timed.attrs.atime_ns, timed.attrs.mtime_ns) == (5, 6)
    meta = (await env.r.client.get_object("bkt", "f")).attributes.user_metadata
    assert (meta["mode"], meta["uid"], meta["mtime"], meta["ctime"]) == (
        str(stat.S_IFREG | 0o4755),
        "42",
        "0.000000006",
        "1700000000.123456799",
    )
    # An S3 object the mount never touched: the attributes appear, other metadata stays.
    await env.put("s3", meta={"color": "red", "mode": "33188"})
    s3 = await env.fs.setattr("s3", T, mode=0o700)
    assert s3.attrs is not None and s3.attrs.mode == stat.S_IFREG | 0o700
    meta = (await env.r.client.get_object("bkt", "s3")).attributes.user_metadata
    assert meta["color"] == "red" and meta["mode"] == str(stat.S_IFREG | 0o700)
    # An implicit directory becomes explicit.
    await env.put("imp/x")
    d = await env.fs.setattr("imp", T, mode=0o711, gid=9)
    assert d.kind == "dir" and d.ino >= 2 and d.attrs is not None
    assert (d.attrs.mode, d.attrs.gid) == (stat.S_IFDIR | 0o711, 9)
    assert "imp/" in await env.keys()
    assert (await env.fs.setattr("", T, mode=0o700)).ino == 1  # the root: the mount's own
    with pytest.raises(NoSuchEntryError):
        await env.fs.setattr("nope", T, mode=0o700)


# ---- rename -----------------------------------------------------------------------------------
async def test_rename_files(env: Fs) -> None:
    a = await env.fs.create("a", attrs(), b"A")
    b = await env.fs.create("b", attrs(), b"B")
    await env.fs.mkdir("d", DIR)
    await env.fs.rename("a", "d/a2")
    moved = await env.fs.entry("d/a2")
    assert (moved.ino, moved.version_id, moved.attrs) == (a.ino, a.version_id, attrs())
    assert (await env.r.client.get_object("bkt", "d/a2")).inline == b"A"
    with pytest.raises(NoSuchEntryError):
        await env.fs.entry("a")
    # Over a file: the target's version is retired (its data to GC), the source keeps its ino.
    _, big = await chunked(env, "big", 5000)
    await env.fs.rename("b", "big")
    assert (await env.fs.entry("big")).ino == b.ino
    queued = {c for c, _, _ in await env.r.gc_entries()}
    assert {c.chunk_id for s in big.parts[0].segments for c in s.chunks} <= queued
    await env.fs.rename("big", "big")  # onto itself: nothing happens
    assert (await env.fs.entry("big")).ino == b.ino
    with pytest.raises(EntryExistsError):
        await env.fs.rename("d/a2", "big", noreplace=True)
    with pytest.raises(IsADirectoryEntryError):
        await env.fs.rename("big", "d")
    with pytest.raises(NoSuchEntryError) as no_source:
        await env.fs.rename("gone", "x")
    assert no_source.value.key == "gone"
    with pytest.raises(NoSuchEntryError) as no_parent:
        await env.fs.rename("big", "nodir/x")
    assert no_parent.value.key == "nodir"
    with pytest.raises(NotADirectoryEntryError):
        await env.fs.rename("d/a2", "big/x")
    with pytest.raises(InvalidMoveError):
        await env.fs.rename("big", "")


async def test_rename_directories(env: Fs) -> None:
    await env.fs.mkdir("src", DIR)
    await env.fs.mkdir("src/sub", DIR)
    f = await env.fs.create("src/sub/f", attrs(), b"F")
    marker = await env.fs.entry("src")
    await env.fs.rename("src", "dst")
    assert await env.keys() == ["dst/", "dst/sub/", "dst/sub/f"]
    assert (await env.fs.entry("dst")).ino == marker.ino
    assert (await env.fs.entry("dst/sub/f")).ino == f.ino
    # Over an empty directory; not over a non-empty one, nor a file; never into itself.
    await env.fs.mkdir("empty", DIR)
    await env.fs.rename("dst", "empty")
    assert await env.names("empty") == ["sub/"]
    await env.fs.mkdir("full", DIR)
    await env.fs.create("full/x", attrs())
    with pytest.raises(DirectoryNotEmptyError):
        await env.fs.rename("empty", "full")
    await env.fs.create("file", attrs())
    with pytest.raises(NotADirectoryEntryError):
        await env.fs.rename("empty", "file")
    with pytest.raises(InvalidMoveError):
        await env.fs.rename("empty", "empty/sub/deeper")
    with pytest.raises(InvalidMoveError):
        await env.fs.rename("", "elsewhere")
    # An implicit directory moves too, and its old parent stays (as an explicit directory).
    await env.put("p/imp/one")
    await env.put("p/imp/two")
    await env.fs.rename("p/imp", "moved")
    assert await env.names("moved") == ["one", "two"]
    assert (await env.fs.entry("p")).kind == "dir"
    assert "p/" in await env.keys()


async def test_rename_exchange(env: Fs) -> None:
    a = await env.fs.create("a", attrs(), b"A")
    b = await env.fs.create("b", attrs(), b"B")
    await env.fs.rename("a", "b", exchange=True)
    assert (await env.fs.entry("a")).ino == b.ino and (await env.fs.entry("b")).ino == a.ino
    await env.fs.mkdir("d", DIR)
    await env.fs.create("d/in", attrs())
    d = await env.fs.entry("d")
    await env.fs.rename("d", "a", exchange=True)  # a directory and a file swap
    assert (await env.fs.entry("a")).kind == "dir" and (await env.fs.entry("a")).ino == d.ino
    assert (await env.fs.entry("d")).ino == b.ino
    assert await env.names("a") == ["in"]
    await env.fs.mkdir("e", DIR)
    await env.fs.create("e/other", attrs())
    await env.fs.rename("a", "e", exchange=True)  # two directories
    assert await env.names("a") == ["other"] and await env.names("e") == ["in"]
    with pytest.raises(NoSuchEntryError):
        await env.fs.rename("a", "missing", exchange=True)
    with pytest.raises(InvalidMoveError):
        await env.fs.rename("e", "e/in", exchange=True)
    with pytest.raises(InvalidMoveError):
        await env.fs.rename("e/in", "e", exchange=True)
    assert not [k for k in await env.keys() if k.startswith(".wormfs")]


async def test_a_big_directory_renames_in_one_transaction(env: Fs) -> None:
    count = 10_000
    repo = env.r.repo
    await env.fs.mkdir("big", DIR)
    first = await env.fs.create("big/first", attrs(), b"1")
    await repo.db.write(lambda tx: bulk_insert(tx, "big/", count - 2))
    assert await repo.db.read(lambda tx: count_under(tx, "big/")) == count  # with the marker

    seen: list[tuple[int, int]] = []
    done = asyncio.Event()

    async def watch() -> None:
        while not done.is_set():
            seen.append(
                await repo.db.read(lambda tx: (count_under(tx, "big/"), count_under(tx, "moved/")))
            )
            await asyncio.sleep(0)

    watcher = asyncio.create_task(watch())
    await env.fs.rename("big", "moved")
    done.set()
    await watcher
    # Every snapshot saw the whole directory at one place or the other.
    assert all(snap in ((count, 0), (0, count)) for snap in seen), set(seen)
    assert await repo.db.read(lambda tx: (count_under(tx, "big/"), count_under(tx, "moved/"))) == (
        0,
        count,
    )
    assert (await env.fs.entry("moved/first")).ino == first.ino
    page = await env.fs.entries("moved", limit=1000)
    assert len(page.entries) == 1000 and page.next_token is not None
    assert (await env.fs.entry("moved/k09997")).kind == "file"


def bulk_insert(tx: Tx, prefix: str, count: int) -> None:
    """``count`` empty objects under ``prefix``, straight into the table (S3 PUTs' rows)."""
    base = {
        "bucket": "bkt",
        "is_latest": True,
        "is_delete_marker": False,
        "size": 0,
        "etag": md5_etag_of(b""),
        "content_type": "binary/octet-stream",
        "user_metadata": {},
        "system_metadata": {},
        "checksum_algorithm": None,
        "checksum_value": None,
        "checksum_type": None,
        "profile": {"codec": "x", "k": 4, "m": 2, "stripe_size": 4096},
        "storage_class": "STANDARD",
        "owner_id": OWNER,
        "created": 1.0,
        "last_modified": 1.0,
        "state": "committed",
        "inode_id": None,
    }
    rows = [{**base, "key": f"{prefix}k{i:05}", "version_id": f"v{i:031}"} for i in range(count)]
    tx.run_many(insert(objects), rows)


def count_under(tx: Tx, prefix: str) -> int:
    query = select(func.count()).where(
        objects.c.bucket == "bkt", objects.c.key >= prefix, objects.c.key < prefix[:-1] + "0"
    )
    return int(tx.scalar(query))


# ---- xattrs and stats -------------------------------------------------------------------------
async def test_xattrs(env: Fs) -> None:
    await env.put("s3-object")
    assert (await env.fs.xattrs("s3-object")).values == {}
    before = await env.fs.entry("s3-object")
    await env.fs.set_xattr("s3-object", "user.a", b"\x00\xff")
    await env.fs.set_xattr("s3-object", "user.b", b"2")
    after = await env.fs.entry("s3-object")
    assert after.ino == before.ino  # the inode row took the number the file had
    assert (await env.fs.xattrs("s3-object")).values == {"user.a": b"\x00\xff", "user.b": b"2"}
    with pytest.raises(AttributeExistsError):
        await env.fs.set_xattr("s3-object", "user.a", b"x", mode="create")
    with pytest.raises(NoSuchAttributeError):
        await env.fs.set_xattr("s3-object", "user.c", b"x", mode="replace")
    await env.fs.set_xattr("s3-object", "user.a", b"new", mode="replace")
    await env.fs.set_xattr("s3-object", "user.c", b"3", mode="create")
    await env.fs.remove_xattr("s3-object", "user.b")
    with pytest.raises(NoSuchAttributeError):
        await env.fs.remove_xattr("s3-object", "user.b")
    assert (await env.fs.xattrs("s3-object")).values == {"user.a": b"new", "user.c": b"3"}
    # They follow the file through a rename, and go with it.
    await env.fs.rename("s3-object", "renamed")
    assert (await env.fs.xattrs("renamed")).values == {"user.a": b"new", "user.c": b"3"}
    await env.put("renamed", b"s3 overwrite")
    assert (await env.fs.xattrs("renamed")).values == {}
    # An implicit directory gets its marker; a missing entry has none.
    await env.put("imp/x")
    await env.fs.set_xattr("imp", "user.dir", b"d")
    assert (await env.fs.xattrs("imp")).values == {"user.dir": b"d"}
    with pytest.raises(NoSuchEntryError):
        await env.fs.xattrs("nope")
    with pytest.raises(NoSuchAttributeError):
        await env.fs.remove_xattr("imp/x", "user.none")
    with pytest.raises(InvalidInputError):
        await env.fs.set_xattr("imp/x", "", b"")
    with pytest.raises(InvalidInputError):
        await env.fs.set_xattr("imp/x", "user.big", b"x" * (64 * 1024 + 1))


async def test_stats(env: Fs) -> None:
    await env.put("one")
    await env.fs.create("two", attrs())
    stats = await env.fs.stats()
    # node-1's six disks: 200 GiB capacity, 100 GiB free each, at 4+2.
    assert stats.capacity_bytes == 6 * 200 * GIB * 4 // 6
    assert stats.free_bytes == 6 * 100 * GIB * 4 // 6
    assert stats.files == 2


# ---- concurrency ------------------------------------------------------------------------------
async def test_concurrent_makes_of_one_name_leave_one_entry(env: Fs) -> None:
    makes = [env.fs.create("same", attrs(), b"%d" % i) for i in range(4)]
    makes += [env.fs.mkdir("same", DIR) for _ in range(4)]
    results = await asyncio.gather(*makes, return_exceptions=True)
    made = [r for r in results if isinstance(r, FsEntry)]
    assert len(made) == 1, results
    assert all(isinstance(r, EntryExistsError) for r in results if r not in made)
    assert await env.fs.entry("same") == made[0]


async def test_rmdir_and_a_create_inside_never_both_win(env: Fs) -> None:
    for round_ in range(6):
        path = f"d{round_}"
        await env.fs.mkdir(path, DIR)
        rmdir, create = await asyncio.gather(
            env.fs.remove(path, directory=True),
            env.fs.create(f"{path}/x", attrs()),
            return_exceptions=True,
        )
        if isinstance(create, FsEntry):
            assert isinstance(rmdir, DirectoryNotEmptyError)
            assert await env.names(path) == ["x"]
        else:
            assert rmdir is None and isinstance(create, NoSuchEntryError)
            assert f"{path}/" not in await env.keys()


async def test_concurrent_unlinks_of_the_last_entries_keep_the_directory(env: Fs) -> None:
    for round_ in range(4):
        names = [f"imp{round_}/f{i}" for i in range(3)]
        for name in names:
            await env.put(name)
        await asyncio.gather(*(env.fs.remove(name, directory=False) for name in names))
        assert (await env.fs.entry(f"imp{round_}")).kind == "dir"
        assert f"imp{round_}/" in await env.keys()


async def test_unlink_in_a_versioning_bucket_keeps_the_version(env: Fs) -> None:
    await env.fs.create("f", attrs(), b"kept")
    await env.r.client.put_bucket_versioning("bkt", OWNER, "Enabled")
    await env.fs.remove("f", directory=False)
    with pytest.raises(NoSuchEntryError):
        await env.fs.entry("f")
    assert await env.names("") == []
    versions = (await env.r.client.list_versions("bkt")).versions
    assert [(v.key, v.is_delete_marker, v.is_latest) for v in versions] == [
        ("f", True, True),
        ("f", False, False),
    ]
    assert not await env.r.gc_entries()  # nothing of the kept version is collected
    old = await env.r.client.get_object("bkt", "f", version_id="null")
    assert old.inline == b"kept"
    await env.fs.create("f", attrs(), b"again")  # the name is free again
    assert (await env.fs.entry("f")).size == 5


async def test_files_the_mount_makes_in_a_versioning_bucket_are_versions(env: Fs) -> None:
    await env.r.client.put_bucket_versioning("bkt", OWNER, "Enabled")
    await env.fs.mkdir("d", DIR)
    await env.fs.create("d/f", attrs(), b"one")
    made = await env.r.client.get_object("bkt", "d/f")
    assert made.s3_version_id == made.version_id  # its own id, not the null version
    assert all(v.version_id != "null" for v in (await env.r.client.list_versions("bkt")).versions)


async def test_renames_keep_replaced_versions_and_never_move_locked_ones(env: Fs) -> None:
    client = env.r.client
    await client.put_bucket_versioning("bkt", OWNER, "Enabled")
    await env.fs.create("old", attrs(), b"replaced")
    await env.fs.create("new", attrs(), b"moving")
    await env.fs.rename("new", "old")  # over a file: its version is kept, no longer current
    assert (await client.get_object("bkt", "old")).inline == b"moving"
    versions = [v for v in (await client.list_versions("bkt")).versions if v.key == "old"]
    assert [v.is_latest for v in versions] == [True, False]
    kept = await client.get_object("bkt", "old", version_id=versions[1].version_id)
    assert kept.inline == b"replaced"
    assert not await env.r.gc_entries()
    # Renamed on, the file leaves its older version behind under a delete marker.
    await env.fs.rename("old", "third")
    left = [v for v in (await client.list_versions("bkt")).versions if v.key == "old"]
    assert [(v.is_delete_marker, v.is_latest) for v in left] == [(True, True), (False, False)]
    assert (await client.get_object("bkt", "third")).inline == b"moving"
    with pytest.raises(NoSuchEntryError):
        await env.fs.entry("old")

    await client.put_object_lock("bkt", OWNER, ObjectLockConfig(enabled=True))
    await env.fs.mkdir("d", DIR)
    await env.fs.create("d/held", attrs(), b"held")
    held = await client.get_object("bkt", "d/held")
    await client.put_object_legal_hold("bkt", "d/held", held.version_id, OWNER, True)
    for source, target in (("d/held", "elsewhere"), ("d", "e")):  # the file, its directory
        with pytest.raises(ObjectLockedError):
            await env.fs.rename(source, target)
    assert (await client.get_object("bkt", "d/held")).version_id == held.version_id
    await env.fs.create("x", attrs(), b"x")
    with pytest.raises(ObjectLockedError):  # nor is it replaced away in an unversioned way
        await env.fs.rename("x", "d/held", exchange=True)
    await client.put_object_legal_hold("bkt", "d/held", held.version_id, OWNER, False)
    await env.fs.rename("d", "e")
    assert (await env.fs.entry("e/held")).size == 4
