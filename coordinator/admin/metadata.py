"""The metadata backup resource: ``GET /admin/v1/metadata/backup``.

Layer: coordinator admin package, a resource module (``ROUTES``). Contract: answers the
backup shipper's ``BackupStatus`` (``wormfs.wire.metabackup``: generation, recovery point,
lag, last success and error, ``stale``) on the leader; elsewhere ``NotLeaderError`` as the
internal route does. ``stale_reason`` is the detail of the health reason
``metadata_backup_stale`` (None while the backup keeps up, or runs nowhere: PostgreSQL).
"""

from __future__ import annotations

from wormfs.coordinator.admin.routes import AdminCall, Route
from wormfs.coordinator.backup_api import BACKUP
from wormfs.errors import NotLeaderError
from wormfs.wire.metabackup import BackupStatus


async def backup_status(call: AdminCall) -> BackupStatus:
    backup = call.core.get(BACKUP)
    if backup is None:
        raise NotLeaderError("the metadata backup runs on the active coordinator only")
    return backup.status()


def stale_reason(call: AdminCall) -> str | None:
    backup = call.core.get(BACKUP)
    status = backup.status() if backup is not None else None
    if status is None or not status.stale:
        return None
    error = f"; last error: {status.last_error}" if status.last_error else ""
    return f"the recovery point is {status.lag:.0f} s old (bound {status.backup_lag:g} s){error}"


ROUTES = (
    Route(
        "GET",
        "/metadata/backup",
        backup_status,
        "The continuous metadata backup: generation, recovery point, lag, last success",
        response=BackupStatus,
        tag="metadata",
    ),
)
