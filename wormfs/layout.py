"""Temporary re-export; see ``wormfs.format.layout``.

Kept only for ``wormfs.coordinator.db`` while its rewrite is in flight; its owner switches
those imports to ``wormfs.format.layout`` and deletes this module. Nothing else imports it.
"""

from wormfs.format.layout import *  # noqa: F403
from wormfs.format.layout import (
    Profile,
    StripeSpan,
    split_lengths,
    stripe_count,
    stripe_length,
    stripes_for_range,
)

__all__ = [
    "Profile",
    "StripeSpan",
    "split_lengths",
    "stripe_count",
    "stripe_length",
    "stripes_for_range",
]
