"""Attributes of the file namespace: setattr, extended attributes, and the file system's size.

Layer: coordinator database package; each public function is a synchronous operation of a
``Tx``, run whole in one transaction by the ``Namespace`` repository. Contract:

* ``setattr`` changes an entry's mode (permission bits only: the file type stays), owner,
  times and ctime; it stores the inode row (made on demand, with the inode id the version
  already had) and rewrites the s3fs names of the version's user metadata in the same
  transaction, so S3 GET/HEAD, s3fs and rclone see the change. An implicit directory gets
  its marker first. The root's attributes are the mount's own: a setattr of ``""`` changes
  nothing.
* ``xattrs`` / ``set_xattr`` / ``remove_xattr``: the extended attributes of an entry's inode
  (``NoSuchAttributeError``, ``AttributeExistsError`` for XATTR_CREATE / XATTR_REPLACE);
  setting one makes the inode row (and an implicit directory's marker) on demand.
* ``stats``: raw capacity and free bytes of the online disks on live nodes, as user bytes
  at the cluster's profile (x k/(k+m)), and the number of current versions.
"""

from __future__ import annotations

import stat

from msgspec.structs import replace
from sqlalchemy import bindparam, delete, func, insert, select, true, update

from wormfs.coordinator.db.inodes import default_attrs, entry_attrs, projected, put_inode
from wormfs.coordinator.db.liveness import NODE_LIVE, horizon
from wormfs.coordinator.db.manifests import owned_bucket
from wormfs.coordinator.db.namespace import (
    NS,
    Found,
    make_marker,
    marker_key,
    require,
    to_entry,
)
from wormfs.coordinator.db.tables import disks, nodes, objects, xattrs
from wormfs.coordinator.db.tx import Row, Tx
from wormfs.coordinator.db.versions import lock_key
from wormfs.errors import AttributeExistsError, InvalidInputError, NoSuchAttributeError
from wormfs.format.layout import Profile
from wormfs.wire.fs import FsEntry, FsStats, PosixAttrs, SetAttributes, SetXattr, XattrSet

MAX_XATTR_NAME = 255  # bytes (XATTR_NAME_MAX)
MAX_XATTR_VALUE = 64 * 1024  # bytes (XATTR_SIZE_MAX)

_SET_METADATA = (
    update(objects)
    .where(objects.c.id == bindparam("object_id"))
    .values(user_metadata=bindparam("new_metadata", type_=objects.c.user_metadata.type))
)
_XATTRS = (
    select(xattrs.c.name, xattrs.c.value)
    .where(xattrs.c.inode_id == bindparam("inode"))
    .order_by(xattrs.c.name)
)
_XATTR_NAMED = (xattrs.c.inode_id == bindparam("inode"), xattrs.c.name == bindparam("xname"))
_HAS_XATTR = select(xattrs.c.name).where(*_XATTR_NAMED)
_UPDATE_XATTR = update(xattrs).where(*_XATTR_NAMED).values(value=bindparam("new_value"))
_INSERT_XATTR = insert(xattrs)
_DELETE_XATTR = delete(xattrs).where(*_XATTR_NAMED)
_SPACE = (
    select(
        func.coalesce(func.sum(disks.c.capacity_bytes), 0).label("capacity"),
        func.coalesce(func.sum(disks.c.free_bytes), 0).label("free"),
    )
    .select_from(disks.join(nodes, nodes.c.node_id == disks.c.node_id))
    .where(NODE_LIVE, disks.c.state == "online")
)
_FILES = (
    select(func.count())
    .select_from(objects)
    .where(objects.c.is_latest == true(), objects.c.is_delete_marker == False)  # noqa: E712
)


def _lock(tx: Tx, bucket: str, path: str) -> None:
    lock_key(tx, bucket, path)
    lock_key(tx, bucket, marker_key(path))


def _changed(current: PosixAttrs, req: SetAttributes) -> PosixAttrs:
    mode = current.mode
    if req.mode is not None:
        mode = stat.S_IFMT(current.mode) | (req.mode & 0o7777)
    return replace(
        current,
        mode=mode,
        uid=current.uid if req.uid is None else req.uid,
        gid=current.gid if req.gid is None else req.gid,
        atime_ns=current.atime_ns if req.atime_ns is None else req.atime_ns,
        mtime_ns=current.mtime_ns if req.mtime_ns is None else req.mtime_ns,
        ctime_ns=req.ctime_ns,
    )


