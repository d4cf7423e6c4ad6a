"""rename(2) over a bucket's keys: files, whole directories, replacing and exchanging.

Layer: coordinator database package; ``rename`` is a synchronous operation of a ``Tx``, run
whole in one transaction by ``Database.write`` (the ``Namespace`` repository). The semantics
are those of ``wormfs.wire.fs.RenameEntry``. Contract:

* a file moves by rewriting its version row's key; a directory by rewriting every key below
  it (its marker included) with ONE set-based UPDATE over the key range ``old/ <= key <
  old0`` (``key = new/ || substr(key, len(old/) + 1)``): no loop over rows, no data moved,
  and rows keep their ids and inode ids, so every ino stays;
* a replaced target (a file, or an empty directory's marker) goes as an S3 overwrite makes it
  go: retired (chunks queued for GC, inode row dropped), or kept as a version no longer
  current in a bucket with versioning;
* a file moves with its current version only: in a bucket with versioning its older
  versions stay under the old name, under a new delete marker;
* a version under Object Lock never moves (``ObjectLockedError``): it stays under the key it
  was locked under;
* an exchange swaps the two through a temporary name at the bucket's root, which nothing
  sees (it lives only inside the transaction), so the unique index of current keys holds
  after every statement on PostgreSQL;
* the keys involved (both paths, their markers and their parents' markers) are locked first
  (``versions.lock_key``, PostgreSQL), in one order, so concurrent changes of the same names
  wait in line.
"""

from __future__ import annotations

from sqlalchemy import Integer, String, bindparam, func, select, update

from wormfs.coordinator.db.manifests import delete_version, owned_bucket
from wormfs.coordinator.db.namespace import (
    FIRST_INSIDE,
    Found,
    below_range,
    find,
    keep_parent,
    marker_key,
    parent_of,
    parent_path,
    require,
    retire,
    rows_at,
)
from wormfs.coordinator.db.tables import objects
from wormfs.coordinator.db.tx import Tx
from wormfs.coordinator.db.versioning import OFF, bucket_versioning
from wormfs.coordinator.db.versions import DEMOTE, UNLOCKED, lock_key
from wormfs.errors import (
    DirectoryNotEmptyError,
    EntryExistsError,
    InvalidInputError,
    InvalidMoveError,
    IsADirectoryEntryError,
    NoSuchEntryError,
    NotADirectoryEntryError,
    ObjectLockedError,
)
from wormfs.format.layout import Profile
from wormfs.ids import new_id
from wormfs.wire.fs import RenameEntry

_MOVE_ROW = (
    update(objects).where(objects.c.id == bindparam("object_id")).values(key=bindparam("new_key"))
)
_MOVE_RANGE = (
    update(objects)
    .where(
        objects.c.bucket == bindparam("bucket"),
        objects.c.key >= bindparam("low"),
        objects.c.key < bindparam("high"),
    )
    .values(
        key=bindparam("new_prefix", type_=String())
        + func.substr(objects.c.key, bindparam("cut", type_=Integer()))
    )
)

_ANY_VERSION = (
    select(objects.c.id)
    .where(objects.c.bucket == bindparam("bucket"), objects.c.key == bindparam("key"))
    .limit(1)
)
_LOCKED = ~UNLOCKED  # at bind parameter ``now``
_ROW_LOCKED = select(objects.c.id).where(objects.c.id == bindparam("object_id"), _LOCKED)
_RANGE_LOCKED = (
    select(objects.c.id)
    .where(
        objects.c.bucket == bindparam("bucket"),
        objects.c.key >= bindparam("low"),
        objects.c.key < bindparam("high"),
        _LOCKED,
    )
    .limit(1)
)


