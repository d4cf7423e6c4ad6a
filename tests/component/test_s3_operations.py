"""The rest of the S3 surface through real boto3: conditionals, copies, batch deletes,
checksums, response overrides, limits, and the fixed answers to clients' probes."""

from __future__ import annotations

import base64
import hashlib
import os
from datetime import datetime, timedelta
from typing import Any

import aiohttp
import pytest
from component.s3_fixtures import (
    OTHER_ACCESS_KEY,
    OTHER_SECRET_KEY,
    S3Env,
    call,
    error_of,
    read_body,
)

from wormfs.format.checksums import checksum_b64, composite_checksum, full_object_crc


@pytest.fixture
async def s3(env: S3Env) -> Any:
    client = env.client()
    await call(client, "create_bucket", Bucket="bkt")
    return client


# ---- conditional requests ----------------------------------------------------------------------
async def test_conditional_get_and_head(s3: Any) -> None:
    put = await call(s3, "put_object", Bucket="bkt", Key="c", Body=b"conditional")
    etag = put["ETag"]
    head = await call(s3, "head_object", Bucket="bkt", Key="c")
    modified: datetime = head["LastModified"]
    before, after = modified - timedelta(hours=1), modified + timedelta(seconds=1)

    ok = await call(s3, "get_object", Bucket="bkt", Key="c", IfMatch=etag)
    assert await read_body(ok) == b"conditional"
    assert (await error_of(s3, "get_object", Bucket="bkt", Key="c", IfMatch='"nope"'))[:2] == (
        "PreconditionFailed",
        412,
    )
    _, status, response = await error_of(s3, "get_object", Bucket="bkt", Key="c", IfNoneMatch=etag)
    assert status == 304
    assert response["ResponseMetadata"]["HTTPHeaders"]["etag"] == etag
    _, status, _ = await error_of(s3, "head_object", Bucket="bkt", Key="c", IfNoneMatch="*")
    assert status == 304
    _, status, _ = await error_of(s3, "get_object", Bucket="bkt", Key="c", IfModifiedSince=after)
    assert status == 304
    ok = await call(s3, "get_object", Bucket="bkt", Key="c", IfModifiedSince=before)
    assert await read_body(ok) == b"conditional"
    code, status, _ = await error_of(
        s3, "get_object", Bucket="bkt", Key="c", IfUnmodifiedSince=before
    )
    assert (code, status) == ("PreconditionFailed", 412)
    # AWS precedence: If-Match true wins over If-Unmodified-Since false ...
    ok = await call(s3, "get_object", Bucket="bkt", Key="c", IfMatch=etag, IfUnmodifiedSince=before)
    assert ok["ResponseMetadata"]["HTTPStatusCode"] == 200
    # ... and If-None-Match false (a match) gives 304 even if If-Modified-Since is true.
    _, status, _ = await error_of(
        s3, "get_object", Bucket="bkt", Key="c", IfNoneMatch=etag, IfModifiedSince=before
    )
    assert status == 304


async def test_conditional_put(s3: Any) -> None:
    await call(s3, "put_object", Bucket="bkt", Key="once", Body=b"1", IfNoneMatch="*")
    code, status, _ = await error_of(
        s3, "put_object", Bucket="bkt", Key="once", Body=b"2", IfNoneMatch="*"
    )
    assert (code, status) == ("PreconditionFailed", 412)
    etag = (await call(s3, "head_object", Bucket="bkt", Key="once"))["ETag"]
    await call(s3, "put_object", Bucket="bkt", Key="once", Body=b"3", IfMatch=etag)
    code, status, _ = await error_of(
        s3, "put_object", Bucket="bkt", Key="once", Body=b"4", IfMatch=etag
    )
    assert (code, status) == ("PreconditionFailed", 412)
    code, status, _ = await error_of(
        s3, "put_object", Bucket="bkt", Key="once", Body=b"5", IfNoneMatch='"abc"'
    )
    assert (code, status) == ("NotImplemented", 501)


