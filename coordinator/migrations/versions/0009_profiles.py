"""Storage classes: named erasure-coding profiles and a bucket's default class.

Layer: coordinator migrations. Frozen once released.

* ``profiles``: one row per named profile (codec, k, m, stripe and segment size, created) and
  the storage class it serves (``storage_class``, unique when set). The coordinator seeds the
  profiles behind STANDARD (its coding config) and REDUCED_REDUNDANCY at start-up
  (``coordinator/db/profiles.py``), not this revision, which cannot know the config.

* ``pending_writes.storage_class``: the class a write was granted for, which its commit stores
  (NULL for intents made before this revision: the commit's own class is kept then).

A bucket's default class needs no column: it lives in ``buckets.settings`` (a JSON document
kept for bucket sub-resources).

Revision ID: 0009
Revises: 0008
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "profiles",
        sa.Column("name", sa.String(length=63), nullable=False),
        sa.Column("codec", sa.String(length=32), nullable=False),
        sa.Column("k", sa.Integer(), nullable=False),
        sa.Column("m", sa.Integer(), nullable=False),
        sa.Column("stripe_size", sa.BigInteger(), nullable=False),
        sa.Column("segment_size", sa.BigInteger(), nullable=False),
        sa.Column("storage_class", sa.String(length=32), nullable=True),
        sa.Column("created", sa.Double(), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_profiles")),
        sa.UniqueConstraint("storage_class", name=op.f("uq_profiles_storage_class")),
    )
    with op.batch_alter_table("pending_writes") as batch:
        batch.add_column(sa.Column("storage_class", sa.String(length=32), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("pending_writes") as batch:
        batch.drop_column("storage_class")
    op.drop_table("profiles")
