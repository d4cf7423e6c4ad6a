"""S3 request and response headers <-> the service's typed values (gateway handlers sub-layer).

Contract: pure functions, no I/O. Requests: ``object_attributes`` (Content-Type, x-amz-meta-*
within 2 KiB, Content-Encoding/Disposition/Language, Cache-Control, Expires, storage class),
``data_checks`` (Content-MD5, one x-amz-checksum-* header or trailer, validated),
``put_conditions`` (If-Match, If-None-Match: *), ``checksum_algorithm_header``,
``verify_small_body`` (integrity headers of XML bodies, which the service never sees),
``check_acl`` (ACL headers as AWS takes them on "bucket owner enforced" buckets) and
``reject_unsupported`` (website redirects: 501, never ignored).
Answers: ``object_headers`` and ``checksum_headers`` render a manifest as AWS does.
"""

from __future__ import annotations

import base64
import email.errors
import email.header
import hashlib
import hmac
from collections.abc import Mapping

from multidict import CIMultiDictProxy

from wormfs.format.checksums import ALGORITHMS, ChecksumFormatError, check_b64, new_checksum
from wormfs.gateway.acl import CANNED_ACLS, GRANT_HEADERS
from wormfs.gateway.encryption import answer_headers
from wormfs.gateway.errors import (
    AccessControlListNotSupported,
    BadDigest,
    InvalidArgument,
    InvalidBucketAclWithObjectOwnership,
    InvalidDigest,
    InvalidRequest,
    InvalidStorageClass,
    MetadataTooLarge,
    S3NotImplemented,
)
from wormfs.gateway.object_lock import lock_headers, with_lock_headers
from wormfs.gateway.service import DataChecks, PutConditions
from wormfs.gateway.sigv4 import PayloadMode
from wormfs.gateway.tags import parse_tagging_header
from wormfs.gateway.xml import http_date
from wormfs.wire.acl import OWNERSHIPS
from wormfs.wire.coordinator import (
    ChecksumAlgorithm,
    ObjectAttributes,
    ObjectChecksum,
    ObjectManifest,
)
from wormfs.wire.profiles import STANDARD, class_name_problem

MAX_USER_METADATA = 2 * 1024
META_PREFIX = "x-amz-meta-"
# Stored as sent and returned on GET/HEAD (lower-case name -> the name as AWS writes it).
SYSTEM_METADATA: Mapping[str, str] = {
    "content-encoding": "Content-Encoding",
    "content-disposition": "Content-Disposition",
    "content-language": "Content-Language",
    "cache-control": "Cache-Control",
    "expires": "Expires",
}
Headers = CIMultiDictProxy[str]

# The ACLs that change nothing when the bucket owner owns everything (and is the writer).
OWNER_ONLY_ACLS = frozenset({"private", "bucket-owner-full-control"})


def checksum_header(algorithm: str) -> str:
    return f"x-amz-checksum-{algorithm.lower()}"


# Algorithms AWS added in 2025 that WormFS does not compute: refused (501) rather than their
# x-amz-checksum-* header being ignored, which would leave the client's check undone.
NEWER_ALGORITHMS = ("SHA512", "MD5", "XXHASH64", "XXHASH3", "XXHASH128")


def _newer_algorithm(name: str) -> S3NotImplemented:
    return S3NotImplemented(f"The {name} checksum algorithm is not implemented")


def _algorithm(value: str, header: str) -> ChecksumAlgorithm:
    name = value.strip().upper()
    if name in NEWER_ALGORITHMS:
        raise _newer_algorithm(name)
    if name not in ALGORITHMS:
        raise InvalidRequest(
            f"Value for {header} header is invalid. Checksum algorithm provided is "
            "unsupported. Please try again with any of the valid types: "
            "[CRC32, CRC32C, CRC64NVME, SHA1, SHA256]"
        )
    return name  # type: ignore[return-value]


