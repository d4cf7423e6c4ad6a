"""Bad requests against a real cluster (http and https): each gets a clear S3 error, and the
state is what it was before (objects keep their bytes, nothing new appears, listings and
open uploads are unchanged).

Requests no SDK would send (tampered, malformed, oversized) are built with the suite's own
SigV4 signer (``s3compat.support.sign_v4``), independent of the gateway's verifier.
"""

from __future__ import annotations

import base64
import hashlib
import os
import subprocess
import sys
import time
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
import requests
from botocore.config import Config
from integration.cluster import ACCESS_KEY, SECRET_KEY, Cluster
from s3compat.support import (
    REGION,
    UNSIGNED,
    error_code,
    outcome,
    send,
    sign_v4,
    snapshot,
    unique,
)
from waiting import wait_until

pytestmark = pytest.mark.integration

OLD = b"the old bytes, which must survive every refused request"


def b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


def crc32_b64(data: bytes) -> str:
    return b64(zlib.crc32(data).to_bytes(4, "big"))


@pytest.fixture
def s3(cluster: Cluster) -> Any:
    return cluster.s3()


@pytest.fixture
def bucket(s3: Any) -> Iterator[str]:
    """A bucket holding ``obj`` = ``OLD``."""
    name = unique("neg")
    s3.create_bucket(Bucket=name)
    s3.put_object(Bucket=name, Key="obj", Body=OLD)
    yield name
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=name):
        for item in page.get("Contents", []):
            s3.delete_object(Bucket=name, Key=item["Key"])
    for upload in s3.list_multipart_uploads(Bucket=name).get("Uploads", []):
        s3.abort_multipart_upload(Bucket=name, Key=upload["Key"], UploadId=upload["UploadId"])
    s3.delete_bucket(Bucket=name)


class Unchanged:
    """``with Unchanged(s3, bucket):`` asserts the bucket's state is the same afterwards."""

    def __init__(self, s3: Any, bucket: str) -> None:
        self.s3, self.bucket = s3, bucket

    def __enter__(self) -> Unchanged:
        self.before = snapshot(self.s3, self.bucket)
        self.buckets = sorted(b["Name"] for b in self.s3.list_buckets()["Buckets"])
        return self

    def __exit__(self, *exc: object) -> None:
        if exc[0] is None:
            assert snapshot(self.s3, self.bucket) == self.before
            assert sorted(b["Name"] for b in self.s3.list_buckets()["Buckets"]) == self.buckets


def put_path(bucket: str, key: str = "obj") -> str:
    return f"/{bucket}/{key}"


# ---- authentication ----------------------------------------------------------------------------
def test_tampered_requests(cluster: Cluster, s3: Any, bucket: str) -> None:
    url = cluster.s3_url + put_path(bucket)
    new = b"new bytes"
    with Unchanged(s3, bucket):
        # A signature with one character changed.
        signed = sign_v4("PUT", url, {}, hashlib.sha256(new).hexdigest())
        headers = dict(signed.headers)
        last = headers["Authorization"][-1]
        headers["Authorization"] = headers["Authorization"][:-1] + ("0" if last != "0" else "1")
        answer = requests.put(url, data=new, headers=headers, timeout=30, verify=cluster.ca_bundle)
        assert (answer.status_code, error_code(answer)) == (403, "SignatureDoesNotMatch")
        # A signed header changed after signing.
        signed = sign_v4("PUT", url, {"x-amz-meta-a": "1"}, hashlib.sha256(new).hexdigest())
        headers = {**signed.headers, "x-amz-meta-a": "2"}
        answer = requests.put(url, data=new, headers=headers, timeout=30, verify=cluster.ca_bundle)
        assert (answer.status_code, error_code(answer)) == (403, "SignatureDoesNotMatch")
        assert b"<CanonicalRequest>" in answer.content
        # The body changed after its hash was signed.
        answer = send(
            cluster, "PUT", put_path(bucket), new, payload_hash=hashlib.sha256(OLD).hexdigest()
        )
        assert (answer.status_code, error_code(answer)) == (400, "XAmzContentSHA256Mismatch")
        # Another key's path under the same signature.
        signed = sign_v4("PUT", url, {}, UNSIGNED)
        other = cluster.s3_url + put_path(bucket, "other")
        answer = requests.put(
            other, data=new, headers=signed.headers, timeout=30, verify=cluster.ca_bundle
        )
        assert (answer.status_code, error_code(answer)) == (403, "SignatureDoesNotMatch")


