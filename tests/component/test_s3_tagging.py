"""Object and bucket tagging through real boto3 against a real ObjectService and coordinator:
x-amz-tagging on PUT, copy (x-amz-tagging-directive) and multipart uploads,
Put/Get/DeleteObjectTagging on one version (ETag and Last-Modified untouched),
x-amz-tagging-count, AWS's limits and characters, and Put/Get/DeleteBucketTagging."""

from __future__ import annotations

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

PART = 5 * 1024 * 1024


@pytest.fixture
async def s3(env: S3Env) -> Any:
    client = env.client()
    await call(client, "create_bucket", Bucket="bkt")
    return client


def _tag_set(tags: dict[str, str]) -> dict[str, Any]:
    return {"TagSet": [{"Key": k, "Value": v} for k, v in tags.items()]}


async def _tags(s3: Any, key: str) -> dict[str, str]:
    got = await call(s3, "get_object_tagging", Bucket="bkt", Key=key)
    return {tag["Key"]: tag["Value"] for tag in got["TagSet"]}


async def test_tags_given_on_put_are_read_back_and_counted(s3: Any) -> None:
    await call(
        s3,
        "put_object",
        Bucket="bkt",
        Key="k",
        Body=b"x",
        Tagging="project=wormfs&team=a%20b&empty=",
    )
    assert await _tags(s3, "k") == {"project": "wormfs", "team": "a b", "empty": ""}
    head = await call(s3, "head_object", Bucket="bkt", Key="k")
    assert head["ResponseMetadata"]["HTTPHeaders"]["x-amz-tagging-count"] == "3"
    got = await call(s3, "get_object", Bucket="bkt", Key="k")
    assert got["TagCount"] == 3
    await call(s3, "put_object", Bucket="bkt", Key="plain", Body=b"x")
    assert await _tags(s3, "plain") == {}
    head = await call(s3, "head_object", Bucket="bkt", Key="plain")
    assert "x-amz-tagging-count" not in head["ResponseMetadata"]["HTTPHeaders"]


async def test_put_and_delete_object_tagging_change_only_the_tags(s3: Any) -> None:
    await call(s3, "put_object", Bucket="bkt", Key="k", Body=b"body", Tagging="a=1")
    before = await call(s3, "head_object", Bucket="bkt", Key="k")
    await call(
        s3, "put_object_tagging", Bucket="bkt", Key="k", Tagging=_tag_set({"b": "2", "c": "3"})
    )
    assert await _tags(s3, "k") == {"b": "2", "c": "3"}
    after = await call(s3, "head_object", Bucket="bkt", Key="k")
    assert (after["ETag"], after["LastModified"]) == (before["ETag"], before["LastModified"])
    await call(s3, "delete_object_tagging", Bucket="bkt", Key="k")
    assert await _tags(s3, "k") == {}
    assert await read_body(await call(s3, "get_object", Bucket="bkt", Key="k")) == b"body"


async def test_tags_belong_to_the_version_not_the_key(s3: Any) -> None:
    await call(s3, "put_object", Bucket="bkt", Key="k", Body=b"1", Tagging="old=yes")
    await call(s3, "put_object", Bucket="bkt", Key="k", Body=b"2")
    assert await _tags(s3, "k") == {}
    await call(s3, "delete_object", Bucket="bkt", Key="k")
    code, status, _ = await error_of(s3, "get_object_tagging", Bucket="bkt", Key="k")
    assert (code, status) == ("NoSuchKey", 404)
    code, status, _ = await error_of(
        s3, "put_object_tagging", Bucket="bkt", Key="k", Tagging=_tag_set({"a": "1"})
    )
    assert (code, status) == ("NoSuchKey", 404)


async def test_copy_keeps_or_replaces_tags_by_directive(s3: Any) -> None:
    await call(s3, "put_object", Bucket="bkt", Key="src", Body=b"x", Tagging="a=1&b=2")
    source = {"Bucket": "bkt", "Key": "src"}
    await call(s3, "copy_object", Bucket="bkt", Key="kept", CopySource=source)
    assert await _tags(s3, "kept") == {"a": "1", "b": "2"}
    # Replacing the metadata keeps the tags: they have their own directive.
    await call(
        s3,
        "copy_object",
        Bucket="bkt",
        Key="meta",
        CopySource=source,
        MetadataDirective="REPLACE",
        Metadata={"m": "v"},
    )
    assert await _tags(s3, "meta") == {"a": "1", "b": "2"}
    await call(
        s3,
        "copy_object",
        Bucket="bkt",
        Key="replaced",
        CopySource=source,
        TaggingDirective="REPLACE",
        Tagging="c=3",
    )
    assert await _tags(s3, "replaced") == {"c": "3"}
    await call(
        s3, "copy_object", Bucket="bkt", Key="none", CopySource=source, TaggingDirective="REPLACE"
    )
    assert await _tags(s3, "none") == {}


async def test_multipart_upload_takes_the_tags_of_its_creation(s3: Any) -> None:
    upload = await call(
        s3, "create_multipart_upload", Bucket="bkt", Key="mp", Tagging="kind=multipart"
    )
    uid = upload["UploadId"]
    parts = []
    for number, body in ((1, b"a" * PART), (2, b"b")):
        part = await call(
            s3, "upload_part", Bucket="bkt", Key="mp", UploadId=uid, PartNumber=number, Body=body
        )
        parts.append({"PartNumber": number, "ETag": part["ETag"]})
    await call(
        s3,
        "complete_multipart_upload",
        Bucket="bkt",
        Key="mp",
        UploadId=uid,
        MultipartUpload={"Parts": parts},
    )
    assert await _tags(s3, "mp") == {"kind": "multipart"}


