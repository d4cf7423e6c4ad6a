"""The UI's number, size and time formats."""

from __future__ import annotations

from wormfs.coordinator.ui.formats import age, pct, rate, size, ts


def test_sizes() -> None:
    assert size(0) == "0 B"
    assert size(1023) == "1023 B"
    assert size(1536) == "1.5 KiB"
    assert size(5 * 1024**3) == "5.0 GiB"
    assert size(3 * 1024**6) == "3072.0 PiB"
    assert size(None) == "-"


def test_times_and_ages() -> None:
    assert ts(0) == "-"
    assert ts(1_780_000_000) == "2026-05-28 20:26:40Z"
    assert age(3) == "3 s"
    assert age(240) == "4 min"
    assert age(9000) == "2.5 h"
    assert age(3 * 86400) == "3.0 d"
    assert age(None) == "-"


def test_rates_and_ratios() -> None:
    assert rate(None) == "-"
    assert rate(2.25) == "2.2 /s"
    assert pct(0.125) == "12.5 %"
    assert pct(None) == "-"
