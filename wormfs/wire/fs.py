"""Coordinator API schemas of the file namespace (``/v1/fs/...``): what the FUSE mount asks.

Routes (on the active coordinator, authenticated like every ``/v1`` route; ``owner_id`` names
the user the mount acts for, who must own the bucket, else ``AccessDeniedError``):

    GET    /v1/fs/{bucket}/entry?path=P&owner_id=U                    -> FsEntry
    GET    /v1/fs/{bucket}/entries?dir=P&token=T&limit=N&owner_id=U   -> FsEntryList
    POST   /v1/fs/{bucket}/mkdir      MakeEntry                       -> FsEntry
    POST   /v1/fs/{bucket}/create     MakeEntry                       -> FsEntry
    POST   /v1/fs/{bucket}/setattr    SetAttributes                   -> FsEntry
    POST   /v1/fs/{bucket}/remove     RemoveEntry                     -> 204
    POST   /v1/fs/{bucket}/rename     RenameEntry                     -> 204
    GET    /v1/fs/{bucket}/xattrs?path=P&owner_id=U                   -> XattrSet
    POST   /v1/fs/{bucket}/xattrs     SetXattr                        -> 204
    DELETE /v1/fs/{bucket}/xattrs?path=P&name=N&owner_id=U            -> 204
    GET    /v1/fs/stats                                               -> FsStats

**Paths.** A path names a file by its key, or a directory by its key prefix without the
trailing slash, relative to the bucket (a mount of ``BUCKET:PREFIX`` prepends its prefix
itself); ``""`` is the bucket's root. ``check_path`` is the rule: components of 1-255 bytes of
UTF-8, none empty, ``.`` or ``..``, no NUL; at most ``MAX_PATH`` bytes in all (S3 PUTs stay
limited to 1,024-byte keys; paths made through the mount may be longer).

**The namespace is the bucket.** A file is an object (any object: S3 PUTs appear at once); a
directory is a key prefix: *explicit* when its marker object ``path + "/"`` (zero bytes,
``application/x-directory``) exists, *implicit* when only keys below it do. A name that is both
a file and a directory is the directory. ``mkdir`` makes a marker; ``rmdir`` removes one only
if nothing is below it, in one transaction.

**Inodes.** ``ino`` (>= 2; 1 is the mount's root, which ``entry("")`` answers) is stable for
the life of a file, across mounts and coordinators, through renames and through every version
the mount commits; an S3 PUT or DELETE on a key rebinds or unbinds that key alone (an S3
overwrite is a new file, as unlink + create would make, and the mount's attributes and xattrs
go with the old one). Implicit directories have no ino (0) and ``last_modified`` 0: the mount
numbers and dates them. The number of a file that is gone is never given to another (a
mount's kernel may still hold it): version row ids only grow, on SQLite too (revision 0006).

**POSIX attributes** (``PosixAttrs``) are stored by the coordinator beside the object and
projected into the object's user metadata as s3fs-fuse writes them (``mode`` in decimal with
the file type, ``uid``, ``gid``, ``mtime``/``ctime``/``atime`` in epoch seconds), so s3fs,
rclone and S3 clients see them; an S3 PUT carrying those headers sets them. An entry without
them has ``attrs`` None: the mount applies its defaults (``--uid/--gid/--umask``) and takes the
times from ``last_modified``.

**File contents** are written as any object is (``BeginWrite`` + ``CommitObject``, or
``PutInline``), with ``fs`` (an ``FsWrite``) on the commit: the ino the new version belongs to,
the version it was based on (the commit fails with ``StaleVersionError`` if that is no longer
the key's current version, or the current version belongs to another ino: a concurrent S3 PUT
or another mount won; a refused chunked commit's chunks are collected) and the attributes to
store with it (and project into its user metadata). With ``base_version_id`` None the key must
have no current version and the version takes ``ino`` as given. Keys may be up to 5,120 bytes
(``MAX_PATH`` plus a mount's prefix). A write begun under a path that a rename then moves
commits under the path it was begun with.

**Directory pages** (``entries``) are in key order, a subdirectory sorting as ``name/`` (so
``d.txt`` comes before the directory ``d``). Keys that are not paths below the directory
(``a//b``, ``a/./b``) are skipped, and so are a directory's own marker and a file hidden by a
directory of the same name; a page may therefore hold fewer than ``limit`` (at most 1,000)
entries, even none, before the end: only ``next_token`` None ends the listing. Resuming with a
token never skips or repeats an entry that exists throughout, whatever is created or removed
meanwhile.

**The root** has no marker: its attributes are the mount's own (``setattr`` of ``""`` changes
nothing and answers the root), it has no xattrs (setting one is ``InvalidInputError``), it
cannot be removed (rmdir: ``InvalidMoveError``, unlink: ``IsADirectoryEntryError``) or renamed.

Errors: ``NoSuchEntryError`` (ENOENT), ``EntryExistsError`` (EEXIST),
``DirectoryNotEmptyError`` (ENOTEMPTY), ``NotADirectoryEntryError`` (ENOTDIR),
``IsADirectoryEntryError`` (EISDIR), ``InvalidMoveError`` (EINVAL), ``NameTooLongError``
(ENAMETOOLONG), ``NoSuchAttributeError`` (ENODATA), ``AttributeExistsError`` (EEXIST),
``StaleVersionError`` (ESTALE), and the object errors of ``wormfs.wire.coordinator``.
"""

