"""wormfs.gateway.router: every request gets its AWS operation name, bucket and key."""

from __future__ import annotations

import pytest
from multidict import CIMultiDict, CIMultiDictProxy

from wormfs.gateway.errors import InvalidURI, KeyTooLongError, MethodNotAllowed, S3NotImplemented
from wormfs.gateway.handlers import HANDLERS, unconfigured
from wormfs.gateway.router import Operation, parse_query, route


def r(
    method: str, target: str, host: str = "127.0.0.1:9000", domain: str = "", **headers: str
) -> Operation:
    h: CIMultiDict[str] = CIMultiDict({"Host": host})
    for name, value in headers.items():
        h[name.replace("_", "-")] = value
    return route(method, target, CIMultiDictProxy(h), virtual_host_domain=domain)


@pytest.mark.parametrize(
    ("method", "target", "headers", "name"),
    [
        ("GET", "/", {}, "ListBuckets"),
        ("PUT", "/bkt", {}, "CreateBucket"),
        ("PUT", "/bkt/", {}, "CreateBucket"),
        ("HEAD", "/bkt", {}, "HeadBucket"),
        ("DELETE", "/bkt", {}, "DeleteBucket"),
        ("GET", "/bkt?location", {}, "GetBucketLocation"),
        ("GET", "/bkt", {}, "ListObjects"),
        ("GET", "/bkt?list-type=2&prefix=a", {}, "ListObjectsV2"),
        ("GET", "/bkt?versions", {}, "ListObjectVersions"),
        ("GET", "/bkt?uploads", {}, "ListMultipartUploads"),
        ("POST", "/bkt?delete", {}, "DeleteObjects"),
        ("GET", "/bkt?versioning", {}, "GetBucketVersioning"),
        ("GET", "/bkt?acl", {}, "GetBucketAcl"),
        ("PUT", "/bkt?acl", {}, "PutBucketAcl"),
        ("GET", "/bkt?tagging", {}, "GetBucketTagging"),
        ("PUT", "/bkt?policy", {}, "PutBucketPolicy"),
        ("DELETE", "/bkt?cors", {}, "DeleteBucketCors"),
        ("DELETE", "/bkt?lifecycle", {}, "DeleteBucketLifecycle"),
        ("GET", "/bkt?lifecycle", {}, "GetBucketLifecycleConfiguration"),
        ("GET", "/bkt?website", {}, "GetBucketWebsite"),
        ("GET", "/bkt?encryption", {}, "GetBucketEncryption"),
        ("GET", "/bkt?object-lock", {}, "GetObjectLockConfiguration"),
        ("POST", "/bkt", {}, "PostObject"),
        ("PUT", "/bkt/key", {}, "PutObject"),
        ("PUT", "/bkt/key", {"x_amz_copy_source": "/src/k"}, "CopyObject"),
        ("GET", "/bkt/key", {}, "GetObject"),
        ("HEAD", "/bkt/key", {}, "HeadObject"),
        ("DELETE", "/bkt/key", {}, "DeleteObject"),
        ("POST", "/bkt/key?uploads", {}, "CreateMultipartUpload"),
        ("PUT", "/bkt/key?partNumber=1&uploadId=u", {}, "UploadPart"),
        ("PUT", "/bkt/key?partNumber=1&uploadId=u", {"x_amz_copy_source": "s/k"}, "UploadPartCopy"),
        ("POST", "/bkt/key?uploadId=u", {}, "CompleteMultipartUpload"),
        ("DELETE", "/bkt/key?uploadId=u", {}, "AbortMultipartUpload"),
        ("GET", "/bkt/key?uploadId=u", {}, "ListParts"),
        ("GET", "/bkt/key?acl", {}, "GetObjectAcl"),
        ("PUT", "/bkt/key?tagging", {}, "PutObjectTagging"),
        ("GET", "/bkt/key?attributes", {}, "GetObjectAttributes"),
        ("GET", "/bkt/key?retention", {}, "GetObjectRetention"),
        ("POST", "/bkt/key?restore", {}, "RestoreObject"),
        ("POST", "/bkt/key?select&select-type=2", {}, "SelectObjectContent"),
        ("OPTIONS", "/bkt/key", {}, "PreflightRequest"),
    ],
)
def test_operation_names(method: str, target: str, headers: dict[str, str], name: str) -> None:
    assert r(method, target, **headers).name == name