def _stored(
    tx: Tx, bucket: str, owner_id: str, path: str, found: Found, profile: Profile, now: float
) -> tuple[Row, PosixAttrs]:
    """The version row of an entry that can hold attributes, and its attributes now: an
    implicit directory gets its marker (attributes: the defaults) first."""
    now_ns = int(now * NS)
    directory = found.kind == "dir"
    if found.row is None:
        make_marker(tx, bucket, path, owner_id, None, profile, now)
        found = require(tx, bucket, path)
    row = found.row
    assert row is not None
    current = entry_attrs(row, directory) or default_attrs(directory, row.last_modified, now_ns)
    return row, current


def setattr_entry(tx: Tx, bucket: str, req: SetAttributes, profile: Profile, now: float) -> FsEntry:
    owned_bucket(tx, bucket, req.owner_id)
    path = req.path
    if path == "":
        return to_entry(path, require(tx, bucket, path))
    _lock(tx, bucket, path)
    found = require(tx, bucket, path)
    row, current = _stored(tx, bucket, req.owner_id, path, found, profile, now)
    new = _changed(current, req)
    put_inode(tx, int(row.inode_of), bucket, new, int(now * NS))
    meta = projected(dict(row.user_metadata), new)
    tx.run(_SET_METADATA, {"object_id": row.id, "new_metadata": meta})
    return to_entry(path, require(tx, bucket, path))


def xattrs_of(tx: Tx, bucket: str, owner_id: str, path: str) -> XattrSet:
    owned_bucket(tx, bucket, owner_id)
    row = require(tx, bucket, path).row
    if row is None or row.inode is None:
        return XattrSet(values={})
    rows = tx.all(_XATTRS, {"inode": row.inode})
    return XattrSet(values={r.name: bytes(r.value) for r in rows})


def check_xattr(name: str, value: bytes = b"") -> None:
    if not 1 <= len(name.encode("utf-8", "surrogatepass")) <= MAX_XATTR_NAME or "\0" in name:
        raise InvalidInputError(f"an extended attribute's name is 1-{MAX_XATTR_NAME} bytes")
    if len(value) > MAX_XATTR_VALUE:
        raise InvalidInputError(f"an extended attribute's value is at most {MAX_XATTR_VALUE} bytes")


def set_xattr(tx: Tx, bucket: str, req: SetXattr, profile: Profile, now: float) -> None:
    owned_bucket(tx, bucket, req.owner_id)
    if req.path == "":
        raise InvalidInputError("the root of the bucket has no extended attributes")
    _lock(tx, bucket, req.path)
    found = require(tx, bucket, req.path)
    row, current = _stored(tx, bucket, req.owner_id, req.path, found, profile, now)
    inode = int(row.inode_of)
    if row.inode is None:
        put_inode(tx, inode, bucket, current, int(now * NS))
    named = {"inode": inode, "xname": req.name}
    exists = tx.one(_HAS_XATTR, named) is not None
    if exists and req.mode == "create":
        raise AttributeExistsError(bucket=bucket, key=req.path)
    if not exists and req.mode == "replace":
        raise NoSuchAttributeError(bucket=bucket, key=req.path)
    if exists:
        tx.run(_UPDATE_XATTR, {**named, "new_value": req.value})
    else:
        tx.run(_INSERT_XATTR, {"inode_id": inode, "name": req.name, "value": req.value})


def remove_xattr(tx: Tx, bucket: str, owner_id: str, path: str, name: str) -> None:
    owned_bucket(tx, bucket, owner_id)
    row = require(tx, bucket, path).row
    gone = 0
    if row is not None and row.inode is not None:
        gone = tx.run(_DELETE_XATTR, {"inode": row.inode, "xname": name})
    if not gone:
        raise NoSuchAttributeError(bucket=bucket, key=path)


def stats(tx: Tx, profile: Profile, now: float, offline_after: float) -> FsStats:
    space = tx.one(_SPACE, horizon(now, offline_after))
    k, n = profile.k, profile.k + profile.m
    capacity = int(space.capacity) if space is not None else 0
    free = int(space.free) if space is not None else 0
    return FsStats(
        capacity_bytes=capacity * k // n, free_bytes=free * k // n, files=int(tx.scalar(_FILES))
    )
