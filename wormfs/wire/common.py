"""Shared wire pieces: the typed error body and JSON helpers for internal APIs."""

from __future__ import annotations

from typing import Any, TypeVar

import msgspec

from wormfs.errors import WormError, error_from_code

T = TypeVar("T")

JSON_TYPE = "application/json"
# The largest JSON body an internal API accepts (manifests of 5 TiB objects stay well below).
MAX_JSON_BODY = 64 * 1024 * 1024


class ErrorBody(msgspec.Struct, frozen=True):
    """What every internal API answers with on failure; ``code`` is a domain error class name."""

    code: str
    message: str


def encode(value: Any) -> bytes:
    return msgspec.json.encode(value)


def decode(data: bytes, kind: type[T]) -> T:
    return msgspec.json.decode(data, type=kind)


def error_body(error: WormError) -> bytes:
    return encode(ErrorBody(code=error.code, message=error.message))


def raise_error_body(data: bytes, status: int) -> WormError:
    """The domain error an internal error response carries (for clients to raise)."""
    try:
        body = decode(data, ErrorBody)
    except (msgspec.ValidationError, msgspec.DecodeError):
        return WormError(f"internal API answered {status}: {data[:200]!r}")
    return error_from_code(body.code, body.message)
