"""Server-side paging and filters of the UI's tables (at most 50 rows a page).

Layer: coordinator UI (no HTTP objects, no SQL). Contract:

* ``PAGE_ROWS`` = 50: no table of the UI shows more rows at once.
* ``UiPage(rows, summary, next_url, prev_url)`` is what a template's pager shows.
* ``link(path, query, **changes)`` is ``path?query`` with ``changes`` applied (a value of
  ``None`` or ``""`` drops the parameter), so a pager keeps the filters it was given.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar
from urllib.parse import urlencode

T = TypeVar("T")

PAGE_ROWS = 50


@dataclass(frozen=True)
class UiPage(Generic[T]):
    rows: Sequence[T]
    summary: str
    next_url: str = ""
    prev_url: str = ""


def link(path: str, query: Mapping[str, str], **changes: str | None) -> str:
    merged = dict(query)
    for name, value in changes.items():
        if value is None or value == "":
            merged.pop(name, None)
        else:
            merged[name] = value
    return f"{path}?{urlencode(merged)}" if merged else path
