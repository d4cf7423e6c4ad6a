"""Storage classes through real boto3 over the real gateway, coordinator and storage node:
x-amz-storage-class on PutObject, CopyObject and CreateMultipartUpload picks each object's
profile (STANDARD 4+2, REDUCED_REDUNDANCY 5+1 as MinIO maps it, an operator's class bound to a
named profile), a bucket's default class, the class reported in HEAD, GET, the listings,
ListParts, ListMultipartUploads and GetObjectAttributes, and the profile routes' refusals."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from component.coordinator_harness import SECRET
from component.s3_fixtures import S3Env, call, error_of, read_body

from wormfs.clients.coordinator import CoordinatorClient
from wormfs.clients.profiles import ProfileClient
from wormfs.errors import (
    InvalidInputError,
    InvalidStorageClassError,
    NoSuchProfileError,
    ProfileExistsError,
    ProfileInUseError,
)
from wormfs.format.layout import Profile
from wormfs.wire.profiles import ProfileSpec

MIB = 1024 * 1024
CHUNKED = 300 * 1024  # above the gateway's inline_max: erasure-coded
FAST = ProfileSpec(
    name="fast", k=2, m=1, stripe_size=64 * 1024, segment_size=1 * MIB, storage_class="FAST"
)


@pytest.fixture
async def s3(env: S3Env) -> Any:
    client = env.client()
    await call(client, "create_bucket", Bucket="bkt")
    return client


@pytest.fixture
async def profiles(env: S3Env) -> AsyncIterator[ProfileClient]:
    async with aiohttp.ClientSession() as session:
        yield ProfileClient(CoordinatorClient(session, env.coordinator_url, SECRET).http)


def _ks(profile: Profile) -> tuple[int, int]:
    return profile.k, profile.m


def _chunks_per_segment(manifest: Any) -> list[int]:
    return [len(s.chunks) for p in manifest.parts for s in p.segments]


async def test_standard_and_reduced_redundancy_choose_their_profiles(env: S3Env, s3: Any) -> None:
    body = os.urandom(CHUNKED)
    await call(s3, "put_object", Bucket="bkt", Key="std", Body=body)
    await call(
        s3, "put_object", Bucket="bkt", Key="rrs", Body=body, StorageClass="REDUCED_REDUNDANCY"
    )
    std, rrs = await env.manifest("bkt", "std"), await env.manifest("bkt", "rrs")
    assert _ks(std.profile) == (4, 2) and set(_chunks_per_segment(std)) == {6}
    # MinIO's RRS: the same width, one parity chunk.
    assert _ks(rrs.profile) == (5, 1) and set(_chunks_per_segment(rrs)) == {6}
    assert await env.stored("bkt", "rrs") == body

    head = await call(s3, "head_object", Bucket="bkt", Key="rrs")
    assert head["StorageClass"] == "REDUCED_REDUNDANCY"
    got = await call(s3, "get_object", Bucket="bkt", Key="rrs")
    assert got["StorageClass"] == "REDUCED_REDUNDANCY"
    await read_body(got)
    # AWS omits the header for STANDARD.
    head = await call(s3, "head_object", Bucket="bkt", Key="std")
    assert "x-amz-storage-class" not in head["ResponseMetadata"]["HTTPHeaders"]

    listed = await call(s3, "list_objects_v2", Bucket="bkt")
    assert {o["Key"]: o["StorageClass"] for o in listed["Contents"]} == {
        "rrs": "REDUCED_REDUNDANCY",
        "std": "STANDARD",
    }
    v1 = await call(s3, "list_objects", Bucket="bkt")
    assert {o["Key"]: o["StorageClass"] for o in v1["Contents"]}["rrs"] == "REDUCED_REDUNDANCY"
    versions = await call(s3, "list_object_versions", Bucket="bkt")
    assert {v["Key"]: v["StorageClass"] for v in versions["Versions"]}["rrs"] == (
        "REDUCED_REDUNDANCY"
    )
    attrs = await call(
        s3, "get_object_attributes", Bucket="bkt", Key="rrs", ObjectAttributes=["StorageClass"]
    )
    assert attrs["StorageClass"] == "REDUCED_REDUNDANCY"


async def test_an_operator_class_bound_to_a_named_profile(
    env: S3Env, s3: Any, profiles: ProfileClient
) -> None:
    created = await profiles.create(FAST)
    assert (created.k, created.m, created.storage_class) == (2, 1, "FAST")
    body = os.urandom(2 * MIB + 512 * 1024)
    await call(s3, "put_object", Bucket="bkt", Key="f", Body=body, StorageClass="FAST")
    manifest = await env.manifest("bkt", "f")
    assert manifest.profile == FAST.profile
    # The profile's own segment size (1 MiB), not the cluster's (4 MiB): 3 segments of 3 chunks.
    assert _chunks_per_segment(manifest) == [3, 3, 3]
    assert await env.stored("bkt", "f") == body
    head = await call(s3, "head_object", Bucket="bkt", Key="f")
    assert head["StorageClass"] == "FAST"

    listed = {p.name: p for p in (await profiles.list()).profiles}
    assert set(listed) == {"standard", "reduced-redundancy", "fast"}
    assert (listed["fast"].objects, listed["fast"].bytes) == (1, len(body))
    assert listed["fast"].raw_bytes == len(body) * 3 // 2
    assert (listed["standard"].k, listed["standard"].m, listed["standard"].objects) == (4, 2, 0)

    with pytest.raises(ProfileInUseError):
        await profiles.delete("fast")
    await call(s3, "delete_object", Bucket="bkt", Key="f")
    await profiles.delete("fast")
    with pytest.raises(NoSuchProfileError):
        await profiles.get("fast")
    # With the profile gone, nothing serves FAST any more.
    code, status, _ = await error_of(
        s3, "put_object", Bucket="bkt", Key="g", Body=b"x", StorageClass="FAST"
    )
    assert (code, status) == ("InvalidStorageClass", 400)


@pytest.mark.parametrize("size", [10, CHUNKED], ids=["inline", "chunked"])
async def test_unknown_and_malformed_classes_are_refused(env: S3Env, s3: Any, size: int) -> None:
    for name in ("NOPE", "lower-case"):
        code, status, _ = await error_of(
            s3, "put_object", Bucket="bkt", Key="k", Body=b"x" * size, StorageClass=name
        )
        assert (code, status) == ("InvalidStorageClass", 400), name
    assert await env.keys("bkt") == []
    # Other AWS names no profile serves are kept, written with STANDARD's profile.
    await call(s3, "put_object", Bucket="bkt", Key="ia", Body=b"y" * size, StorageClass="GLACIER")
    head = await call(s3, "head_object", Bucket="bkt", Key="ia")
    assert head["StorageClass"] == "GLACIER"
    if size == CHUNKED:
        assert _ks((await env.manifest("bkt", "ia")).profile) == (4, 2)


async def test_a_bucket_default_class_applies_to_writes_without_one(
    env: S3Env, s3: Any, profiles: ProfileClient
) -> None:
    assert (await profiles.bucket_class("bkt")).storage_class == "STANDARD"
    await profiles.create(FAST)
    assert (await profiles.set_bucket_class("bkt", "FAST")).storage_class == "FAST"
    big, small = os.urandom(CHUNKED), b"small"
    await call(s3, "put_object", Bucket="bkt", Key="big", Body=big)
    await call(s3, "put_object", Bucket="bkt", Key="small", Body=small)
    await call(s3, "put_object", Bucket="bkt", Key="std", Body=big, StorageClass="STANDARD")
    assert (await env.manifest("bkt", "big")).profile == FAST.profile
    for key in ("big", "small"):
        head = await call(s3, "head_object", Bucket="bkt", Key=key)
        assert head["StorageClass"] == "FAST", key
    assert _ks((await env.manifest("bkt", "std")).profile) == (4, 2)

    # The class a bucket default names keeps its profile from being deleted.
    await call(s3, "delete_object", Bucket="bkt", Key="big")
    await call(s3, "delete_object", Bucket="bkt", Key="small")
    with pytest.raises(ProfileInUseError, match="default of bucket"):
        await profiles.delete("fast")
    await profiles.set_bucket_class("bkt", "STANDARD")
    await profiles.delete("fast")
    with pytest.raises(InvalidStorageClassError):
        await profiles.set_bucket_class("bkt", "FAST")


async def test_multipart_uploads_and_copies_take_their_class(
    env: S3Env, s3: Any, profiles: ProfileClient
) -> None:
    await profiles.create(FAST)
    created = await call(s3, "create_multipart_upload", Bucket="bkt", Key="mp", StorageClass="FAST")
    upload_id = created["UploadId"]
    first, last = os.urandom(5 * MIB), os.urandom(MIB)
    etags = []
    for number, data in ((1, first), (2, last)):
        part = await call(
            s3,
            "upload_part",
            Bucket="bkt",
            Key="mp",
            UploadId=upload_id,
            PartNumber=number,
            Body=data,
        )
        etags.append({"PartNumber": number, "ETag": part["ETag"]})
    uploads = await call(s3, "list_multipart_uploads", Bucket="bkt")
    assert [u["StorageClass"] for u in uploads["Uploads"]] == ["FAST"]
    parts = await call(s3, "list_parts", Bucket="bkt", Key="mp", UploadId=upload_id)
    assert parts["StorageClass"] == "FAST"
    with pytest.raises(ProfileInUseError, match="multipart uploads"):
        await profiles.delete("fast")
    await call(
        s3,
        "complete_multipart_upload",
        Bucket="bkt",
        Key="mp",
        UploadId=upload_id,
        MultipartUpload={"Parts": etags},
    )
    manifest = await env.manifest("bkt", "mp")
    assert manifest.profile == FAST.profile and manifest.attributes.storage_class == "FAST"
    assert set(_chunks_per_segment(manifest)) == {3}
    assert await env.stored("bkt", "mp") == first + last

    # A copy changes the class (and so the profile) of the copy only.
    await call(
        s3,
        "copy_object",
        Bucket="bkt",
        Key="rr",
        CopySource={"Bucket": "bkt", "Key": "mp"},
        StorageClass="REDUCED_REDUNDANCY",
    )
    copied = await env.manifest("bkt", "rr")
    assert _ks(copied.profile) == (5, 1) and copied.attributes.storage_class == (
        "REDUCED_REDUNDANCY"
    )
    assert await env.stored("bkt", "rr") == first + last
    # Copying onto itself with another class is a change AWS allows.
    await call(
        s3,
        "copy_object",
        Bucket="bkt",
        Key="rr",
        CopySource={"Bucket": "bkt", "Key": "rr"},
        StorageClass="STANDARD",
    )
    assert _ks((await env.manifest("bkt", "rr")).profile) == (4, 2)
    code, status, _ = await error_of(
        s3,
        "create_multipart_upload",
        Bucket="bkt",
        Key="bad",
        StorageClass="NOPE",
    )
    assert (code, status) == ("InvalidStorageClass", 400)


async def test_profiles_are_refused_when_invalid_too_wide_or_taken(
    profiles: ProfileClient,
) -> None:
    # Six disks in this cluster: 5+3 can never be placed.
    with pytest.raises(InvalidInputError, match="needs k\\+m = 8 disks; the cluster has 6"):
        await profiles.create(ProfileSpec(name="wide", k=5, m=3))
    for bad, words in (
        (ProfileSpec(name="z", k=0, m=1), "k 0 must be within"),
        (ProfileSpec(name="z", k=2, m=1, codec="nope"), "codec 'nope'"),
        (ProfileSpec(name="z", k=2, m=1, stripe_size=1000), "stripe_size 1000"),
        (ProfileSpec(name="Bad Name", k=2, m=1), "profile name"),
        (ProfileSpec(name="z", k=2, m=1, storage_class="bad-class"), "not a valid name"),
        (ProfileSpec(name="z", k=2, m=1, storage_class="STANDARD"), "coding config"),
    ):
        with pytest.raises(InvalidInputError, match=words):
            await profiles.create(bad)
    await profiles.create(FAST)
    with pytest.raises(ProfileExistsError, match="exists already"):
        await profiles.create(FAST)
    with pytest.raises(ProfileExistsError, match="served by profile 'fast'"):
        await profiles.create(ProfileSpec(name="other", k=3, m=1, storage_class="FAST"))
    with pytest.raises(ProfileInUseError, match="cannot be deleted"):
        await profiles.delete("standard")
    # The seeded RRS profile is the operator's to replace.
    await profiles.delete("reduced-redundancy")
    rrs = ProfileSpec(name="rrs2", k=4, m=1, storage_class="REDUCED_REDUNDANCY")
    assert (await profiles.create(rrs)).storage_class == "REDUCED_REDUNDANCY"
