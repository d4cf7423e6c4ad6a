"""The file namespace over a bucket's keys: look-ups, directory pages, mkdir, create, remove.

Layer: coordinator database package. Each public function is a synchronous operation of a
``Tx``, run whole in one transaction by ``Database.read`` / ``Database.write`` (the ``Namespace``
repository, ``db/namespace_repo.py``); the meaning of every operation is the module docstring
of ``wormfs.wire.fs``. Contract of the building blocks, shared with ``db/namespace_moves.py``
and ``db/namespace_attrs.py``:

* ``find`` tells what a path is: a directory (explicit: its marker row ``path + "/"``;
  implicit: some key below it; the root), a file (its current version's row), or nothing.
  Dir wins over a file of the same name. At most two indexed queries.
* ``parent_of`` checks that a path's parent is a directory (``NoSuchEntryError`` /
  ``NotADirectoryEntryError`` naming the parent).
* ``make_version`` stores an inline version (a marker or a created file) as the key's
  current one; ``retire`` removes a version as S3 DELETE does (its chunks queued for GC, its
  inode row gone with its last name); ``keep_parent`` makes an implicit directory explicit
  when its last entry went, so it does not vanish.
* ``to_entry`` turns a row (``ENTRY`` columns) into an ``FsEntry``.

Directory pages walk the keys under the directory's prefix with the listing's roll-up walk
(``db/listing.py``): files come with their attributes and a flag saying whether a directory of
the same name hides them (one correlated index probe each, in the batch's query); the
subdirectories' markers are read in one batch per page. So a page is a bounded number of
queries, never one per entry.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import stat
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, cast

from msgspec.structs import replace
from sqlalchemy import bindparam, exists, select, true

from wormfs.coordinator.db.inodes import entry_attrs, projected, put_inode
from wormfs.coordinator.db.listing import MAX_PAGE, KeyBound, key_batches, walk_keys
from wormfs.coordinator.db.listing import prefix_end as prefix_end
from wormfs.coordinator.db.manifests import delete_version, owned_bucket
from wormfs.coordinator.db.profiles import bucket_class
from wormfs.coordinator.db.tables import inodes, object_data, objects
from wormfs.coordinator.db.tx import Row, Tx
from wormfs.coordinator.db.versioning import OFF, bucket_versioning, written_s3_version_id
from wormfs.coordinator.db.versions import (
    INODE_OF,
    IS_LATEST,
    drop_inode,
    insert_version,
    lock_key,
    make_room,
    retire_version,
)
from wormfs.errors import (
    DirectoryNotEmptyError,
    EntryExistsError,
    InvalidInputError,
    InvalidMoveError,
    IsADirectoryEntryError,
    NoSuchEntryError,
    NotADirectoryEntryError,
)
from wormfs.format.layout import Profile
from wormfs.ids import new_version_id
from wormfs.wire.coordinator import INLINE_LIMIT, ObjectAttributes, ObjectManifest
from wormfs.wire.fs import (
    DIRECTORY_TYPE,
    MAX_NAME,
    FsEntry,
    FsEntryList,
    MakeEntry,
    PosixAttrs,
    RemoveEntry,
)

FILE_TYPE = "binary/octet-stream"
NS = 1_000_000_000

ENTRY = select(
    objects.c.id,
    objects.c.key,
    objects.c.version_id,
    objects.c.is_delete_marker,
    objects.c.size,
    objects.c.etag,
    objects.c.last_modified,
    objects.c.user_metadata,
    INODE_OF.label("inode_of"),
    inodes.c.id.label("inode"),
    inodes.c.mode,
    inodes.c.uid,
    inodes.c.gid,
    inodes.c.nlink,
    inodes.c.rdev,
    inodes.c.atime_ns,
    inodes.c.mtime_ns,
    inodes.c.ctime_ns,
).select_from(objects.outerjoin(inodes, inodes.c.id == INODE_OF))
_BUCKET = objects.c.bucket == bindparam("bucket")
AT_KEYS = ENTRY.where(_BUCKET, objects.c.key.in_(bindparam("keys", expanding=True)), IS_LATEST)
# Equalities, not the bare IS_LATEST: range scans stay on ix_objects_listing in key order.
_LIVE = (_BUCKET, objects.c.is_latest == true(), objects.c.is_delete_marker == False)  # noqa: E712
_IN_RANGE = (objects.c.key >= bindparam("low"), objects.c.key < bindparam("high"))
FIRST_BELOW = select(objects.c.key).where(*_LIVE, *_IN_RANGE).order_by(objects.c.key).limit(1)
# Below a directory but not its marker: what makes it non-empty.
FIRST_INSIDE = (
    select(objects.c.key)
    .where(*_LIVE, objects.c.key > bindparam("low"), objects.c.key < bindparam("high"))
    .order_by(objects.c.key)
    .limit(1)
)
_below = objects.alias("below")
# A file "a" is hidden by a directory "a" when some current key starts with "a/".
_SHADOWED = (
    exists()
    .where(
        _below.c.bucket == objects.c.bucket,
        _below.c.is_latest == true(),
        _below.c.is_delete_marker == False,  # noqa: E712
        _below.c.key >= objects.c.key + "/",
        _below.c.key < objects.c.key + "0",
    )
    .label("shadowed")
)
_CHILDREN = ENTRY.add_columns(_SHADOWED).where(*_LIVE)
_CHILD_BATCHES = key_batches(_CHILDREN, objects.c.key, [objects.c.key])
_INSERT_DATA = object_data.insert()


# ---- what a path is ------------------------------------------------------------------------
@dataclass(frozen=True)
class Found:
    """A path that exists: a directory (``row`` its marker, None when implicit or the root)
    or a file (``row`` its current version)."""

    kind: Literal["file", "dir"]
    row: Row | None


ROOT = Found("dir", None)


def marker_key(path: str) -> str:
    return path + "/"


def below_range(path: str) -> dict[str, str]:
    """The bind parameters ``low``/``high`` of the keys below directory ``path``."""
    low = marker_key(path)
    return {"low": low, "high": cast(str, prefix_end(low))}


def any_below(tx: Tx, bucket: str, path: str) -> bool:
    """True if some current key starts with ``path + "/"`` (the marker included)."""
    return tx.one(FIRST_BELOW, {"bucket": bucket, **below_range(path)}) is not None


def rows_at(tx: Tx, bucket: str, keys: Sequence[str]) -> dict[str, Row]:
    """The current (non-delete-marker) version row of each key that has one."""
    if not keys:
        return {}
    rows = tx.all(AT_KEYS, {"bucket": bucket, "keys": sorted(set(keys))})
    return {r.key: r for r in rows if not r.is_delete_marker}


def find(tx: Tx, bucket: str, path: str) -> Found | None:
    if path == "":
        return ROOT
    rows = rows_at(tx, bucket, [path, marker_key(path)])
    marker = rows.get(marker_key(path))
    if marker is not None:
        return Found("dir", marker)
    if any_below(tx, bucket, path):
        return Found("dir", None)
    row = rows.get(path)
    return Found("file", row) if row is not None else None


def require(tx: Tx, bucket: str, path: str) -> Found:
    found = find(tx, bucket, path)
    if found is None:
        raise NoSuchEntryError(bucket=bucket, key=path)
    return found


def parent_path(path: str) -> str:
    return path.rpartition("/")[0]


def name_of(path: str) -> str:
    return path.rpartition("/")[2]


def parent_of(tx: Tx, bucket: str, path: str) -> str:
    """``path``'s parent, which must be a directory (see the module docstring)."""
    parent = parent_path(path)
    found = find(tx, bucket, parent)
    if found is None:
        raise NoSuchEntryError(bucket=bucket, key=parent)
    if found.kind == "file":
        raise NotADirectoryEntryError(bucket=bucket, key=parent)
    return parent