def _move(tx: Tx, bucket: str, what: Found, old: str, new: str, now: float) -> int:
    """Move an entry from path ``old`` to path ``new``: the rows it is made of. A locked
    version (db/object_lock.py) stays under the key it is locked under: ``ObjectLockedError``."""
    if what.kind == "file":
        assert what.row is not None
        if tx.one(_ROW_LOCKED, {"object_id": what.row.id, "now": now}) is not None:
            raise ObjectLockedError(bucket=bucket, key=old)
        return tx.run(_MOVE_ROW, {"object_id": what.row.id, "new_key": new})
    below = {"bucket": bucket, **below_range(old)}
    if tx.one(_RANGE_LOCKED, {**below, "now": now}) is not None:
        raise ObjectLockedError(bucket=bucket, key=old)
    params = {**below, "new_prefix": marker_key(new)}
    return tx.run(_MOVE_RANGE, {**params, "cut": len(marker_key(old)) + 1})


def _inside(path: str, directory: str) -> bool:
    return path.startswith(marker_key(directory))


def _lock(tx: Tx, bucket: str, *paths: str) -> None:
    keys: set[str] = set()
    for path in paths:
        keys.update((path, marker_key(path)))
        if parent_path(path):
            keys.add(marker_key(parent_path(path)))
    for key in sorted(keys):
        lock_key(tx, bucket, key)


def _replace(
    tx: Tx, bucket: str, source: Found, target: Found, dst: str, now: float, gc_delay: float
) -> None:
    """Make room at ``dst`` for ``source``: a file over a file, a directory over an empty
    directory; the target's version (file or marker) is retired."""
    if source.kind == "file" and target.kind == "dir":
        raise IsADirectoryEntryError(bucket=bucket, key=dst)
    if source.kind == "dir":
        if target.kind == "file":
            raise NotADirectoryEntryError(bucket=bucket, key=dst)
        if tx.one(FIRST_INSIDE, {"bucket": bucket, **below_range(dst)}) is not None:
            raise DirectoryNotEmptyError(bucket=bucket, key=dst)
    if target.row is None:
        return
    if bucket_versioning(tx, bucket) == OFF:
        retire(tx, target.row, now, gc_delay)
    else:  # as an S3 overwrite there: the replaced version is kept, no longer current
        tx.run(DEMOTE, {"object_id": target.row.id})


def _exchange(
    tx: Tx, bucket: str, src: str, source: Found, dst: str, target: Found, now: float
) -> None:
    # A file landing where a directory was must not meet a file hidden under that directory.
    for path, moving, there in ((src, target, source), (dst, source, target)):
        if moving.kind == "file" and there.kind == "dir" and rows_at(tx, bucket, [path]):
            raise EntryExistsError(bucket=bucket, key=path)
    temporary = f".wormfs-exchange-{new_id()}"
    _move(tx, bucket, source, src, temporary, now)
    _move(tx, bucket, target, dst, src, now)
    _move(tx, bucket, source, temporary, dst, now)


def rename(
    tx: Tx, bucket: str, req: RenameEntry, profile: Profile, now: float, gc_delay: float
) -> None:
    owned_bucket(tx, bucket, req.owner_id)
    src, dst = req.source, req.target
    if req.noreplace and req.exchange:
        raise InvalidInputError("a rename cannot both refuse to replace and exchange")
    if src == "" or dst == "":
        raise InvalidMoveError(bucket=bucket, key=src if src == "" else dst)
    _lock(tx, bucket, src, dst)
    source = require(tx, bucket, src)
    if src == dst:
        return
    parent_of(tx, bucket, dst)
    if (source.kind == "dir" and _inside(dst, src)) or (req.exchange and _inside(src, dst)):
        raise InvalidMoveError(bucket=bucket, key=dst)
    target = find(tx, bucket, dst)
    if req.exchange:
        if target is None:
            raise NoSuchEntryError(bucket=bucket, key=dst)
        _exchange(tx, bucket, src, source, dst, target, now)
        return
    if target is not None:
        if req.noreplace:
            raise EntryExistsError(bucket=bucket, key=dst)
        _replace(tx, bucket, source, target, dst, now, gc_delay)
    _move(tx, bucket, source, src, dst, now)
    if source.kind == "file" and tx.one(_ANY_VERSION, {"bucket": bucket, "key": src}):
        # Older versions stay under the old name (versioning): a delete marker on top makes
        # it read as deleted, as S3 shows a key after a copy and a delete.
        delete_version(tx, bucket, src, None, req.owner_id, now, gc_delay)
    keep_parent(tx, bucket, src, req.owner_id, profile, now)
