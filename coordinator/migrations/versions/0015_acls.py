"""Access control lists: a version's ACL, and what an upload was created with.

Layer: coordinator migrations. Frozen once released.

* ``acl`` (JSON, on ``objects`` and ``uploads``): the ``wormfs.wire.acl.Acl`` of a version
  written to a bucket with ACLs enabled (Object Ownership other than BucketOwnerEnforced): the
  object's owner and its grants. NULL: private to the bucket's owner, as every version was
  before this revision. A bucket's own ACL and Object Ownership live in ``buckets.settings``.

Revision ID: 0015
Revises: 0014
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_TABLES = ("objects", "uploads")


def upgrade() -> None:
    # In place, never a batch rebuild of ``objects`` (which would lose its AUTOINCREMENT).
    for table in _TABLES:
        op.add_column(table, sa.Column("acl", sa.JSON(), nullable=True))


def downgrade() -> None:
    for table in _TABLES:
        op.drop_column(table, "acl")
