"""S3 errors: the protocol tier of WormFS's three error tiers (gateway layer).

Contract: every error the S3 front door answers with is one ``S3Error`` subclass per AWS error
code. The code defaults to the class name, ``status`` is the HTTP status AWS uses and
``message`` its default text; keyword arguments given at construction (or ``extra``, for names
that are not identifiers) become extra XML elements after ``Message`` (AWS adds e.g.
``BucketName``, ``StringToSign``, ``ActualObjectSize``) and ``headers`` extra response headers.
``render_error`` builds the ``<Error>`` document.

Domain errors (``wormfs.errors``) become S3 errors through ``DOMAIN_ERRORS``, the one mapping
table of this boundary, applied by ``from_domain``; anything it does not name is a 500
``InternalError`` logged with its traceback by the app. The domain error's typed fields give
AWS's message where AWS's words depend on them (``BadDigest``: Content-MD5 or the named
checksum) and the elements AWS adds (``BucketName``, ``Key``, ``UploadId``, ``Condition``);
the domain never supplies AWS wording or header names itself.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import ClassVar

from wormfs import errors as domain
from wormfs.gateway.xml import Elem, http_date, render


class S3Error(Exception):
    """Base of every S3 error answer."""

    code: ClassVar[str] = "InternalError"
    status: ClassVar[int] = 500
    message: ClassVar[str] = "We encountered an internal error. Please try again."

    def __init_subclass__(cls, **kwargs: object) -> None:
        super().__init_subclass__(**kwargs)
        # The code defaults to the class name unless the class sets one itself.
        if "code" not in cls.__dict__:
            cls.code = cls.__name__

    def __init__(
        self,
        message: str | None = None,
        *,
        headers: Mapping[str, str] | None = None,
        extra: Mapping[str, str | int | None] | None = None,
        **fields: str | int | None,
    ) -> None:
        self.text = message or type(self).message
        super().__init__(self.text)
        # ``extra`` carries fields whose names are not Python identifiers (X-Amz-Expires).
        merged = {**fields, **(extra or {})}
        self.fields: dict[str, str] = {k: str(v) for k, v in merged.items() if v is not None}
        self.headers: dict[str, str] = dict(headers or {})

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.text!r}, {self.fields!r})"


def render_error(error: S3Error, resource: str, request_id: str, host_id: str) -> bytes:
    """The XML body AWS sends with an error (no namespace on ``<Error>``, as AWS does)."""
    root = Elem("Error")
    root.leaf("Code", error.code)
    root.leaf("Message", error.text)
    for name, value in error.fields.items():
        root.leaf(name, value)
    root.leaf("Resource", resource)
    root.leaf("RequestId", request_id)
    root.leaf("HostId", host_id)
    return render(root, namespace=False)


# ---- 3xx ---------------------------------------------------------------------------------------
class NotModified(S3Error):
    """Conditional GET/HEAD: the client's copy is current. Sent without a body."""

    status = 304
    message = "Not Modified"


# ---- 400 ---------------------------------------------------------------------------------------
class BadRequest(S3Error):
    status = 400
    message = "Bad Request"


class AccessControlListNotSupported(BadRequest):
    """ACLs are disabled (Object Ownership "bucket owner enforced", AWS's default since 2023)."""

    message = "The bucket does not allow ACLs"


class AuthorizationHeaderMalformed(BadRequest):
    message = "The authorization header is malformed."


class AuthorizationQueryParametersError(BadRequest):
    message = "Error parsing the X-Amz-Credential parameter."


class BadDigest(BadRequest):
    message = "The Content-MD5 you specified did not match what we received."


class BucketAlreadyOwnedByYou(S3Error):
    status = 409
    message = "Your previous request to create the named bucket succeeded and you already own it."


class EntityTooLarge(BadRequest):
    message = "Your proposed upload exceeds the maximum allowed size"


class InvalidPolicyDocument(BadRequest):
    message = (
        "The content of the form does not meet the conditions specified in the policy document."
    )