def test_wrong_credentials(cluster: Cluster, s3: Any, bucket: str) -> None:
    def client(access: str, secret: str) -> Any:
        return boto3.client(
            "s3",
            endpoint_url=cluster.s3_url,
            aws_access_key_id=access,
            aws_secret_access_key=secret,
            region_name=REGION,
            verify=cluster.ca_bundle,
            config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1}),
        )

    wrong_secret = client(ACCESS_KEY, SECRET_KEY[::-1])
    unknown = client("AKIDNOBODYNOBODY0000", SECRET_KEY)
    with Unchanged(s3, bucket):
        for action in (
            lambda c: c.put_object(Bucket=bucket, Key="obj", Body=b"x"),
            lambda c: c.delete_object(Bucket=bucket, Key="obj"),
            lambda c: c.create_bucket(Bucket=unique("never")),
        ):
            assert outcome(lambda a=action: a(wrong_secret)) == (403, "SignatureDoesNotMatch")
            assert outcome(lambda a=action: a(unknown)) == (403, "InvalidAccessKeyId")
        assert outcome(lambda: wrong_secret.list_buckets()) == (403, "SignatureDoesNotMatch")


def test_clock_skew(cluster: Cluster, s3: Any, bucket: str) -> None:
    with Unchanged(s3, bucket):
        answer = send(cluster, "PUT", put_path(bucket), b"late", when=time.time() - 20 * 60)
        assert (answer.status_code, error_code(answer)) == (403, "RequestTimeTooSkewed")


def test_expired_presigned_urls(cluster: Cluster, s3: Any, bucket: str) -> None:
    get_url = s3.generate_presigned_url(
        "get_object", Params={"Bucket": bucket, "Key": "obj"}, ExpiresIn=1
    )
    put_url = s3.generate_presigned_url(
        "put_object", Params={"Bucket": bucket, "Key": "obj"}, ExpiresIn=1
    )
    # Poll (a GET changes nothing) until the gateway's clock has passed the expiry.
    wait_until(
        lambda: requests.get(get_url, timeout=30, verify=cluster.ca_bundle).status_code == 403,
        timeout=30,
        interval=0.2,
        message="the presigned URL expired",
    )
    with Unchanged(s3, bucket):
        for method, url in (("GET", get_url), ("PUT", put_url)):
            answer = requests.request(
                method, url, data=b"late" if method == "PUT" else None, timeout=30,
                verify=cluster.ca_bundle,
            )  # fmt: skip
            assert (answer.status_code, error_code(answer)) == (403, "AccessDenied")
            assert b"Request has expired" in answer.content


# ---- integrity ---------------------------------------------------------------------------------
def test_wrong_checksums(cluster: Cluster, s3: Any, bucket: str) -> None:
    new = b"new bytes"
    with Unchanged(s3, bucket):
        # Through boto3: a wrong CRC32 header, a wrong Content-MD5, a malformed Content-MD5.
        assert outcome(
            lambda: s3.put_object(Bucket=bucket, Key="obj", Body=new, ChecksumCRC32=crc32_b64(OLD))
        ) == (400, "BadDigest")
        assert outcome(
            lambda: s3.put_object(
                Bucket=bucket, Key="obj", Body=new, ContentMD5=b64(hashlib.md5(OLD).digest())
            )
        ) == (400, "BadDigest")
        answer = send(cluster, "PUT", put_path(bucket), new, {"Content-MD5": "not-an-md5"})
        assert (answer.status_code, error_code(answer)) == (400, "InvalidDigest")
        # A checksum algorithm WormFS does not compute is refused, never silently unchecked.
        answer = send(cluster, "PUT", put_path(bucket), new, {"x-amz-checksum-sha512": "AAAA"})
        assert (answer.status_code, error_code(answer)) == (501, "NotImplemented")


def _aws_chunked(chunks: list[tuple[bytes, str]], trailer: str) -> bytes:
    body = b""
    for data, signature in chunks:
        extension = f";chunk-signature={signature}" if signature else ""
        body += f"{len(data):x}{extension}\r\n".encode() + data + b"\r\n"
    return body + trailer.encode() + b"\r\n"