IMPLEMENTED = {
    "ListBuckets", "CreateBucket", "HeadBucket", "DeleteBucket", "GetBucketLocation",
    "ListObjects", "ListObjectsV2", "ListObjectVersions", "PutObject", "CopyObject",
    "GetObject", "HeadObject", "DeleteObject", "DeleteObjects", "CreateMultipartUpload",
    "UploadPart", "UploadPartCopy", "CompleteMultipartUpload", "AbortMultipartUpload",
    "ListParts", "ListMultipartUploads", "GetBucketVersioning", "PutBucketVersioning",
    "GetBucketAcl", "GetObjectAcl", "PutBucketAcl", "PutObjectAcl",
    "GetBucketOwnershipControls", "PutBucketOwnershipControls", "DeleteBucketOwnershipControls",
    "GetObjectAttributes", "GetObjectTagging", "PutObjectTagging", "DeleteObjectTagging",
    "GetBucketTagging", "PutBucketTagging", "DeleteBucketTagging",
    "PutBucketPolicy", "GetBucketPolicy", "DeleteBucketPolicy", "GetBucketPolicyStatus",
    "PutPublicAccessBlock", "GetPublicAccessBlock", "DeletePublicAccessBlock",
    "GetObjectLockConfiguration", "PutObjectLockConfiguration", "GetObjectRetention",
    "PutObjectRetention", "GetObjectLegalHold", "PutObjectLegalHold",
    "GetBucketLifecycleConfiguration", "PutBucketLifecycleConfiguration",
    "DeleteBucketLifecycle", "GetBucketCors", "PutBucketCors", "DeleteBucketCors",
    "GetBucketEncryption", "PutBucketEncryption", "DeleteBucketEncryption",
}  # fmt: skip


def test_handler_table() -> None:
    # Everything else with a handler answers a sub-resource WormFS never configures.
    assert set(HANDLERS) == IMPLEMENTED | set(unconfigured.HANDLERS)
    assert not IMPLEMENTED & set(unconfigured.HANDLERS)
    for name in ("PostObject", "SelectObjectContent", "PutBucketWebsite"):
        assert name not in HANDLERS  # answered 501 NotImplemented by the app


@pytest.mark.parametrize(
    ("target", "name"),
    [
        ("/bkt?metrics", "ListBucketMetricsConfigurations"),
        ("/bkt?metrics&id=m1", "GetBucketMetricsConfiguration"),
        ("/bkt?analytics", "ListBucketAnalyticsConfigurations"),
        ("/bkt?inventory", "ListBucketInventoryConfigurations"),
        ("/bkt?intelligent-tiering", "ListBucketIntelligentTieringConfigurations"),
        ("/bkt?intelligent-tiering&id=t", "GetBucketIntelligentTieringConfiguration"),
    ],
)
def test_configurations_listed_without_id(target: str, name: str) -> None:
    assert r("GET", target).name == name
    assert r("DELETE", target + "&id=x" if "id=" not in target else target).name.startswith(
        "Delete"
    )


def test_path_style_bucket_and_key() -> None:
    op = r("GET", "/bkt/a/b%20c/d%2Fe?x=1")
    assert (op.bucket, op.key) == ("bkt", "a/b c/d/e")
    assert op.resource == "/bkt/a/b c/d/e"
    assert op.raw_path == "/bkt/a/b%20c/d%2Fe"
    assert r("GET", "/bkt//lead").key == "/lead"
    assert r("GET", "/bkt/a+b").key == "a+b"  # "+" is literal in paths
    assert r("GET", "/").bucket is None