class MalformedPOSTRequest(BadRequest):
    message = "The body of your POST request is not well-formed multipart/form-data."


class MaxPostPreDataLengthExceeded(BadRequest):
    message = "Your POST request fields preceeding the upload file was too large."


class EntityTooSmall(BadRequest):
    message = "Your proposed upload is smaller than the minimum allowed object size."


class ExpiredToken(BadRequest):
    message = "The provided token has expired."


class IllegalLocationConstraintException(BadRequest):
    message = "The location constraint is incompatible for the region specific endpoint."


class IncompleteBody(BadRequest):
    message = "You did not provide the number of bytes specified by the Content-Length HTTP header"


class InvalidArgument(BadRequest):
    message = "Invalid Argument"


class InvalidBucketName(BadRequest):
    message = "The specified bucket is not valid."


class InvalidBucketAclWithObjectOwnership(BadRequest):
    message = "Bucket cannot have ACLs set with ObjectOwnership's BucketOwnerEnforced setting"


class InvalidDigest(BadRequest):
    message = "The Content-MD5 you specified is not valid."


class InvalidLocationConstraint(BadRequest):
    message = "The specified location-constraint is not valid"


class InvalidPart(BadRequest):
    message = (
        "One or more of the specified parts could not be found. The part may not have been "
        "uploaded, or the specified entity tag may not match the part's entity tag."
    )


class InvalidPartOrder(BadRequest):
    message = "The list of parts was not in ascending order. Parts must be ordered by part number."


class InvalidRequest(BadRequest):
    message = "Invalid Request"


class InvalidRetentionPeriod(BadRequest):
    message = "Default retention period must be a positive integer value."


class InvalidStorageClass(BadRequest):
    message = "The storage class you specified is not valid"


class InvalidTag(BadRequest):
    message = "The tag provided was not a valid tag."


class InvalidURI(BadRequest):
    message = "Couldn't parse the specified URI."


class KeyTooLongError(BadRequest):
    message = "Your key is too long"


class MalformedACLError(BadRequest):
    message = (
        "The XML you provided was not well-formed or did not validate against our published schema"
    )


class IllegalVersioningConfigurationException(S3Error):
    status = 400
    message = "The Versioning element must be specified"


class MalformedXML(BadRequest):
    message = (
        "The XML you provided was not well-formed or did not validate against our published schema"
    )


class MalformedTrailerError(BadRequest):
    message = (
        "The request contained trailing data that was not well-formed or did not conform "
        "to our published schema."
    )


class MalformedPolicy(BadRequest):
    message = "Policies must be valid JSON and the first byte must be '{'"


class MaxMessageLengthExceeded(BadRequest):
    message = "Your request was too big."


class MetadataTooLarge(BadRequest):
    message = "Your metadata headers exceed the maximum allowed metadata size."


class RequestHeaderSectionTooLarge(BadRequest):
    message = "Your request header section exceeds the maximum allowed size."


class XAmzContentSHA256Mismatch(BadRequest):
    message = "The provided 'x-amz-content-sha256' header does not match what was computed."


# ---- 403 ---------------------------------------------------------------------------------------
class AccessForbidden(S3Error):
    """A CORS preflight the bucket's rules do not allow (or a bucket without CORS)."""

    status = 403
    message = "CORSResponse: CORS is not enabled for this bucket."


class AccessDenied(S3Error):
    status = 403
    message = "Access Denied"


class AccountProblem(S3Error):
    status = 403
    message = (
        "There is a problem with your account that prevents the operation from completing "
        "successfully."
    )


class InvalidAccessKeyId(S3Error):
    status = 403
    message = "The AWS Access Key Id you provided does not exist in our records."


class RequestTimeTooSkewed(S3Error):
    status = 403
    message = "The difference between the request time and the current time is too large."


class SignatureDoesNotMatch(S3Error):
    status = 403
    message = (
        "The request signature we calculated does not match the signature you provided. "
        "Check your key and signing method."
    )