def test_aws_chunked_refusals(cluster: Cluster, s3: Any, bucket: str) -> None:
    """What SDKs send over https (aws-chunked), with a wrong trailer or a forged chunk."""
    url = cluster.s3_url + put_path(bucket)
    new = b"n" * 70_000
    with Unchanged(s3, bucket):
        # Unsigned chunks with a CRC32 trailer that does not match.
        headers = {
            "Content-Encoding": "aws-chunked",
            "x-amz-decoded-content-length": str(len(new)),
            "x-amz-trailer": "x-amz-checksum-crc32",
        }
        signed = sign_v4("PUT", url, headers, "STREAMING-UNSIGNED-PAYLOAD-TRAILER")
        body = _aws_chunked(
            [(new[:65536], ""), (new[65536:], "")],
            f"0\r\nx-amz-checksum-crc32:{crc32_b64(OLD)}\r\n",
        )
        answer = requests.put(
            url, data=body, headers=signed.headers, timeout=30, verify=cluster.ca_bundle
        )
        assert (answer.status_code, error_code(answer)) == (400, "BadDigest")
        # Signed chunks, the second chunk's bytes changed after signing.
        headers = {
            "Content-Encoding": "aws-chunked",
            "x-amz-decoded-content-length": str(len(new)),
        }
        signed = sign_v4("PUT", url, headers, "STREAMING-AWS4-HMAC-SHA256-PAYLOAD")
        first = signed.chunk_signature(signed.signature, new[:65536])
        second = signed.chunk_signature(first, new[65536:])
        final = signed.chunk_signature(second, b"")
        forged = new[65536:-1] + b"X"
        body = _aws_chunked(
            [(new[:65536], first), (forged, second)], f"0;chunk-signature={final}\r\n"
        )
        answer = requests.put(
            url, data=body, headers=signed.headers, timeout=30, verify=cluster.ca_bundle
        )
        assert (answer.status_code, error_code(answer)) == (403, "SignatureDoesNotMatch")
    # The same upload untampered is accepted: the refusals were for the tampering alone.
    body = _aws_chunked(
        [(new[:65536], first), (new[65536:], second)], f"0;chunk-signature={final}\r\n"
    )
    answer = requests.put(
        url, data=body, headers=signed.headers, timeout=30, verify=cluster.ca_bundle
    )
    assert answer.status_code == 200, answer.content
    assert s3.get_object(Bucket=bucket, Key="obj")["Body"].read() == new


# ---- malformed documents and headers -----------------------------------------------------------
def test_malformed_xml(cluster: Cluster, s3: Any, bucket: str) -> None:
    upload_id = s3.create_multipart_upload(Bucket=bucket, Key="mp")["UploadId"]
    s3.upload_part(Bucket=bucket, Key="mp", UploadId=upload_id, PartNumber=1, Body=b"part")
    documents = [
        b"<CompleteMultipartUpload><Part><PartNumber>1",  # cut short
        b"not xml at all",
        b"<Wrong><Part><PartNumber>1</PartNumber><ETag>x</ETag></Part></Wrong>",
        b'<?xml version="1.0"?><!DOCTYPE d [<!ENTITY e "boom">]>'
        b"<CompleteMultipartUpload>&e;</CompleteMultipartUpload>",
    ]
    with Unchanged(s3, bucket):
        for document in documents:
            answer = send(cluster, "POST", f"/{bucket}/mp?uploadId={upload_id}", document)
            assert (answer.status_code, error_code(answer)) == (400, "MalformedXML"), document
        md5 = {"Content-MD5": b64(hashlib.md5(b"<Delete><Object>").digest())}
        answer = send(cluster, "POST", f"/{bucket}?delete", b"<Delete><Object>", md5)
        assert (answer.status_code, error_code(answer)) == (400, "MalformedXML")
        name = unique("never")
        answer = send(cluster, "PUT", f"/{name}", b"<CreateBucketConfiguration><Location")
        assert (answer.status_code, error_code(answer)) == (400, "MalformedXML")
    s3.abort_multipart_upload(Bucket=bucket, Key="mp", UploadId=upload_id)