def to_entry(path: str, found: Found) -> FsEntry:
    row = found.row
    directory = found.kind == "dir"
    if row is None:  # the root (ino 1) or an implicit directory (no ino)
        return FsEntry(
            path=path, name=name_of(path), ino=0 if path else 1, kind="dir", size=0, nlink=2,
            last_modified=0.0,
        )  # fmt: skip
    nlink = 2 if directory else (row.nlink if row.inode is not None else 1)
    return FsEntry(
        path=path,
        name=name_of(path),
        ino=int(row.inode_of) + 1,
        kind=found.kind,
        size=0 if directory else int(row.size),
        nlink=nlink,
        last_modified=row.last_modified,
        attrs=entry_attrs(row, directory),
        version_id=row.version_id,
        etag=row.etag,
    )


# ---- changes -------------------------------------------------------------------------------
def make_version(
    tx: Tx,
    bucket: str,
    key: str,
    owner_id: str,
    attributes: ObjectAttributes,
    data: bytes,
    profile: Profile,
    now: float,
) -> int:
    """Store an inline version of ``key`` (which has no current version); its row id. In a
    bucket with versioning enabled it is a version of its own, as an S3 PUT's would be."""
    version_id = new_version_id()
    manifest = ObjectManifest(
        bucket=bucket,
        key=key,
        version_id=version_id,
        s3_version_id=written_s3_version_id(bucket_versioning(tx, bucket), version_id),
        owner_id=owner_id,
        size=len(data),
        etag='"' + hashlib.md5(data).hexdigest() + '"',
        last_modified=now,
        profile=profile,
        parts=[],
        attributes=attributes,
    )
    object_id = insert_version(tx, manifest, now)
    tx.run(_INSERT_DATA, {"object_id": object_id, "data": data})
    return object_id


