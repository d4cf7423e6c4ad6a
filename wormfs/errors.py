"""Domain errors: the middle tier of WormFS's three error tiers.

Storage and disk errors (``wormfs.storage_node``'s own) are mapped into these at the storage
boundary; the gateway maps these into S3 errors with one table (``wormfs.gateway.errors``); the
internal HTTP APIs carry them as typed ``ErrorBody`` payloads (``wormfs.wire.common``) and the
clients raise the same class again on the far side. The domain never speaks S3.

Every class has a stable ``code`` (its class name) used on the wire; ``ERRORS_BY_CODE``
rebuilds the class from the code.
"""

from __future__ import annotations

from typing import ClassVar


class WormError(Exception):
    """Base of every domain error. ``http_status`` is what internal APIs answer with."""

    http_status: ClassVar[int] = 500

    @property
    def code(self) -> str:
        return type(self).__name__

    def __init__(self, message: str = "") -> None:
        super().__init__(message or type(self).__doc__ or type(self).__name__)
        self.message = message or (type(self).__doc__ or type(self).__name__).strip()


# --- not found -----------------------------------------------------------------------------
class NotFoundError(WormError):
    """Something that was asked for does not exist."""

    http_status = 404


class NoSuchBucketError(NotFoundError):
    """The bucket does not exist."""


class NoSuchKeyError(NotFoundError):
    """The object does not exist."""


class NoSuchUploadError(NotFoundError):
    """The multipart upload does not exist (aborted, completed, or never created)."""


class NoSuchChunkError(NotFoundError):
    """The chunk is not on that disk."""


class NoSuchDiskError(NotFoundError):
    """The disk is not known to this node."""


class NoSuchAccessKeyError(NotFoundError):
    """The access key is not known."""


# --- conflicts and preconditions -----------------------------------------------------------
class ConflictError(WormError):
    """The request conflicts with the current state."""

    http_status = 409


class BucketAlreadyExistsError(ConflictError):
    """A bucket with that name exists and belongs to someone else."""


class BucketAlreadyOwnedByYouError(ConflictError):
    """A bucket with that name exists and belongs to the caller."""


class BucketNotEmptyError(ConflictError):
    """The bucket still holds objects or uploads."""


class ChunkExistsError(ConflictError):
    """A chunk with that id already exists on the disk."""


class PreconditionFailedError(WormError):
    """A condition (If-Match and friends) did not hold."""

    http_status = 412


class NotModifiedError(WormError):
    """If-None-Match / If-Modified-Since said the client's copy is current."""

    http_status = 304


class StaleLeaderError(ConflictError):
    """A write came from a coordinator that is no longer the leader (fencing)."""


# --- bad input -----------------------------------------------------------------------------
class InvalidInputError(WormError):
    """The request is malformed or out of bounds."""

    http_status = 400


class InvalidBucketNameError(InvalidInputError):
    """The bucket name does not follow the naming rules."""


class InvalidKeyError(InvalidInputError):
    """The object key is empty, too long, or not valid UTF-8."""


class InvalidRangeError(WormError):
    """The requested byte range does not overlap the object."""

    http_status = 416


class InvalidPartError(InvalidInputError):
    """A part named in a completion is missing or its ETag does not match."""


class InvalidPartOrderError(InvalidInputError):
    """Parts in a completion are not in ascending order."""


class EntityTooSmallError(InvalidInputError):
    """A part other than the last is smaller than the minimum part size."""


class EntityTooLargeError(InvalidInputError):
    """The object or part is larger than allowed."""


class BadDigestError(InvalidInputError):
    """A checksum sent with the data does not match the data."""


class IncompleteBodyError(InvalidInputError):
    """The body ended before the announced length."""


class CorruptChunkError(WormError):
    """A chunk's bytes fail their checksum (bitrot or a torn file); read elsewhere."""

    http_status = 422


# --- capacity and availability -------------------------------------------------------------
class UnavailableError(WormError):
    """A needed peer or resource is not available right now."""

    http_status = 503


class InsufficientDisksError(UnavailableError):
    """Fewer healthy disks than k+m: a write would be under-protected, so it is refused."""


class NotEnoughFragmentsError(UnavailableError):
    """Fewer than k fragments of a stripe could be read: the data cannot be decoded now."""


class DiskFullError(UnavailableError):
    """The disk has no room for the chunk."""

    http_status = 507


class DiskOfflineError(UnavailableError):
    """The disk is offline (failed I/O, missing marker, or taken out by an admin)."""


class NotLeaderError(UnavailableError):
    """This coordinator is not the leader; ask the leader."""

    def __init__(self, message: str = "", leader: str = "") -> None:
        super().__init__(message)
        self.leader = leader  # the leader's base URL when known (X-Wormfs-Leader on the wire)


# --- authentication ------------------------------------------------------------------------
class AuthError(WormError):
    """An internal request is not authenticated."""

    http_status = 401


class AccessDeniedError(WormError):
    """The caller may not do this to this bucket or object."""

    http_status = 403


class ForbiddenError(WormError):
    """An internal request is authenticated but stale, replayed or not allowed."""

    http_status = 403


def _all_subclasses(cls: type[WormError]) -> list[type[WormError]]:
    out: list[type[WormError]] = [cls]
    for sub in cls.__subclasses__():
        out.extend(_all_subclasses(sub))
    return out


ERRORS_BY_CODE: dict[str, type[WormError]] = {c.__name__: c for c in _all_subclasses(WormError)}


def error_from_code(code: str, message: str) -> WormError:
    """Rebuild a domain error received over an internal API; unknown codes become WormError."""
    cls = ERRORS_BY_CODE.get(code, WormError)
    return cls(message)
