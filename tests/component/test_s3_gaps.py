"""Smaller S3 behaviours measured against real clients, through real boto3 against a real
ObjectService and coordinator: a CompleteMultipartUpload repeated after it succeeded (what
SDKs do when the first answer is lost) answers the same object again; ListBuckets pages
(max-buckets, continuation-token, prefix); bucket-name rules (a dot next to a hyphen);
x-amz-expected-bucket-owner and x-amz-source-expected-bucket-owner."""

from __future__ import annotations

from typing import Any

import pytest
from component.s3_fixtures import S3Env, call, error_of, read_body

PART = 5 * 1024 * 1024


@pytest.fixture
async def s3(env: S3Env) -> Any:
    client = env.client()
    await call(client, "create_bucket", Bucket="bkt")
    return client


async def _upload(s3: Any, key: str) -> tuple[str, list[dict[str, Any]]]:
    upload = await call(
        s3, "create_multipart_upload", Bucket="bkt", Key=key, ChecksumAlgorithm="CRC32"
    )
    uid = upload["UploadId"]
    parts = []
    for number, body in ((1, b"a" * PART), (2, b"tail")):
        part = await call(
            s3,
            "upload_part",
            Bucket="bkt",
            Key=key,
            UploadId=uid,
            PartNumber=number,
            Body=body,
            ChecksumAlgorithm="CRC32",
        )
        parts.append(
            {"PartNumber": number, "ETag": part["ETag"], "ChecksumCRC32": part["ChecksumCRC32"]}
        )
    return uid, parts


async def _complete(s3: Any, key: str, uid: str, parts: list[dict[str, Any]]) -> Any:
    return await call(
        s3,
        "complete_multipart_upload",
        Bucket="bkt",
        Key=key,
        UploadId=uid,
        MultipartUpload={"Parts": parts},
    )


async def test_repeated_complete_answers_the_same_object(s3: Any) -> None:
    uid, parts = await _upload(s3, "mp")
    first = await _complete(s3, "mp", uid, parts)
    again = await _complete(s3, "mp", uid, parts)
    assert again["ETag"] == first["ETag"]
    assert again["ChecksumCRC32"] == first["ChecksumCRC32"]
    assert (again["Bucket"], again["Key"]) == ("bkt", "mp")
    # Nothing was written twice: one object, its bytes whole.
    listed = await call(s3, "list_objects_v2", Bucket="bkt")
    assert [(o["Key"], o["ETag"]) for o in listed["Contents"]] == [("mp", first["ETag"])]
    got = await call(s3, "get_object", Bucket="bkt", Key="mp")
    assert await read_body(got) == b"a" * PART + b"tail"


async def test_repeated_complete_after_an_overwrite_is_no_such_upload(s3: Any) -> None:
    uid, parts = await _upload(s3, "mp")
    await _complete(s3, "mp", uid, parts)
    await call(s3, "put_object", Bucket="bkt", Key="mp", Body=b"newer")
    code, status, _ = await error_of(
        s3,
        "complete_multipart_upload",
        Bucket="bkt",
        Key="mp",
        UploadId=uid,
        MultipartUpload={"Parts": parts},
    )
    assert (code, status) == ("NoSuchUpload", 404)
    assert await read_body(await call(s3, "get_object", Bucket="bkt", Key="mp")) == b"newer"


async def test_complete_of_another_keys_upload_is_no_such_upload(s3: Any) -> None:
    uid, parts = await _upload(s3, "mp")
    await _complete(s3, "mp", uid, parts)
    code, status, _ = await error_of(
        s3,
        "complete_multipart_upload",
        Bucket="bkt",
        Key="other",
        UploadId=uid,
        MultipartUpload={"Parts": parts},
    )
    assert (code, status) == ("NoSuchUpload", 404)


async def test_list_buckets_pages_and_prefix(s3: Any) -> None:
    names = ["bkt", *(f"page-{i:02d}" for i in range(7)), "zeta"]
    for name in names[1:]:
        await call(s3, "create_bucket", Bucket=name)
    seen: list[str] = []
    token = None
    pages = 0
    while True:
        kwargs: dict[str, Any] = {"MaxBuckets": 3}
        if token:
            kwargs["ContinuationToken"] = token
        page = await call(s3, "list_buckets", **kwargs)
        seen += [b["Name"] for b in page["Buckets"]]
        pages += 1
        token = page.get("ContinuationToken")
        if not token:
            break
    assert seen == names  # sorted, none skipped or repeated
    assert pages == 3
    filtered = await call(s3, "list_buckets", Prefix="page-", MaxBuckets=5)
    assert [b["Name"] for b in filtered["Buckets"]] == names[1:6]
    assert filtered["Prefix"] == "page-"
    rest = await call(
        s3, "list_buckets", Prefix="page-", ContinuationToken=filtered["ContinuationToken"]
    )
    assert [b["Name"] for b in rest["Buckets"]] == names[6:8]
    assert "ContinuationToken" not in rest


@pytest.mark.parametrize("name", ["my-.bucket", "my.-bucket", "a..b", "1.2.3.4", "-abc"])
async def test_invalid_bucket_names(s3: Any, name: str) -> None:
    code, status, _ = await error_of(s3, "create_bucket", Bucket=name)
    assert (code, status) == ("InvalidBucketName", 400)
    listed = await call(s3, "list_buckets")
    assert [b["Name"] for b in listed["Buckets"]] == ["bkt"]


