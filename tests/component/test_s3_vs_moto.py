"""The same S3 scenario against the gateway and against moto (in-process, as a reference for
AWS's observable behaviour: statuses, error codes, headers, listing shapes).

moto is only a reference here: every assertion on the gateway stands on its own elsewhere;
this test catches drift from what AWS-compatible clients already expect.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import boto3
from aiohttp.test_utils import TestServer
from botocore.exceptions import ClientError
from component.s3_fixtures import start_env
from moto import mock_aws

Server = Callable[..., Awaitable[TestServer]]

# Where moto departs from AWS's documentation, the gateway follows AWS.
MOTO_DEVIATIONS = {
    # "NextMarker ... is returned only if you have the delimiter request parameter specified."
    "v1 paged",
}
# The same for the tagging and conditional-delete scenario, each with AWS's words.
TAGS_MOTO_DEVIATIONS: dict[str, str] = {}


def outcome(action: Callable[[], Any]) -> tuple[Any, ...]:
    """(status, error code) of a call, or its answer status."""
    try:
        answer = action()
    except ClientError as exc:
        return (exc.response["ResponseMetadata"]["HTTPStatusCode"], exc.response["Error"]["Code"])
    return (answer["ResponseMetadata"]["HTTPStatusCode"],)


def scenario(s3: Any) -> list[tuple[str, tuple[Any, ...]]]:
    seen: list[tuple[str, tuple[Any, ...]]] = []

    def note(name: str, action: Callable[[], Any]) -> None:
        seen.append((name, outcome(action)))

    b = "cmp-bkt"
    note("create", lambda: s3.create_bucket(Bucket=b))
    note("create again", lambda: s3.create_bucket(Bucket=b))
    put = s3.put_object(Bucket=b, Key="dir/k1", Body=b"hello world")
    etag = put["ETag"]
    s3.put_object(Bucket=b, Key="dir/k2", Body=b"x")
    s3.put_object(Bucket=b, Key="top", Body=b"y")
    note("get missing", lambda: s3.get_object(Bucket=b, Key="nope"))
    note("head missing", lambda: s3.head_object(Bucket=b, Key="nope"))
    note("get missing bucket", lambda: s3.get_object(Bucket="no-such-bkt", Key="k"))
    ranged = s3.get_object(Bucket=b, Key="dir/k1", Range="bytes=0-4")
    seen.append(("range", (ranged["ResponseMetadata"]["HTTPStatusCode"], ranged["ContentRange"])))
    suffix = s3.get_object(Bucket=b, Key="dir/k1", Range="bytes=-3")
    seen.append(("suffix", (suffix["ContentRange"], suffix["Body"].read())))
    note("range past end", lambda: s3.get_object(Bucket=b, Key="dir/k1", Range="bytes=100-200"))
    note("if-none-match", lambda: s3.get_object(Bucket=b, Key="dir/k1", IfNoneMatch=etag))
    note("if-match wrong", lambda: s3.get_object(Bucket=b, Key="dir/k1", IfMatch='"0"'))
    note("delete non-empty", lambda: s3.delete_bucket(Bucket=b))
    note(
        "copy onto itself",
        lambda: s3.copy_object(Bucket=b, Key="top", CopySource={"Bucket": b, "Key": "top"}),
    )
    listing = s3.list_objects_v2(Bucket=b, Delimiter="/")
    seen.append(
        (
            "list",
            (
                [p["Prefix"] for p in listing.get("CommonPrefixes", [])],
                [o["Key"] for o in listing.get("Contents", [])],
                listing["KeyCount"],
            ),
        )
    )
    paged = s3.list_objects_v2(Bucket=b, MaxKeys=1)
    seen.append(
        ("paged", (paged["IsTruncated"], paged["KeyCount"], "NextContinuationToken" in paged))
    )
    v1 = s3.list_objects(Bucket=b, MaxKeys=1)
    seen.append(("v1 paged", (v1["IsTruncated"], "NextMarker" in v1)))
    deleted = s3.delete_objects(Bucket=b, Delete={"Objects": [{"Key": "top"}, {"Key": "gone"}]})
    seen.append(("delete objects", tuple(sorted(d["Key"] for d in deleted["Deleted"]))))
    note("abort missing upload", lambda: s3.abort_multipart_upload(Bucket=b, Key="k", UploadId="x"))
    note("delete missing key", lambda: s3.delete_object(Bucket=b, Key="never"))
    note("delete missing bucket", lambda: s3.delete_bucket(Bucket="no-such-bkt"))
    upload = s3.create_multipart_upload(Bucket=b, Key="mp")
    part = s3.upload_part(Bucket=b, Key="mp", UploadId=upload["UploadId"], PartNumber=1, Body=b"a")
    note(
        "complete with wrong etag",
        lambda: s3.complete_multipart_upload(
            Bucket=b,
            Key="mp",
            UploadId=upload["UploadId"],
            MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": '"ffff"'}]},
        ),
    )
    done = s3.complete_multipart_upload(
        Bucket=b,
        Key="mp",
        UploadId=upload["UploadId"],
        MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": part["ETag"]}]},
    )
    seen.append(("multipart etag", (done["ETag"].endswith('-1"'),)))
    return seen


def tags_and_conditions(s3: Any) -> list[tuple[str, tuple[Any, ...]]]:
    """Object and bucket tagging, conditional writes and deletes."""
    seen: list[tuple[str, tuple[Any, ...]]] = []

    def note(name: str, action: Callable[[], Any]) -> None:
        seen.append((name, outcome(action)))

    def tag_set(pairs: dict[str, str]) -> dict[str, Any]:
        return {"TagSet": [{"Key": k, "Value": v} for k, v in pairs.items()]}

    def tags(key: str) -> tuple[Any, ...]:
        got = s3.get_object_tagging(Bucket=b, Key=key)["TagSet"]
        return tuple(sorted((t["Key"], t["Value"]) for t in got))

    b = "cmp-tags"
    s3.create_bucket(Bucket=b)
    s3.put_object(Bucket=b, Key="t", Body=b"x", Tagging="a=1&b=two%20words")
    seen.append(("tags on put", tags("t")))
    head = s3.head_object(Bucket=b, Key="t")
    seen.append(
        ("tag count", (head["ResponseMetadata"]["HTTPHeaders"].get("x-amz-tagging-count"),))
    )
    note(
        "put tagging", lambda: s3.put_object_tagging(Bucket=b, Key="t", Tagging=tag_set({"c": "3"}))
    )
    seen.append(("tags replaced", tags("t")))
    too_many = {f"k{i}": "v" for i in range(11)}
    note("eleven tags", lambda: s3.put_object_tagging(Bucket=b, Key="t", Tagging=tag_set(too_many)))
    note(
        "long key",
        lambda: s3.put_object_tagging(Bucket=b, Key="t", Tagging=tag_set({"k" * 129: "v"})),
    )
    note(
        "long value",
        lambda: s3.put_object_tagging(Bucket=b, Key="t", Tagging=tag_set({"k": "v" * 257})),
    )
    note("tagging missing key", lambda: s3.get_object_tagging(Bucket=b, Key="none"))
    s3.copy_object(Bucket=b, Key="copied", CopySource={"Bucket": b, "Key": "t"})
    seen.append(("copy keeps tags", tags("copied")))
    s3.copy_object(
        Bucket=b,
        Key="retagged",
        CopySource={"Bucket": b, "Key": "t"},
        TaggingDirective="REPLACE",
        Tagging="d=4",
    )
    seen.append(("copy replaces tags", tags("retagged")))
    note("delete tagging", lambda: s3.delete_object_tagging(Bucket=b, Key="t"))
    seen.append(("tags deleted", tags("t")))
    note("bucket tagging unset", lambda: s3.get_bucket_tagging(Bucket=b))
    note(
        "put bucket tagging",
        lambda: s3.put_bucket_tagging(Bucket=b, Tagging=tag_set({"team": "x"})),
    )
    got = s3.get_bucket_tagging(Bucket=b)["TagSet"]
    seen.append(("bucket tags", tuple((t["Key"], t["Value"]) for t in got)))
    note("delete bucket tagging", lambda: s3.delete_bucket_tagging(Bucket=b))
    note("bucket tagging deleted", lambda: s3.get_bucket_tagging(Bucket=b))
    note("create only", lambda: s3.put_object(Bucket=b, Key="t", Body=b"y", IfNoneMatch="*"))
    note("create new", lambda: s3.put_object(Bucket=b, Key="new", Body=b"y", IfNoneMatch="*"))
    etag = s3.head_object(Bucket=b, Key="new")["ETag"]
    note(
        "overwrite other etag", lambda: s3.put_object(Bucket=b, Key="new", Body=b"z", IfMatch='"0"')
    )
    note("delete other etag", lambda: s3.delete_object(Bucket=b, Key="new", IfMatch='"0"'))
    note("delete etag", lambda: s3.delete_object(Bucket=b, Key="new", IfMatch=etag))
    return seen


def _differences(
    ours: list[tuple[str, tuple[Any, ...]]],
    theirs: list[tuple[str, tuple[Any, ...]]],
    deviations: object,
) -> list[tuple[str, Any, Any]]:
    assert [name for name, _ in ours] == [name for name, _ in theirs]
    return [
        (name, o, t)
        for (name, o), (_, t) in zip(ours, theirs, strict=True)
        if o != t and name not in deviations  # type: ignore[operator]
    ]


async def test_tags_and_conditions_match_moto(aiohttp_server: Server, tmp_path: Path) -> None:
    env = await start_env(aiohttp_server, tmp_path)
    ours = await asyncio.to_thread(tags_and_conditions, env.client())
    with mock_aws():
        reference = boto3.client(
            "s3",
            region_name="us-east-1",
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )
        theirs = tags_and_conditions(reference)
    differences = _differences(ours, theirs, TAGS_MOTO_DEVIATIONS)
    assert differences == [], "\n".join(map(repr, differences))


async def test_gateway_matches_moto(aiohttp_server: Server, tmp_path: Path) -> None:
    env = await start_env(aiohttp_server, tmp_path)
    ours = await asyncio.to_thread(scenario, env.client())
    with mock_aws():
        reference = boto3.client(
            "s3",
            region_name="us-east-1",
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )
        theirs = scenario(reference)
    assert [name for name, _ in ours] == [name for name, _ in theirs]
    differences = [
        (name, o, t)
        for (name, o), (_, t) in zip(ours, theirs, strict=True)
        if o != t and name not in MOTO_DEVIATIONS
    ]
    assert differences == [], "\n".join(map(repr, differences))
