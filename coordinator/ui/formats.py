"""How the UI writes numbers, sizes and times (Jinja2 filters).

Layer: coordinator UI (pure). Contract: ``FILTERS`` maps filter names to functions:
``size`` (bytes in binary units, ``1.5 GiB``), ``ts`` (seconds since the epoch as UTC
``2026-12-02 13:40:01Z``; ``-`` for none), ``age`` (a duration, ``3 s``, ``4 min``,
``2.5 h``), ``rate`` (per second, ``-`` when unknown), ``pct`` (a 0..1 ratio as ``12.5 %``).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

_UNITS = ("B", "KiB", "MiB", "GiB", "TiB", "PiB")


def size(value: float | None) -> str:
    if value is None:
        return "-"
    amount = float(value)
    for unit in _UNITS:
        if abs(amount) < 1024 or unit == _UNITS[-1]:
            return f"{amount:.0f} {unit}" if unit == "B" else f"{amount:.1f} {unit}"
        amount /= 1024
    raise AssertionError("unreachable")


def ts(value: float | None) -> str:
    if not value:
        return "-"
    return time.strftime("%Y-%m-%d %H:%M:%SZ", time.gmtime(value))


def age(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    if seconds < 172800:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} d"


def rate(value: float | None, unit: str = "/s") -> str:
    if value is None:
        return "-"
    return f"{value:.1f} {unit}"


def pct(ratio: float | None) -> str:
    if ratio is None:
        return "-"
    return f"{100 * ratio:.1f} %"


FILTERS: dict[str, Callable[..., Any]] = {
    "size": size,
    "ts": ts,
    "age": age,
    "rate": rate,
    "pct": pct,
}
