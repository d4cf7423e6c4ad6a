"""The file namespace: POSIX attributes (``inodes``), extended attributes (``xattrs``) and the
inode of each object version (``objects.inode_id``); longer keys on PostgreSQL.

Layer: coordinator migrations. Frozen once released. Adds ``inodes`` and ``xattrs``
(``wormfs.coordinator.db.models.Inode`` / ``Xattr``; an xattr goes with its inode, ON DELETE
CASCADE) and the nullable, indexed ``objects.inode_id`` (NULL: the version's own id). On
PostgreSQL the key columns of ``objects``, ``uploads`` and ``pending_writes`` widen from 1,024
to 5,120 characters (paths made through the mount may be longer than S3 keys); SQLite ignores
declared lengths, so its tables are left as they are (no table is copied).

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

KEY_TABLES = ("objects", "uploads", "pending_writes")


def _key(length: int) -> sa.String:
    return sa.String(length=length, collation="C")


def upgrade() -> None:
    op.create_table(
        "inodes",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=False,
            nullable=False,
        ),
        sa.Column(
            "bucket",
            sa.String(length=63).with_variant(sa.String(length=63, collation="C"), "postgresql"),
            nullable=False,
        ),
        sa.Column("mode", sa.Integer(), nullable=False),
        sa.Column("uid", sa.BigInteger(), nullable=False),
        sa.Column("gid", sa.BigInteger(), nullable=False),
        sa.Column("nlink", sa.Integer(), nullable=False),
        sa.Column("rdev", sa.BigInteger(), nullable=False),
        sa.Column("atime_ns", sa.BigInteger(), nullable=False),
        sa.Column("mtime_ns", sa.BigInteger(), nullable=False),
        sa.Column("ctime_ns", sa.BigInteger(), nullable=False),
        sa.Column("btime_ns", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_inodes")),
    )
    op.create_table(
        "xattrs",
        sa.Column("inode_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("value", sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(
            ["inode_id"],
            ["inodes.id"],
            name=op.f("fk_xattrs_inode_id_inodes"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("inode_id", "name", name=op.f("pk_xattrs")),
    )
    # Plain ALTERs (no batch): SQLite adds a nullable column and an index in place.
    op.add_column("objects", sa.Column("inode_id", sa.BigInteger(), nullable=True))
    op.create_index(op.f("ix_objects_inode_id"), "objects", ["inode_id"], unique=False)
    if op.get_bind().dialect.name == "postgresql":
        for table in KEY_TABLES:
            op.alter_column(table, "key", type_=_key(5120), existing_type=_key(1024))


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for table in KEY_TABLES:
            op.alter_column(table, "key", type_=_key(1024), existing_type=_key(5120))
    op.drop_index(op.f("ix_objects_inode_id"), table_name="objects")
    # In place on both engines (SQLite 3.35+ drops a column itself): a batch copy of objects
    # would drop the old table, and with foreign keys on that cascades to its parts and bytes.
    op.drop_column("objects", "inode_id")
    op.drop_table("xattrs")
    op.drop_table("inodes")