def test_oversized_headers(cluster: Cluster, s3: Any, bucket: str) -> None:
    with Unchanged(s3, bucket):
        # 24 metadata headers of 500 bytes: a 12 KiB header section (AWS allows 8 KiB).
        many = {f"x-amz-meta-f{i}": "a" * 500 for i in range(24)}
        one = {"x-amz-meta-big": "b" * 10_000}
        for headers in (many, one):
            answer = send(cluster, "PUT", put_path(bucket), b"x", headers)
            assert (answer.status_code, error_code(answer)) == (400, "RequestHeaderSectionTooLarge")
            assert answer.headers["Content-Type"] == "application/xml"
        # Under 8 KiB, but more than the 2 KiB of user metadata S3 keeps.
        assert outcome(
            lambda: s3.put_object(Bucket=bucket, Key="obj", Body=b"x", Metadata={"m": "c" * 3000})
        ) == (400, "MetadataTooLarge")
        # Many small headers within 8 KiB are fine on AWS; they reach the S3 layer here too.
        small = {f"x-amz-meta-s{i}": "1" for i in range(150)}
        answer = send(cluster, "HEAD", put_path(bucket), b"", small)
        assert answer.status_code == 200


def test_bad_ranges(cluster: Cluster, s3: Any, bucket: str) -> None:
    s3.put_object(Bucket=bucket, Key="empty", Body=b"")
    with Unchanged(s3, bucket):
        for key, header, size in (
            ("obj", f"bytes={len(OLD)}-", len(OLD)),
            ("obj", "bytes=99999-100000", len(OLD)),
            ("empty", "bytes=0-0", 0),
            ("empty", "bytes=-5", 0),
        ):
            answer = send(cluster, "GET", put_path(bucket, key), b"", {"Range": header})
            assert (answer.status_code, error_code(answer)) == (416, "InvalidRange"), header
            assert answer.headers["Content-Range"] == f"bytes */{size}"
            assert f"<ActualObjectSize>{size}</ActualObjectSize>".encode() in answer.content
        # Ranges AWS ignores (several, or first > last) answer the whole object.
        for header in ("bytes=0-1,4-5", "bytes=9-3"):
            got = s3.get_object(Bucket=bucket, Key="obj", Range=header)
            assert got["ResponseMetadata"]["HTTPStatusCode"] == 200
            assert got["Body"].read() == OLD


