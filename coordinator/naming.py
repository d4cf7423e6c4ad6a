"""Validation of names the coordinator stores: bucket names and object keys. Pure functions.

Layer: coordinator, below the repositories. Bucket names follow S3's general-purpose bucket
rules (3-63 characters of lowercase letters, digits, dots and hyphens; starting and ending with
a letter or digit; no two adjacent dots, no dot next to a hyphen; not shaped like an IPv4
address; none of the reserved prefixes and suffixes) -> ``InvalidBucketNameError``. Keys are
1-5120 bytes of UTF-8 -> ``InvalidKeyError``: S3 requests are held to 1,024 bytes by the
gateway, paths made through the mount may be longer (``wormfs.wire.fs.MAX_PATH`` plus a
mount's prefix).
"""

from __future__ import annotations

import re

from wormfs.errors import InvalidBucketNameError, InvalidKeyError

MAX_KEY_BYTES = 5120  # the stored key columns' length (db/models.py KEY_BYTES)

_BUCKET_RE = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")
_IPV4_RE = re.compile(r"\d{1,3}(\.\d{1,3}){3}")
_RESERVED_PREFIXES = ("xn--", "sthree-", "amzn-s3-demo-")
_RESERVED_SUFFIXES = ("-s3alias", "--ol-s3", ".mrap", "--x-s3", "--table-s3")


def check_bucket_name(name: str) -> None:
    """Raise ``InvalidBucketNameError`` unless ``name`` is a valid S3 bucket name."""
    problem = bucket_name_problem(name)
    if problem:
        raise InvalidBucketNameError(f"invalid bucket name {name!r}: {problem}")


def bucket_name_problem(name: str) -> str:
    """Why ``name`` is not a valid bucket name, or "" if it is."""
    if not 3 <= len(name) <= 63:
        return "must be 3 to 63 characters long"
    if not _BUCKET_RE.fullmatch(name):
        return (
            "only lowercase letters, digits, dots and hyphens, beginning and ending with a "
            "letter or digit"
        )
    if ".." in name:
        return "must not contain two adjacent dots"
    # S3's rules before 2024 said so, and S3 still refuses them ("my-.bucket", "my.-bucket").
    if ".-" in name or "-." in name:
        return "must not contain a dot next to a hyphen"
    if _IPV4_RE.fullmatch(name):
        return "must not be formatted as an IP address"
    if name.startswith(_RESERVED_PREFIXES):
        return "uses a reserved prefix"
    if name.endswith(_RESERVED_SUFFIXES):
        return "uses a reserved suffix"
    return ""


def check_key(key: str) -> None:
    """Raise ``InvalidKeyError`` unless ``key`` is 1..5120 bytes of UTF-8."""
    if not key:
        raise InvalidKeyError("object key must not be empty")
    try:
        size = len(key.encode("utf-8"))
    except UnicodeEncodeError:
        raise InvalidKeyError("object key is not valid UTF-8") from None
    if size > MAX_KEY_BYTES:
        raise InvalidKeyError(f"object key is {size} bytes long; at most {MAX_KEY_BYTES}")
