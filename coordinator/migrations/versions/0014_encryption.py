"""Server-side encryption: how a version (or an upload's parts) is sealed.

Layer: coordinator migrations. Frozen once released.

* ``encryption`` (JSON, on ``objects`` and ``uploads``): the ``wormfs.format.sealing.Encryption``
  record of a sealed version: the S3 algorithm, the data key wrapped by a master or KMS key
  (SSE-S3, SSE-KMS) or a salted HMAC of the customer's key (SSE-C). NULL: plaintext.
* No existing row has one: nothing was sealed before this revision.

Revision ID: 0014
Revises: 0013
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_TABLES = ("objects", "uploads")


def upgrade() -> None:
    # In place, never a batch rebuild of ``objects`` (which would lose its AUTOINCREMENT).
    for table in _TABLES:
        op.add_column(table, sa.Column("encryption", sa.JSON(), nullable=True))


def downgrade() -> None:
    for table in _TABLES:
        op.drop_column(table, "encryption")
