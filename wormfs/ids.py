"""Identifiers: pure functions, no I/O.

Ids are 128-bit random values shown as 32 lowercase hex characters. Version ids are
time-ordered (48-bit milliseconds, then 80 random bits) so that the newest version of a key sorts
last, which listing of versions relies on; S3 clients treat them as opaque strings.
"""

from __future__ import annotations

import os
import time
import uuid


def new_id() -> str:
    """A random 128-bit id as 32 hex characters (chunk, upload, request ids)."""
    return os.urandom(16).hex()


def new_version_id() -> str:
    """A time-ordered 128-bit id as 32 hex characters."""
    millis = int(time.time() * 1000) & ((1 << 48) - 1)
    return millis.to_bytes(6, "big").hex() + os.urandom(10).hex()


def new_request_id() -> str:
    """A short id for one request, logged and returned as ``x-amz-request-id``."""
    return os.urandom(8).hex().upper()


def is_id(value: str) -> bool:
    """True if ``value`` has the shape of an id (32 lowercase hex characters)."""
    if len(value) != 32:
        return False
    try:
        uuid.UUID(hex=value)
    except ValueError:
        return False
    return value == value.lower()
