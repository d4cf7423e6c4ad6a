"""wormfs.gateway.errors: error classes, the XML document, and the domain mapping table."""

from __future__ import annotations

import pytest

from wormfs import errors as domain
from wormfs.gateway import errors as s3
from wormfs.gateway.xml import child_text, parse_xml


def test_codes_default_to_class_names() -> None:
    assert s3.NoSuchKey.code == "NoSuchKey" and s3.NoSuchKey.status == 404
    assert s3.S3NotImplemented.code == "NotImplemented" and s3.S3NotImplemented.status == 501
    assert s3.NotModified.status == 304
    assert s3.MissingContentLength.status == 411
    assert s3.XAmzContentSHA256Mismatch.status == 400
    assert s3.SignatureDoesNotMatch.status == 403
    assert s3.ServiceUnavailable.status == 503


def test_error_document() -> None:
    error = s3.SignatureDoesNotMatch(
        StringToSign="AWS4-HMAC-SHA256\n...", extra={"X-Odd-Name": "v"}, Missing=None
    )
    body = render = s3.render_error(error, "/bkt/k", "REQ1", "HOST1")
    root = parse_xml(body)
    assert root.tag == "Error"
    assert child_text(root, "Code") == "SignatureDoesNotMatch"
    assert child_text(root, "Message") == s3.SignatureDoesNotMatch.message
    assert child_text(root, "StringToSign") == "AWS4-HMAC-SHA256\n..."
    assert child_text(root, "X-Odd-Name") == "v"
    assert child_text(root, "Missing") is None
    assert child_text(root, "Resource") == "/bkt/k"
    assert child_text(root, "RequestId") == "REQ1"
    assert render.startswith(b'<?xml version="1.0" encoding="UTF-8"?>\n<Error>')


def test_invalid_range_fields_and_header() -> None:
    error = s3.InvalidRange(10, "bytes=20-")
    assert error.headers == {"Content-Range": "bytes */10"}
    assert error.fields == {"RangeRequested": "bytes=20-", "ActualObjectSize": "10"}


@pytest.mark.parametrize(
    ("exc", "code", "status"),
    [
        (domain.NoSuchBucketError(), "NoSuchBucket", 404),
        (domain.NoSuchKeyError(), "NoSuchKey", 404),
        (domain.NoSuchUploadError(), "NoSuchUpload", 404),
        (domain.NoSuchAccessKeyError(), "InvalidAccessKeyId", 403),
        (domain.AccessDeniedError(), "AccessDenied", 403),
        (domain.BucketAlreadyExistsError(), "BucketAlreadyExists", 409),
        (domain.BucketAlreadyOwnedByYouError(), "BucketAlreadyOwnedByYou", 409),
        (domain.BucketNotEmptyError(), "BucketNotEmpty", 409),
        (domain.PreconditionFailedError(), "PreconditionFailed", 412),
        (domain.NotModifiedError(), "NotModified", 304),
        (domain.InvalidBucketNameError(), "InvalidBucketName", 400),
        (domain.InvalidRangeError(), "InvalidRange", 416),
        (domain.InvalidPartError(), "InvalidPart", 400),
        (domain.InvalidPartOrderError(), "InvalidPartOrder", 400),
        (domain.EntityTooSmallError(), "EntityTooSmall", 400),
        (domain.EntityTooLargeError(), "EntityTooLarge", 400),
        (domain.BadDigestError(algorithm="crc32"), "BadDigest", 400),
        (domain.IncompleteBodyError(), "IncompleteBody", 400),
        (domain.InvalidKeyError("key too long"), "InvalidArgument", 400),
        (domain.InsufficientDisksError(), "ServiceUnavailable", 503),
        (domain.NotEnoughFragmentsError(), "ServiceUnavailable", 503),
        (domain.DiskFullError(), "ServiceUnavailable", 503),
        (domain.NotLeaderError(), "ServiceUnavailable", 503),
        (domain.StaleLeaderError(), "ServiceUnavailable", 503),
        (domain.UnavailableError(), "ServiceUnavailable", 503),
    ],
)
def test_domain_mapping(exc: domain.WormError, code: str, status: int) -> None:
    error = s3.from_domain(exc, bucket="bkt", key="k", upload_id="u")
    assert error is not None
    assert (error.code, error.status) == (code, status)


def test_domain_mapping_fields_and_messages() -> None:
    assert s3.from_domain(domain.NoSuchBucketError(), bucket="b").fields == {"BucketName": "b"}  # type: ignore[union-attr]
    assert s3.from_domain(domain.NoSuchKeyError(), key="k").fields == {"Key": "k"}  # type: ignore[union-attr]
    # The error's own fields win over the request's; AWS's words come from the table.
    key = s3.from_domain(domain.NoSuchKeyError(bucket="b", key="own"), key="k")
    assert key is not None and key.fields == {"Key": "own"}
    not_empty = s3.from_domain(domain.BucketNotEmptyError(bucket="full"), bucket="full")
    assert not_empty is not None and not_empty.fields == {"BucketName": "full"}
    upload = s3.from_domain(domain.NoSuchUploadError(upload_id="u1"))
    assert upload is not None and upload.fields == {"UploadId": "u1"}
    md5 = s3.from_domain(domain.BadDigestError(algorithm="md5", expected="a", computed="b"))
    assert md5 is not None
    assert md5.text == "The Content-MD5 you specified did not match what we received."
    crc = s3.from_domain(domain.BadDigestError(algorithm="crc32c"))
    assert crc is not None
    assert crc.text == "The CRC32C you specified did not match the calculated checksum."
    for condition, header in (
        (domain.Condition.ETAG_MATCHES, "If-Match"),
        (domain.Condition.NO_CURRENT_OBJECT, "If-None-Match"),
    ):
        failed = s3.from_domain(domain.PreconditionFailedError(condition=condition))
        assert failed is not None and failed.fields == {"Condition": header}
        assert failed.text == s3.PreconditionFailed.message
    size = s3.from_domain(
        domain.CompletionMismatchError(mismatch="object_size", expected="10", actual="11")
    )
    assert size is not None and size.code == "InvalidRequest"
    assert size.text == (
        "The provided 'x-amz-mp-object-size' header value 11 does not match what was computed: 10"
    )
    # Internal-only errors are not mapped: the app answers 500 and logs them.
    for internal in (domain.CorruptChunkError(), domain.AuthError(), domain.WormError()):
        assert s3.from_domain(internal) is None


def test_domain_errors_speak_the_domain_and_cross_the_wire_with_their_fields() -> None:
    from wormfs.wire.common import error_body, raise_error_body

    errors: list[domain.WormError] = [
        domain.NoSuchKeyError(bucket="b", key="k", version_id="v"),
        domain.NoSuchBucketError(bucket="b"),
        domain.NoSuchUploadError(upload_id="u", bucket="b", key="k"),
        domain.BucketNotEmptyError(bucket="b"),
        domain.PreconditionFailedError(condition=domain.Condition.ETAG_MATCHES, etag='"e"'),
        domain.BadDigestError(algorithm="md5", expected="x", computed="y"),
        domain.CompletionMismatchError(mismatch="checksum_type", expected="COMPOSITE"),
    ]
    for error in errors:
        for word in ("Content-MD5", "If-Match", "If-None-Match", "you specified", "x-amz"):
            assert word not in error.message
        again = raise_error_body(error_body(error), error.http_status)
        assert type(again) is type(error)
        assert (again.message, again.fields()) == (error.message, error.fields())
