"""Inline object bytes: small objects kept in the metadata database (``object_data``).

Layer: coordinator migrations. Frozen once released, like 0001. Adds ``object_data``
(``wormfs.coordinator.db.models.ObjectData``): one row per inline object version, removed with
the version (ON DELETE CASCADE); no existing table changes.

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "object_data",
        sa.Column(
            "object_id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=False,
            nullable=False,
        ),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(
            ["object_id"],
            ["objects.id"],
            name=op.f("fk_object_data_object_id_objects"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("object_id", name=op.f("pk_object_data")),
    )


def downgrade() -> None:
    op.drop_table("object_data")