# ---- overrides, partNumber, checksums ----------------------------------------------------------
async def test_response_overrides(s3: Any) -> None:
    await call(s3, "put_object", Bucket="bkt", Key="o", Body=b"x", ContentType="text/plain")
    got = await call(
        s3,
        "get_object",
        Bucket="bkt",
        Key="o",
        ResponseContentType="application/json",
        ResponseContentDisposition="inline",
        ResponseCacheControl="max-age=5",
        ResponseContentLanguage="de",
        ResponseContentEncoding="br",
    )
    assert got["ContentType"] == "application/json"
    assert got["ContentDisposition"] == "inline"
    assert got["CacheControl"] == "max-age=5"
    assert got["ContentLanguage"] == "de"
    assert got["ContentEncoding"] == "br"


@pytest.mark.parametrize("algorithm", ["CRC32", "CRC32C", "CRC64NVME", "SHA1", "SHA256"])
async def test_checksum_algorithms(s3: Any, algorithm: str) -> None:
    data = os.urandom(100_000)
    put = await call(
        s3, "put_object", Bucket="bkt", Key="ck", Body=data, ChecksumAlgorithm=algorithm
    )
    assert put[f"Checksum{algorithm}"] == checksum_b64(algorithm, data)
    head = await call(s3, "head_object", Bucket="bkt", Key="ck", ChecksumMode="ENABLED")
    assert head[f"Checksum{algorithm}"] == checksum_b64(algorithm, data)
    assert head["ChecksumType"] == "FULL_OBJECT"
    plain = await call(s3, "head_object", Bucket="bkt", Key="ck")
    assert f"Checksum{algorithm}" not in plain  # only with x-amz-checksum-mode: ENABLED


async def test_wrong_checksums_are_refused(s3: Any) -> None:
    code, status, _ = await error_of(
        s3, "put_object", Bucket="bkt", Key="bad", Body=b"data", ChecksumCRC32="AAAAAA=="
    )
    assert (code, status) == ("BadDigest", 400)
    wrong_md5 = base64.b64encode(hashlib.md5(b"other").digest()).decode()
    code, status, _ = await error_of(
        s3, "put_object", Bucket="bkt", Key="bad", Body=b"data", ContentMD5=wrong_md5
    )
    assert (code, status) == ("BadDigest", 400)
    code, status, _ = await error_of(
        s3, "put_object", Bucket="bkt", Key="bad", Body=b"data", ContentMD5="short"
    )
    assert (code, status) == ("InvalidDigest", 400)
    code, status, _ = await error_of(
        s3, "put_object", Bucket="bkt", Key="bad", Body=b"data", ChecksumSHA256="bm90IGEgc2hh"
    )
    assert (code, status) == ("InvalidRequest", 400)


async def test_multipart_checksums(s3: Any) -> None:
    parts = [os.urandom(5 * 1024 * 1024), os.urandom(100)]
    for checksum_type, combine in (("COMPOSITE", "composite"), ("FULL_OBJECT", "full")):
        upload = await call(
            s3,
            "create_multipart_upload",
            Bucket="bkt",
            Key=f"mp-{combine}",
            ChecksumAlgorithm="CRC32C",
            ChecksumType=checksum_type,
        )
        assert upload["ChecksumAlgorithm"] == "CRC32C"
        done_parts = []
        for number, data in enumerate(parts, start=1):
            answer = await call(
                s3,
                "upload_part",
                Bucket="bkt",
                Key=f"mp-{combine}",
                UploadId=upload["UploadId"],
                PartNumber=number,
                Body=data,
                ChecksumAlgorithm="CRC32C",
            )
            assert answer["ChecksumCRC32C"] == checksum_b64("CRC32C", data)
            done_parts.append(
                {
                    "PartNumber": number,
                    "ETag": answer["ETag"],
                    "ChecksumCRC32C": answer["ChecksumCRC32C"],
                }
            )
        done = await call(
            s3,
            "complete_multipart_upload",
            Bucket="bkt",
            Key=f"mp-{combine}",
            UploadId=upload["UploadId"],
            MultipartUpload={"Parts": done_parts},
        )
        values = [p["ChecksumCRC32C"] for p in done_parts]
        if combine == "composite":
            expected = composite_checksum("CRC32C", values)
        else:
            expected = full_object_crc("CRC32C", list(zip(values, map(len, parts), strict=True)))
            assert expected == checksum_b64("CRC32C", b"".join(parts))
        assert done["ChecksumCRC32C"] == expected
        assert done["ChecksumType"] == checksum_type
        got = await call(
            s3, "get_object", Bucket="bkt", Key=f"mp-{combine}", ChecksumMode="ENABLED"
        )
        assert await read_body(got) == b"".join(parts)  # boto3 validates FULL_OBJECT values
        assert got["ChecksumCRC32C"] == expected


