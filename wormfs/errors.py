"""Domain errors: the middle tier of WormFS's three error tiers.

Storage and disk errors (``wormfs.storage_node``'s own) are mapped into these at the storage
boundary; the gateway maps these into S3 errors with one table (``wormfs.gateway.errors``); the
internal HTTP APIs carry them as typed ``ErrorBody`` payloads (``wormfs.wire.common``) and the
clients raise the same class again on the far side. The domain never speaks S3.

Every class has a stable ``code`` (its class name) used on the wire; ``ERRORS_BY_CODE``
rebuilds the class from the code. A class may also declare typed fields (``FIELDS``: the
names of its keyword-only constructor arguments, e.g. ``NoSuchKeyError(bucket=, key=,
version_id=)``): they travel in ``ErrorBody`` so that ``error_from_code`` rebuilds the same
error with the same fields, and the gateway's table turns class + fields into AWS's code,
message and XML elements. Without an explicit message, the message is built from the fields
in the domain's own words (for logs); it never names an S3 header or quotes AWS.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any, ClassVar, Literal


class WormError(Exception):
    """Base of every domain error. ``http_status`` is what internal APIs answer with."""

    http_status: ClassVar[int] = 500
    # The names of the typed fields this class carries (its keyword-only arguments).
    FIELDS: ClassVar[tuple[str, ...]] = ()

    @property
    def code(self) -> str:
        return type(self).__name__

    def __init__(self, message: str = "") -> None:
        super().__init__(message or type(self).__doc__ or type(self).__name__)
        self.message = message or (type(self).__doc__ or type(self).__name__).strip()

    def fields(self) -> dict[str, Any]:
        """The typed fields that are set, by name (what ``ErrorBody`` carries)."""
        found = {name: getattr(self, name) for name in self.FIELDS}
        return {name: value for name, value in found.items() if value is not None}


# --- not found -----------------------------------------------------------------------------
class NotFoundError(WormError):
    """Something that was asked for does not exist."""

    http_status = 404


class NoSuchBucketError(NotFoundError):
    """The bucket does not exist."""

    FIELDS = ("bucket",)

    def __init__(self, message: str = "", *, bucket: str | None = None) -> None:
        self.bucket = bucket
        super().__init__(message or (f"bucket {bucket!r} does not exist" if bucket else ""))


class NoSuchKeyError(NotFoundError):
    """The object does not exist."""

    FIELDS: ClassVar[tuple[str, ...]] = ("bucket", "key", "version_id", "delete_marker")

    def __init__(
        self,
        message: str = "",
        *,
        bucket: str | None = None,
        key: str | None = None,
        version_id: str | None = None,
        delete_marker: bool | None = None,
    ) -> None:
        # With ``delete_marker``: the key's current version is a delete marker, whose S3
        # version id is ``version_id`` (S3 answers both in headers).
        self.bucket, self.key, self.version_id = bucket, key, version_id
        self.delete_marker = delete_marker
        if not message and key is not None:
            version = f"version {version_id!r} of " if version_id and not delete_marker else ""
            message = f"no {version}object {key!r} in bucket {bucket!r}"
        super().__init__(message)


class NoSuchVersionError(NoSuchKeyError):
    """The version asked for does not exist (a kind of missing key, for callers that do not
    care which)."""

    FIELDS = ("bucket", "key", "version_id")

    def __init__(
        self,
        message: str = "",
        *,
        bucket: str | None = None,
        key: str | None = None,
        version_id: str | None = None,
    ) -> None:
        super().__init__(
            message or f"no version {version_id!r} of {key!r} in {bucket!r}",
            bucket=bucket,
            key=key,
            version_id=version_id,
        )


class DeleteMarkerError(WormError):
    """The version asked for is a delete marker: it has no data or metadata to read."""

    http_status = 405
    FIELDS = ("bucket", "key", "version_id", "last_modified")

    def __init__(
        self,
        message: str = "",
        *,
        bucket: str | None = None,
        key: str | None = None,
        version_id: str | None = None,
        last_modified: float | None = None,
    ) -> None:
        self.bucket, self.key, self.version_id = bucket, key, version_id
        self.last_modified = last_modified
        super().__init__(message)


class NoSuchUploadError(NotFoundError):
    """The multipart upload does not exist (aborted, completed, or never created)."""

    FIELDS = ("upload_id", "bucket", "key")

    def __init__(
        self,
        message: str = "",
        *,
        upload_id: str | None = None,
        bucket: str | None = None,
        key: str | None = None,
    ) -> None:
        self.upload_id, self.bucket, self.key = upload_id, bucket, key
        if not message and upload_id is not None:
            where = f" for {bucket}/{key}" if key is not None else ""
            message = f"no upload {upload_id!r}{where}"
        super().__init__(message)


class NoSuchChunkError(NotFoundError):
    """The chunk is not on that disk."""


class NoSuchDiskError(NotFoundError):
    """The disk is not known to this node."""


class NoSuchAccessKeyError(NotFoundError):
    """The access key is not known."""


class NoSuchProfileError(NotFoundError):
    """No erasure-coding profile has that name."""


# --- conflicts and preconditions -----------------------------------------------------------
class ConflictError(WormError):
    """The request conflicts with the current state."""

    http_status = 409


class _BucketConflict(ConflictError):
    FIELDS = ("bucket",)

    def __init__(self, message: str = "", *, bucket: str | None = None) -> None:
        self.bucket = bucket
        what = (type(self).__doc__ or "").strip().rstrip(".")
        super().__init__(message or (f"{what}: {bucket!r}" if bucket else ""))


class BucketAlreadyExistsError(_BucketConflict):
    """A bucket with that name exists and belongs to someone else."""


class BucketAlreadyOwnedByYouError(_BucketConflict):
    """A bucket with that name exists and belongs to the caller."""


class BucketNotEmptyError(_BucketConflict):
    """The bucket still holds objects or uploads."""


class InvalidBucketStateError(ConflictError):
    """The bucket's state does not allow the change (e.g. suspending versioning where Object
    Lock needs it, or a lock configuration on a bucket without versioning)."""


class ProfileInUseError(ConflictError):
    """The profile is still used by objects, uploads or a bucket's default class."""


