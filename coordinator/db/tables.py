"""The declared tables as SQLAlchemy Core ``Table`` objects, for statements to be written over.

Layer: coordinator database package, right above ``models`` (which declares the schema for
Alembic and the migration test). Every statement of the coordinator is written in Core over
these tables — columns by attribute (``objects.c.etag``), so a misspelt column fails at import,
not at run time — and run by ``Database.read`` / ``Database.write`` through a ``Tx``. Nothing
above the database package sees them.
"""

from __future__ import annotations

from typing import cast

from sqlalchemy import Table

from wormfs.coordinator.db import models


def _table(model: type[models.Base]) -> Table:
    return cast(Table, model.__table__)


cluster_meta = _table(models.ClusterMeta)
users = _table(models.User)
access_keys = _table(models.AccessKey)
buckets = _table(models.Bucket)
objects = _table(models.ObjectVersion)
object_data = _table(models.ObjectData)
uploads = _table(models.Upload)
parts = _table(models.Part)
segments = _table(models.Segment)
chunk_placements = _table(models.ChunkPlacementRow)
nodes = _table(models.Node)
disks = _table(models.Disk)
pending_writes = _table(models.PendingWrite)
gc_queue = _table(models.GcEntry)
repair_queue = _table(models.RepairEntry)
disk_care = _table(models.DiskCare)
inodes = _table(models.Inode)
xattrs = _table(models.Xattr)
admin_tokens = _table(models.AdminToken)
audit_log = _table(models.AuditRecord)
jobs = _table(models.Job)
job_throttles = _table(models.JobThrottle)
profiles = _table(models.NamedProfile)
