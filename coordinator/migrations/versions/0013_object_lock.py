"""Object Lock: a version's retention and legal hold, and what an upload was created with.

Layer: coordinator migrations. Frozen once released.

* ``lock_mode`` ("GOVERNANCE" or "COMPLIANCE") and ``retain_until`` (Unix seconds): the
  version's retention, both NULL when it has none; ``legal_hold``: NULL when no legal hold
  was ever put, else whether one is on. On ``uploads`` the same three columns hold what
  CreateMultipartUpload asked for, which the completed version takes.
* No existing row has any: no bucket could have Object Lock before this revision.

Revision ID: 0013
Revises: 0012
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_TABLES = ("objects", "uploads")


def upgrade() -> None:
    # In place, never a batch rebuild of ``objects`` (which would lose its AUTOINCREMENT).
    for table in _TABLES:
        op.add_column(table, sa.Column("lock_mode", sa.String(length=16), nullable=True))
        op.add_column(table, sa.Column("retain_until", sa.Double(), nullable=True))
        op.add_column(table, sa.Column("legal_hold", sa.Boolean(), nullable=True))


def downgrade() -> None:
    for table in _TABLES:
        for column in ("legal_hold", "retain_until", "lock_mode"):
            op.drop_column(table, column)