def make_marker(
    tx: Tx,
    bucket: str,
    path: str,
    owner_id: str,
    attrs: PosixAttrs | None,
    profile: Profile,
    now: float,
    content_type: str | None = None,
) -> int:
    """Make directory ``path`` explicit: its marker, with its inode row if ``attrs``."""
    meta = projected({}, attrs) if attrs is not None else {}
    attributes = ObjectAttributes(content_type=content_type or DIRECTORY_TYPE, user_metadata=meta)
    object_id = make_version(tx, bucket, marker_key(path), owner_id, attributes, b"", profile, now)
    if attrs is not None:
        put_inode(tx, object_id, bucket, attrs, int(now * NS))
    return object_id


def retire(tx: Tx, row: Row, now: float, gc_delay: float) -> None:
    """Remove a current version, and its inode row with its last name."""
    retire_version(tx, int(row.id), now, gc_delay)
    drop_inode(tx, row.inode)


def remove_current(
    tx: Tx, bucket: str, owner_id: str, row: Row, now: float, gc_delay: float
) -> None:
    """What an unlink or rmdir does to the entry's current version: as an S3 DELETE of its
    key, retired, or in a bucket that has versioning hidden behind a delete marker (the
    version is kept, as S3 keeps it)."""
    if bucket_versioning(tx, bucket) == OFF:
        retire(tx, row, now, gc_delay)
    else:
        delete_version(tx, bucket, row.key, None, owner_id, now, gc_delay)


def keep_parent(
    tx: Tx, bucket: str, path: str, owner_id: str, profile: Profile, now: float
) -> None:
    """After ``path`` left its parent: an implicit parent left empty gets its marker. The
    parent's marker key is locked first (PostgreSQL), so two removals of its last entries
    take turns and the second one sees the first's."""
    parent = parent_path(path)
    if not parent:
        return
    lock_key(tx, bucket, marker_key(parent))
    if not any_below(tx, bucket, parent):
        make_marker(tx, bucket, parent, owner_id, None, profile, now)


def _make_room(tx: Tx, bucket: str, path: str, key: str, now: float, gc_delay: float) -> None:
    """Before a new entry ``path`` (stored at ``key``): its parent must be a directory and the
    path free. The parent's marker key and both keys of the path are locked first
    (PostgreSQL), so a concurrent rmdir of the parent, or a create or mkdir of the same
    name, waits for this transaction and then sees its entry."""
    parent = parent_path(path)
    if parent:
        lock_key(tx, bucket, marker_key(parent))
    lock_key(tx, bucket, path)
    lock_key(tx, bucket, marker_key(path))
    parent_of(tx, bucket, path)
    if path == "" or find(tx, bucket, path) is not None:
        raise EntryExistsError(bucket=bucket, key=path)
    make_room(tx, bucket, key, None, None, now, gc_delay)  # nothing live there: a no-op


def mkdir(
    tx: Tx, bucket: str, req: MakeEntry, profile: Profile, now: float, gc_delay: float
) -> FsEntry:
    owned_bucket(tx, bucket, req.owner_id)
    if not stat.S_ISDIR(req.attrs.mode):
        raise InvalidInputError("mkdir makes directories: the mode must have S_IFDIR")
    _make_room(tx, bucket, req.path, marker_key(req.path), now, gc_delay)
    make_marker(tx, bucket, req.path, req.owner_id, req.attrs, profile, now, req.content_type)
    return to_entry(req.path, require(tx, bucket, req.path))


