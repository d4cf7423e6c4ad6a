"""Stripe and segment arithmetic: pure functions over a profile, no I/O.

An object is a list of parts; a part's bytes are cut into segments of ``segment_size`` (the
last shorter); a segment's bytes into stripes of ``profile.stripe_size`` (the last shorter).
Each stripe is coded into k+m fragments whose size depends only on the stripe's length, so
every offset below is computed, never stored.

Worked example (stripe_size 1 MiB = 1048576, segment of 2.5 MiB = 2621440 bytes):
    stripe_lengths -> [1048576, 1048576, 524288]
    stripes_for_range(2621440, 1048576, start=1048000, end=1049000)
        -> StripeSpan(first=0, last=1, skip=1048000, length=1000)
       (read stripes 0..1 and drop the first 1048000 decoded bytes, keep 1000)
"""

from __future__ import annotations

from dataclasses import dataclass

import msgspec


class Profile(msgspec.Struct, frozen=True):
    """How an object was coded: stored with every object, never read from today's config."""

    codec: str
    k: int
    m: int
    stripe_size: int

    @property
    def n(self) -> int:
        return self.k + self.m


def split_lengths(total: int, piece: int) -> list[int]:
    """Lengths of the pieces when ``total`` bytes are cut into runs of ``piece`` (last shorter)."""
    if piece <= 0:
        raise ValueError("piece size must be positive")
    full, rest = divmod(total, piece)
    return [piece] * full + ([rest] if rest else [])


def stripe_count(segment_length: int, stripe_size: int) -> int:
    return -(-segment_length // stripe_size)


def stripe_length(segment_length: int, stripe_size: int, index: int) -> int:
    """Length of stripe ``index`` of a segment."""
    start = index * stripe_size
    if index < 0 or start >= segment_length:
        raise IndexError(f"stripe {index} outside a segment of {segment_length} bytes")
    return min(stripe_size, segment_length - start)


@dataclass(frozen=True)
class StripeSpan:
    """Stripes ``first..last`` (inclusive) cover a byte range of a segment.

    Decode them in order, skip ``skip`` bytes, then keep ``length`` bytes.
    """

    first: int
    last: int
    skip: int
    length: int


def stripes_for_range(segment_length: int, stripe_size: int, start: int, end: int) -> StripeSpan:
    """The stripes covering bytes ``[start, end)`` of a segment (``0 <= start < end <= len``)."""
    if not 0 <= start < end <= segment_length:
        raise ValueError(f"range [{start}, {end}) outside a segment of {segment_length} bytes")
    first = start // stripe_size
    last = (end - 1) // stripe_size
    return StripeSpan(first=first, last=last, skip=start - first * stripe_size, length=end - start)