# ---- other users, missing things, features WormFS does not have ---------------------------------
@pytest.fixture
def alice(cluster: Cluster) -> Any:
    """A second user (added with ``wormfs admin user add``) and a boto3 client for her."""
    access, secret = "ALICE" + os.urandom(8).hex().upper()[:15], os.urandom(20).hex()
    wormfs = str(Path(sys.executable).with_name("wormfs"))
    result = subprocess.run(
        [wormfs, "admin", "--coordinator-url", cluster.coordinator_url, "user", "add",
         unique("alice"), "--access-key", access, "--secret-key", secret],
        env=dict(os.environ, WORMFS_CLUSTER_SECRET=cluster.secret),
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    return boto3.client(
        "s3",
        endpoint_url=cluster.s3_url,
        aws_access_key_id=access,
        aws_secret_access_key=secret,
        region_name=REGION,
        verify=cluster.ca_bundle,
        config=Config(s3={"addressing_style": "path"}),
    )


def test_cross_user_access(s3: Any, bucket: str, alice: Any) -> None:
    mine = unique("alice-own")
    alice.create_bucket(Bucket=mine)
    alice.put_object(Bucket=mine, Key="hers", Body=b"hers")
    with Unchanged(s3, bucket):
        denied = [
            lambda: alice.get_object(Bucket=bucket, Key="obj"),
            lambda: alice.put_object(Bucket=bucket, Key="obj", Body=b"overwrite"),
            lambda: alice.put_object(Bucket=bucket, Key="planted", Body=b"x"),
            lambda: alice.delete_object(Bucket=bucket, Key="obj"),
            lambda: alice.list_objects_v2(Bucket=bucket),
            lambda: alice.create_multipart_upload(Bucket=bucket, Key="mp"),
            lambda: alice.delete_bucket(Bucket=bucket),
            lambda: alice.get_bucket_acl(Bucket=bucket),
            lambda: alice.get_bucket_policy(Bucket=bucket),
            lambda: alice.copy_object(
                Bucket=mine, Key="stolen", CopySource={"Bucket": bucket, "Key": "obj"}
            ),
        ]
        for action in denied:
            assert outcome(action)[0] == 403, action
        # DeleteObjects answers permissions per key, as AWS does: 200 with an error for each.
        multi = alice.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": "obj"}]})
        assert [(e["Key"], e["Code"]) for e in multi["Errors"]] == [("obj", "AccessDenied")]
        assert "Deleted" not in multi
        assert outcome(lambda: alice.head_bucket(Bucket=bucket)) == (403, "403")
        # Bucket names are global: taking the root's name is BucketAlreadyExists.
        assert outcome(lambda: alice.create_bucket(Bucket=bucket)) == (409, "BucketAlreadyExists")
        assert bucket not in [b["Name"] for b in alice.list_buckets()["Buckets"]]
        # And the other way round.
        assert outcome(lambda: s3.get_object(Bucket=mine, Key="hers")) == (403, "AccessDenied")
    assert outcome(lambda: alice.head_object(Bucket=mine, Key="stolen")) == (404, "404")
    alice.delete_object(Bucket=mine, Key="hers")
    alice.delete_bucket(Bucket=mine)


def test_missing_bucket_key_upload(cluster: Cluster, s3: Any, bucket: str) -> None:
    missing = unique("missing")
    with Unchanged(s3, bucket):
        answer = send(cluster, "GET", f"/{bucket}/no/such/key")
        assert (answer.status_code, error_code(answer)) == (404, "NoSuchKey")
        assert b"<Key>no/such/key</Key>" in answer.content
        answer = send(cluster, "GET", f"/{missing}/key")
        assert (answer.status_code, error_code(answer)) == (404, "NoSuchBucket")
        assert f"<BucketName>{missing}</BucketName>".encode() in answer.content
        for action in (
            lambda: s3.put_object(Bucket=missing, Key="k", Body=b"x"),
            lambda: s3.delete_object(Bucket=missing, Key="k"),
            lambda: s3.list_objects_v2(Bucket=missing),
            lambda: s3.delete_bucket(Bucket=missing),
            lambda: s3.create_multipart_upload(Bucket=missing, Key="k"),
            lambda: s3.get_bucket_policy(Bucket=missing),
        ):
            assert outcome(action) == (404, "NoSuchBucket")
        assert outcome(
            lambda: s3.abort_multipart_upload(Bucket=bucket, Key="obj", UploadId="nope")
        ) == (404, "NoSuchUpload")
        assert outcome(
            lambda: s3.complete_multipart_upload(
                Bucket=bucket,
                Key="obj",
                UploadId="nope",
                MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": '"x"'}]},
            )
        ) == (404, "NoSuchUpload")


def test_unimplemented_features_change_nothing(cluster: Cluster, s3: Any, bucket: str) -> None:
    with Unchanged(s3, bucket):
        # A policy without statements is refused, as AWS refuses it, and nothing is stored.
        policy = '{"Version":"2012-10-17","Statement":[]}'
        assert outcome(lambda: s3.put_bucket_policy(Bucket=bucket, Policy=policy)) == (
            400,
            "MalformedPolicy",
        )
        assert outcome(
            lambda: s3.put_bucket_versioning(
                Bucket=bucket, VersioningConfiguration={"Status": "Enabled", "MFADelete": "Enabled"}
            )
        ) == (501, "NotImplemented")
        assert outcome(
            lambda: s3.put_object(
                Bucket=bucket, Key="obj", Body=b"x", WebsiteRedirectLocation="/elsewhere"
            )
        ) == (501, "NotImplemented")
        # An encryption WormFS does not offer is refused, never stored as plaintext.
        assert outcome(
            lambda: s3.put_object(
                Bucket=bucket, Key="obj", Body=b"x", ServerSideEncryption="aws:kms:dsse"
            )
        ) == (400, "InvalidArgument")
        assert outcome(
            lambda: s3.put_object(Bucket=bucket, Key="obj", Body=b"x", ACL="public-read")
        ) == (400, "AccessControlListNotSupported")
        assert outcome(lambda: s3.put_object_acl(Bucket=bucket, Key="obj", ACL="public-read")) == (
            400,
            "AccessControlListNotSupported",
        )
    assert outcome(lambda: s3.get_bucket_policy(Bucket=bucket)) == (404, "NoSuchBucketPolicy")
    assert "Status" not in s3.get_bucket_versioning(Bucket=bucket)