def checksum_algorithm_header(headers: Headers, name: str) -> ChecksumAlgorithm | None:
    """A header naming an algorithm (x-amz-checksum-algorithm, x-amz-sdk-checksum-algorithm)."""
    value = headers.get(name)
    return _algorithm(value, name) if value else None


def reject_unsupported(headers: Headers) -> None:
    """Headers that ask for what WormFS cannot honour must not be silently ignored."""
    if "x-amz-website-redirect-location" in headers:
        raise S3NotImplemented("Website redirects are not implemented")


def owner_only_acl(headers: Headers) -> bool:
    """Do the ACL headers (if any) ask for nothing but the owner's full control?

    ``InvalidArgument`` for an unknown canned ACL, as AWS answers.
    """
    acl = headers.get("x-amz-acl")
    if acl is not None and acl.strip() not in CANNED_ACLS:
        raise InvalidArgument(None, ArgumentName="x-amz-acl", ArgumentValue=acl)
    if any(name in headers for name in GRANT_HEADERS):
        return False
    return acl is None or acl.strip() in OWNER_ONLY_ACLS


def check_acl(headers: Headers, *, creating_bucket: bool = False) -> None:
    """ACLs on writes, as AWS answers for buckets with Object Ownership "bucket owner
    enforced" (its default since April 2023; ``wormfs.gateway.handlers.acl`` takes them on
    buckets with ACLs enabled): ``private`` and
    ``bucket-owner-full-control`` (what rclone and the SDKs send) are accepted, anything that
    would grant access to others is refused rather than silently ignored."""
    if creating_bucket:
        ownership = headers.get("x-amz-object-ownership")
        if ownership is not None and ownership not in OWNERSHIPS:
            raise InvalidArgument(
                "Invalid x-amz-object-ownership header",
                ArgumentName="x-amz-object-ownership",
                ArgumentValue=ownership,
            )
    if not owner_only_acl(headers):
        raise (
            InvalidBucketAclWithObjectOwnership()
            if creating_bucket
            else (AccessControlListNotSupported())
        )


def storage_class(headers: Headers, default: str = "") -> str:
    """x-amz-storage-class, or ``default`` ("" leaves it to the bucket's default class).

    Only the name's form is checked here: which classes exist (AWS's names, and the ones an
    operator bound to a profile) is the coordinator's answer, InvalidStorageClass too."""
    value = headers.get("x-amz-storage-class")
    if value is None:
        return default
    if class_name_problem(value):
        raise InvalidStorageClass(StorageClassRequested=value)
    return value


def decode_rfc2047(value: str) -> str:
    """A metadata value as stored: RFC 2047 encoded words decoded (AWS decodes them before
    storing); anything else, or words that do not decode, as sent."""
    if "=?" not in value:
        return value
    try:
        return str(email.header.make_header(email.header.decode_header(value)))
    except (UnicodeError, LookupError, email.errors.HeaderParseError):
        return value


def encode_rfc2047(value: str) -> str:
    """A stored metadata value as a header: a non-US-ASCII one RFC 2047 encoded, as AWS
    returns it (mail-safe), in one base64 word."""
    if value.isascii():
        return value
    raw = value.encode("utf-8", "surrogateescape")
    return "=?UTF-8?B?" + base64.b64encode(raw).decode("ascii") + "?="


def user_metadata(headers: Headers) -> dict[str, str]:
    """x-amz-meta-* (names lower-cased; repeated headers joined by commas; RFC 2047 encoded
    values decoded), at most 2 KiB counted as AWS does: UTF-8 bytes of every name (without
    the prefix) and value."""
    out: dict[str, str] = {}
    for name, raw in headers.items():
        lower = name.lower()
        if lower.startswith(META_PREFIX) and len(lower) > len(META_PREFIX):
            key = lower[len(META_PREFIX) :]
            value = decode_rfc2047(raw)
            out[key] = f"{out[key]},{value}" if key in out else value
    size = sum(len(k.encode()) + len(v.encode("utf-8", "surrogateescape")) for k, v in out.items())
    if size > MAX_USER_METADATA:
        raise MetadataTooLarge(Size=size, MaxSizeAllowed=MAX_USER_METADATA)
    return out