def create(
    tx: Tx, bucket: str, req: MakeEntry, profile: Profile, now: float, gc_delay: float
) -> FsEntry:
    owned_bucket(tx, bucket, req.owner_id)
    kind = stat.S_IFMT(req.attrs.mode)
    if kind == stat.S_IFDIR:
        raise InvalidInputError("create makes files: use mkdir for a directory")
    if len(req.data) > INLINE_LIMIT:
        raise InvalidInputError(f"create takes at most {INLINE_LIMIT} bytes of data")
    attrs = req.attrs if kind else replace(req.attrs, mode=req.attrs.mode | stat.S_IFREG)
    _make_room(tx, bucket, req.path, req.path, now, gc_delay)
    attributes = ObjectAttributes(
        content_type=req.content_type or FILE_TYPE,
        user_metadata=projected({}, attrs),
        # A file made through the mount is of its bucket's default class, as its later
        # writes are (its few bytes are inline: the profile codes nothing).
        storage_class=bucket_class(tx, bucket),
    )
    object_id = make_version(tx, bucket, req.path, req.owner_id, attributes, req.data, profile, now)
    put_inode(tx, object_id, bucket, attrs, int(now * NS))
    return to_entry(req.path, require(tx, bucket, req.path))


def remove(
    tx: Tx, bucket: str, req: RemoveEntry, profile: Profile, now: float, gc_delay: float
) -> None:
    owned_bucket(tx, bucket, req.owner_id)
    path = req.path
    if path == "":
        raise (
            InvalidMoveError(bucket=bucket, key=path)
            if req.directory
            else IsADirectoryEntryError(bucket=bucket, key=path)
        )
    lock_key(tx, bucket, path)
    lock_key(tx, bucket, marker_key(path))
    found = require(tx, bucket, path)
    if not req.directory:
        if found.kind == "dir":
            raise IsADirectoryEntryError(bucket=bucket, key=path)
    else:
        if found.kind == "file":
            raise NotADirectoryEntryError(bucket=bucket, key=path)
        if tx.one(FIRST_INSIDE, {"bucket": bucket, **below_range(path)}) is not None:
            raise DirectoryNotEmptyError(bucket=bucket, key=path)
    if found.row is not None:
        remove_current(tx, bucket, req.owner_id, found.row, now, gc_delay)
    keep_parent(tx, bucket, path, req.owner_id, profile, now)


# ---- reads ---------------------------------------------------------------------------------
def entry(tx: Tx, bucket: str, owner_id: str, path: str) -> FsEntry:
    owned_bucket(tx, bucket, owner_id)
    return to_entry(path, require(tx, bucket, path))


def _token(bound: KeyBound) -> str:
    return base64.urlsafe_b64encode(json.dumps(list(bound)).encode()).decode()


def _bound(token: str, prefix: str) -> KeyBound:
    try:
        op, key = json.loads(base64.urlsafe_b64decode(token.encode()))
    except (ValueError, TypeError, binascii.Error):
        raise InvalidInputError("not a directory page token") from None
    if op not in (">", ">=") or not isinstance(key, str) or not key.startswith(prefix):
        raise InvalidInputError("not a page token of this directory")
    return cast(KeyBound, (op, key))


def valid_name(name: str) -> bool:
    """A key's name inside its directory is a path component (else the key is skipped)."""
    if name in ("", ".", "..") or "\0" in name:
        return False
    return len(name.encode("utf-8", "surrogatepass")) <= MAX_NAME


def entries(
    tx: Tx, bucket: str, owner_id: str, directory: str, token: str | None, limit: int
) -> FsEntryList:
    owned_bucket(tx, bucket, owner_id)
    if require(tx, bucket, directory).kind == "file":
        raise NotADirectoryEntryError(bucket=bucket, key=directory)
    limit = max(1, min(limit, MAX_PAGE))
    prefix = marker_key(directory) if directory else ""
    upper = prefix_end(prefix) if prefix else None
    # Past the directory's own marker (the key equal to the prefix).
    start: KeyBound | None = _bound(token, prefix) if token else (">", prefix) if prefix else None

    walk = walk_keys(tx, _CHILD_BATCHES, bucket, start, upper, prefix, "/", limit)
    markers = rows_at(tx, bucket, walk.prefixes)
    found: list[tuple[str, str, Found]] = []  # (key, name, what)
    for row in walk.items:
        name = row.key[len(prefix) :]
        if valid_name(name) and not row.shadowed:
            found.append((row.key, name, Found("file", row)))
    for common in walk.prefixes:
        name = common[len(prefix) : -1]
        if valid_name(name):
            found.append((common, name, Found("dir", markers.get(common))))
    found.sort(key=lambda item: item[0])
    page = [to_entry(prefix + name, what) for _, name, what in found]
    next_token = None
    if walk.truncated:
        if walk.last_prefix is not None:
            end = prefix_end(walk.last_prefix)
            next_token = _token((">=", end)) if end is not None else None
        else:
            next_token = _token((">", walk.items[-1].key))
    return FsEntryList(entries=page, next_token=next_token)
