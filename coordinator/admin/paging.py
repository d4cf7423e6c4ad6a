"""Paged lists of the admin API: ``limit`` and an opaque, key-ordered ``cursor``.

Layer: coordinator admin package. Contract:

* A list route's query is ``PageQuery`` or a subclass adding its filters: ``limit`` (1..100,
  default 50) and ``cursor`` (absent on the first page). It answers ``Page[T]``:
  ``{items, next_cursor}``, ``next_cursor`` null on the last page.
* A cursor is the sort key of the last item of the previous page (a list of strings or
  integers), JSON in URL-safe base64: clients must treat it as opaque. Each resource lists in
  the order of a unique key and the next page starts strictly after the cursor's key, so a
  walk never skips nor repeats an item, even while items are added or removed.
* ``page_after(items, key, query)`` pages a list already in memory (sorted here by ``key``);
  ``page_from(rows, key, limit)`` finishes a page from ``limit + 1`` rows read from SQL after
  the cursor's key (``cursor_key`` decodes it), in key order.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable, Sequence
from typing import Generic, TypeVar

import msgspec

from wormfs.errors import InvalidInputError

T = TypeVar("T")
MAX_LIMIT = 100
DEFAULT_LIMIT = 50
Key = list[str | int]


class PageQuery(msgspec.Struct, frozen=True, kw_only=True):
    limit: int = DEFAULT_LIMIT  # 1..100 items per page
    cursor: str | None = None  # next_cursor of the previous page; absent on the first


class Page(msgspec.Struct, Generic[T], frozen=True):
    items: list[T]
    next_cursor: str | None = None  # null on the last page


def encode_cursor(key: Key) -> str:
    return base64.urlsafe_b64encode(msgspec.json.encode(key)).decode().rstrip("=")


def cursor_key(query: PageQuery) -> Key | None:
    """The key the page starts after (None on the first page); checks ``limit`` too."""
    if not 1 <= query.limit <= MAX_LIMIT:
        raise InvalidInputError(f"limit must be within 1..{MAX_LIMIT}")
    if not query.cursor:
        return None
    padded = query.cursor + "=" * (-len(query.cursor) % 4)
    try:
        return msgspec.json.decode(base64.urlsafe_b64decode(padded), type=Key)
    except (binascii.Error, ValueError, msgspec.DecodeError, msgspec.ValidationError):
        raise InvalidInputError("cursor is not one this API gave out") from None


def page_from(rows: Sequence[T], key: Callable[[T], Key], limit: int) -> Page[T]:
    """A page of the first ``limit`` of ``rows`` (read as ``limit + 1``, in key order)."""
    items = list(rows[:limit])
    more = len(rows) > limit
    return Page(items=items, next_cursor=encode_cursor(key(items[-1])) if more else None)


def page_after(items: Sequence[T], key: Callable[[T], Key], query: PageQuery) -> Page[T]:
    """Page a list held in memory: sorted by ``key``, from after the cursor's key."""
    after = cursor_key(query)
    ordered = sorted(items, key=key)
    if after is not None:
        ordered = [item for item in ordered if key(item) > after]
    return page_from(ordered[: query.limit + 1], key, query.limit)
