"""Object versions rebuilt from chunk headers, merged into a (restored or empty) database.

Layer: coordinator database package; ``restore_version`` is a synchronous operation of a
``Tx`` (one version per transaction, so a killed recovery resumes where it stopped: a
version already present is skipped). Contract, for one rebuilt manifest:

* ``present``: the database (the restored backup, or an earlier run) has that version id.
* ``superseded``: the key's latest version is newer (by last-modified): per key the newest
  version wins as latest, and buckets are unversioned, so the older one is not brought back.
* ``deleted``: a chunk of it is in the GC queue: the version was deleted or replaced before
  the recovery point, and stays so.
* ``recovered``: inserted as the key's latest, with its parts, segments and placements where
  the chunks are; an older latest version is retired (its chunks queued for GC, as an
  overwrite does). A bucket the database lacks is created with the object's owner.

``restore_owner`` enters an object's owner the database lacks as a user without keys (access
keys are only in the database: an administrator gives the user new ones); the id named
``root_owner`` becomes the root user, so the configured root key authenticates as it again.

``restore_disk`` first enters a disk (and its node) the database does not know, offline and
without an address, so placements can name it; the node's registration fills the rest.

Nothing here deletes a chunk file; retiring queues chunks as any overwrite would.
"""

from __future__ import annotations

from typing import Literal

from sqlalchemy import bindparam, insert, select, update

from wormfs.coordinator.db.tables import (
    buckets,
    cluster_meta,
    disks,
    gc_queue,
    nodes,
    objects,
    uploads,
    users,
)
from wormfs.coordinator.db.tx import Tx
from wormfs.coordinator.db.versions import insert_part, insert_version, lock_key, retire_version
from wormfs.wire.coordinator import ObjectManifest

Outcome = Literal["present", "deleted", "superseded", "recovered"]

_HAS_VERSION = select(objects.c.id).where(
    objects.c.bucket == bindparam("bucket"), objects.c.version_id == bindparam("version_id")
)
_HAS_UPLOAD = select(uploads.c.upload_id).where(uploads.c.upload_id == bindparam("upload_id"))
_COMPLETED = select(objects.c.id).where(objects.c.upload_id == bindparam("upload_id"))
_LATEST = select(objects.c.id, objects.c.last_modified).where(
    objects.c.bucket == bindparam("bucket"),
    objects.c.key == bindparam("key"),
    objects.c.is_latest.is_(True),
)
_QUEUED = select(gc_queue.c.id).where(
    gc_queue.c.chunk_id.in_(bindparam("chunk_ids", expanding=True))
)
_HAS_BUCKET = select(buckets.c.name).where(buckets.c.name == bindparam("name"))
_INSERT_BUCKET = insert(buckets)
_HAS_NODE = select(nodes.c.node_id).where(nodes.c.node_id == bindparam("node_id"))
_HAS_DISK = select(disks.c.disk_id).where(disks.c.disk_id == bindparam("disk_id"))
_INSERT_NODE = insert(nodes)
_HAS_USER = select(users.c.user_id).where(users.c.user_id == bindparam("user_id"))
_INSERT_USER = insert(users)
_META = select(cluster_meta.c.root_user_id).where(cluster_meta.c.id == 1)
_SEED_META = insert(cluster_meta).values(id=1, leader_epoch=0, leader_id="", leader_since=0.0)
_SET_ROOT = (
    update(cluster_meta)
    .where(cluster_meta.c.id == 1)
    .values(root_user_id=bindparam("root_user_id"))
)


def restore_owner(tx: Tx, owner_id: str, root_owner: str, now: float) -> bool:
    """Enter ``owner_id`` as a user (the root user when it is ``root_owner``) unless known."""
    if not owner_id or tx.one(_HAS_USER, {"user_id": owner_id}) is not None:
        return False
    is_root = owner_id == root_owner
    name = "root" if is_root else f"recovered-{owner_id[:12]}"
    tx.run(_INSERT_USER, {"user_id": owner_id, "display_name": name, "created": now})
    if is_root:
        meta = tx.one(_META)
        if meta is None:
            tx.run(_SEED_META)
        if meta is None or not meta.root_user_id:
            tx.run(_SET_ROOT, {"root_user_id": owner_id})
    return True


_INSERT_DISK = insert(disks)


def restore_disk(tx: Tx, disk_id: str, node_id: str, path: str, now: float) -> bool:
    """Enter an unknown disk (and node) offline; False when it was known already."""
    if tx.one(_HAS_DISK, {"disk_id": disk_id}) is not None:
        return False
    if tx.one(_HAS_NODE, {"node_id": node_id}) is None:
        tx.run(
            _INSERT_NODE,
            {
                "node_id": node_id,
                "address": "",
                "rack": "",
                "zone": "",
                "state": "offline",
                "registered": now,
                "last_heartbeat": 0.0,
            },
        )
    tx.run(
        _INSERT_DISK,
        {
            "disk_id": disk_id,
            "node_id": node_id,
            "path": path,
            "state": "offline",
            "capacity_bytes": 0,
            "free_bytes": 0,
            "used_bytes": 0,
            "chunk_count": 0,
            "error": "",
            "updated": now,
        },
    )
    return True


def has_version(tx: Tx, bucket: str, version_id: str, upload_id: str = "") -> bool:
    """Whether the database has that version, or (``upload_id``) that upload or the version
    completed from it: a part the headers cannot place is then not lost."""
    if tx.one(_HAS_VERSION, {"bucket": bucket, "version_id": version_id}) is not None:
        return True
    if not upload_id:
        return False
    params = {"upload_id": upload_id}
    return tx.one(_HAS_UPLOAD, params) is not None or tx.one(_COMPLETED, params) is not None


def restore_version(tx: Tx, manifest: ObjectManifest, now: float, gc_delay: float) -> Outcome:
    bucket, key = manifest.bucket, manifest.key
    if tx.one(_HAS_VERSION, {"bucket": bucket, "version_id": manifest.version_id}):
        return "present"
    lock_key(tx, bucket, key)
    latest = tx.one(_LATEST, {"bucket": bucket, "key": key})
    if latest is not None and float(latest.last_modified) >= manifest.last_modified:
        return "superseded"
    chunk_ids = [c.chunk_id for p in manifest.parts for s in p.segments for c in s.chunks]
    if chunk_ids and tx.one(_QUEUED, {"chunk_ids": chunk_ids}):
        return "deleted"
    if tx.one(_HAS_BUCKET, {"name": bucket}) is None:
        tx.run(
            _INSERT_BUCKET,
            {
                "name": bucket,
                "owner_id": manifest.owner_id,
                "created": manifest.last_modified,
                "region": "us-east-1",
                "settings": {},
            },
        )
    if latest is not None:
        retire_version(tx, int(latest.id), now, gc_delay)
    object_id = insert_version(tx, manifest, now)
    for record in manifest.parts:
        insert_part(tx, record, manifest.last_modified, object_id=object_id, upload_id=None)
    return "recovered"