async def test_expected_bucket_owner(s3: Any, env: S3Env) -> None:
    alice = env.users["alice"]
    listed = await call(s3, "list_buckets")
    assert listed["Owner"]["ID"] == alice  # the id a client names as the owner
    await call(s3, "put_object", Bucket="bkt", Key="k", Body=b"x", ExpectedBucketOwner=alice)
    head = await call(s3, "head_object", Bucket="bkt", Key="k", ExpectedBucketOwner=alice)
    assert head["ContentLength"] == 1
    wrong = env.users["bob"]
    for method, extra in (
        ("put_object", {"Key": "k", "Body": b"changed"}),
        ("get_object", {"Key": "k"}),
        ("delete_object", {"Key": "k"}),
        ("list_objects_v2", {}),
        ("get_bucket_tagging", {}),
        ("delete_bucket", {}),
    ):
        code, status, _ = await error_of(
            s3, method, Bucket="bkt", ExpectedBucketOwner=wrong, **extra
        )
        assert (code, status) == ("AccessDenied", 403), method
    code, status, _ = await error_of(
        s3,
        "copy_object",
        Bucket="bkt",
        Key="copy",
        CopySource={"Bucket": "bkt", "Key": "k"},
        ExpectedSourceBucketOwner=wrong,
    )
    assert (code, status) == ("AccessDenied", 403)
    await call(
        s3,
        "copy_object",
        Bucket="bkt",
        Key="copy",
        CopySource={"Bucket": "bkt", "Key": "k"},
        ExpectedSourceBucketOwner=alice,
        ExpectedBucketOwner=alice,
    )
    # Nothing the refused requests named was changed.
    assert await read_body(await call(s3, "get_object", Bucket="bkt", Key="k")) == b"x"
    keys = [o["Key"] for o in (await call(s3, "list_objects_v2", Bucket="bkt"))["Contents"]]
    assert keys == ["copy", "k"]


async def test_empty_continuation_token_lists_from_the_start(s3: Any) -> None:
    for key in ("bar", "baz", "foo"):
        await call(s3, "put_object", Bucket="bkt", Key=key, Body=b"x")
    page = await call(s3, "list_objects_v2", Bucket="bkt", ContinuationToken="")
    assert [o["Key"] for o in page["Contents"]] == ["bar", "baz", "foo"]
    assert page["ContinuationToken"] == "" and page["IsTruncated"] is False
    code, status, _ = await error_of(s3, "list_objects_v2", Bucket="bkt", ContinuationToken="x")
    assert (code, status) == ("InvalidArgument", 400)


async def test_upload_part_copy_ranges(s3: Any) -> None:
    await call(s3, "put_object", Bucket="bkt", Key="src", Body=b"x" * 100)
    upload = await call(s3, "create_multipart_upload", Bucket="bkt", Key="dst")

    async def copy(source_range: str) -> tuple[str, int]:
        code, status, _ = await error_of(
            s3,
            "upload_part_copy",
            Bucket="bkt",
            Key="dst",
            UploadId=upload["UploadId"],
            PartNumber=1,
            CopySource={"Bucket": "bkt", "Key": "src"},
            CopySourceRange=source_range,
        )
        return code, status

    assert await copy("bytes=50-100") == ("InvalidRange", 416)  # past the source's end
    for improper in ("bytes=-1", "bytes=2-", "bytes=2-1", "bytes=", "bytes=2"):
        assert await copy(improper) == ("InvalidArgument", 400), improper


async def test_unicode_metadata_is_rfc2047_encoded(s3: Any) -> None:
    """AWS decodes RFC 2047 encoded metadata values before storing them and encodes the
    non-US-ASCII ones on the way out; raw UTF-8 values are treated as such."""

    def raw_utf8(**kwargs: Any) -> None:
        kwargs["params"]["headers"]["x-amz-meta-raw"] = "Hello World\xe9"

    s3.meta.events.register("before-call.s3.PutObject", raw_utf8)
    try:
        await call(s3, "put_object", Bucket="bkt", Key="raw", Body=b"x")
    finally:
        s3.meta.events.unregister("before-call.s3.PutObject", raw_utf8)
    meta = {"b": "=?UTF-8?B?SGVsbG8gV29ybGTDqQ==?=", "q": "=?utf-8?q?Zo=C3=AB?=", "plain": "ascii"}
    await call(s3, "put_object", Bucket="bkt", Key="encoded", Body=b"x", Metadata=meta)
    raw = await call(s3, "head_object", Bucket="bkt", Key="raw")
    assert raw["Metadata"] == {"raw": "=?UTF-8?B?SGVsbG8gV29ybGTDqQ==?="}
    encoded = await call(s3, "head_object", Bucket="bkt", Key="encoded")
    assert encoded["Metadata"] == {
        "b": "=?UTF-8?B?SGVsbG8gV29ybGTDqQ==?=",
        "q": "=?UTF-8?B?Wm/Dqw==?=",  # stored decoded ("Zoë"), encoded again in base64
        "plain": "ascii",
    }