# ---- 404 ---------------------------------------------------------------------------------------
class NoSuchBucket(S3Error):
    status = 404
    message = "The specified bucket does not exist"


class NoSuchKey(S3Error):
    status = 404
    message = "The specified key does not exist."


class NoSuchUpload(S3Error):
    status = 404
    message = (
        "The specified upload does not exist. The upload ID may be invalid, or the upload "
        "may have been aborted or completed."
    )


class NoSuchBucketPolicy(S3Error):
    status = 404
    message = "The bucket policy does not exist"


class NoSuchCORSConfiguration(S3Error):
    status = 404
    message = "The CORS configuration does not exist"


class NoSuchConfiguration(S3Error):
    """An analytics, inventory, metrics or intelligent-tiering configuration id."""

    status = 404
    message = "The specified configuration does not exist."


class NoSuchLifecycleConfiguration(S3Error):
    status = 404
    message = "The lifecycle configuration does not exist"


class NoSuchPublicAccessBlockConfiguration(S3Error):
    status = 404
    message = "The public access block configuration was not found"


class NoSuchTagSet(S3Error):
    status = 404
    message = "The TagSet does not exist"


class NoSuchWebsiteConfiguration(S3Error):
    status = 404
    message = "The specified bucket does not have a website configuration"


class NoSuchObjectLockConfiguration(S3Error):
    """GetObjectRetention / GetObjectLegalHold of a version that never had one."""

    status = 404
    message = "The specified object does not have a ObjectLock configuration"


class ObjectLockConfigurationNotFoundError(S3Error):
    status = 404
    message = "Object Lock configuration does not exist for this bucket"


class ReplicationConfigurationNotFoundError(S3Error):
    status = 404
    message = "The replication configuration was not found"


class ServerSideEncryptionConfigurationNotFoundError(S3Error):
    status = 404
    message = "The server side encryption configuration was not found"


class NoSuchVersion(S3Error):
    status = 404
    message = "The specified version does not exist."


# ---- 405, 409, 411, 412, 416 -------------------------------------------------------------------
class MethodNotAllowed(S3Error):
    status = 405
    message = "The specified method is not allowed against this resource."


class BucketAlreadyExists(S3Error):
    status = 409
    message = (
        "The requested bucket name is not available. The bucket namespace is shared by all "
        "users of the system. Please select a different name and try again."
    )


class BucketNotEmpty(S3Error):
    status = 409
    message = "The bucket you tried to delete is not empty"


class InvalidBucketState(S3Error):
    status = 409
    message = "The request is not valid with the current state of the bucket."


class OperationAborted(S3Error):
    status = 409
    message = (
        "A conflicting conditional operation is currently in progress against this "
        "resource. Try again."
    )


class MissingContentLength(S3Error):
    status = 411
    message = "You must provide the Content-Length HTTP header."


class PreconditionFailed(S3Error):
    status = 412
    message = "At least one of the pre-conditions you specified did not hold"


class InvalidRange(S3Error):
    status = 416
    message = "The requested range is not satisfiable"

    def __init__(self, size: int | None = None, range_requested: str | None = None) -> None:
        headers = {"Content-Range": f"bytes */{size}"} if size is not None else None
        super().__init__(headers=headers, RangeRequested=range_requested, ActualObjectSize=size)


class InvalidPartNumber(S3Error):
    status = 416
    message = "The requested partnumber is not satisfiable"


# ---- 5xx ---------------------------------------------------------------------------------------
class InternalError(S3Error):
    pass


class S3NotImplemented(S3Error):
    code = "NotImplemented"
    status = 501
    message = "A header you provided implies functionality that is not implemented"


class ServiceUnavailable(S3Error):
    status = 503
    message = "Please reduce your request rate."


class SlowDown(S3Error):
    status = 503
    message = "Please reduce your request rate."


