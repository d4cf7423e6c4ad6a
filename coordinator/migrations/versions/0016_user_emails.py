"""Users' e-mail addresses, for S3 ACL grants by e-mail.

Layer: coordinator migrations. Frozen once released.

* ``users.email``: the address a grant (``emailAddress="..."``, ``AmazonCustomerByEmail``)
  names the user by, stored in lower case; NULL for a user created without one (every user
  before this revision). Unique: a grant names one user.

Revision ID: 0016
Revises: 0015
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0016"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("users", sa.Column("email", sa.String(length=320), nullable=True))
    # Several NULLs are allowed by a unique index on both engines.
    op.create_index("uq_users_email", "users", ["email"], unique=True)


def downgrade() -> None:
    op.drop_index("uq_users_email", table_name="users")
    op.drop_column("users", "email")
