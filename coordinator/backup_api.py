"""HTTP handlers of the metadata backup (``wormfs.wire.metabackup``).

Layer: coordinator, the top. Contract: ``GET /v1/metadata/backup`` answers the shipper's
``BackupStatus``; ``GET /v1/metadata/snapshot`` streams a consistent copy of the SQLite
database file (taken with the online backup API into a temp file beside the database, off
the event loop, then sent and removed), refused with ``InvalidInputError`` on PostgreSQL,
whose manual backup is ``pg_dump``.
"""

from __future__ import annotations

import asyncio

from aiohttp import web

from wormfs.coordinator.backup import MetadataBackup
from wormfs.errors import InvalidInputError, NotLeaderError
from wormfs.ids import new_id
from wormfs.internal.http import json_response
from wormfs.wire.metabackup import SNAPSHOT_PATH, STATUS_PATH

SEND_PIECE = 1024 * 1024
BACKUP = web.AppKey("metadata_backup", MetadataBackup)


def _backup(request: web.Request) -> MetadataBackup:
    backup = request.app.get(BACKUP)
    if backup is None:
        raise NotLeaderError("the metadata backup runs on the active coordinator only")
    return backup


async def backup_status(request: web.Request) -> web.Response:
    return json_response(_backup(request).status())


async def snapshot(request: web.Request) -> web.StreamResponse:
    backup = _backup(request)
    if backup.database_file is None:
        raise InvalidInputError("the metadata is on PostgreSQL: back it up with pg_dump")
    target = backup.database_file.parent / f".snapshot-{new_id()}.db"
    try:
        await backup.snapshot_to(target)
        response = web.StreamResponse(headers={"Content-Type": "application/octet-stream"})
        response.content_length = (await asyncio.to_thread(target.stat)).st_size
        await response.prepare(request)
        with await asyncio.to_thread(target.open, "rb") as f:
            while piece := await asyncio.to_thread(f.read, SEND_PIECE):
                await response.write(piece)
        await response.write_eof()
        return response
    finally:
        await asyncio.to_thread(target.unlink, missing_ok=True)


def add_backup_routes(app: web.Application) -> None:
    app.router.add_routes([web.get(STATUS_PATH, backup_status), web.get(SNAPSHOT_PATH, snapshot)])