class ProfileExistsError(ConflictError):
    """A profile with that name, or one serving that storage class, exists already."""


class ChunkExistsError(ConflictError):
    """A chunk with that id already exists on the disk."""


class Condition(StrEnum):
    """The conditions a write or read may be made on, in the domain's words."""

    ETAG_MATCHES = "etag-matches"  # the current version's ETag is one of those given
    ETAG_DIFFERS = "etag-differs"  # the current version's ETag is none of those given
    NO_CURRENT_OBJECT = "no-current-object"  # the key has no current version (create only)
    MODIFIED_SINCE = "modified-since"
    UNMODIFIED_SINCE = "unmodified-since"
    LAST_MODIFIED_MATCHES = "last-modified-matches"  # a delete's x-amz-if-match-last-modified-time
    SIZE_MATCHES = "size-matches"  # a delete's x-amz-if-match-size


_CONDITION_WORDS = {
    Condition.ETAG_MATCHES: "the current ETag is one of those given",
    Condition.ETAG_DIFFERS: "the current ETag is none of those given",
    Condition.NO_CURRENT_OBJECT: "no object exists at the key",
    Condition.MODIFIED_SINCE: "the object was modified since the given time",
    Condition.UNMODIFIED_SINCE: "the object was not modified since the given time",
    Condition.LAST_MODIFIED_MATCHES: "the object was last modified at the given time",
    Condition.SIZE_MATCHES: "the object has the given size",
}


