"""S3's "null" version: which versions were written while the bucket was not versioning.

Layer: coordinator migrations. Frozen once released.

* ``objects.is_null``: true for a version written while its bucket's versioning was never
  enabled or suspended (S3 calls it the ``null`` version; a key has at most one, which the
  next write in such a bucket replaces), false for one written while versioning was
  enabled (its own version id). Every existing version was written before versioning
  existed, so they all start as null versions. The internal ``version_id`` stays unique and
  time-ordered either way: it orders a key's versions and names a version to the mount.

Revision ID: 0012
Revises: 0011
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # In place, never a batch rebuild of ``objects`` (which would lose its AUTOINCREMENT).
    op.add_column(
        "objects",
        sa.Column("is_null", sa.Boolean(), nullable=False, server_default=sa.true()),
    )


def downgrade() -> None:
    op.drop_column("objects", "is_null")
