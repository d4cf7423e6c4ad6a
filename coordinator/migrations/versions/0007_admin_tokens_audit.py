"""The admin plane: admin bearer tokens (hashed), the audit log, disabled users and keys.

Layer: coordinator migrations. Frozen once released.

* ``admin_tokens``: one row per admin API token; only the SHA-256 of the token is kept
  (``token_hash``, unique), with its name, scope (``read`` | ``admin``), optional expiry,
  creation and last-use times and the time it was revoked.
* ``audit_log``: one row per mutating admin call (API or UI): time, actor, action, target,
  result (``ok`` or the error code) and the request id; listed newest first.
* ``users.disabled`` and ``access_keys.disabled``: a disabled user's keys, and a disabled key,
  no longer authenticate S3 requests; the rows stay.

Revision ID: 0007
Revises: 0006
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


_ROW_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_BUCKET = sa.String(length=63).with_variant(sa.String(length=63, collation="C"), "postgresql")


def upgrade() -> None:
    op.create_table(
        "admin_tokens",
        sa.Column("token_id", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("scope", sa.String(length=16), nullable=False),
        sa.Column("created", sa.Double(), nullable=False),
        sa.Column("expires_at", sa.Double(), nullable=True),
        sa.Column("last_used", sa.Double(), nullable=True),
        sa.Column("revoked_at", sa.Double(), nullable=True),
        sa.PrimaryKeyConstraint("token_id", name=op.f("pk_admin_tokens")),
        sa.UniqueConstraint("name", name=op.f("uq_admin_tokens_name")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_admin_tokens_token_hash")),
    )
    op.create_table(
        "audit_log",
        sa.Column("id", _ROW_ID, autoincrement=True, nullable=False),
        sa.Column("time", sa.Double(), nullable=False),
        sa.Column("actor", sa.String(length=128), nullable=False),
        sa.Column("actor_id", sa.String(length=64), nullable=False),
        sa.Column("action", sa.String(length=64), nullable=False),
        sa.Column("target", sa.String(length=1024), nullable=False),
        sa.Column("bucket", _BUCKET, nullable=True),
        sa.Column("result", sa.String(length=64), nullable=False),
        sa.Column("request_id", sa.String(length=128), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_log")),
    )
    for column in ("time", "actor", "action", "bucket"):
        op.create_index(op.f(f"ix_audit_log_{column}"), "audit_log", [column], unique=False)
    # Plain ALTERs (no batch): SQLite adds a column with a constant default in place.
    for table in ("users", "access_keys"):
        op.add_column(
            table,
            sa.Column("disabled", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        )


def downgrade() -> None:
    # In place on both engines (SQLite 3.35+ drops a column itself): a batch copy of users
    # would drop the old table, and with foreign keys on that cascades to its access keys.
    for table in ("access_keys", "users"):
        op.drop_column(table, "disabled")
    for column in ("bucket", "action", "actor", "time"):
        op.drop_index(op.f(f"ix_audit_log_{column}"), table_name="audit_log")
    op.drop_table("audit_log")
    op.drop_table("admin_tokens")
