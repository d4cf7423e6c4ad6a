"""Durability jobs kept by the server: one row per job, and one throttle row per job kind.

Layer: coordinator migrations. Frozen once released.

* ``jobs``: repair, scrub, gc, rebalance, drain, decommission; state, progress (done/total
  items and bytes), failures, times. Standing jobs (repair, gc) have one row per kind.
* ``job_throttles``: the persisted throttle of a kind (items/s, bytes/s, concurrency).

Revision ID: 0008
Revises: 0007
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "jobs",
        sa.Column("job_id", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("target", sa.String(length=1024), nullable=False),
        sa.Column("standing", sa.Boolean(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("params", sa.JSON(), nullable=False),
        sa.Column("done_items", sa.BigInteger(), nullable=False),
        sa.Column("total_items", sa.BigInteger(), nullable=True),
        sa.Column("done_bytes", sa.BigInteger(), nullable=False),
        sa.Column("total_bytes", sa.BigInteger(), nullable=True),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("last_failure", sa.Text(), nullable=False),
        sa.Column("started_at", sa.Double(), nullable=False),
        sa.Column("updated_at", sa.Double(), nullable=False),
        sa.Column("finished_at", sa.Double(), nullable=True),
        sa.PrimaryKeyConstraint("job_id", name=op.f("pk_jobs")),
    )
    op.create_index("ix_jobs_kind_state", "jobs", ["kind", "state"], unique=False)
    op.create_index(op.f("ix_jobs_started_at"), "jobs", ["started_at"], unique=False)
    op.create_table(
        "job_throttles",
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("items_per_s", sa.Double(), nullable=False),
        sa.Column("bytes_per_s", sa.BigInteger(), nullable=False),
        sa.Column("concurrency", sa.Integer(), nullable=False),
        sa.Column("updated_at", sa.Double(), nullable=False),
        sa.PrimaryKeyConstraint("kind", name=op.f("pk_job_throttles")),
    )


def downgrade() -> None:
    op.drop_table("job_throttles")
    op.drop_index(op.f("ix_jobs_started_at"), table_name="jobs")
    op.drop_index("ix_jobs_kind_state", table_name="jobs")
    op.drop_table("jobs")