def test_virtual_hosted_style() -> None:
    op = r("GET", "/photos/x.jpg", host="my-bucket.s3.example.com:9000", domain="s3.example.com")
    assert (op.bucket, op.key, op.name) == ("my-bucket", "photos/x.jpg", "GetObject")
    assert op.virtual_host
    assert r("GET", "/", host="my.bucket.s3.example.com", domain="s3.example.com").name == (
        "ListObjects"
    )
    # The bare domain (and any other host) is path style.
    assert r("GET", "/", host="s3.example.com", domain="s3.example.com").name == "ListBuckets"
    assert r("GET", "/bkt/k", host="10.0.0.1:9000", domain="s3.example.com").bucket == "bkt"


def test_query_decoding() -> None:
    assert parse_query("uploads&prefix=a%2Fb+c&&x=") == [
        ("uploads", ""),
        ("prefix", "a/b c"),
        ("x", ""),
    ]
    op = r("GET", "/bkt?list-type=2&prefix=%E2%9C%93")
    assert op.query["prefix"] == "✓"


def test_bad_targets() -> None:
    with pytest.raises(InvalidURI):
        r("GET", "/bkt/%FF%FE")
    with pytest.raises(InvalidURI):
        r("GET", "/bkt?prefix=%FF")
    with pytest.raises(InvalidURI):
        r("GET", "*")
    with pytest.raises(KeyTooLongError):
        r("GET", "/bkt/" + "k" * 1025)
    assert r("GET", "/bkt/" + "é" * 512).key == "é" * 512  # 1024 bytes exactly
    with pytest.raises(KeyTooLongError):
        r("GET", "/bkt/" + "é" * 512 + "x")
    with pytest.raises(MethodNotAllowed):
        r("PATCH", "/bkt/key")
    with pytest.raises(MethodNotAllowed):
        r("POST", "/bkt/key")
    with pytest.raises(MethodNotAllowed):
        r("PUT", "/")


def test_absolute_form_target() -> None:
    op = r("GET", "http://127.0.0.1:9000/bkt/key?acl")
    assert (op.bucket, op.key, op.name) == ("bkt", "key", "GetObjectAcl")


@pytest.mark.parametrize(
    ("method", "target", "name"),
    [
        ("PUT", "/bkt/key?renameObject", "RenameObject"),
        ("PUT", "/bkt/key?encryption", "UpdateObjectEncryption"),
        ("GET", "/bkt/key?annotation", "ListObjectAnnotations"),
        ("GET", "/bkt/key?annotation&annotationName=a", "GetObjectAnnotation"),
        ("PUT", "/bkt/key?annotation&annotationName=a", "PutObjectAnnotation"),
        ("DELETE", "/bkt/key?annotation&annotationName=a", "DeleteObjectAnnotation"),
        ("GET", "/bkt?abac", "GetBucketAbac"),
        ("PUT", "/bkt?abac", "PutBucketAbac"),
        ("PUT", "/bkt?metadataJournalTable", "UpdateBucketMetadataJournalTableConfiguration"),
        ("POST", "/bkt?metadataConfiguration", "CreateBucketMetadataConfiguration"),
        ("PUT", "/bkt/key?x-id=PutObject", "PutObject"),
        ("PUT", "/bkt/key?partNumber=1&uploadId=u", "UploadPart"),
    ],
)
def test_newer_operations_are_named(method: str, target: str, name: str) -> None:
    # Unnamed, these would fall through to PutObject / DeleteObject / CreateBucket.
    assert r(method, target).name == name


@pytest.mark.parametrize(
    ("method", "target"),
    [
        ("PUT", "/bkt/key?someFutureThing"),
        ("DELETE", "/bkt/key?someFutureThing"),
        ("PUT", "/bkt?someFutureThing"),
        ("POST", "/bkt/key?someFutureThing"),
    ],
)
def test_unknown_subresources_never_write(method: str, target: str) -> None:
    with pytest.raises(S3NotImplemented, match="someFutureThing"):
        r(method, target)
    # Reads ignore unknown parameters, as AWS does.
    assert r("GET", target).name in ("GetObject", "ListObjects")


def test_one_method_subresources() -> None:
    with pytest.raises(MethodNotAllowed):
        r("GET", "/bkt/key?renameObject")
    with pytest.raises(MethodNotAllowed):
        r("DELETE", "/bkt?metadataInventoryTable")
