"""Stripe and segment arithmetic, with the worked examples of the module docstring."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from wormfs.format.layout import (
    StripeSpan,
    split_lengths,
    stripe_count,
    stripe_length,
    stripes_for_range,
)

MIB = 1024 * 1024


def test_split_lengths() -> None:
    assert split_lengths(0, 10) == []
    assert split_lengths(10, 10) == [10]
    assert split_lengths(25, 10) == [10, 10, 5]
    with pytest.raises(ValueError):
        split_lengths(5, 0)


def test_docstring_example() -> None:
    assert split_lengths(2621440, MIB) == [MIB, MIB, 524288]
    assert stripes_for_range(2621440, MIB, 1048000, 1049000) == StripeSpan(0, 1, 1048000, 1000)


def test_stripe_length_bounds() -> None:
    assert stripe_count(2621440, MIB) == 3
    assert stripe_length(2621440, MIB, 2) == 524288
    with pytest.raises(IndexError):
        stripe_length(2621440, MIB, 3)


@given(
    segment=st.integers(1, 10_000),
    stripe=st.integers(1, 3000),
    data=st.data(),
)
def test_span_covers_exactly_the_range(segment: int, stripe: int, data: st.DataObject) -> None:
    start = data.draw(st.integers(0, segment - 1))
    end = data.draw(st.integers(start + 1, segment))
    span = stripes_for_range(segment, stripe, start, end)
    covered = sum(stripe_length(segment, stripe, j) for j in range(span.first, span.last + 1))
    assert span.first * stripe + span.skip == start
    assert span.skip + span.length <= covered
    assert span.skip < stripe_length(segment, stripe, span.first)
    assert covered - span.skip - span.length < stripe_length(segment, stripe, span.last)


def test_bad_range() -> None:
    with pytest.raises(ValueError):
        stripes_for_range(100, 10, 50, 50)
    with pytest.raises(ValueError):
        stripes_for_range(100, 10, 0, 101)
