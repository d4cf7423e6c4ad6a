"""Conditional deletes through real boto3 against a real ObjectService and coordinator:
DeleteObject with If-Match, x-amz-if-match-last-modified-time and x-amz-if-match-size, and
the same conditions per object in DeleteObjects (AWS's conditional-deletes guide)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest
from component.s3_fixtures import S3Env, call, error_of


@pytest.fixture
async def s3(env: S3Env) -> Any:
    client = env.client()
    await call(client, "create_bucket", Bucket="bkt")
    return client


async def _exists(s3: Any, key: str) -> bool:
    listed = await call(s3, "list_objects_v2", Bucket="bkt", Prefix=key)
    return any(item["Key"] == key for item in listed.get("Contents", []))


async def test_delete_if_match_etag(s3: Any) -> None:
    etag = (await call(s3, "put_object", Bucket="bkt", Key="k", Body=b"one"))["ETag"]
    code, status, _ = await error_of(s3, "delete_object", Bucket="bkt", Key="k", IfMatch='"0"')
    assert (code, status) == ("PreconditionFailed", 412)
    assert await _exists(s3, "k")
    await call(s3, "delete_object", Bucket="bkt", Key="k", IfMatch=etag)
    assert not await _exists(s3, "k")
    # If-Match on a key without an object: 404, as AWS answers (a plain delete is 204).
    code, status, _ = await error_of(s3, "delete_object", Bucket="bkt", Key="k", IfMatch=etag)
    assert (code, status) == ("NoSuchKey", 404)
    code, status, _ = await error_of(s3, "delete_object", Bucket="bkt", Key="k", IfMatch="*")
    assert (code, status) == ("NoSuchKey", 404)


async def test_delete_if_match_star_needs_an_object(s3: Any) -> None:
    await call(s3, "put_object", Bucket="bkt", Key="k", Body=b"one")
    await call(s3, "delete_object", Bucket="bkt", Key="k", IfMatch="*")
    assert not await _exists(s3, "k")


async def test_delete_if_match_size_and_time(s3: Any) -> None:
    await call(s3, "put_object", Bucket="bkt", Key="k", Body=b"12345")
    head = await call(s3, "head_object", Bucket="bkt", Key="k")
    modified: datetime = head["LastModified"]
    code, status, response = await error_of(
        s3, "delete_object", Bucket="bkt", Key="k", IfMatchSize=4
    )
    assert (code, status) == ("PreconditionFailed", 412)
    assert response["Error"]["Condition"] == "x-amz-if-match-size"
    code, status, response = await error_of(
        s3,
        "delete_object",
        Bucket="bkt",
        Key="k",
        IfMatchLastModifiedTime=modified - timedelta(seconds=5),
    )
    assert (code, status) == ("PreconditionFailed", 412)
    assert response["Error"]["Condition"] == "x-amz-if-match-last-modified-time"
    # Both hold, with the ETag as well: deleted.
    await call(
        s3,
        "delete_object",
        Bucket="bkt",
        Key="k",
        IfMatch=head["ETag"],
        IfMatchSize=5,
        IfMatchLastModifiedTime=modified,
    )
    assert not await _exists(s3, "k")
    # Size and time alone on a missing object: 204, nothing to delete.
    await call(s3, "delete_object", Bucket="bkt", Key="k", IfMatchSize=5)


async def test_delete_objects_with_conditions_per_object(s3: Any) -> None:
    etags = {}
    for key in ("a", "b", "c", "d"):
        etags[key] = (await call(s3, "put_object", Bucket="bkt", Key=key, Body=key.encode()))[
            "ETag"
        ]
    modified = (await call(s3, "head_object", Bucket="bkt", Key="c"))["LastModified"]
    answer = await call(
        s3,
        "delete_objects",
        Bucket="bkt",
        Delete={
            "Objects": [
                {"Key": "a", "ETag": etags["a"]},
                {"Key": "b", "ETag": '"0"'},
                {"Key": "c", "Size": 1, "LastModifiedTime": modified},
                {"Key": "d", "Size": 7},
                {"Key": "missing", "ETag": etags["a"]},
            ]
        },
    )
    assert sorted(item["Key"] for item in answer.get("Deleted", [])) == ["a", "c"]
    errors = {item["Key"]: item["Code"] for item in answer.get("Errors", [])}
    assert errors == {"b": "PreconditionFailed", "d": "PreconditionFailed", "missing": "NoSuchKey"}
    assert not await _exists(s3, "a") and not await _exists(s3, "c")
    assert await _exists(s3, "b") and await _exists(s3, "d")


async def test_delete_with_a_bad_condition_value(s3: Any) -> None:
    await call(s3, "put_object", Bucket="bkt", Key="k", Body=b"x")

    def bad_size(request: Any, **_: Any) -> None:
        request.headers["x-amz-if-match-size"] = "many"

    s3.meta.events.register("before-sign.s3.DeleteObject", bad_size)
    code, status, _ = await error_of(s3, "delete_object", Bucket="bkt", Key="k")
    assert (code, status) == ("InvalidArgument", 400)
    s3.meta.events.unregister("before-sign.s3.DeleteObject", bad_size)
    assert await _exists(s3, "k")
