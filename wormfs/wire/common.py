"""Shared wire pieces: the typed error body and JSON helpers for internal APIs."""

from __future__ import annotations

from typing import Any, Literal, TypeVar

import msgspec

from wormfs.errors import Condition, DigestAlgorithm, WormError, error_from_code

T = TypeVar("T")

JSON_TYPE = "application/json"
# The largest JSON body an internal API accepts (manifests of 5 TiB objects stay well below).
MAX_JSON_BODY = 64 * 1024 * 1024


class ErrorFields(msgspec.Struct, frozen=True, omit_defaults=True):
    """The typed fields a domain error may carry (``WormError.FIELDS``), all optional; each
    class uses the ones it declares. Adding a field here is backward compatible."""

    bucket: str | None = None
    key: str | None = None
    version_id: str | None = None
    upload_id: str | None = None
    condition: Condition | None = None
    etag: str | None = None
    algorithm: DigestAlgorithm | None = None
    expected: str | None = None
    computed: str | None = None
    mismatch: Literal["checksum_type", "checksum_algorithm", "object_size"] | None = None
    actual: str | None = None
    delete_marker: bool | None = None
    last_modified: float | None = None


class ErrorBody(msgspec.Struct, frozen=True):
    """What every internal API answers with on failure; ``code`` is a domain error class name,
    ``fields`` its typed fields, so that the client raises the same error with them."""

    code: str
    message: str
    fields: ErrorFields = msgspec.field(default_factory=ErrorFields)


def encode(value: Any) -> bytes:
    return msgspec.json.encode(value)


def decode(data: bytes, kind: type[T]) -> T:
    return msgspec.json.decode(data, type=kind)


def error_body(error: WormError) -> bytes:
    fields = msgspec.convert(error.fields(), ErrorFields)
    return encode(ErrorBody(code=error.code, message=error.message, fields=fields))


def raise_error_body(data: bytes, status: int) -> WormError:
    """The domain error an internal error response carries (for clients to raise)."""
    try:
        body = decode(data, ErrorBody)
    except (msgspec.ValidationError, msgspec.DecodeError):
        return WormError(f"internal API answered {status}: {data[:200]!r}")
    fields = {name: getattr(body.fields, name) for name in body.fields.__struct_fields__}
    return error_from_code(body.code, body.message, fields)
