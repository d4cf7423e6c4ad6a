"""Tags: an object version's tag set and an upload's (given at its creation).

Layer: coordinator migrations. Frozen once released.

* ``objects.tags``: the tag set of one version (a JSON object, key -> value, at most 10;
  ``{}`` for none). Tags belong to the version row, not to the key, so a later version
  (or a versioned bucket's older one) keeps its own.
* ``uploads.tags``: the tags ``x-amz-tagging`` gave CreateMultipartUpload, which the
  completed object's version takes.

A bucket's tag set needs no column: it lives in ``buckets.settings`` (``"tags"``).

Revision ID: 0010
Revises: 0009
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Plain ADD / DROP COLUMN, never a batch rebuild: SQLite (3.35+) alters in place, and a
    # rebuild of ``objects`` would lose its AUTOINCREMENT (0006).
    for table in ("objects", "uploads"):
        op.add_column(
            table, sa.Column("tags", sa.JSON(), nullable=False, server_default=sa.text("'{}'"))
        )


def downgrade() -> None:
    for table in ("uploads", "objects"):
        op.drop_column(table, "tags")
