"""Bucket versioning through real boto3 against a real ObjectService and coordinator:
Get/PutBucketVersioning, version ids on every write, delete markers, reads and deletes by
``versionId``, the null version under suspended versioning, copies of old versions,
DeleteObjects with version ids, ListObjectVersions paging, and the errors AWS answers."""

from __future__ import annotations

from typing import Any

import pytest
from component.s3_fixtures import S3Env, call, error_of, read_body


@pytest.fixture
async def s3(env: S3Env) -> Any:
    client = env.client()
    await call(client, "create_bucket", Bucket="bkt")
    return client


async def _versioning(s3: Any, status: str) -> None:
    await call(
        s3, "put_bucket_versioning", Bucket="bkt", VersioningConfiguration={"Status": status}
    )


async def _get(s3: Any, key: str, **kwargs: Any) -> tuple[bytes, str | None]:
    got = await call(s3, "get_object", Bucket="bkt", Key=key, **kwargs)
    return await read_body(got), got.get("VersionId")


async def _versions(s3: Any, **kwargs: Any) -> list[tuple[str, str, bool, bool]]:
    """(key, version id, is latest, is a delete marker), in the listing's order."""
    page = await call(s3, "list_object_versions", Bucket="bkt", **kwargs)
    rows = [(v["Key"], v["VersionId"], v["IsLatest"], False, v) for v in page.get("Versions", [])]
    rows += [
        (m["Key"], m["VersionId"], m["IsLatest"], True, m) for m in page.get("DeleteMarkers", [])
    ]
    # boto3 splits versions and markers; the document interleaves them newest first per key.
    rows.sort(key=lambda r: (r[0], -r[4]["LastModified"].timestamp(), r[3] is False))
    return [(k, v, latest, marker) for k, v, latest, marker, _ in rows]


async def test_configuration_round_trip_and_errors(s3: Any, env: S3Env) -> None:
    assert "Status" not in await call(s3, "get_bucket_versioning", Bucket="bkt")
    put = await call(s3, "put_object", Bucket="bkt", Key="k", Body=b"before")
    assert "VersionId" not in put  # never versioned: no x-amz-version-id, as AWS
    await _versioning(s3, "Enabled")
    assert (await call(s3, "get_bucket_versioning", Bucket="bkt"))["Status"] == "Enabled"
    await _versioning(s3, "Suspended")
    assert (await call(s3, "get_bucket_versioning", Bucket="bkt"))["Status"] == "Suspended"
    code, status, _ = await error_of(
        s3, "put_bucket_versioning", Bucket="bkt", VersioningConfiguration={"Status": "Off"}
    )
    assert (code, status) == ("IllegalVersioningConfigurationException", 400)
    code, status, _ = await error_of(s3, "get_object", Bucket="bkt", Key="k", VersionId="not-an-id")
    assert (code, status) == ("InvalidArgument", 400)


async def test_enabled_keeps_every_version_and_deletes_add_markers(s3: Any) -> None:
    await call(s3, "put_object", Bucket="bkt", Key="k", Body=b"null one")  # before versioning
    await _versioning(s3, "Enabled")
    v1 = (await call(s3, "put_object", Bucket="bkt", Key="k", Body=b"one"))["VersionId"]
    v2 = (await call(s3, "put_object", Bucket="bkt", Key="k", Body=b"two"))["VersionId"]
    assert v1 != v2 and "null" not in (v1, v2)
    assert await _get(s3, "k") == (b"two", v2)
    assert await _get(s3, "k", VersionId=v1) == (b"one", v1)
    assert await _get(s3, "k", VersionId="null") == (b"null one", "null")
    head = await call(s3, "head_object", Bucket="bkt", Key="k", VersionId=v1)
    assert (head["VersionId"], head["ContentLength"]) == (v1, 3)

    deleted = await call(s3, "delete_object", Bucket="bkt", Key="k")
    assert deleted["DeleteMarker"] is True
    marker = deleted["VersionId"]
    code, status, response = await error_of(s3, "get_object", Bucket="bkt", Key="k")
    assert (code, status) == ("NoSuchKey", 404)
    headers = response["ResponseMetadata"]["HTTPHeaders"]
    assert (headers["x-amz-delete-marker"], headers["x-amz-version-id"]) == ("true", marker)
    code, status, _ = await error_of(s3, "get_object", Bucket="bkt", Key="k", VersionId=marker)
    assert (code, status) == ("MethodNotAllowed", 405)
    assert await _get(s3, "k", VersionId=v2) == (b"two", v2)  # the bytes are all still there
    assert (await call(s3, "list_objects_v2", Bucket="bkt")).get("KeyCount") == 0
    assert await _versions(s3) == [
        ("k", marker, True, True),
        ("k", v2, False, False),
        ("k", v1, False, False),
        ("k", "null", False, False),
    ]

    # Deleting the marker by id brings the newest version back.
    gone = await call(s3, "delete_object", Bucket="bkt", Key="k", VersionId=marker)
    assert (gone["DeleteMarker"], gone["VersionId"]) == (True, marker)
    assert await _get(s3, "k") == (b"two", v2)
    # Deleting a version by id removes it for good.
    await call(s3, "delete_object", Bucket="bkt", Key="k", VersionId=v2)
    assert await _get(s3, "k") == (b"one", v1)
    code, status, _ = await error_of(s3, "get_object", Bucket="bkt", Key="k", VersionId=v2)
    assert (code, status) == ("NoSuchVersion", 404)
    # A bucket with versions left is not empty.
    code, _, _ = await error_of(s3, "delete_bucket", Bucket="bkt")
    assert code == "BucketNotEmpty"


