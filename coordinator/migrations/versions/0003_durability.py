"""Durability tables: the repair queue and per-disk care (availability, drain, scrub progress).

Layer: coordinator migrations. Frozen once released, like 0001. Adds ``repair_queue``
(``wormfs.coordinator.db.models.RepairEntry``) and ``disk_care`` (``DiskCare``); no existing
table changes.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "repair_queue",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column(
            "segment_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("fragment_index", sa.Integer(), nullable=False),
        sa.Column("chunk_id", sa.String(length=64), nullable=False),
        sa.Column("disk_id", sa.String(length=64), nullable=False),
        sa.Column("reason", sa.String(length=16), nullable=False),
        sa.Column("surviving", sa.Integer(), nullable=False),
        sa.Column("chunk_bytes", sa.BigInteger(), nullable=False),
        sa.Column("enqueued_at", sa.Double(), nullable=False),
        sa.Column("not_before", sa.Double(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("running_since", sa.Double(), nullable=True),
        sa.Column("target_chunk_id", sa.String(length=64), nullable=True),
        sa.Column("target_disk_id", sa.String(length=64), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["segment_id"],
            ["segments.id"],
            name=op.f("fk_repair_queue_segment_id_segments"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_repair_queue")),
        sa.UniqueConstraint("segment_id", "fragment_index", name=op.f("uq_repair_queue_fragment")),
    )
    op.create_index(op.f("ix_repair_queue_chunk_id"), "repair_queue", ["chunk_id"], unique=False)
    op.create_index(op.f("ix_repair_queue_disk_id"), "repair_queue", ["disk_id"], unique=False)
    op.create_index(
        "ix_repair_queue_order", "repair_queue", ["surviving", "not_before"], unique=False
    )

    op.create_table(
        "disk_care",
        sa.Column("disk_id", sa.String(length=64), nullable=False),
        sa.Column("unavailable_since", sa.Double(), nullable=True),
        sa.Column("lost_queued_at", sa.Double(), nullable=True),
        sa.Column("drain_state", sa.String(length=16), nullable=False),
        sa.Column("drain_since", sa.Double(), nullable=False),
        sa.Column("last_shallow", sa.Double(), nullable=True),
        sa.Column("deep_cursor", sa.String(length=64), nullable=True),
        sa.Column("last_deep_finished", sa.Double(), nullable=True),
        sa.Column("verified_since", sa.Double(), nullable=False),
        sa.Column("bytes_verified", sa.BigInteger(), nullable=False),
        sa.Column("chunks_verified", sa.BigInteger(), nullable=False),
        sa.Column("missing_found", sa.Integer(), nullable=False),
        sa.Column("corrupt_found", sa.Integer(), nullable=False),
        sa.Column("orphans_found", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("disk_id", name=op.f("pk_disk_care")),
    )


def downgrade() -> None:
    op.drop_table("disk_care")
    op.drop_index("ix_repair_queue_order", table_name="repair_queue")
    op.drop_index(op.f("ix_repair_queue_disk_id"), table_name="repair_queue")
    op.drop_index(op.f("ix_repair_queue_chunk_id"), table_name="repair_queue")
    op.drop_table("repair_queue")
