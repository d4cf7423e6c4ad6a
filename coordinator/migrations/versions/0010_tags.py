"""Tags: an object version's tag set, an upload's (given at its creation), a bucket's.

Layer: coordinator migrations. Frozen once released.

* ``objects.tags``: the tag set of one version (a JSON object, key -> value, at most 10;
  ``{}`` for none). Tags belong to the version row, not to the key, so a later version
  (or a versioned bucket's older one) keeps its own.
* ``uploads.tags``: the tags ``x-amz-tagging`` gave CreateMultipartUpload, which the
  completed object's version takes.
* ``buckets.tags``: the bucket's tag set; NULL when none was ever put (``NoSuchTagSet``).

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
    for table in ("objects", "uploads"):
        with op.batch_alter_table(table) as batch:
            batch.add_column(
                sa.Column("tags", sa.JSON(), nullable=False, server_default=sa.text("'{}'"))
            )
    with op.batch_alter_table("buckets") as batch:
        batch.add_column(sa.Column("tags", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("buckets") as batch:
        batch.drop_column("tags")
    for table in ("uploads", "objects"):
        with op.batch_alter_table(table) as batch:
            batch.drop_column("tags")
