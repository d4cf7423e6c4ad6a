"""The S3 protocol layer end to end: real boto3 (default settings, which send CRC32
checksums) against the real gateway app in-process, over a real coordinator and storage node
(``component.s3_fixtures``).

boto3 blocks, so every call runs in a thread (``asyncio.to_thread``) and the app keeps
serving on the test's loop.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
from typing import Any

import pytest
from component.s3_fixtures import (
    OTHER_ACCESS_KEY,
    OTHER_SECRET_KEY,
    S3Env,
    call,
    error_of,
    read_body,
)


@pytest.fixture
async def s3(env: S3Env) -> Any:
    client = env.client()
    await call(client, "create_bucket", Bucket="bkt")
    return client


# ---- buckets -----------------------------------------------------------------------------------
async def test_bucket_lifecycle(env: S3Env) -> None:
    s3 = env.client()
    created = await call(s3, "create_bucket", Bucket="alpha")
    assert created["Location"] == "/alpha"
    # AWS's legacy us-east-1 behaviour: re-creating your own bucket succeeds there.
    again = await call(s3, "create_bucket", Bucket="alpha")
    assert again["ResponseMetadata"]["HTTPStatusCode"] == 200
    other = env.client(OTHER_ACCESS_KEY, OTHER_SECRET_KEY)
    code, status, _ = await error_of(other, "create_bucket", Bucket="alpha")
    assert (code, status) == ("BucketAlreadyExists", 409)
    code, status, _ = await error_of(s3, "create_bucket", Bucket="Bad_Name")
    assert (code, status) == ("InvalidBucketName", 400)

    head = await call(s3, "head_bucket", Bucket="alpha")
    assert head["ResponseMetadata"]["HTTPHeaders"]["x-amz-bucket-region"] == "us-east-1"
    code, status, _ = await error_of(s3, "head_bucket", Bucket="missing")
    assert status == 404
    code, status, _ = await error_of(other, "head_bucket", Bucket="alpha")
    assert status == 403

    listed = await call(s3, "list_buckets")
    assert [b["Name"] for b in listed["Buckets"]] == ["alpha"]
    assert listed["Owner"]["ID"] == env.users["alice"]
    assert (await call(other, "list_buckets"))["Buckets"] == []

    location = await call(s3, "get_bucket_location", Bucket="alpha")
    assert location["LocationConstraint"] is None  # us-east-1 is answered empty

    await call(s3, "put_object", Bucket="alpha", Key="k", Body=b"x")
    code, status, _ = await error_of(s3, "delete_bucket", Bucket="alpha")
    assert (code, status) == ("BucketNotEmpty", 409)
    await call(s3, "delete_object", Bucket="alpha", Key="k")
    deleted = await call(s3, "delete_bucket", Bucket="alpha")
    assert deleted["ResponseMetadata"]["HTTPStatusCode"] == 204
    code, status, response = await error_of(s3, "delete_bucket", Bucket="alpha")
    assert (code, status) == ("NoSuchBucket", 404)
    assert response["Error"]["BucketName"] == "alpha"


async def test_create_bucket_location_constraint(env: S3Env) -> None:
    s3 = env.client()
    await call(
        s3,
        "create_bucket",
        Bucket="here",
        CreateBucketConfiguration={"LocationConstraint": "us-east-1"},
    )
    code, status, _ = await error_of(
        s3,
        "create_bucket",
        Bucket="there",
        CreateBucketConfiguration={"LocationConstraint": "eu-west-1"},
    )
    assert (code, status) == ("IllegalLocationConstraintException", 400)


# ---- objects -----------------------------------------------------------------------------------
async def test_put_get_head_round_trip(s3: Any, env: S3Env) -> None:
    body = os.urandom(3 * 1024 * 1024 + 17)
    put = await call(
        s3,
        "put_object",
        Bucket="bkt",
        Key="dir/obj.bin",
        Body=body,
        ContentType="application/x-test",
        Metadata={"color": "blue", "Mixed-Case": "v"},
        ContentEncoding="identity",
        ContentDisposition='attachment; filename="x.bin"',
        ContentLanguage="en",
        CacheControl="no-cache",
        Expires="Wed, 01 Dec 2094 16:00:00 GMT",
    )
    etag = f'"{hashlib.md5(body).hexdigest()}"'
    assert put["ETag"] == etag
    assert "ChecksumCRC32" in put  # boto3's default checksum, computed and returned

    got = await call(s3, "get_object", Bucket="bkt", Key="dir/obj.bin")
    assert await read_body(got) == body
    assert got["ETag"] == etag
    assert got["ContentLength"] == len(body)
    assert got["ContentType"] == "application/x-test"
    assert got["Metadata"] == {"color": "blue", "mixed-case": "v"}
    assert got["ContentEncoding"] == "identity"
    assert got["ContentDisposition"] == 'attachment; filename="x.bin"'
    assert got["ContentLanguage"] == "en"
    assert got["CacheControl"] == "no-cache"
    assert got["ResponseMetadata"]["HTTPHeaders"]["expires"] == "Wed, 01 Dec 2094 16:00:00 GMT"
    assert got["ChecksumCRC32"] == put["ChecksumCRC32"]  # validated by boto3 too
    assert got["AcceptRanges"] == "bytes"
    headers = got["ResponseMetadata"]["HTTPHeaders"]
    assert headers["server"] == "WormFS"
    assert len(headers["x-amz-request-id"]) == 16 and headers["x-amz-id-2"]
    # Streamed from read_object, never one big read.
    assert env.read_calls[-1] == (0, len(body))

    head = await call(s3, "head_object", Bucket="bkt", Key="dir/obj.bin")
    assert head["ContentLength"] == len(body)
    assert head["ETag"] == etag
    assert head["Metadata"] == {"color": "blue", "mixed-case": "v"}
    assert head["LastModified"] == got["LastModified"]


async def test_empty_object(s3: Any) -> None:
    await call(s3, "put_object", Bucket="bkt", Key="empty", Body=b"")
    got = await call(s3, "get_object", Bucket="bkt", Key="empty")
    assert await read_body(got) == b""
    assert got["ETag"] == f'"{hashlib.md5(b"").hexdigest()}"'


@pytest.mark.parametrize(
    ("range_header", "status", "expected", "content_range"),
    [
        ("bytes=0-4", 206, slice(0, 5), "bytes 0-4/100"),
        ("bytes=90-", 206, slice(90, 100), "bytes 90-99/100"),
        ("bytes=-7", 206, slice(93, 100), "bytes 93-99/100"),
        ("bytes=95-500", 206, slice(95, 100), "bytes 95-99/100"),
        ("bytes=-500", 206, slice(0, 100), "bytes 0-99/100"),
        ("bytes=0-1,5-6", 200, slice(0, 100), None),  # AWS serves the whole object
        ("bytes=9-3", 200, slice(0, 100), None),  # invalid: ignored
    ],
)
async def test_ranges(
    s3: Any, range_header: str, status: int, expected: slice, content_range: str | None
) -> None:
    body = bytes(range(100))
    await call(s3, "put_object", Bucket="bkt", Key="r", Body=body)
    got = await call(s3, "get_object", Bucket="bkt", Key="r", Range=range_header)
    assert got["ResponseMetadata"]["HTTPStatusCode"] == status
    assert await read_body(got) == body[expected]
    assert got.get("ContentRange") == content_range
    # The whole-object checksum is never sent with a part of the object.
    assert ("ChecksumCRC32" in got) == (status == 200)


async def test_unsatisfiable_range(s3: Any) -> None:
    await call(s3, "put_object", Bucket="bkt", Key="r", Body=b"0123456789")
    code, status, response = await error_of(
        s3, "get_object", Bucket="bkt", Key="r", Range="bytes=10-20"
    )
    assert (code, status) == ("InvalidRange", 416)
    assert response["ResponseMetadata"]["HTTPHeaders"]["content-range"] == "bytes */10"
    assert response["Error"]["ActualObjectSize"] == "10"


async def test_missing_objects(s3: Any) -> None:
    code, status, response = await error_of(s3, "get_object", Bucket="bkt", Key="nope")
    assert (code, status) == ("NoSuchKey", 404)
    assert response["Error"]["Key"] == "nope"
    assert response["ResponseMetadata"]["HTTPHeaders"]["x-amz-request-id"]
    code, status, _ = await error_of(s3, "head_object", Bucket="bkt", Key="nope")
    assert status == 404
    code, status, _ = await error_of(s3, "get_object", Bucket="nobucket", Key="k")
    assert (code, status) == ("NoSuchBucket", 404)


async def test_delete_object(s3: Any) -> None:
    await call(s3, "put_object", Bucket="bkt", Key="gone", Body=b"x")
    deleted = await call(s3, "delete_object", Bucket="bkt", Key="gone")
    assert deleted["ResponseMetadata"]["HTTPStatusCode"] == 204
    again = await call(s3, "delete_object", Bucket="bkt", Key="gone")  # missing: still 204
    assert again["ResponseMetadata"]["HTTPStatusCode"] == 204


async def test_auth_failures(env: S3Env, s3: Any) -> None:
    bad_secret = env.client(secret_key="wrong")
    code, status, response = await error_of(bad_secret, "list_objects_v2", Bucket="bkt")
    assert (code, status) == ("SignatureDoesNotMatch", 403)
    assert "CanonicalRequest" in response["Error"]
    unknown = env.client(access_key="AKIDNOBODY")
    code, status, _ = await error_of(unknown, "list_objects_v2", Bucket="bkt")
    assert (code, status) == ("InvalidAccessKeyId", 403)
    other = env.client(OTHER_ACCESS_KEY, OTHER_SECRET_KEY)
    code, status, _ = await error_of(other, "get_object", Bucket="bkt", Key="k")
    assert (code, status) == ("AccessDenied", 403)


async def test_unimplemented_operation(s3: Any) -> None:
    website = {"IndexDocument": {"Suffix": "index.html"}}
    code, status, _ = await error_of(
        s3, "put_bucket_website", Bucket="bkt", WebsiteConfiguration=website
    )
    assert (code, status) == ("NotImplemented", 501)
    # Never configured: AWS's "no such configuration" answer, not 501.
    code, status, _ = await error_of(s3, "get_bucket_website", Bucket="bkt")
    assert (code, status) == ("NoSuchWebsiteConfiguration", 404)


# ---- listing -----------------------------------------------------------------------------------
async def test_list_objects_v2(env: S3Env, s3: Any) -> None:
    keys = ["a/1", "a/2", "b/1", "c", "d e", "f+g", "ü/x", "z"]
    for key in keys:
        await call(s3, "put_object", Bucket="bkt", Key=key, Body=key.encode())
    listed = await call(s3, "list_objects_v2", Bucket="bkt")
    assert [o["Key"] for o in listed["Contents"]] == sorted(keys)
    assert listed["KeyCount"] == len(keys)
    assert listed["IsTruncated"] is False
    assert "Owner" not in listed["Contents"][0]
    owned = await call(s3, "list_objects_v2", Bucket="bkt", FetchOwner=True)
    assert owned["Contents"][0]["Owner"] == {"ID": env.users["alice"], "DisplayName": "alice"}

    rolled = await call(s3, "list_objects_v2", Bucket="bkt", Delimiter="/")
    assert [p["Prefix"] for p in rolled["CommonPrefixes"]] == ["a/", "b/", "ü/"]
    assert [o["Key"] for o in rolled["Contents"]] == ["c", "d e", "f+g", "z"]
    assert rolled["KeyCount"] == 7

    prefixed = await call(s3, "list_objects_v2", Bucket="bkt", Prefix="a/")
    assert [o["Key"] for o in prefixed["Contents"]] == ["a/1", "a/2"]
    after = await call(s3, "list_objects_v2", Bucket="bkt", StartAfter="c")
    assert [o["Key"] for o in after["Contents"]] == ["d e", "f+g", "z", "ü/x"]
    assert after["StartAfter"] == "c"

    # Paging with a delimiter: common prefixes count and are never repeated.
    pages = s3.get_paginator("list_objects_v2").paginate(
        Bucket="bkt", Delimiter="/", PaginationConfig={"PageSize": 2}
    )
    seen: list[str] = []
    for page in await asyncio.to_thread(list, pages):
        assert page["KeyCount"] <= 2
        seen += [p["Prefix"] for p in page.get("CommonPrefixes", [])]
        seen += [o["Key"] for o in page.get("Contents", [])]
    assert sorted(seen) == sorted(["a/", "b/", "ü/", "c", "d e", "f+g", "z"])

    empty = await call(s3, "list_objects_v2", Bucket="bkt", MaxKeys=0)
    assert empty["KeyCount"] == 0 and empty["IsTruncated"] is False
    code, status, _ = await error_of(s3, "list_objects_v2", Bucket="bkt", ContinuationToken="!!")
    assert (code, status) == ("InvalidArgument", 400)


async def test_list_objects_v1_and_versions(env: S3Env, s3: Any) -> None:
    for key in ["a/1", "a/2", "b", "c"]:
        await call(s3, "put_object", Bucket="bkt", Key=key, Body=b"x")
    v1 = await call(s3, "list_objects", Bucket="bkt", MaxKeys=2)
    assert [o["Key"] for o in v1["Contents"]] == ["a/1", "a/2"]
    assert v1["IsTruncated"] is True
    assert "NextMarker" not in v1  # only with a delimiter, as AWS
    assert v1["Contents"][0]["Owner"]["ID"] == env.users["alice"]
    rest = await call(s3, "list_objects", Bucket="bkt", Marker="a/2")
    assert [o["Key"] for o in rest["Contents"]] == ["b", "c"]
    rolled = await call(s3, "list_objects", Bucket="bkt", Delimiter="/", MaxKeys=1)
    assert rolled["NextMarker"] == "a/"
    versions = await call(s3, "list_object_versions", Bucket="bkt")
    assert [(v["Key"], v["VersionId"], v["IsLatest"]) for v in versions["Versions"]] == [
        ("a/1", "null", True),
        ("a/2", "null", True),
        ("b", "null", True),
        ("c", "null", True),
    ]
    versioning = await call(s3, "get_bucket_versioning", Bucket="bkt")
    assert "Status" not in versioning


# ---- multipart ---------------------------------------------------------------------------------
async def test_multipart_by_hand(env: S3Env, s3: Any) -> None:
    created = await call(
        s3, "create_multipart_upload", Bucket="bkt", Key="big", Metadata={"m": "1"}
    )
    upload_id = created["UploadId"]
    assert created["Bucket"] == "bkt" and created["Key"] == "big"
    part1, part2 = os.urandom(5 * 1024 * 1024), os.urandom(1234)
    e1 = await call(
        s3, "upload_part", Bucket="bkt", Key="big", UploadId=upload_id, PartNumber=1, Body=part1
    )
    e2 = await call(
        s3, "upload_part", Bucket="bkt", Key="big", UploadId=upload_id, PartNumber=2, Body=part2
    )
    assert e1["ETag"] == f'"{hashlib.md5(part1).hexdigest()}"'
    parts = await call(s3, "list_parts", Bucket="bkt", Key="big", UploadId=upload_id)
    assert [(p["PartNumber"], p["Size"], p["ETag"]) for p in parts["Parts"]] == [
        (1, len(part1), e1["ETag"]),
        (2, len(part2), e2["ETag"]),
    ]
    assert parts["Initiator"]["ID"] == env.users["alice"]
    uploads = await call(s3, "list_multipart_uploads", Bucket="bkt")
    assert [u["UploadId"] for u in uploads["Uploads"]] == [upload_id]
    done = await call(
        s3,
        "complete_multipart_upload",
        Bucket="bkt",
        Key="big",
        UploadId=upload_id,
        MultipartUpload={
            "Parts": [
                {"PartNumber": 1, "ETag": e1["ETag"]},
                {"PartNumber": 2, "ETag": e2["ETag"]},
            ]
        },
    )
    assert done["ETag"].endswith('-2"')
    assert done["Location"].endswith("/bkt/big")
    got = await call(s3, "get_object", Bucket="bkt", Key="big")
    assert await read_body(got) == part1 + part2
    assert got["Metadata"] == {"m": "1"}
    second = await call(s3, "get_object", Bucket="bkt", Key="big", PartNumber=2)
    assert await read_body(second) == part2
    assert second["PartsCount"] == 2
    assert (
        second["ContentRange"]
        == f"bytes {len(part1)}-{len(part1) + len(part2) - 1}/{len(part1) + len(part2)}"
    )


async def test_multipart_errors_and_abort(s3: Any) -> None:
    upload_id = (await call(s3, "create_multipart_upload", Bucket="bkt", Key="k"))["UploadId"]
    small = await call(
        s3, "upload_part", Bucket="bkt", Key="k", UploadId=upload_id, PartNumber=1, Body=b"tiny"
    )
    await call(
        s3, "upload_part", Bucket="bkt", Key="k", UploadId=upload_id, PartNumber=2, Body=b"x"
    )
    code, status, _ = await error_of(
        s3, "upload_part", Bucket="bkt", Key="k", UploadId=upload_id, PartNumber=10001, Body=b"x"
    )
    assert (code, status) == ("InvalidArgument", 400)
    code, status, _ = await error_of(
        s3,
        "complete_multipart_upload",
        Bucket="bkt",
        Key="k",
        UploadId=upload_id,
        MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": '"0000"'}]},
    )
    assert (code, status) == ("InvalidPart", 400)
    code, status, _ = await error_of(
        s3,
        "complete_multipart_upload",
        Bucket="bkt",
        Key="k",
        UploadId=upload_id,
        MultipartUpload={
            "Parts": [{"PartNumber": 1, "ETag": small["ETag"]}, {"PartNumber": 2, "ETag": '"x"'}]
        },
    )
    assert code in ("InvalidPart", "EntityTooSmall")
    aborted = await call(s3, "abort_multipart_upload", Bucket="bkt", Key="k", UploadId=upload_id)
    assert aborted["ResponseMetadata"]["HTTPStatusCode"] == 204
    code, status, response = await error_of(
        s3, "list_parts", Bucket="bkt", Key="k", UploadId=upload_id
    )
    assert (code, status) == ("NoSuchUpload", 404)
    assert response["Error"]["UploadId"] == upload_id


async def test_upload_file_and_download_file(s3: Any, tmp_path: Any, env: S3Env) -> None:
    """boto3's transfer manager: multipart above 8 MiB, ranged GETs to download."""
    from boto3.s3.transfer import TransferConfig

    source = tmp_path / "source.bin"
    data = os.urandom(21 * 1024 * 1024 + 5)
    source.write_bytes(data)
    config = TransferConfig(
        multipart_threshold=8 * 1024 * 1024, multipart_chunksize=8 * 1024 * 1024
    )
    await asyncio.to_thread(s3.upload_file, str(source), "bkt", "transfer.bin", Config=config)
    head = await call(s3, "head_object", Bucket="bkt", Key="transfer.bin")
    assert head["ETag"].endswith('-3"')
    assert head["ContentLength"] == len(data)
    target = tmp_path / "target.bin"
    await asyncio.to_thread(s3.download_file, "bkt", "transfer.bin", str(target), Config=config)
    assert target.read_bytes() == data
    ranged = [c for c in env.read_calls if c != (0, len(data))]
    assert len(ranged) >= 3  # the download used ranged GETs