def strip_aws_chunked(content_encoding: str) -> str:
    """Content-Encoding without the ``aws-chunked`` transfer token (AWS never stores it)."""
    tokens = [t.strip() for t in content_encoding.split(",")]
    return ",".join(t for t in tokens if t and t.lower() != "aws-chunked")


def system_metadata(headers: Headers) -> dict[str, str]:
    out = {}
    for name in SYSTEM_METADATA:
        value = headers.get(name)
        if value is None:
            continue
        if name == "content-encoding":
            value = strip_aws_chunked(value)
            if not value:
                continue
        out[name] = value
    return out


def object_attributes(headers: Headers) -> ObjectAttributes:
    attributes = ObjectAttributes(
        content_type=headers.get("content-type") or "binary/octet-stream",
        user_metadata=user_metadata(headers),
        system_metadata=system_metadata(headers),
        storage_class=storage_class(headers),
        tags=parse_tagging_header(headers.get("x-amz-tagging")),
    )
    return with_lock_headers(attributes, headers)


def content_md5(headers: Headers) -> str | None:
    value = headers.get("content-md5")
    if value is None:
        return None
    try:
        raw = base64.b64decode(value.strip(), validate=True)
    except ValueError:
        raise InvalidDigest(extra={"Content-MD5": value}) from None
    if len(raw) != 16:
        raise InvalidDigest(extra={"Content-MD5": value})
    return value.strip()


def header_checksum(headers: Headers) -> tuple[ChecksumAlgorithm, str] | None:
    """The one x-amz-checksum-<alg> header, validated; None when absent."""
    for newer in NEWER_ALGORITHMS:
        if checksum_header(newer) in headers:
            raise _newer_algorithm(newer)
    found: list[tuple[ChecksumAlgorithm, str]] = []
    for algorithm in ALGORITHMS:
        value = headers.get(checksum_header(algorithm))
        if value is not None:
            found.append((algorithm, value))  # type: ignore[arg-type]
    if len(found) > 1:
        raise InvalidRequest(
            "Expecting a single x-amz-checksum- header. Multiple checksum Types are not allowed."
        )
    if not found:
        return None
    algorithm, value = found[0]
    try:
        return algorithm, check_b64(algorithm, value)
    except ChecksumFormatError:
        raise InvalidRequest(f"Value for {checksum_header(algorithm)} header is invalid.") from None


def trailer_algorithm(headers: Headers, mode: PayloadMode) -> ChecksumAlgorithm | None:
    """The checksum algorithm an ``x-amz-trailer`` header announces."""
    announced = [t.strip().lower() for t in headers.get("x-amz-trailer", "").split(",")]
    announced = [t for t in announced if t]
    if not announced:
        return None
    if mode not in (PayloadMode.STREAMING_SIGNED_TRAILER, PayloadMode.STREAMING_UNSIGNED_TRAILER):
        raise InvalidRequest("x-amz-trailer needs a STREAMING-*-TRAILER x-amz-content-sha256")
    algorithms = [t.removeprefix("x-amz-checksum-") for t in announced if t.startswith("x-amz-")]
    if len(algorithms) != 1 or len(announced) != 1:
        raise InvalidRequest("Expecting exactly one x-amz-checksum-* trailer")
    return _algorithm(algorithms[0], "x-amz-trailer")