class PreconditionFailedError(WormError):
    """A condition the request was made on did not hold."""

    http_status = 412
    FIELDS = ("condition", "etag")

    def __init__(
        self, message: str = "", *, condition: Condition | None = None, etag: str | None = None
    ) -> None:
        self.condition = Condition(condition) if condition is not None else None
        self.etag = etag  # the current version's ETag, when there is one
        if not message and self.condition is not None:
            current = f" (current ETag {etag})" if etag else ""
            message = f"condition not met: {_CONDITION_WORDS[self.condition]}{current}"
        super().__init__(message)


class NotModifiedError(WormError):
    """If-None-Match / If-Modified-Since said the client's copy is current."""

    http_status = 304


class StaleLeaderError(ConflictError):
    """A write came from a coordinator that is no longer the leader (fencing)."""


# --- bad input -----------------------------------------------------------------------------
class InvalidInputError(WormError):
    """The request is malformed or out of bounds."""

    http_status = 400


class NoObjectLockError(InvalidInputError):
    """The bucket has no Object Lock, which the request needs (a retention or legal hold)."""


class InvalidRetentionError(InvalidInputError):
    """A retention that cannot be: its date is not in the future, or its mode is unknown."""


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


class InvalidStorageClassError(InvalidInputError):
    """No profile serves that storage class, or its profile cannot be written here."""

    FIELDS = ("storage_class",)

    def __init__(self, message: str = "", *, storage_class: str | None = None) -> None:
        self.storage_class = storage_class
        super().__init__(
            message
            or (f"no profile serves storage class {storage_class!r}" if storage_class else "")
        )


class EntityTooSmallError(InvalidInputError):
    """A part other than the last is smaller than the minimum part size."""


class EntityTooLargeError(InvalidInputError):
    """The object or part is larger than allowed."""


DigestAlgorithm = Literal["md5", "crc32", "crc32c", "crc64nvme", "sha1", "sha256"]


class BadDigestError(InvalidInputError):
    """A checksum sent with the data does not match the data."""

    FIELDS = ("algorithm", "expected", "computed")

    def __init__(
        self,
        message: str = "",
        *,
        algorithm: DigestAlgorithm | None = None,
        expected: str | None = None,
        computed: str | None = None,
    ) -> None:
        self.algorithm, self.expected, self.computed = algorithm, expected, computed
        if not message and algorithm is not None:
            values = f" (sent {expected}, computed {computed})" if expected and computed else ""
            message = f"the {algorithm} digest sent does not match the data{values}"
        super().__init__(message)


class CompletionMismatchError(InvalidInputError):
    """A completion claims an object other than the one its upload and parts make."""

    FIELDS = ("mismatch", "expected", "actual")

    def __init__(
        self,
        message: str = "",
        *,
        mismatch: Literal["checksum_type", "checksum_algorithm", "object_size"] | None = None,
        expected: str | None = None,
        actual: str | None = None,
    ) -> None:
        self.mismatch, self.expected, self.actual = mismatch, expected, actual
        if not message and mismatch is not None:
            what = mismatch.replace("_", " ")
            message = f"the completion's {what} is {actual}, the upload's is {expected}"
        super().__init__(message)


class IncompleteBodyError(InvalidInputError):
    """The body ended before the announced length."""


class CorruptChunkError(WormError):
    """A chunk's bytes fail their checksum (bitrot or a torn file); read elsewhere."""

    http_status = 422


# --- the file namespace (the mount's directory tree over a bucket's keys) ---------------------
class _EntryError(WormError):
    """Base of the namespace errors: ``key`` is the path (a key, without a trailing slash)."""

    FIELDS = ("bucket", "key")

    def __init__(
        self, message: str = "", *, bucket: str | None = None, key: str | None = None
    ) -> None:
        self.bucket, self.key = bucket, key
        what = (type(self).__doc__ or "").strip().rstrip(".")
        super().__init__(message or (f"{what}: {key!r} in bucket {bucket!r}" if key else ""))


