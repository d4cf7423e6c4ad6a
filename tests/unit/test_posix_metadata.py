"""The POSIX <-> S3 user metadata projection (``wormfs.format.posix``): what s3fs writes, and
what s3fs, rclone and gcsfuse wrote read back."""

from __future__ import annotations

import stat

import pytest

from wormfs.format.posix import (
    ParsedAttrs,
    format_seconds,
    from_metadata,
    parse_mode,
    parse_strtol,
    parse_time,
    to_metadata,
)

T = 1_700_000_000_123_456_789


def test_the_s3fs_projection() -> None:
    assert to_metadata(stat.S_IFREG | 0o644, 1000, 100, T, T + 1, T + 2) == {
        "mode": "33188",
        "uid": "1000",
        "gid": "100",
        "atime": "1700000000.123456789",
        "mtime": "1700000000.123456790",
        "ctime": "1700000000.123456791",
    }
    device = to_metadata(stat.S_IFBLK | 0o600, 0, 0, 0, 0, 0, rdev=0x0801)
    assert device["rdev"] == "2049" and device["mtime"] == "0.000000000"
    assert "rdev" not in to_metadata(stat.S_IFREG | 0o600, 0, 0, 0, 0, 0, rdev=5)


@pytest.mark.parametrize(
    ("ns", "text"),
    [
        (T, "1700000000.123456789"),
        (0, "0.000000000"),
        (-1, "-0.000000001"),
        (-1_500_000_000, "-1.500000000"),
    ],
)
def test_seconds_round_trip(ns: int, text: str) -> None:
    assert format_seconds(ns) == text
    assert parse_time(text) == ns


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("33188", 33188),
        ("0100644", 0o100644),
        ("0x81a4", 0x81A4),
        ("0", 0),
        ("-5", -5),
        ("12a", None),
        ("", None),
        ("0x", None),
        ("089", None),
    ],
)
def test_strtol_base_zero(text: str, value: int | None) -> None:
    assert parse_strtol(text) == value


@pytest.mark.parametrize(
    ("text", "mode"),
    [
        ("33188", stat.S_IFREG | 0o644),  # s3fs: decimal
        ("0100644", stat.S_IFREG | 0o644),  # octal with the C prefix
        ("100644", stat.S_IFREG | 0o644),  # rclone: > 0o177777 as decimal, so octal
        ("16877", stat.S_IFDIR | 0o755),
        ("0755", 0o755),
        ("0x41ed", stat.S_IFDIR | 0o755),
        (" 33188 ", 33188),
        ("999999", None),  # not octal either
        ("9999999", None),
        ("-1", None),
        ("rwxr-xr-x", None),
    ],
)
def test_modes(text: str, mode: int | None) -> None:
    assert parse_mode(text) == mode


@pytest.mark.parametrize(
    ("text", "ns"),
    [
        ("1700000000", 1_700_000_000 * 10**9),
        ("1700000000.5", 1_700_000_000_500_000_000),
        ("1700000000.1234567891", 1_700_000_000_123_456_789),  # beyond ns: cut
        ("2023-11-14T22:13:20Z", 1_700_000_000 * 10**9),
        ("2023-11-14T22:13:20.123456789Z", T),
        ("2023-11-14T23:13:20.5+01:00", 1_700_000_000_500_000_000),
        ("2023-11-14T20:13:20-02:00", 1_700_000_000 * 10**9),
        ("2023-13-14T20:13:20Z", None),
        ("yesterday", None),
        ("", None),
    ],
)
def test_times(text: str, ns: int | None) -> None:
    assert parse_time(text) == ns


def test_read_side_names() -> None:
    assert from_metadata({}) == ParsedAttrs()
    s3fs = from_metadata(to_metadata(stat.S_IFREG | 0o600, 5, 6, T, T, T))
    assert s3fs == ParsedAttrs(
        mode=stat.S_IFREG | 0o600, uid=5, gid=6, mtime_ns=T, ctime_ns=T, atime_ns=T
    )
    rclone = from_metadata({"mtime": "2023-11-14T22:13:20.123456789Z", "mode": "100755"})
    assert (rclone.mode, rclone.mtime_ns) == (stat.S_IFREG | 0o755, T)
    gcs = from_metadata(
        {
            "goog-reserved-posix-mode": "644",
            "goog-reserved-posix-uid": "1001",
            "goog-reserved-posix-gid": "1002",
            "goog-reserved-file-mtime": "1700000000",
        }
    )
    assert (gcs.mode, gcs.uid, gcs.gid, gcs.mtime_ns) == (0o644, 1001, 1002, 1_700_000_000 * 10**9)
    # The s3fs names win over gcsfuse's; values that do not parse count as absent.
    both = from_metadata(
        {
            "mode": "33188",
            "goog-reserved-posix-mode": "600",
            "uid": "x",
            "goog-reserved-posix-uid": "7",
        }
    )
    assert (both.mode, both.uid) == (33188, 7)
    assert from_metadata({"mode": "garbage", "mtime": "later"}) == ParsedAttrs()
    assert from_metadata({"uid": str(2**32)}).uid is None
