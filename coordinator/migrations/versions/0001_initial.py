"""Initial metadata schema: every table of wormfs.coordinator.db.models at version 1.

Layer: coordinator migrations. This revision is frozen once released: later schema changes
get new revisions, never edits here (a test checks that upgrade head matches the models).

Revision ID: 0001
Revises: (none)
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "buckets",
        sa.Column(
            "name",
            sa.String(length=63).with_variant(sa.String(length=63, collation="C"), "postgresql"),
            nullable=False,
        ),
        sa.Column("owner_id", sa.String(length=64), nullable=False),
        sa.Column("created", sa.Double(), nullable=False),
        sa.Column("region", sa.String(length=64), nullable=False),
        sa.Column("settings", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_buckets")),
    )
    op.create_index(op.f("ix_buckets_owner_id"), "buckets", ["owner_id"], unique=False)

    op.create_table(
        "cluster_meta",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("leader_epoch", sa.BigInteger(), nullable=False),
        sa.Column("leader_id", sa.String(length=128), nullable=False),
        sa.Column("leader_since", sa.Double(), nullable=False),
        sa.Column("root_user_id", sa.String(length=64), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_cluster_meta")),
    )
    op.create_table(
        "gc_queue",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("chunk_id", sa.String(length=64), nullable=False),
        sa.Column("disk_id", sa.String(length=64), nullable=False),
        sa.Column("node_id", sa.String(length=64), nullable=False),
        sa.Column("enqueued_at", sa.Double(), nullable=False),
        sa.Column("not_before", sa.Double(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_gc_queue")),
    )
    op.create_index(op.f("ix_gc_queue_chunk_id"), "gc_queue", ["chunk_id"], unique=False)
    op.create_index(op.f("ix_gc_queue_node_id"), "gc_queue", ["node_id"], unique=False)
    op.create_index(op.f("ix_gc_queue_not_before"), "gc_queue", ["not_before"], unique=False)

    op.create_table(
        "nodes",
        sa.Column("node_id", sa.String(length=64), nullable=False),
        sa.Column("address", sa.String(length=512), nullable=False),
        sa.Column("rack", sa.String(length=128), nullable=False),
        sa.Column("zone", sa.String(length=128), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("registered", sa.Double(), nullable=False),
        sa.Column("last_heartbeat", sa.Double(), nullable=False),
        sa.PrimaryKeyConstraint("node_id", name=op.f("pk_nodes")),
    )
    op.create_table(
        "pending_writes",
        sa.Column("write_id", sa.String(length=64), nullable=False),
        sa.Column("version_id", sa.String(length=64), nullable=False),
        sa.Column(
            "bucket",
            sa.String(length=63).with_variant(sa.String(length=63, collation="C"), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "key",
            sa.String(length=1024).with_variant(
                sa.String(length=1024, collation="C"), "postgresql"
            ),
            nullable=False,
        ),
        sa.Column("upload_id", sa.String(length=64), nullable=True),
        sa.Column("part_number", sa.Integer(), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("created", sa.Double(), nullable=False),
        sa.Column("expires_at", sa.Double(), nullable=False),
        sa.Column("placements", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("write_id", name=op.f("pk_pending_writes")),
    )
    op.create_index(
        op.f("ix_pending_writes_expires_at"), "pending_writes", ["expires_at"], unique=False
    )

    op.create_table(
        "users",
        sa.Column("user_id", sa.String(length=64), nullable=False),
        sa.Column("display_name", sa.String(length=256), nullable=False),
        sa.Column("created", sa.Double(), nullable=False),
        sa.PrimaryKeyConstraint("user_id", name=op.f("pk_users")),
    )
    op.create_table(
        "access_keys",
        sa.Column("access_key", sa.String(length=128), nullable=False),
        sa.Column("secret_key", sa.String(length=128), nullable=False),
        sa.Column("user_id", sa.String(length=64), nullable=False),
        sa.Column("created", sa.Double(), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.user_id"],
            name=op.f("fk_access_keys_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("access_key", name=op.f("pk_access_keys")),
    )
    op.create_index(op.f("ix_access_keys_user_id"), "access_keys", ["user_id"], unique=False)

    op.create_table(
        "disks",
        sa.Column("disk_id", sa.String(length=64), nullable=False),
        sa.Column("node_id", sa.String(length=64), nullable=False),
        sa.Column("path", sa.String(length=1024), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("capacity_bytes", sa.BigInteger(), nullable=False),
        sa.Column("free_bytes", sa.BigInteger(), nullable=False),
        sa.Column("used_bytes", sa.BigInteger(), nullable=False),
        sa.Column("chunk_count", sa.BigInteger(), nullable=False),
        sa.Column("error", sa.Text(), nullable=False),
        sa.Column("updated", sa.Double(), nullable=False),
        sa.ForeignKeyConstraint(
            ["node_id"], ["nodes.node_id"], name=op.f("fk_disks_node_id_nodes")
        ),
        sa.PrimaryKeyConstraint("disk_id", name=op.f("pk_disks")),
    )
    op.create_index(op.f("ix_disks_node_id"), "disks", ["node_id"], unique=False)

    op.create_table(
        "objects",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column(
            "bucket",
            sa.String(length=63).with_variant(sa.String(length=63, collation="C"), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "key",
            sa.String(length=1024).with_variant(
                sa.String(length=1024, collation="C"), "postgresql"
            ),
            nullable=False,
        ),
        sa.Column("version_id", sa.String(length=64), nullable=False),
        sa.Column("is_latest", sa.Boolean(), nullable=False),
        sa.Column("is_delete_marker", sa.Boolean(), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("etag", sa.String(length=128), nullable=False),
        sa.Column("content_type", sa.Text(), nullable=False),
        sa.Column("user_metadata", sa.JSON(), nullable=False),
        sa.Column("system_metadata", sa.JSON(), nullable=False),
        sa.Column("checksum_algorithm", sa.String(length=16), nullable=True),
        sa.Column("checksum_value", sa.String(length=128), nullable=True),
        sa.Column("checksum_type", sa.String(length=16), nullable=True),
        sa.Column("profile", sa.JSON(), nullable=False),
        sa.Column("storage_class", sa.String(length=32), nullable=False),
        sa.Column("owner_id", sa.String(length=64), nullable=False),
        sa.Column("created", sa.Double(), nullable=False),
        sa.Column("last_modified", sa.Double(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.ForeignKeyConstraint(
            ["bucket"], ["buckets.name"], name=op.f("fk_objects_bucket_buckets")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_objects")),
        sa.UniqueConstraint("bucket", "key", "version_id", name="uq_objects_version"),
    )
    op.create_index(
        "ix_objects_listing",
        "objects",
        ["bucket", "is_latest", "is_delete_marker", "key"],
        unique=False,
    )
    op.create_index(
        "uq_objects_latest",
        "objects",
        ["bucket", "key"],
        unique=True,
        sqlite_where=sa.text("is_latest"),
        postgresql_where=sa.text("is_latest"),
    )

    op.create_table(
        "uploads",
        sa.Column("upload_id", sa.String(length=64), nullable=False),
        sa.Column(
            "bucket",
            sa.String(length=63).with_variant(sa.String(length=63, collation="C"), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "key",
            sa.String(length=1024).with_variant(
                sa.String(length=1024, collation="C"), "postgresql"
            ),
            nullable=False,
        ),
        sa.Column("owner_id", sa.String(length=64), nullable=False),
        sa.Column("initiated", sa.Double(), nullable=False),
        sa.Column("content_type", sa.Text(), nullable=False),
        sa.Column("user_metadata", sa.JSON(), nullable=False),
        sa.Column("system_metadata", sa.JSON(), nullable=False),
        sa.Column("checksum_algorithm", sa.String(length=16), nullable=True),
        sa.Column("checksum_type", sa.String(length=16), nullable=True),
        sa.Column("storage_class", sa.String(length=32), nullable=False),
        sa.Column("profile", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["bucket"], ["buckets.name"], name=op.f("fk_uploads_bucket_buckets")
        ),
        sa.PrimaryKeyConstraint("upload_id", name=op.f("pk_uploads")),
    )
    op.create_index("ix_uploads_listing", "uploads", ["bucket", "key", "upload_id"], unique=False)

    op.create_table(
        "parts",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("object_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("upload_id", sa.String(length=64), nullable=True),
        sa.Column("part_number", sa.Integer(), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("etag", sa.String(length=128), nullable=False),
        sa.Column("checksum_algorithm", sa.String(length=16), nullable=True),
        sa.Column("checksum_value", sa.String(length=128), nullable=True),
        sa.Column("checksum_type", sa.String(length=16), nullable=True),
        sa.Column("last_modified", sa.Double(), nullable=False),
        sa.CheckConstraint(
            "(object_id IS NULL) <> (upload_id IS NULL)", name=op.f("ck_parts_one_owner")
        ),
        sa.ForeignKeyConstraint(
            ["object_id"],
            ["objects.id"],
            name=op.f("fk_parts_object_id_objects"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["upload_id"],
            ["uploads.upload_id"],
            name=op.f("fk_parts_upload_id_uploads"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_parts")),
        sa.UniqueConstraint("object_id", "part_number", name="uq_parts_object_part"),
        sa.UniqueConstraint("upload_id", "part_number", name="uq_parts_upload_part"),
    )
    op.create_table(
        "segments",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("part_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("segment_index", sa.Integer(), nullable=False),
        sa.Column("offset", sa.BigInteger(), nullable=False),
        sa.Column("length", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["part_id"], ["parts.id"], name=op.f("fk_segments_part_id_parts"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_segments")),
        sa.UniqueConstraint("part_id", "segment_index", name="uq_segments_index"),
    )
    op.create_table(
        "chunk_placements",
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
        sa.ForeignKeyConstraint(
            ["disk_id"], ["disks.disk_id"], name=op.f("fk_chunk_placements_disk_id_disks")
        ),
        sa.ForeignKeyConstraint(
            ["segment_id"],
            ["segments.id"],
            name=op.f("fk_chunk_placements_segment_id_segments"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_chunk_placements")),
        sa.UniqueConstraint("segment_id", "fragment_index", name="uq_chunk_placements_fragment"),
    )
    op.create_index(
        op.f("ix_chunk_placements_chunk_id"), "chunk_placements", ["chunk_id"], unique=False
    )
    op.create_index(
        op.f("ix_chunk_placements_disk_id"), "chunk_placements", ["disk_id"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_chunk_placements_disk_id"), table_name="chunk_placements")
    op.drop_index(op.f("ix_chunk_placements_chunk_id"), table_name="chunk_placements")

    op.drop_table("chunk_placements")
    op.drop_table("segments")
    op.drop_table("parts")
    op.drop_index("ix_uploads_listing", table_name="uploads")

    op.drop_table("uploads")
    op.drop_index(
        "uq_objects_latest",
        table_name="objects",
        sqlite_where=sa.text("is_latest"),
        postgresql_where=sa.text("is_latest"),
    )
    op.drop_index("ix_objects_listing", table_name="objects")

    op.drop_table("objects")
    op.drop_index(op.f("ix_disks_node_id"), table_name="disks")

    op.drop_table("disks")
    op.drop_index(op.f("ix_access_keys_user_id"), table_name="access_keys")

    op.drop_table("access_keys")
    op.drop_table("users")
    op.drop_index(op.f("ix_pending_writes_expires_at"), table_name="pending_writes")

    op.drop_table("pending_writes")
    op.drop_table("nodes")
    op.drop_index(op.f("ix_gc_queue_not_before"), table_name="gc_queue")
    op.drop_index(op.f("ix_gc_queue_node_id"), table_name="gc_queue")
    op.drop_index(op.f("ix_gc_queue_chunk_id"), table_name="gc_queue")

    op.drop_table("gc_queue")
    op.drop_table("cluster_meta")
    op.drop_index(op.f("ix_buckets_owner_id"), table_name="buckets")

    op.drop_table("buckets")
