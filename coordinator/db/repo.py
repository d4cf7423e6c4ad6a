"""The repositories of the coordinator, bundled over one ``Database``.

Layer: the top of the coordinator database package; the HTTP handlers and background tasks
use only this. Each method of each repository is one transaction and speaks wire structs and
domain errors (see the module of each repository for its contract):

    identity  users and access keys        (db/identity.py)
    buckets   buckets                      (db/buckets.py)
    objects   writes, commits, reads       (db/objects.py)
    uploads   multipart uploads            (db/uploads.py)
    listing   object and upload listings   (db/listing.py)
    cluster   nodes and disks              (db/cluster.py)
    gc        gc queue, write expiry       (db/gc.py)
    namespace the mount's file namespace   (db/namespace_repo.py)
    profiles  named profiles, storage classes, bucket default classes (db/profiles.py)
    tags      object version and bucket tags (db/tagging.py)
    locks     Object Lock configurations, retentions, legal holds (db/object_lock.py)
    access    bucket policies and public access blocks (db/access.py)
    keys      master keys: data keys per wrapping key, re-wrapping (db/keys.py)
"""

from __future__ import annotations

from dataclasses import dataclass

from wormfs.config import CoordinatorConfig
from wormfs.coordinator.db import listing
from wormfs.coordinator.db.access import Access
from wormfs.coordinator.db.buckets import Buckets
from wormfs.coordinator.db.cluster import Cluster
from wormfs.coordinator.db.database import Database
from wormfs.coordinator.db.gc import GcQueue
from wormfs.coordinator.db.identity import Identity
from wormfs.coordinator.db.keys import MasterKeys
from wormfs.coordinator.db.namespace_repo import Namespace
from wormfs.coordinator.db.object_lock import ObjectLock
from wormfs.coordinator.db.objects import Objects
from wormfs.coordinator.db.profiles import Profiles
from wormfs.coordinator.db.tagging import Tags
from wormfs.coordinator.db.uploads import Uploads
from wormfs.wire.coordinator import ObjectList, UploadList, VersionList


class Listing:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def objects(
        self,
        bucket: str,
        prefix: str = "",
        delimiter: str = "",
        start_after: str = "",
        max_keys: int = listing.MAX_PAGE,
    ) -> ObjectList:
        return await listing.list_objects(
            self._db, bucket, prefix, delimiter, start_after, max_keys
        )

    async def versions(
        self,
        bucket: str,
        prefix: str = "",
        delimiter: str = "",
        key_marker: str = "",
        version_id_marker: str = "",
        max_keys: int = listing.MAX_PAGE,
    ) -> VersionList:
        return await listing.list_versions(
            self._db, bucket, prefix, delimiter, key_marker, version_id_marker, max_keys
        )

    async def uploads(
        self,
        bucket: str,
        prefix: str = "",
        delimiter: str = "",
        key_marker: str = "",
        upload_id_marker: str = "",
        max_uploads: int = listing.MAX_PAGE,
    ) -> UploadList:
        return await listing.list_uploads(
            self._db, bucket, prefix, delimiter, key_marker, upload_id_marker, max_uploads
        )


@dataclass(frozen=True)
class Repository:
    db: Database
    identity: Identity
    buckets: Buckets
    objects: Objects
    uploads: Uploads
    listing: Listing
    cluster: Cluster
    gc: GcQueue
    namespace: Namespace
    profiles: Profiles
    tags: Tags
    locks: ObjectLock
    access: Access
    keys: MasterKeys

    @classmethod
    def build(cls, db: Database, config: CoordinatorConfig) -> Repository:
        return cls(
            db=db,
            identity=Identity(db),
            buckets=Buckets(db),
            objects=Objects(db, config.coding, config.gc_delay, config.node_offline_after),
            uploads=Uploads(db, config.coding, config.gc_delay),
            listing=Listing(db),
            cluster=Cluster(db, config.heartbeat_interval, config.node_offline_after),
            gc=GcQueue(db, config.node_offline_after),
            namespace=Namespace(db, config.coding, config.gc_delay, config.node_offline_after),
            profiles=Profiles(db, config.coding, config.node_offline_after),
            tags=Tags(db),
            locks=ObjectLock(db),
            access=Access(db, config.lifecycle.day_seconds),
            keys=MasterKeys(db),
        )