def data_checks(headers: Headers, mode: PayloadMode) -> DataChecks:
    md5 = content_md5(headers)
    in_header = header_checksum(headers)
    in_trailer = trailer_algorithm(headers, mode)
    sdk = checksum_algorithm_header(headers, "x-amz-sdk-checksum-algorithm")
    if in_header is not None and in_trailer is not None:
        raise InvalidRequest(
            "Expecting a single x-amz-checksum- header. Multiple checksum Types are not allowed."
        )
    algorithm = in_header[0] if in_header else in_trailer or sdk
    if sdk is not None and algorithm != sdk:
        raise InvalidRequest("Value for x-amz-sdk-checksum-algorithm header is invalid.")
    return DataChecks(
        content_md5=md5,
        checksum_algorithm=algorithm,
        checksum_value=in_header[1] if in_header else None,
    )


def put_conditions(headers: Headers) -> PutConditions:
    if_none_match = headers.get("if-none-match")
    if if_none_match is not None and if_none_match.strip() != "*":
        # AWS accepts only "*" on writes.
        raise S3NotImplemented(
            "A header you provided implies functionality that is not implemented",
            Header="If-None-Match",
        )
    if_match = headers.get("if-match")
    return PutConditions(
        if_match=if_match.strip() if if_match else None,
        if_none_match="*" if if_none_match is not None else None,
    )


def verify_small_body(
    headers: Headers,
    data: bytes,
    trailing: Mapping[str, str],
    required: bool = False,
    *,
    header_checksums: bool = True,
) -> None:
    """Check Content-MD5 / x-amz-checksum-* of a body the handler itself consumes (XML).

    ``required``: AWS demands one of them (DeleteObjects) -> ``InvalidRequest`` if neither.
    ``header_checksums=False``: x-amz-checksum-* headers are about something else (the
    object a CompleteMultipartUpload makes) and are left to the handler.
    """
    md5 = content_md5(headers)
    if md5 is not None:
        digest = base64.b64encode(hashlib.md5(data).digest()).decode()
        if not hmac.compare_digest(digest, md5):
            raise BadDigest()
    found = header_checksum(headers) if header_checksums else None
    if found is None and trailing:
        name, value = next(iter(trailing.items()))
        found = (_algorithm(name, "x-amz-trailer"), value)
    if found is not None:
        hasher = new_checksum(found[0])
        hasher.update(data)
        if not hmac.compare_digest(hasher.b64(), found[1]):
            raise BadDigest(f"The {found[0]} you specified did not match the calculated checksum.")
    if required and md5 is None and found is None:
        raise InvalidRequest("Missing required header for this request: Content-MD5")


# ---- answers -----------------------------------------------------------------------------------
def checksum_headers(checksum: ObjectChecksum | None) -> dict[str, str]:
    if checksum is None:
        return {}
    return {
        checksum_header(checksum.algorithm): checksum.value,
        "x-amz-checksum-type": checksum.type,
    }


def object_headers(manifest: ObjectManifest) -> dict[str, str]:
    """The headers of GET/HEAD: entity, system and user metadata."""
    headers = {
        "ETag": manifest.etag,
        "Last-Modified": http_date(manifest.last_modified),
        "Content-Type": manifest.attributes.content_type,
        "Accept-Ranges": "bytes",
    }
    attributes = manifest.attributes
    for name, value in attributes.system_metadata.items():
        headers[SYSTEM_METADATA.get(name, name)] = value
    for name, value in attributes.user_metadata.items():
        headers[META_PREFIX + name] = encode_rfc2047(value)
    if attributes.storage_class not in (STANDARD, ""):
        # AWS omits the header for STANDARD.
        headers["x-amz-storage-class"] = attributes.storage_class
    if attributes.tags:
        headers["x-amz-tagging-count"] = str(len(attributes.tags))
    headers.update(lock_headers(attributes))
    headers.update(answer_headers(attributes.encryption))
    headers.update(version_header(manifest))
    return headers


def version_header(manifest: ObjectManifest) -> dict[str, str]:
    """``x-amz-version-id`` once the bucket has had versioning (none before, as AWS)."""
    version = manifest.s3_version_id
    return {} if version is None else {"x-amz-version-id": version}
