"""Wire schemas of the metadata backup: its status, and the routes that serve it.

Layer: wire (msgspec structs, no I/O). Contract: ``GET /v1/metadata/backup`` (signed, the
coordinator's internal API) answers ``BackupStatus``; ``GET /v1/metadata/snapshot`` answers a
consistent copy of the SQLite database file as ``application/octet-stream`` (what
``wormfs admin metadata backup --to FILE`` saves).
"""

from __future__ import annotations

import msgspec

STATUS_PATH = "/v1/metadata/backup"
SNAPSHOT_PATH = "/v1/metadata/snapshot"


class BackupStatus(msgspec.Struct, frozen=True):
    """What the backup shipper has done; times are unix seconds, 0 for never.

    ``recovery_point``: the backup on the storage nodes holds every commit made before this
    time (the newest snapshot that was shipped, or found equal to what was shipped).
    ``lag``: seconds from the recovery point to now, 0 when disabled.
    """

    enabled: bool
    engine: str  # "sqlite", or "postgresql" (not shipped: PostgreSQL's own replication/PITR)
    backup_lag: float  # the configured bound
    generation: int = 0
    seq: int = 0  # the newest piece of the generation (0: the base)
    recovery_point: float = 0.0
    lag: float = 0.0
    last_success: float = 0.0
    last_error: str = ""
    pieces_shipped: int = 0
    bytes_shipped: int = 0
    generations_kept: list[int] = []
    stale: bool = False  # lag above 3 x backup_lag: a health reason
