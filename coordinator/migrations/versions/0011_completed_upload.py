"""The multipart upload a version was completed from.

Layer: coordinator migrations. Frozen once released.

* ``objects.upload_id``: set on a version made by CompleteMultipartUpload (NULL for any
  other write). A completion repeated after it succeeded (an SDK retrying when the first
  answer was lost) finds the version its upload made and answers it again, instead of
  ``NoSuchUpload`` for an upload that worked.

Revision ID: 0011
Revises: 0010
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # In place, never a batch rebuild of ``objects`` (which would lose its AUTOINCREMENT).
    op.add_column("objects", sa.Column("upload_id", sa.String(length=64), nullable=True))


def downgrade() -> None:
    op.drop_column("objects", "upload_id")
