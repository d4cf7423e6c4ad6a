"""POSIX attributes as S3 user metadata: the projection both ways (pure functions, no I/O).

Layer: format (shared: the coordinator stores the projection, the read side parses what other
tools wrote). User metadata names are as the coordinator keeps them: lower case, without the
``x-amz-meta-`` prefix.

Write side (``to_metadata``), as s3fs-fuse writes its headers:

    mode   st_mode in decimal, file type included ("33188" for S_IFREG | 0o644)
    uid    decimal
    gid    decimal
    mtime  epoch seconds with nine decimals ("1700000000.123456789"); ctime and atime alike
    rdev   decimal, only for character and block devices

Read side (``from_metadata``) accepts what s3fs, rclone and gcsfuse write:

* ``mode`` parsed as C's ``strtol(s, NULL, 0)`` does ("0x81a4" hex, "0100644" octal, "33188"
  decimal); a decimal result above 0o177777 cannot be a mode, so it is read again as octal
  (rclone's "100644");
* ``mtime`` / ``ctime`` / ``atime`` as epoch seconds (integer or with a fraction, s3fs and
  rclone) or RFC 3339 ("2023-11-14T22:13:20.123456789Z", rclone);
* gcsfuse's ``goog-reserved-posix-mode`` (octal), ``goog-reserved-posix-uid`` / ``-gid`` and
  ``goog-reserved-file-mtime`` (epoch seconds, or RFC 3339), used when the s3fs names are
  absent.

A value that does not parse is ignored, as if absent: metadata written by hand must never
make an object unreadable.
"""

from __future__ import annotations

import calendar
import re
import stat
from collections.abc import Callable, Mapping
from dataclasses import dataclass

NS = 1_000_000_000
MODE_MAX = 0o177777  # the largest st_mode: file type and permission bits
# The names this module writes: a rewrite of the attributes replaces exactly these.
PROJECTED = ("mode", "uid", "gid", "mtime", "ctime", "atime", "rdev")

_RFC3339 = re.compile(
    r"(\d{4})-(\d\d)-(\d\d)[Tt ](\d\d):(\d\d):(\d\d)(?:\.(\d+))?(?:([Zz])|([+-])(\d\d):?(\d\d))"
)
_SECONDS = re.compile(r"([+-]?)(\d+)(?:\.(\d*))?")


@dataclass(frozen=True)
class ParsedAttrs:
    """What user metadata says of a file's attributes; None where it says nothing."""

    mode: int | None = None
    uid: int | None = None
    gid: int | None = None
    mtime_ns: int | None = None
    ctime_ns: int | None = None
    atime_ns: int | None = None
    rdev: int | None = None


def format_seconds(ns: int) -> str:
    """Nanoseconds since the epoch as seconds with nine decimals: 1700000000.123456789."""
    sign = "-" if ns < 0 else ""
    whole, fraction = divmod(abs(ns), NS)
    return f"{sign}{whole}.{fraction:09d}"


def to_metadata(
    mode: int, uid: int, gid: int, atime_ns: int, mtime_ns: int, ctime_ns: int, rdev: int = 0
) -> dict[str, str]:
    """The s3fs projection of a file's attributes (see the module docstring)."""
    out = {
        "mode": str(mode),
        "uid": str(uid),
        "gid": str(gid),
        "mtime": format_seconds(mtime_ns),
        "ctime": format_seconds(ctime_ns),
        "atime": format_seconds(atime_ns),
    }
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        out["rdev"] = str(rdev)
    return out


def parse_strtol(text: str) -> int | None:
    """``strtol(text, NULL, 0)`` over the whole string: 0x hex, leading 0 octal, else
    decimal; None if it is not a number."""
    value = text.strip()
    sign = 1
    if value[:1] in "+-" and value:
        sign = -1 if value[0] == "-" else 1
        value = value[1:]
    try:
        if value[:2].lower() == "0x":
            return sign * int(value[2:], 16)
        if len(value) > 1 and value[0] == "0":
            return sign * int(value[1:], 8)
        if value.isdigit():
            return sign * int(value, 10)
    except ValueError:
        return None
    return None


def parse_mode(text: str) -> int | None:
    """An st_mode as s3fs or rclone wrote it (see the module docstring)."""
    value = parse_strtol(text)
    if value is None or value < 0:
        return None
    stripped = text.strip().lstrip("+")
    decimal = stripped.isdigit() and not (len(stripped) > 1 and stripped[0] == "0")
    if decimal and value > MODE_MAX:
        try:
            value = int(stripped, 8)
        except ValueError:
            return None
    return value if value <= MODE_MAX else None


def _parse_octal(text: str) -> int | None:
    try:
        value = int(text.strip(), 8)
    except ValueError:
        return None
    return value if 0 <= value <= MODE_MAX else None


def _parse_id(text: str) -> int | None:
    value = text.strip()
    return int(value) if value.isdigit() and int(value) < 2**32 else None


def parse_time(text: str) -> int | None:
    """Nanoseconds since the epoch from epoch seconds ("1700000000", "1700000000.5") or
    RFC 3339 ("2023-11-14T22:13:20.5Z", "2023-11-14T23:13:20+01:00"); None otherwise."""
    value = text.strip()
    seconds = _SECONDS.fullmatch(value)
    if seconds is not None:
        sign, whole, fraction = seconds.groups()
        ns = int(whole) * NS + int((fraction or "").ljust(9, "0")[:9] or "0")
        return -ns if sign == "-" else ns
    stamp = _RFC3339.fullmatch(value)
    if stamp is None:
        return None
    year, month, day, hour, minute, second, fraction, zulu, sign, off_h, off_m = stamp.groups()
    try:
        whole = calendar.timegm(
            (int(year), int(month), int(day), int(hour), int(minute), int(second), 0, 0, 0)
        )
    except (ValueError, OverflowError):
        return None
    if not 1 <= int(month) <= 12 or not 1 <= int(day) <= 31 or int(hour) > 23:
        return None
    if not zulu:
        offset = int(off_h) * 3600 + int(off_m) * 60
        whole -= offset if sign == "+" else -offset
    return whole * NS + int((fraction or "").ljust(9, "0")[:9] or "0")


def _first(
    meta: Mapping[str, str], names: tuple[str, ...], parse: Callable[[str], int | None]
) -> int | None:
    for name in names:
        raw = meta.get(name)
        if raw is not None:
            value = parse(raw)
            if value is not None:
                return value
    return None


def from_metadata(meta: Mapping[str, str]) -> ParsedAttrs:
    """What ``meta`` (user metadata) says of the attributes: s3fs and rclone names first,
    then gcsfuse's (see the module docstring)."""
    mode = _first(meta, ("mode",), parse_mode)
    if mode is None:
        mode = _first(meta, ("goog-reserved-posix-mode",), _parse_octal)
    return ParsedAttrs(
        mode=mode,
        uid=_first(meta, ("uid", "goog-reserved-posix-uid"), _parse_id),
        gid=_first(meta, ("gid", "goog-reserved-posix-gid"), _parse_id),
        mtime_ns=_first(meta, ("mtime", "goog-reserved-file-mtime"), parse_time),
        ctime_ns=_first(meta, ("ctime",), parse_time),
        atime_ns=_first(meta, ("atime",), parse_time),
        rdev=_first(meta, ("rdev",), _parse_id),
    )
