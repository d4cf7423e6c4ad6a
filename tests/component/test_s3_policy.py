"""Bucket policies and public access blocks through real boto3 (and raw unsigned HTTP) against a
real ObjectService and coordinator: Put/Get/DeleteBucketPolicy, GetBucketPolicyStatus,
MalformedPolicy, another user let in (or kept out) by the policy, anonymous reads of a public
bucket, an explicit Deny over the owner, and Put/Get/DeletePublicAccessBlock with
BlockPublicPolicy and RestrictPublicBuckets."""

from __future__ import annotations

import json
from typing import Any

import aiohttp
import pytest
from botocore import UNSIGNED
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
    await call(client, "put_object", Bucket="bkt", Key="doc.txt", Body=b"hello")
    return client


def _policy(*statements: dict[str, Any]) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


def _public_read(resource: str = "arn:aws:s3:::bkt/*") -> dict[str, Any]:
    return {"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject", "Resource": resource}


async def _anonymous_get(env: S3Env, path: str) -> tuple[int, bytes]:
    async with aiohttp.ClientSession() as session, session.get(env.endpoint + path) as resp:
        return resp.status, await resp.read()


async def test_policy_round_trip_status_and_delete(s3: Any) -> None:
    code, status, _ = await error_of(s3, "get_bucket_policy", Bucket="bkt")
    assert (code, status) == ("NoSuchBucketPolicy", 404)
    text = _policy(_public_read())
    await call(s3, "put_bucket_policy", Bucket="bkt", Policy=text)
    got = await call(s3, "get_bucket_policy", Bucket="bkt")
    assert json.loads(got["Policy"]) == json.loads(text)
    status_doc = await call(s3, "get_bucket_policy_status", Bucket="bkt")
    assert status_doc["PolicyStatus"]["IsPublic"] is True
    await call(s3, "delete_bucket_policy", Bucket="bkt")
    code, status, _ = await error_of(s3, "get_bucket_policy", Bucket="bkt")
    assert (code, status) == ("NoSuchBucketPolicy", 404)


@pytest.mark.parametrize(
    "document",
    [
        "not json",
        json.dumps({"Version": "2012-10-17"}),
        _policy({"Effect": "Allow", "Principal": "*", "Action": "s3:Nope", "Resource": "*"}),
        _policy(_public_read("arn:aws:s3:::other-bucket/*")),
    ],
)
async def test_malformed_policy_is_refused_and_nothing_stored(s3: Any, document: str) -> None:
    code, status, _ = await error_of(s3, "put_bucket_policy", Bucket="bkt", Policy=document)
    assert (code, status) == ("MalformedPolicy", 400)
    code, _, _ = await error_of(s3, "get_bucket_policy", Bucket="bkt")
    assert code == "NoSuchBucketPolicy"


async def test_anonymous_read_only_where_the_policy_allows(env: S3Env, s3: Any) -> None:
    assert (await _anonymous_get(env, "/bkt/doc.txt"))[0] == 403
    await call(s3, "put_bucket_policy", Bucket="bkt", Policy=_policy(_public_read()))
    assert await _anonymous_get(env, "/bkt/doc.txt") == (200, b"hello")
    # GetObject only: listing and writing stay closed to anonymous callers.
    assert (await _anonymous_get(env, "/bkt"))[0] == 403
    anonymous = env.client(signature_version=UNSIGNED)
    code, status, _ = await error_of(anonymous, "put_object", Bucket="bkt", Key="x", Body=b"1")
    assert (code, status) == ("AccessDenied", 403)
    got = await call(anonymous, "get_object", Bucket="bkt", Key="doc.txt")
    assert await read_body(got) == b"hello"
    # A missing bucket is NoSuchBucket to anyone, as AWS answers.
    assert (await _anonymous_get(env, "/no-such-bucket/doc.txt"))[0] == 404


async def test_another_user_gets_exactly_what_the_policy_grants(env: S3Env, s3: Any) -> None:
    bob = env.client(OTHER_ACCESS_KEY, OTHER_SECRET_KEY)
    code, _, _ = await error_of(bob, "get_object", Bucket="bkt", Key="doc.txt")
    assert code == "AccessDenied"
    grant = {
        "Effect": "Allow",
        "Principal": {"AWS": [env.users["bob"]]},
        "Action": ["s3:GetObject", "s3:PutObject"],
        "Resource": "arn:aws:s3:::bkt/shared/*",
    }
    await call(s3, "put_bucket_policy", Bucket="bkt", Policy=_policy(grant))
    await call(bob, "put_object", Bucket="bkt", Key="shared/b.txt", Body=b"from bob")
    assert await env.stored("bkt", "shared/b.txt") == b"from bob"
    got = await call(bob, "get_object", Bucket="bkt", Key="shared/b.txt")
    assert await read_body(got) == b"from bob"
    for method, kwargs in (
        ("get_object", {"Key": "doc.txt"}),
        ("put_object", {"Key": "elsewhere.txt", "Body": b"x"}),
        ("delete_object", {"Key": "shared/b.txt"}),
        ("list_objects_v2", {}),
        ("get_bucket_policy", {}),
    ):
        code, status, _ = await error_of(bob, method, Bucket="bkt", **kwargs)
        assert (code, status) == ("AccessDenied", 403), method
    assert await env.stored("bkt", "shared/b.txt") == b"from bob"
    assert await env.stored("bkt", "elsewhere.txt") is None


