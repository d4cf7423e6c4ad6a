"""Seed the one ``cluster_meta`` row (id 1) that leader fencing locks.

Layer: coordinator migrations. With several coordinators on one PostgreSQL database, each
takes the next leader epoch with ``SELECT ... FOR UPDATE`` on this row and every write
transaction share-locks it (``wormfs.coordinator.db.database``). A row that exists from the
start means nobody ever races to insert it (two inserts would be a unique violation, and there
is nothing to lock before the first one). Existing databases keep their row and its epoch; the
insert is a no-op there. No table changes.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Portable INSERT ... SELECT ... WHERE NOT EXISTS (no ON CONFLICT on SQLite's older
    # versions); migrations run under a database-wide lock, so the check cannot race.
    op.execute(
        sa.text(
            "INSERT INTO cluster_meta (id, leader_epoch, leader_id, leader_since) "
            "SELECT 1, 0, '', 0.0 WHERE NOT EXISTS (SELECT 1 FROM cluster_meta WHERE id = 1)"
        )
    )


def downgrade() -> None:
    # The row is data the older schema also uses (root user, epoch): keep it.
    pass