class NoSuchEntryError(_EntryError, NotFoundError):
    """No file or directory has that path."""

    http_status = 404


class EntryExistsError(_EntryError, ConflictError):
    """A file or directory with that path already exists."""

    http_status = 409


class DirectoryNotEmptyError(_EntryError, ConflictError):
    """The directory still holds entries."""

    http_status = 409


class NotADirectoryEntryError(_EntryError, ConflictError):
    """A component of the path, or the entry itself, is a file where a directory is needed."""

    http_status = 409


class IsADirectoryEntryError(_EntryError, ConflictError):
    """The entry is a directory where a file is needed."""

    http_status = 409


class InvalidMoveError(_EntryError, InvalidInputError):
    """A directory cannot be moved inside itself, nor the root moved at all."""

    http_status = 400


class NameTooLongError(_EntryError, InvalidInputError):
    """A path component is longer than 255 bytes, or the path longer than 4,095."""

    http_status = 400


class NoSuchAttributeError(_EntryError, NotFoundError):
    """The entry has no extended attribute of that name."""

    http_status = 404


class AttributeExistsError(_EntryError, ConflictError):
    """The extended attribute exists and the caller asked to create it."""

    http_status = 409


class StaleVersionError(_EntryError, ConflictError):
    """The file's current version is not the one the write was based on."""

    # Someone else committed (or deleted) the key since the writer read its base version;
    # nothing was changed. The mount answers ESTALE and keeps the writer's bytes.

    http_status = 409


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


class KeyUnavailableError(WormError):
    """A sealed version's data key cannot be had: no master key is configured, the one that
    wrapped it is not in this process's keyring, or the wrapped key does not unwrap."""

    http_status = 500


class NoMasterKeyError(ConflictError):
    """No master key is configured here (``WORMFS_MASTER_KEY``, ``WORMFS_MASTER_KEY_FILE``),
    so no data key can be wrapped or re-wrapped."""


# --- authentication ------------------------------------------------------------------------
class AuthError(WormError):
    """An internal request is not authenticated."""

    http_status = 401


class AccessDeniedError(WormError):
    """The caller may not do this to this bucket or object."""

    http_status = 403


class ObjectLockedError(AccessDeniedError):
    """The version is under a retention or a legal hold: it cannot be removed, nor its
    retention shortened or its mode changed (a GOVERNANCE retention yields to a caller that
    asks to bypass it and may)."""

    FIELDS = ("bucket", "key", "version_id")

    def __init__(
        self,
        message: str = "",
        *,
        bucket: str | None = None,
        key: str | None = None,
        version_id: str | None = None,
    ) -> None:
        self.bucket, self.key, self.version_id = bucket, key, version_id
        if not message and key is not None:
            message = f"version {version_id!r} of {key!r} in bucket {bucket!r} is locked"
        super().__init__(message)


class CustomerKeyError(AccessDeniedError):
    """An SSE-C version was read without its customer key, or with another one: its bytes
    cannot be decrypted (the mount answers EACCES)."""


class ForbiddenError(WormError):
    """An internal request is authenticated but stale, replayed or not allowed."""

    http_status = 403


def _all_subclasses(cls: type[WormError]) -> list[type[WormError]]:
    out: list[type[WormError]] = [cls]
    for sub in cls.__subclasses__():
        out.extend(_all_subclasses(sub))
    return out


ERRORS_BY_CODE: dict[str, type[WormError]] = {c.__name__: c for c in _all_subclasses(WormError)}


def error_from_code(code: str, message: str, fields: dict[str, Any] | None = None) -> WormError:
    """Rebuild a domain error received over an internal API, with the typed fields its class
    declares (others are dropped); unknown codes become WormError."""
    cls = ERRORS_BY_CODE.get(code, WormError)
    known = {k: v for k, v in (fields or {}).items() if k in cls.FIELDS and v is not None}
    return cls(message, **known)