from __future__ import annotations

from typing import Literal

import msgspec

from wormfs.errors import NameTooLongError

MAX_NAME = 255  # bytes of one path component (NAME_MAX)
MAX_PATH = 4095  # bytes of a whole path (PATH_MAX less its NUL)
DIRECTORY_TYPE = "application/x-directory"  # the content type of a directory marker


def check_path(bucket: str, path: str) -> None:
    """Raise ``NameTooLongError`` if ``path`` is too long, ``ValueError`` if it is not a path
    at all (an empty, ``.`` or ``..`` component, a NUL, a leading or trailing slash)."""
    if path == "":
        return
    encoded = path.encode("utf-8", "surrogatepass")
    if len(encoded) > MAX_PATH:
        raise NameTooLongError(bucket=bucket, key=path)
    for part in path.split("/"):
        if part in ("", ".", "..") or "\0" in part:
            raise ValueError(f"{path!r} is not a path: component {part!r}")
        if len(part.encode("utf-8", "surrogatepass")) > MAX_NAME:
            raise NameTooLongError(bucket=bucket, key=path)


class PosixAttrs(msgspec.Struct, frozen=True):
    mode: int  # st_mode, file type bits included (stat.S_IFREG | 0o644)
    uid: int
    gid: int
    atime_ns: int
    mtime_ns: int
    ctime_ns: int
    rdev: int = 0  # device number of a character or block device


class FsEntry(msgspec.Struct, frozen=True):
    path: str  # as asked ("" for the root)
    name: str  # the last component ("" for the root)
    ino: int  # >= 2; 0 for an implicit directory
    kind: Literal["file", "dir"]  # every object is a "file"; its mode says which type
    size: int  # bytes of the current version (0 for directories)
    nlink: int  # names bound to the ino (1 until hard links exist); directories: 2
    last_modified: float
    attrs: PosixAttrs | None = None  # None: nothing stored, the mount's defaults apply
    version_id: str | None = None  # current version (file or marker); None when implicit
    etag: str = ""


class FsEntryList(msgspec.Struct, frozen=True):
    """One page of a directory: files and subdirectories in key order, each name once."""

    entries: list[FsEntry]
    next_token: str | None = None  # pass as ``token`` for the next page; None at the end


class MakeEntry(msgspec.Struct, frozen=True):
    """``mkdir`` (``attrs.mode`` has S_IFDIR) or ``create`` (any other file type).

    The parent directory must exist (``NoSuchEntryError``; ``NotADirectoryEntryError`` when a
    component is a file) and the path must be free (``EntryExistsError``)."""

    path: str
    owner_id: str
    attrs: PosixAttrs
    data: bytes = b""  # create: the first bytes, at most INLINE_LIMIT (a symlink's target)
    content_type: str | None = None  # default: DIRECTORY_TYPE, or binary/octet-stream


class FsWrite(msgspec.Struct, frozen=True):
    """What a ``CommitObject`` or ``PutInline`` made by the mount adds: see the module doc."""

    ino: int
    base_version_id: str | None  # None: the key must have no current version
    attrs: PosixAttrs


class SetAttributes(msgspec.Struct, frozen=True):
    """chmod, chown, utimens; size changes are writes. Setting attributes of an implicit
    directory makes it explicit (a marker is created)."""

    path: str
    owner_id: str
    ctime_ns: int  # the time of the change
    mode: int | None = None  # permission bits only (0o7777); the file type never changes
    uid: int | None = None
    gid: int | None = None
    atime_ns: int | None = None
    mtime_ns: int | None = None


class RemoveEntry(msgspec.Struct, frozen=True):
    """unlink (``directory`` false) or rmdir (true, only if empty)."""

    path: str
    owner_id: str
    directory: bool


class RenameEntry(msgspec.Struct, frozen=True):
    """rename(2) in one transaction, files and whole directories alike (every key below a
    directory changes with it; no data moves). ``noreplace``: fail with ``EntryExistsError``
    if the target exists; ``exchange``: swap the two (both must exist)."""

    source: str
    target: str
    owner_id: str
    noreplace: bool = False
    exchange: bool = False


class XattrSet(msgspec.Struct, frozen=True):
    values: dict[str, bytes]  # name ("user.foo") -> value


XattrMode = Literal["set", "create", "replace"]  # plain, XATTR_CREATE, XATTR_REPLACE


class SetXattr(msgspec.Struct, frozen=True):
    path: str
    owner_id: str
    name: str
    value: bytes
    mode: XattrMode = "set"


class FsStats(msgspec.Struct, frozen=True):
    """Room for file data, as user bytes (raw disk bytes x k/(k+m) of the cluster's profile)."""

    capacity_bytes: int
    free_bytes: int
    files: int  # current object versions in the cluster
