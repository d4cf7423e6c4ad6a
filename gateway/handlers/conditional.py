"""Byte ranges and conditional requests, as S3 evaluates them (gateway handlers sub-layer).

Contract: pure functions. ``parse_range(header, size)`` -> ``[start, end)`` or None for the
whole object; raises ``InvalidRange`` (416) when unsatisfiable. ``check_conditions`` raises
``PreconditionFailed`` (412) or ``NotModified`` (304) for If-Match, If-None-Match,
If-Modified-Since and If-Unmodified-Since with AWS's precedence; ``copy=True`` applies the
``x-amz-copy-source-if-*`` variants, where every failure is a 412. ``delete_conditions``
reads a conditional delete (If-Match, ``x-amz-if-match-last-modified-time``,
``x-amz-if-match-size``; or the ``ETag``, ``LastModifiedTime`` and ``Size`` of one
DeleteObjects entry), which the coordinator decides atomically with the delete.

Worked examples for a 1000-byte object:
    bytes=0-99     -> (0, 100)       bytes=900-     -> (900, 1000)
    bytes=-100     -> (900, 1000)    bytes=-5000    -> (0, 1000)
    bytes=990-2000 -> (990, 1000)    bytes=1000-    -> InvalidRange (416)
    bytes=0-1,5-6  -> None (AWS ignores multiple ranges and serves the whole object)
    bytes=9-3      -> None (a syntactically invalid range is ignored, RFC 7233)
"""

from __future__ import annotations

import re

from multidict import CIMultiDictProxy

from wormfs.gateway.errors import InvalidArgument, InvalidRange, NotModified, PreconditionFailed
from wormfs.gateway.xml import http_date, parse_http_date, parse_iso8601
from wormfs.wire.coordinator import DeleteConditions

_RANGE = re.compile(r"^\s*bytes\s*=\s*(\d*)\s*-\s*(\d*)\s*$", re.IGNORECASE)


def parse_range(header: str | None, size: int) -> tuple[int, int] | None:
    if header is None:
        return None
    if "," in header:
        return None
    match = _RANGE.match(header)
    if match is None:
        return None
    first, last = match.group(1), match.group(2)
    if not first and not last:
        return None
    if not first:
        suffix = int(last)
        if suffix == 0 or size == 0:
            raise InvalidRange(size, header)
        return max(0, size - suffix), size
    start = int(first)
    if last and int(last) < start:
        return None
    if start >= size:
        raise InvalidRange(size, header)
    end = size if not last else min(int(last) + 1, size)
    return start, end


def content_range(start: int, end: int, size: int) -> str:
    return f"bytes {start}-{end - 1}/{size}"


def etag_matches(header: str, etag: str) -> bool:
    """Does an If-Match / If-None-Match list name ``etag`` (``*`` names any)?"""
    wanted = etag.strip().strip('"')
    for item in header.split(","):
        candidate = item.strip()
        if candidate == "*":
            return True
        candidate = candidate.removeprefix("W/").strip('"')
        if candidate == wanted:
            return True
    return False


def check_conditions(
    headers: CIMultiDictProxy[str],
    etag: str,
    last_modified: float,
    *,
    copy: bool = False,
) -> None:
    """Raise if a condition fails. AWS's precedence:

    * If-Match true makes If-Unmodified-Since irrelevant (200 even if it is false);
    * If-None-Match false (the ETag matches) gives 304 even if If-Modified-Since is true, and
      If-None-Match true makes If-Modified-Since irrelevant.
    Dates compare at whole seconds (Last-Modified has no fraction); an unparsable date is
    ignored (RFC 7232).
    """
    prefix = "x-amz-copy-source-" if copy else ""
    if_match = headers.get(prefix + "if-match")
    if_none_match = headers.get(prefix + "if-none-match")
    if_modified = headers.get(prefix + "if-modified-since")
    if_unmodified = headers.get(prefix + "if-unmodified-since")
    modified = int(last_modified)

    if if_match is not None:
        if not etag_matches(if_match, etag):
            raise PreconditionFailed(Condition=prefix + "If-Match")
    elif if_unmodified is not None:
        when = parse_http_date(if_unmodified)
        if when is not None and modified > when:
            raise PreconditionFailed(Condition=prefix + "If-Unmodified-Since")

    not_modified_headers = {"ETag": etag, "Last-Modified": http_date(last_modified)}
    if if_none_match is not None:
        if etag_matches(if_none_match, etag):
            if copy:
                raise PreconditionFailed(Condition=prefix + "If-None-Match")
            raise NotModified(headers=not_modified_headers)
    elif if_modified is not None:
        when = parse_http_date(if_modified)
        if when is not None and modified <= when:
            if copy:
                raise PreconditionFailed(Condition=prefix + "If-Modified-Since")
            raise NotModified(headers=not_modified_headers)


def _seconds(value: str) -> float | None:
    """An HTTP date or an ISO 8601 time (DeleteObjects' XML carries either: botocore writes
    an HTTP date there, the API reference shows ISO 8601)."""
    parsed = parse_http_date(value)
    return parsed if parsed is not None else parse_iso8601(value)


def delete_conditions(
    if_match: str | None, last_modified: str | None, size: str | None, *, in_xml: bool = False
) -> DeleteConditions | None:
    """A conditional delete's conditions (None: an unconditional delete); S3 compares the
    time to the second. A time or size that does not parse is ``InvalidArgument``, named as
    the header or (``in_xml``) as DeleteObjects' element."""
    names = (
        ("LastModifiedTime", "Size")
        if in_xml
        else ("x-amz-if-match-last-modified-time", "x-amz-if-match-size")
    )
    seconds = None
    if last_modified is not None:
        parsed = _seconds(last_modified)
        if parsed is None:
            raise InvalidArgument(None, ArgumentName=names[0], ArgumentValue=last_modified)
        seconds = int(parsed)
    wanted_size = None
    if size is not None:
        wanted_size = int(size) if size.strip().isdigit() else -1
        if wanted_size < 0:
            raise InvalidArgument(None, ArgumentName=names[1], ArgumentValue=size)
    conditions = DeleteConditions(
        if_match=if_match.strip() if if_match is not None else None,
        last_modified=seconds,
        size=wanted_size,
    )
    return conditions if conditions.given else None