async def test_suspended_writes_replace_the_null_version(s3: Any) -> None:
    await _versioning(s3, "Enabled")
    kept = (await call(s3, "put_object", Bucket="bkt", Key="k", Body=b"kept"))["VersionId"]
    await _versioning(s3, "Suspended")
    first = await call(s3, "put_object", Bucket="bkt", Key="k", Body=b"first null")
    assert first["VersionId"] == "null"
    await call(s3, "put_object", Bucket="bkt", Key="k", Body=b"second null")
    assert await _get(s3, "k") == (b"second null", "null")
    assert [(v, latest) for _, v, latest, _ in await _versions(s3)] == [
        ("null", True),
        (kept, False),
    ]
    deleted = await call(s3, "delete_object", Bucket="bkt", Key="k")
    assert (deleted["DeleteMarker"], deleted["VersionId"]) == (True, "null")
    assert await _versions(s3) == [("k", "null", True, True), ("k", kept, False, False)]
    assert await _get(s3, "k", VersionId=kept) == (b"kept", kept)


async def test_copy_of_an_old_version_and_multipart_ids(s3: Any) -> None:
    await _versioning(s3, "Enabled")
    old = (await call(s3, "put_object", Bucket="bkt", Key="k", Body=b"old"))["VersionId"]
    await call(s3, "put_object", Bucket="bkt", Key="k", Body=b"new")
    copied = await call(
        s3,
        "copy_object",
        Bucket="bkt",
        Key="k",
        CopySource={"Bucket": "bkt", "Key": "k", "VersionId": old},
    )
    assert copied["CopySourceVersionId"] == old
    assert await _get(s3, "k") == (b"old", copied["VersionId"])
    upload = await call(s3, "create_multipart_upload", Bucket="bkt", Key="mp")
    part = await call(
        s3,
        "upload_part",
        Bucket="bkt",
        Key="mp",
        UploadId=upload["UploadId"],
        PartNumber=1,
        Body=b"p",
    )
    done = await call(
        s3,
        "complete_multipart_upload",
        Bucket="bkt",
        Key="mp",
        UploadId=upload["UploadId"],
        MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": part["ETag"]}]},
    )
    assert await _get(s3, "mp") == (b"p", done["VersionId"])


async def test_delete_objects_with_version_ids(s3: Any) -> None:
    await _versioning(s3, "Enabled")
    a1 = (await call(s3, "put_object", Bucket="bkt", Key="a", Body=b"1"))["VersionId"]
    a2 = (await call(s3, "put_object", Bucket="bkt", Key="a", Body=b"2"))["VersionId"]
    result = await call(
        s3,
        "delete_objects",
        Bucket="bkt",
        Delete={
            "Objects": [{"Key": "a", "VersionId": a1}, {"Key": "b"}, {"Key": "a", "VersionId": "x"}]
        },
    )
    deleted = {(d["Key"], d.get("VersionId")): d for d in result["Deleted"]}
    assert ("a", a1) in deleted and not deleted[("a", a1)].get("DeleteMarker")
    assert deleted[("b", None)]["DeleteMarker"] is True
    assert [(e["Key"], e["Code"]) for e in result["Errors"]] == [("a", "InvalidArgument")]
    assert [v for k, v, _, m in await _versions(s3) if k == "a"] == [a2]


async def test_listing_versions_pages_without_skipping_or_repeating(s3: Any) -> None:
    await call(s3, "put_object", Bucket="bkt", Key="d/x", Body=b"x")  # a null version
    await _versioning(s3, "Enabled")
    made: list[tuple[str, str]] = [("d/x", "null")]
    for key in ("a", "b", "d/x", "c"):
        for i in range(3):
            put = await call(s3, "put_object", Bucket="bkt", Key=key, Body=bytes([i]))
            made.append((key, put["VersionId"]))
    await call(s3, "delete_object", Bucket="bkt", Key="b")
    everything = await _versions(s3)
    assert len(everything) == len(made) + 1
    assert {(k, v) for k, v, _, _ in everything} >= set(made)
    seen: list[tuple[str, str]] = []
    kwargs: dict[str, Any] = {"MaxKeys": 2}
    while True:
        page = await call(s3, "list_object_versions", Bucket="bkt", **kwargs)
        entries = page.get("Versions", []) + page.get("DeleteMarkers", [])
        assert len(entries) <= 2
        seen += [(e["Key"], e["VersionId"]) for e in entries]
        if not page["IsTruncated"]:
            break
        kwargs = {
            "MaxKeys": 2,
            "KeyMarker": page["NextKeyMarker"],
            "VersionIdMarker": page["NextVersionIdMarker"],
        }
    assert sorted(seen) == sorted((k, v) for k, v, _, _ in everything)
    assert len(seen) == len(set(seen))
    rolled = await call(s3, "list_object_versions", Bucket="bkt", Delimiter="/")
    assert [p["Prefix"] for p in rolled["CommonPrefixes"]] == ["d/"]
    code, status, _ = await error_of(
        s3, "list_object_versions", Bucket="bkt", VersionIdMarker="null"
    )
    assert (code, status) == ("InvalidArgument", 400)
