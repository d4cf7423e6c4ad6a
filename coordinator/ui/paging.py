"""Server-side paging and filters of the UI's tables (at most 50 rows a page).

Layer: coordinator UI (no HTTP objects, no SQL). Contract:

* ``PAGE_ROWS`` = 50: no table of the UI shows more rows at once.
* ``UiPage(rows, summary, next_url, prev_url)`` is what a template's pager shows.
* ``link(path, query, **changes)`` is ``path?query`` with ``changes`` applied (a value of
  ``None`` or ``""`` drops the parameter), so a pager keeps the filters it was given.
* ``cursor_page(rows, limit, cursor_of, ...)`` turns a list fetched with one row more than
  ``limit`` into a page whose "next" link carries the cursor of its last row.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
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


def cursor_page(
    rows: Sequence[T],
    limit: int,
    cursor_of: Callable[[T], str],
    path: str,
    query: Mapping[str, str],
    cursor_param: str,
    what: str,
) -> UiPage[T]:
    """A page of ``rows`` (fetched with ``limit + 1`` to know whether more follow)."""
    shown = rows[:limit]
    more = len(rows) > limit
    first = not query.get(cursor_param)
    summary = f"{len(shown)} {what}" + (" (more follow)" if more else "")
    return UiPage(
        rows=shown,
        summary=summary,
        next_url=link(path, query, **{cursor_param: cursor_of(shown[-1])}) if more else "",
        prev_url="" if first else link(path, query, **{cursor_param: None}),
    )