async def test_explicit_deny_binds_the_owner_who_can_still_remove_it(s3: Any) -> None:
    deny = {
        "Effect": "Deny",
        "Principal": "*",
        "Action": "s3:DeleteObject",
        "Resource": "arn:aws:s3:::bkt/*",
    }
    await call(s3, "put_bucket_policy", Bucket="bkt", Policy=_policy(deny))
    code, status, _ = await error_of(s3, "delete_object", Bucket="bkt", Key="doc.txt")
    assert (code, status) == ("AccessDenied", 403)
    assert (await read_body(await call(s3, "get_object", Bucket="bkt", Key="doc.txt"))) == b"hello"
    await call(s3, "delete_bucket_policy", Bucket="bkt")
    await call(s3, "delete_object", Bucket="bkt", Key="doc.txt")
    code, _, _ = await error_of(s3, "head_object", Bucket="bkt", Key="doc.txt")
    assert code == "404"


async def test_condition_on_source_ip(env: S3Env, s3: Any) -> None:
    elsewhere = dict(_public_read(), Condition={"IpAddress": {"aws:SourceIp": "192.0.2.0/24"}})
    await call(s3, "put_bucket_policy", Bucket="bkt", Policy=_policy(elsewhere))
    assert (await _anonymous_get(env, "/bkt/doc.txt"))[0] == 403
    here = dict(_public_read(), Condition={"IpAddress": {"aws:SourceIp": "127.0.0.0/8"}})
    await call(s3, "put_bucket_policy", Bucket="bkt", Policy=_policy(here))
    assert await _anonymous_get(env, "/bkt/doc.txt") == (200, b"hello")


async def test_public_access_block(env: S3Env, s3: Any) -> None:
    code, status, _ = await error_of(s3, "get_public_access_block", Bucket="bkt")
    assert (code, status) == ("NoSuchPublicAccessBlockConfiguration", 404)
    flags = {
        "BlockPublicAcls": False,
        "IgnorePublicAcls": False,
        "BlockPublicPolicy": True,
        "RestrictPublicBuckets": False,
    }
    await call(s3, "put_public_access_block", Bucket="bkt", PublicAccessBlockConfiguration=flags)
    got = await call(s3, "get_public_access_block", Bucket="bkt")
    assert got["PublicAccessBlockConfiguration"] == flags
    code, status, _ = await error_of(
        s3, "put_bucket_policy", Bucket="bkt", Policy=_policy(_public_read())
    )
    assert (code, status) == ("AccessDenied", 403)
    await call(s3, "delete_public_access_block", Bucket="bkt")
    await call(s3, "put_bucket_policy", Bucket="bkt", Policy=_policy(_public_read()))
    assert (await _anonymous_get(env, "/bkt/doc.txt"))[0] == 200
    # RestrictPublicBuckets: the public policy stays, but only the owner gets in.
    restrict = dict(flags, BlockPublicPolicy=False, RestrictPublicBuckets=True)
    await call(s3, "put_public_access_block", Bucket="bkt", PublicAccessBlockConfiguration=restrict)
    assert (await _anonymous_get(env, "/bkt/doc.txt"))[0] == 403
    assert (await read_body(await call(s3, "get_object", Bucket="bkt", Key="doc.txt"))) == b"hello"


async def test_copy_needs_read_access_to_the_source(env: S3Env, s3: Any) -> None:
    bob = env.client(OTHER_ACCESS_KEY, OTHER_SECRET_KEY)
    put_only = {
        "Effect": "Allow",
        "Principal": {"AWS": env.users["bob"]},
        "Action": ["s3:PutObject", "s3:GetObject"],
        "Resource": "arn:aws:s3:::bkt/shared/*",
    }
    await call(s3, "put_bucket_policy", Bucket="bkt", Policy=_policy(put_only))
    # doc.txt is outside what bob may read: copying it where he may read is refused too.
    code, status, _ = await error_of(
        bob, "copy_object", Bucket="bkt", Key="shared/copy", CopySource="bkt/doc.txt"
    )
    assert (code, status) == ("AccessDenied", 403)
    assert await env.stored("bkt", "shared/copy") is None
    await call(s3, "put_object", Bucket="bkt", Key="shared/orig", Body=b"mine to copy")
    await call(bob, "copy_object", Bucket="bkt", Key="shared/copy", CopySource="bkt/shared/orig")
    assert await env.stored("bkt", "shared/copy") == b"mine to copy"


async def test_delete_objects_is_authorized_key_by_key(env: S3Env, s3: Any) -> None:
    bob = env.client(OTHER_ACCESS_KEY, OTHER_SECRET_KEY)
    await call(s3, "put_object", Bucket="bkt", Key="shared/x", Body=b"x")
    grant = {
        "Effect": "Allow",
        "Principal": {"AWS": env.users["bob"]},
        "Action": "s3:DeleteObject",
        "Resource": "arn:aws:s3:::bkt/shared/*",
    }
    await call(s3, "put_bucket_policy", Bucket="bkt", Policy=_policy(grant))
    both = {"Objects": [{"Key": "shared/x"}, {"Key": "doc.txt"}]}
    got = await call(bob, "delete_objects", Bucket="bkt", Delete=both)
    assert [d["Key"] for d in got.get("Deleted", [])] == ["shared/x"]
    assert [(e["Key"], e["Code"]) for e in got["Errors"]] == [("doc.txt", "AccessDenied")]
    assert await env.stored("bkt", "shared/x") is None
    assert await env.stored("bkt", "doc.txt") == b"hello"
    # An explicit Deny holds for the owner's DeleteObjects as for its DeleteObject.
    deny = dict(grant, Effect="Deny", Principal="*", Resource="arn:aws:s3:::bkt/*")
    await call(s3, "put_bucket_policy", Bucket="bkt", Policy=_policy(deny))
    got = await call(s3, "delete_objects", Bucket="bkt", Delete={"Objects": [{"Key": "doc.txt"}]})
    assert [(e["Key"], e["Code"]) for e in got["Errors"]] == [("doc.txt", "AccessDenied")]
    assert await env.stored("bkt", "doc.txt") == b"hello"