# ---- the one domain -> S3 mapping table --------------------------------------------------------
# (S3 class, whether the domain message is shown). AWS messages are fixed texts; the domain's
# message is shown only where it explains a client mistake (bad names, bad arguments).
DOMAIN_ERRORS: Mapping[type[domain.WormError], tuple[type[S3Error], bool]] = MappingProxyType(
    {
        domain.NoSuchBucketError: (NoSuchBucket, False),
        domain.NoSuchKeyError: (NoSuchKey, False),
        domain.NoSuchVersionError: (NoSuchVersion, False),
        domain.DeleteMarkerError: (MethodNotAllowed, False),
        domain.NoSuchUploadError: (NoSuchUpload, False),
        domain.NoSuchAccessKeyError: (InvalidAccessKeyId, False),
        domain.BucketAlreadyExistsError: (BucketAlreadyExists, False),
        domain.BucketAlreadyOwnedByYouError: (BucketAlreadyOwnedByYou, False),
        domain.BucketNotEmptyError: (BucketNotEmpty, False),
        domain.InvalidBucketStateError: (InvalidBucketState, True),
        domain.StaleLeaderError: (ServiceUnavailable, False),
        domain.ConflictError: (OperationAborted, False),
        domain.PreconditionFailedError: (PreconditionFailed, False),
        domain.NotModifiedError: (NotModified, False),
        domain.InvalidBucketNameError: (InvalidBucketName, False),
        domain.InvalidKeyError: (InvalidArgument, True),
        domain.NoObjectLockError: (InvalidRequest, False),
        domain.InvalidRetentionError: (InvalidArgument, False),
        domain.InvalidRangeError: (InvalidRange, False),
        domain.InvalidPartError: (InvalidPart, False),
        domain.InvalidPartOrderError: (InvalidPartOrder, False),
        domain.EntityTooSmallError: (EntityTooSmall, False),
        domain.EntityTooLargeError: (EntityTooLarge, False),
        domain.BadDigestError: (BadDigest, False),
        domain.IncompleteBodyError: (IncompleteBody, False),
        domain.CompletionMismatchError: (InvalidRequest, False),
        # The domain says which class and why (unknown, or wider than the cluster).
        domain.InvalidStorageClassError: (InvalidStorageClass, True),
        domain.InvalidInputError: (InvalidRequest, True),
        domain.InsufficientDisksError: (ServiceUnavailable, False),
        domain.NotEnoughFragmentsError: (ServiceUnavailable, False),
        domain.UnavailableError: (ServiceUnavailable, False),
        domain.AccessDeniedError: (AccessDenied, False),
        domain.ObjectLockedError: (AccessDenied, False),
    }
)


# The header a client sets for each domain condition: AWS names it in ``<Condition>``.
CONDITION_HEADERS: Mapping[domain.Condition, str] = MappingProxyType(
    {
        domain.Condition.ETAG_MATCHES: "If-Match",
        domain.Condition.ETAG_DIFFERS: "If-None-Match",
        domain.Condition.NO_CURRENT_OBJECT: "If-None-Match",
        domain.Condition.MODIFIED_SINCE: "If-Modified-Since",
        domain.Condition.UNMODIFIED_SINCE: "If-Unmodified-Since",
        domain.Condition.LAST_MODIFIED_MATCHES: "x-amz-if-match-last-modified-time",
        domain.Condition.SIZE_MATCHES: "x-amz-if-match-size",
    }
)


def _marker_headers(
    version_id: str | None, last_modified: float | None = None, allow: str | None = None
) -> dict[str, str]:
    """What S3 answers about a delete marker met by a read: it is one, its id, and (asked
    for by id) when it was made and which method it takes."""
    headers = {"x-amz-delete-marker": "true"}
    if version_id is not None:
        headers["x-amz-version-id"] = version_id
    if last_modified is not None:
        headers["Last-Modified"] = http_date(last_modified)
    if allow is not None:
        headers["Allow"] = allow
    return headers


def _bad_digest_message(exc: domain.BadDigestError) -> str | None:
    """AWS's words for a digest mismatch: Content-MD5 has its own, the others name it."""
    if exc.algorithm is None or exc.algorithm == "md5":
        return None  # BadDigest's default, the Content-MD5 one
    return f"The {exc.algorithm.upper()} you specified did not match the calculated checksum."


