"""Admin API errors: one JSON shape, ``{code, message, request_id}``, mapped from the domain once.

Layer: coordinator admin package. Contract: ``admin_error(exc)`` turns a domain error
(``wormfs.errors``) into the admin API's code and status: the status is the error's own
``http_status``, the code its class name without the ``Error`` suffix (``BucketNotEmptyError``
-> ``BucketNotEmpty``), except the few renamed in ``_CODES`` to what HTTP clients expect.
Anything that is not a domain error is ``InternalError`` (500), logged with its traceback by
the server, never shown. ``ErrorBody`` is the schema of every error answer (and of the OpenAPI
document's default response).
"""

from __future__ import annotations

import msgspec

from wormfs.errors import AuthError, ForbiddenError, WormError

ERROR_SUFFIX = "Error"
# Renamed for HTTP clients: the domain's names speak of internal requests.
_CODES: dict[type[WormError], str] = {
    AuthError: "Unauthorized",
    ForbiddenError: "Forbidden",
    WormError: "InternalError",
}


class ErrorBody(msgspec.Struct, frozen=True):
    """What every admin API error answers."""

    code: str  # machine-readable, e.g. "BucketNotEmpty", "Unauthorized", "NoSuchRoute"
    message: str  # for humans; never holds a token or a secret
    request_id: str  # also in the x-request-id header and in the audit row


def error_code(error: WormError) -> str:
    named = _CODES.get(type(error))
    if named is not None:
        return named
    name = type(error).__name__
    return name[: -len(ERROR_SUFFIX)] if name.endswith(ERROR_SUFFIX) else name


def admin_error(error: WormError, request_id: str) -> tuple[int, ErrorBody]:
    """The status and body answering ``error``."""
    return error.http_status, ErrorBody(
        code=error_code(error), message=error.message, request_id=request_id
    )
