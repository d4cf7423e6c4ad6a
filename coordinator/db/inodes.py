"""Inode rows and the POSIX attributes of an entry: stored, projected, parsed back.

Layer: coordinator database package, below the namespace operations and used by the commit
path (``writes``, ``manifests``) for a write of the mount. Every function runs inside the
caller's transaction. Contract:

* ``put_inode`` stores an inode's attributes (an UPDATE, or an INSERT when the row is new:
  its id is the inode id the version already had, so no inode number changes);
* ``projected`` is a version's user metadata with the attributes' s3fs projection
  (``wormfs.format.posix``) in place of the names it owns, ``fs_attributes`` the same for a
  whole ``ObjectAttributes``;
* ``entry_attrs`` answers an entry's attributes: its inode row if it has one, else what its
  user metadata says (S3 PUTs with s3fs, rclone or gcsfuse headers) when it names a mode or
  an mtime, else None.
"""

from __future__ import annotations

import stat

from msgspec.structs import replace
from sqlalchemy import bindparam, insert, update

from wormfs.coordinator.db.tables import inodes
from wormfs.coordinator.db.tx import Row, Tx
from wormfs.format.posix import PROJECTED, from_metadata, to_metadata
from wormfs.wire.coordinator import ObjectAttributes
from wormfs.wire.fs import PosixAttrs

ATTRIBUTES = ("mode", "uid", "gid", "rdev", "atime_ns", "mtime_ns", "ctime_ns")
DEFAULT_FILE_MODE = stat.S_IFREG | 0o644
DEFAULT_DIR_MODE = stat.S_IFDIR | 0o755

_UPDATE_INODE = (
    update(inodes)
    .where(inodes.c.id == bindparam("inode"))
    .values({name: bindparam(f"new_{name}") for name in ATTRIBUTES})
)
_INSERT_INODE = insert(inodes)


def put_inode(tx: Tx, inode: int, bucket: str, attrs: PosixAttrs, now_ns: int) -> None:
    """Store ``attrs`` as inode ``inode``'s attributes (created with birth time ``now_ns``)."""
    values = {name: getattr(attrs, name) for name in ATTRIBUTES}
    if tx.run(_UPDATE_INODE, {"inode": inode, **{f"new_{k}": v for k, v in values.items()}}):
        return
    nlink = 2 if stat.S_ISDIR(attrs.mode) else 1
    tx.run(
        _INSERT_INODE,
        {"id": inode, "bucket": bucket, "nlink": nlink, "btime_ns": now_ns, **values},
    )


def projected(user_metadata: dict[str, str], attrs: PosixAttrs) -> dict[str, str]:
    """``user_metadata`` with the s3fs projection of ``attrs`` in place of its names."""
    kept = {k: v for k, v in user_metadata.items() if k not in PROJECTED}
    return kept | to_metadata(
        attrs.mode, attrs.uid, attrs.gid, attrs.atime_ns, attrs.mtime_ns, attrs.ctime_ns, attrs.rdev
    )


def fs_attributes(attributes: ObjectAttributes, attrs: PosixAttrs) -> ObjectAttributes:
    return replace(attributes, user_metadata=projected(dict(attributes.user_metadata), attrs))


def _typed(mode: int, directory: bool) -> int:
    """``mode`` with the file type an entry of that kind must have (a directory is always
    S_IFDIR; a file is never one, and gets S_IFREG when the metadata named no type)."""
    kind = stat.S_IFMT(mode)
    if directory:
        kind = stat.S_IFDIR
    elif kind in (0, stat.S_IFDIR):
        kind = stat.S_IFREG
    return kind | stat.S_IMODE(mode)


def inode_attrs(row: Row) -> PosixAttrs:
    """The attributes of a row carrying an inode's columns (``ATTRIBUTES`` by name)."""
    return PosixAttrs(
        mode=row.mode,
        uid=row.uid,
        gid=row.gid,
        atime_ns=row.atime_ns,
        mtime_ns=row.mtime_ns,
        ctime_ns=row.ctime_ns,
        rdev=row.rdev,
    )


def metadata_attrs(
    user_metadata: dict[str, str], directory: bool, last_modified: float
) -> PosixAttrs | None:
    """What user metadata says of the attributes, if it names a mode or an mtime; what it
    leaves out defaults to root's ownership, mode 0644 / 0755 and the version's time."""
    parsed = from_metadata(user_metadata)
    if parsed.mode is None and parsed.mtime_ns is None:
        return None
    default = DEFAULT_DIR_MODE if directory else DEFAULT_FILE_MODE
    modified = int(last_modified * 1_000_000_000)
    mtime = parsed.mtime_ns if parsed.mtime_ns is not None else modified
    return PosixAttrs(
        mode=_typed(parsed.mode if parsed.mode is not None else default, directory),
        uid=parsed.uid or 0,
        gid=parsed.gid or 0,
        atime_ns=parsed.atime_ns if parsed.atime_ns is not None else mtime,
        mtime_ns=mtime,
        ctime_ns=parsed.ctime_ns if parsed.ctime_ns is not None else mtime,
        rdev=parsed.rdev or 0,
    )


def entry_attrs(row: Row, directory: bool) -> PosixAttrs | None:
    """The attributes of a version row joined with its inode row (``inode`` is None when it
    has none): see the module docstring."""
    if row.inode is not None:
        return inode_attrs(row)
    return metadata_attrs(row.user_metadata, directory, row.last_modified)


def default_attrs(directory: bool, last_modified: float, now_ns: int) -> PosixAttrs:
    """What an entry without stored attributes shows once some must be stored (a setattr or
    an xattr of an entry the mount never touched)."""
    modified = int(last_modified * 1_000_000_000) if last_modified else now_ns
    return PosixAttrs(
        mode=DEFAULT_DIR_MODE if directory else DEFAULT_FILE_MODE,
        uid=0,
        gid=0,
        atime_ns=modified,
        mtime_ns=modified,
        ctime_ns=modified,
    )