async def test_part_number_of_plain_object(s3: Any) -> None:
    await call(s3, "put_object", Bucket="bkt", Key="p", Body=b"whole")
    got = await call(s3, "get_object", Bucket="bkt", Key="p", PartNumber=1)
    assert got["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert await read_body(got) == b"whole"
    code, status, _ = await error_of(s3, "get_object", Bucket="bkt", Key="p", PartNumber=2)
    assert (code, status) == ("InvalidPartNumber", 416)
    code, status, _ = await error_of(
        s3, "get_object", Bucket="bkt", Key="p", PartNumber=1, Range="bytes=0-1"
    )
    assert (code, status) == ("InvalidRequest", 400)


# ---- limits ------------------------------------------------------------------------------------
async def test_limits(s3: Any) -> None:
    code, status, _ = await error_of(
        s3, "put_object", Bucket="bkt", Key="m", Body=b"x", Metadata={"big": "v" * 2100}
    )
    assert (code, status) == ("MetadataTooLarge", 400)
    code, status, _ = await error_of(s3, "put_object", Bucket="bkt", Key="k" * 1025, Body=b"x")
    assert (code, status) == ("KeyTooLongError", 400)
    await call(s3, "put_object", Bucket="bkt", Key="k" * 1024, Body=b"x")
    code, status, _ = await error_of(
        s3,
        "put_object",
        Bucket="bkt",
        Key="sc",
        Body=b"x",
        StorageClass="NOPE",  # type: ignore[arg-type]
    )
    assert (code, status) == ("InvalidStorageClass", 400)
    code, status, _ = await error_of(
        s3, "put_object", Bucket="bkt", Key="sse", Body=b"x", SSECustomerAlgorithm="AES256",
        SSECustomerKey="k" * 31,  # SSE-C keys are 256 bits
    )  # fmt: skip
    assert (code, status) == ("InvalidArgument", 400)


# ---- copies ------------------------------------------------------------------------------------
async def test_copy_object(s3: Any, env: S3Env) -> None:
    await call(
        s3, "put_object", Bucket="bkt", Key="src key+", Body=b"source bytes",
        ContentType="text/plain", Metadata={"a": "1"},
    )  # fmt: skip
    copied = await call(
        s3, "copy_object", Bucket="bkt", Key="dst", CopySource={"Bucket": "bkt", "Key": "src key+"}
    )
    assert copied["CopyObjectResult"]["ETag"] == f'"{hashlib.md5(b"source bytes").hexdigest()}"'
    got = await call(s3, "get_object", Bucket="bkt", Key="dst")
    assert await read_body(got) == b"source bytes"
    assert got["Metadata"] == {"a": "1"} and got["ContentType"] == "text/plain"

    await call(
        s3, "copy_object", Bucket="bkt", Key="dst2", CopySource="bkt/src key+",
        MetadataDirective="REPLACE", Metadata={"b": "2"}, ContentType="image/png",
    )  # fmt: skip
    head = await call(s3, "head_object", Bucket="bkt", Key="dst2")
    assert head["Metadata"] == {"b": "2"} and head["ContentType"] == "image/png"

    code, status, _ = await error_of(
        s3,
        "copy_object",
        Bucket="bkt",
        Key="src key+",
        CopySource={"Bucket": "bkt", "Key": "src key+"},
    )
    assert (code, status) == ("InvalidRequest", 400)
    await call(
        s3, "copy_object", Bucket="bkt", Key="src key+",
        CopySource={"Bucket": "bkt", "Key": "src key+"},
        MetadataDirective="REPLACE", Metadata={"c": "3"},
    )  # fmt: skip

    code, status, response = await error_of(
        s3, "copy_object", Bucket="bkt", Key="x", CopySource={"Bucket": "bkt", "Key": "missing"}
    )
    assert (code, status) == ("NoSuchKey", 404)
    assert response["Error"]["Key"] == "missing"
    code, status, _ = await error_of(
        s3, "copy_object", Bucket="bkt", Key="x", CopySource={"Bucket": "bkt", "Key": "dst"},
        CopySourceIfMatch='"nope"',
    )  # fmt: skip
    assert (code, status) == ("PreconditionFailed", 412)
    etag = copied["CopyObjectResult"]["ETag"]
    code, status, _ = await error_of(
        s3, "copy_object", Bucket="bkt", Key="x", CopySource={"Bucket": "bkt", "Key": "dst"},
        CopySourceIfNoneMatch=etag,
    )  # fmt: skip
    assert (code, status) == ("PreconditionFailed", 412)
    code, status, _ = await error_of(
        s3, "copy_object", Bucket="bkt", Key="x", CopySource={"Bucket": "bkt", "Key": "dst"},
        MetadataDirective="MERGE",  # type: ignore[arg-type]
    )  # fmt: skip
    assert (code, status) == ("InvalidArgument", 400)
    other = env.client(OTHER_ACCESS_KEY, OTHER_SECRET_KEY)
    await call(other, "create_bucket", Bucket="other-bkt")
    code, status, _ = await error_of(
        other,
        "copy_object",
        Bucket="other-bkt",
        Key="x",
        CopySource={"Bucket": "bkt", "Key": "dst"},
    )
    assert (code, status) == ("AccessDenied", 403)


async def test_upload_part_copy(s3: Any) -> None:
    source = os.urandom(6 * 1024 * 1024)
    await call(s3, "put_object", Bucket="bkt", Key="src", Body=source)
    upload_id = (await call(s3, "create_multipart_upload", Bucket="bkt", Key="assembled"))[
        "UploadId"
    ]
    first = await call(
        s3, "upload_part_copy", Bucket="bkt", Key="assembled", UploadId=upload_id, PartNumber=1,
        CopySource={"Bucket": "bkt", "Key": "src"}, CopySourceRange="bytes=0-5242879",
    )  # fmt: skip
    second = await call(
        s3, "upload_part_copy", Bucket="bkt", Key="assembled", UploadId=upload_id, PartNumber=2,
        CopySource={"Bucket": "bkt", "Key": "src"},
        CopySourceRange=f"bytes=5242880-{len(source) - 1}",
    )  # fmt: skip
    code, status, _ = await error_of(
        s3, "upload_part_copy", Bucket="bkt", Key="assembled", UploadId=upload_id, PartNumber=3,
        CopySource={"Bucket": "bkt", "Key": "src"}, CopySourceRange=f"bytes=0-{len(source)}",
    )  # fmt: skip
    assert (code, status) == ("InvalidRange", 416)  # one byte past the source
    await call(
        s3, "complete_multipart_upload", Bucket="bkt", Key="assembled", UploadId=upload_id,
        MultipartUpload={"Parts": [
            {"PartNumber": 1, "ETag": first["CopyPartResult"]["ETag"]},
            {"PartNumber": 2, "ETag": second["CopyPartResult"]["ETag"]},
        ]},
    )  # fmt: skip
    got = await call(s3, "get_object", Bucket="bkt", Key="assembled")
    assert await read_body(got) == source


# ---- batch delete ------------------------------------------------------------------------------
async def test_delete_objects(s3: Any, env: S3Env) -> None:
    for key in ("a", "b", "c"):
        await call(s3, "put_object", Bucket="bkt", Key=key, Body=b"x")
    result = await call(
        s3,
        "delete_objects",
        Bucket="bkt",
        Delete={"Objects": [{"Key": "a"}, {"Key": "b"}, {"Key": "missing"}]},
    )
    assert sorted(d["Key"] for d in result["Deleted"]) == ["a", "b", "missing"]
    assert "Errors" not in result
    quiet = await call(
        s3, "delete_objects", Bucket="bkt", Delete={"Objects": [{"Key": "c"}], "Quiet": True}
    )
    assert "Deleted" not in quiet
    assert await env.keys("bkt") == []
    code, status, _ = await error_of(
        s3,
        "delete_objects",
        Bucket="bkt",
        Delete={"Objects": [{"Key": f"k{i}"} for i in range(1001)]},
    )
    assert (code, status) == ("MalformedXML", 400)


async def test_delete_objects_needs_integrity_header(env: S3Env, s3: Any) -> None:
    from botocore.auth import S3SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials
    from component.s3_fixtures import ACCESS_KEY, REGION, SECRET_KEY

    body = b"<Delete><Object><Key>a</Key></Object></Delete>"
    url = f"{env.endpoint}/bkt?delete"
    for extra, code in (
        ({}, "InvalidRequest"),
        ({"Content-MD5": "AAAAAAAAAAAAAAAAAAAAAA=="}, "BadDigest"),
    ):
        request = AWSRequest(method="POST", url=url, data=body, headers=extra)
        S3SigV4Auth(Credentials(ACCESS_KEY, SECRET_KEY), "s3", REGION).add_auth(request)
        async with (
            aiohttp.ClientSession() as session,
            session.post(url, data=body, headers=dict(request.headers.items())) as r,
        ):
            assert r.status == 400
            assert f"<Code>{code}</Code>" in await r.text()
    request = AWSRequest(method="POST", url=url, data=b"<Delete>", headers={})
    request.headers["Content-MD5"] = base64.b64encode(hashlib.md5(b"<Delete>").digest()).decode()
    S3SigV4Auth(Credentials(ACCESS_KEY, SECRET_KEY), "s3", REGION).add_auth(request)
    async with (
        aiohttp.ClientSession() as session,
        session.post(url, data=b"<Delete>", headers=dict(request.headers.items())) as r,
    ):
        assert r.status == 400
        assert "<Code>MalformedXML</Code>" in await r.text()


# ---- probes clients make -----------------------------------------------------------------------
async def test_acl_and_versioning_probes(env: S3Env, s3: Any) -> None:
    await call(s3, "put_object", Bucket="bkt", Key="k", Body=b"x")
    acl = await call(s3, "get_bucket_acl", Bucket="bkt")
    assert acl["Owner"]["ID"] == env.users["alice"]
    assert acl["Grants"] == [
        {
            "Grantee": {"ID": env.users["alice"], "DisplayName": "alice", "Type": "CanonicalUser"},
            "Permission": "FULL_CONTROL",
        }
    ]
    object_acl = await call(s3, "get_object_acl", Bucket="bkt", Key="k")
    assert object_acl["Grants"][0]["Permission"] == "FULL_CONTROL"
    # ACLs are disabled as on AWS buckets with "bucket owner enforced" ownership.
    code, status, _ = await error_of(s3, "put_bucket_acl", Bucket="bkt", ACL="public-read")
    assert (code, status) == ("AccessControlListNotSupported", 400)
    await call(s3, "put_bucket_acl", Bucket="bkt", ACL="private")  # the ACL in force


async def test_list_multipart_uploads_paging(s3: Any) -> None:
    ids = []
    for key in ("a", "b", "c"):
        ids.append((await call(s3, "create_multipart_upload", Bucket="bkt", Key=key))["UploadId"])
    page = await call(s3, "list_multipart_uploads", Bucket="bkt", MaxUploads=2)
    assert [u["Key"] for u in page["Uploads"]] == ["a", "b"]
    assert page["IsTruncated"] is True
    rest = await call(
        s3, "list_multipart_uploads", Bucket="bkt", KeyMarker=page["NextKeyMarker"],
        UploadIdMarker=page["NextUploadIdMarker"],
    )  # fmt: skip
    assert [u["Key"] for u in rest["Uploads"]] == ["c"]
    parts = await call(s3, "list_parts", Bucket="bkt", Key="a", UploadId=ids[0], MaxParts=5)
    assert parts["Parts"] == [] if "Parts" in parts else True