@pytest.mark.parametrize(
    ("tags", "message"),
    [
        ({"k" * 129: "v"}, "The TagKey you have provided is too long, max 128"),
        ({"k": "v" * 257}, "The TagValue you have provided is too long, max 256"),
        ({"bad#key": "v"}, "The TagKey you have provided is invalid"),
        ({"k": "bad*value"}, "The TagValue you have provided is invalid"),
        ({"aws:reserved": "v"}, "Your TagKey cannot be prefixed with aws:"),
    ],
)
async def test_object_tag_limits(s3: Any, tags: dict[str, str], message: str) -> None:
    await call(s3, "put_object", Bucket="bkt", Key="k", Body=b"x", Tagging="keep=me")
    code, status, response = await error_of(
        s3, "put_object_tagging", Bucket="bkt", Key="k", Tagging=_tag_set(tags)
    )
    assert (code, status, response["Error"]["Message"]) == ("InvalidTag", 400, message)
    assert await _tags(s3, "k") == {"keep": "me"}


async def test_more_than_ten_object_tags(s3: Any) -> None:
    await call(s3, "put_object", Bucket="bkt", Key="k", Body=b"x", Tagging="keep=me")
    eleven = {f"k{i}": "v" for i in range(11)}
    code, status, response = await error_of(
        s3, "put_object_tagging", Bucket="bkt", Key="k", Tagging=_tag_set(eleven)
    )
    # AWS's code here is BadRequest, not InvalidTag.
    assert (code, status, response["Error"]["Message"]) == (
        "BadRequest",
        400,
        "Object tags cannot be greater than 10",
    )
    assert await _tags(s3, "k") == {"keep": "me"}


async def test_object_tag_limits_at_their_edge_and_unicode(s3: Any) -> None:
    await call(s3, "put_object", Bucket="bkt", Key="k", Body=b"x")
    edge = {f"k{i}": "v" for i in range(8)} | {"k" * 128: "v" * 256, "ключ é+-=._:/@": "значение"}
    await call(s3, "put_object_tagging", Bucket="bkt", Key="k", Tagging=_tag_set(edge))
    assert await _tags(s3, "k") == edge


async def test_tagging_header_refusals_change_nothing(s3: Any) -> None:
    code, status, _ = await error_of(
        s3, "put_object", Bucket="bkt", Key="k", Body=b"x", Tagging="a=1&a=2"
    )
    assert (code, status) == ("InvalidArgument", 400)
    many = "&".join(f"k{i}=v" for i in range(11))
    code, status, _ = await error_of(
        s3, "put_object", Bucket="bkt", Key="k", Body=b"x", Tagging=many
    )
    assert (code, status) == ("BadRequest", 400)
    listed = await call(s3, "list_objects_v2", Bucket="bkt")
    assert listed["KeyCount"] == 0


async def test_duplicate_keys_in_a_tagging_document(s3: Any) -> None:
    await call(s3, "put_object", Bucket="bkt", Key="k", Body=b"x")
    code, status, _ = await error_of(
        s3,
        "put_object_tagging",
        Bucket="bkt",
        Key="k",
        Tagging={"TagSet": [{"Key": "a", "Value": "1"}, {"Key": "a", "Value": "2"}]},
    )
    assert (code, status) == ("InvalidTag", 400)


async def test_bucket_tagging(s3: Any, env: S3Env) -> None:
    code, status, _ = await error_of(s3, "get_bucket_tagging", Bucket="bkt")
    assert (code, status) == ("NoSuchTagSet", 404)
    tags = {f"k{i}": f"v{i}" for i in range(50)}
    await call(s3, "put_bucket_tagging", Bucket="bkt", Tagging=_tag_set(tags))
    got = await call(s3, "get_bucket_tagging", Bucket="bkt")
    assert {t["Key"]: t["Value"] for t in got["TagSet"]} == tags
    too_many = tags | {"k50": "v"}
    code, status, _ = await error_of(
        s3, "put_bucket_tagging", Bucket="bkt", Tagging=_tag_set(too_many)
    )
    assert (code, status) == ("InvalidTag", 400)
    other = env.client(OTHER_ACCESS_KEY, OTHER_SECRET_KEY)
    code, status, _ = await error_of(other, "get_bucket_tagging", Bucket="bkt")
    assert (code, status) == ("AccessDenied", 403)
    code, status, _ = await error_of(
        other, "put_bucket_tagging", Bucket="bkt", Tagging=_tag_set({"a": "b"})
    )
    assert (code, status) == ("AccessDenied", 403)
    await call(s3, "delete_bucket_tagging", Bucket="bkt")
    code, status, _ = await error_of(s3, "get_bucket_tagging", Bucket="bkt")
    assert (code, status) == ("NoSuchTagSet", 404)
    code, status, _ = await error_of(s3, "get_bucket_tagging", Bucket="missing")
    assert (code, status) == ("NoSuchBucket", 404)


async def test_object_tagging_of_another_users_bucket(s3: Any, env: S3Env) -> None:
    await call(s3, "put_object", Bucket="bkt", Key="k", Body=b"x", Tagging="a=1")
    other = env.client(OTHER_ACCESS_KEY, OTHER_SECRET_KEY)
    for method, extra in (
        ("get_object_tagging", {}),
        ("put_object_tagging", {"Tagging": _tag_set({"b": "2"})}),
        ("delete_object_tagging", {}),
    ):
        code, status, _ = await error_of(other, method, Bucket="bkt", Key="k", **extra)
        assert (code, status) == ("AccessDenied", 403), method
    assert await _tags(s3, "k") == {"a": "1"}