def _completion_message(exc: domain.CompletionMismatchError) -> str | None:
    """AWS's words for a CompleteMultipartUpload that claims another object."""
    expected, actual = exc.expected, exc.actual
    if exc.mismatch == "checksum_type":
        return (
            f"The upload was created using the {expected or 'null'} checksum mode. The "
            "complete request must use the same checksum mode."
        )
    if exc.mismatch == "object_size":
        return (
            f"The provided 'x-amz-mp-object-size' header value {actual} does not match what "
            f"was computed: {expected}"
        )
    if exc.mismatch == "checksum_algorithm":
        return (
            "Checksum Type mismatch occurred, expected checksum Type: "
            f"{(expected or 'null').lower()}, actual checksum Type: {(actual or 'null').lower()}"
        )
    return None


def from_domain(
    exc: domain.WormError,
    *,
    bucket: str | None = None,
    key: str | None = None,
    upload_id: str | None = None,
) -> S3Error | None:
    """The S3 error for a domain error (most specific table entry wins), or None if unmapped.

    The error's own fields name the bucket, key and upload AWS adds to not-found and bucket
    errors; ``bucket``/``key``/``upload_id`` (the request's) fill in where it has none.
    """
    bucket = getattr(exc, "bucket", None) or bucket
    key = getattr(exc, "key", None) or key
    upload_id = getattr(exc, "upload_id", None) or upload_id
    for cls in type(exc).__mro__:
        if not issubclass(cls, domain.WormError):
            continue
        entry = DOMAIN_ERRORS.get(cls)
        if entry is None:
            continue
        s3_cls, show_message = entry
        message = exc.message if show_message else None
        if s3_cls is NoSuchBucket:
            return NoSuchBucket(message, BucketName=bucket)
        if isinstance(exc, domain.NoSuchVersionError):
            return NoSuchVersion(message, Key=key, VersionId=exc.version_id)
        if isinstance(exc, domain.DeleteMarkerError):
            return MethodNotAllowed(
                message,
                headers=_marker_headers(exc.version_id, exc.last_modified, allow="DELETE"),
                Method="GET",  # AWS names the method; GET and HEAD both land here
                ResourceType="DeleteMarker",
            )
        if s3_cls is NoSuchKey:
            headers = None
            if isinstance(exc, domain.NoSuchKeyError) and exc.delete_marker:
                headers = _marker_headers(exc.version_id)
            return NoSuchKey(message, headers=headers, Key=key)
        if s3_cls is NoSuchUpload:
            return NoSuchUpload(message, UploadId=upload_id)
        if s3_cls in (BucketAlreadyOwnedByYou, BucketAlreadyExists, BucketNotEmpty):
            return s3_cls(message, BucketName=bucket)
        if s3_cls is InvalidRange:
            return InvalidRange()
        if isinstance(exc, domain.PreconditionFailedError) and s3_cls is PreconditionFailed:
            condition = CONDITION_HEADERS.get(exc.condition) if exc.condition else None
            return PreconditionFailed(message, Condition=condition)
        if isinstance(exc, domain.BadDigestError) and s3_cls is BadDigest:
            return BadDigest(_bad_digest_message(exc))
        if isinstance(exc, domain.CompletionMismatchError):
            return s3_cls(_completion_message(exc))
        if isinstance(exc, domain.NoObjectLockError):
            return InvalidRequest("Bucket is missing Object Lock Configuration")
        if isinstance(exc, domain.InvalidRetentionError):
            return InvalidArgument("The retain until date must be in the future!")
        if isinstance(exc, domain.ObjectLockedError):
            return AccessDenied("Access Denied because object protected by object lock.")
        if isinstance(exc, domain.InvalidStorageClassError):
            return InvalidStorageClass(message, StorageClassRequested=exc.storage_class)
        return s3_cls(message)
    return None
