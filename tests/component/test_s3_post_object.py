"""POST Object (browser form uploads) against a real ObjectService and coordinator: forms
signed by boto3's generate_presigned_post (SigV4) and by hand (SigV2), every kind of policy
condition, ${filename}, the success answers, anonymous uploads a bucket policy allows, and
the errors AWS answers for each violation."""

from __future__ import annotations

import asyncio
import base64
import datetime
import hashlib
import hmac
import json
import os
from typing import Any

import aiohttp
import pytest
from component.s3_fixtures import ACCESS_KEY, SECRET_KEY, S3Env, call, read_body
from multidict import CIMultiDict

BUCKET = "forms"


@pytest.fixture
async def s3(env: S3Env) -> Any:
    client = env.client(signature_version="s3v4")  # presigned posts signed with SigV4
    await call(client, "create_bucket", Bucket=BUCKET)
    return client


async def _post(
    env: S3Env, fields: dict[str, str], data: bytes = b"hello", filename: str = "a.txt"
) -> tuple[int, CIMultiDict[str], bytes]:
    form = aiohttp.FormData()
    for name, value in fields.items():
        form.add_field(name, value)
    form.add_field("file", data, filename=filename, content_type="application/octet-stream")
    async with (
        aiohttp.ClientSession() as session,
        session.post(f"{env.endpoint}/{BUCKET}", data=form, allow_redirects=False) as resp,
    ):
        return resp.status, CIMultiDict(resp.headers), await resp.read()


async def _presigned(s3: Any, key: str, **kwargs: Any) -> dict[str, str]:
    post = await asyncio.to_thread(
        s3.generate_presigned_post, BUCKET, key, ExpiresIn=kwargs.pop("expires", 60), **kwargs
    )
    return dict(post["fields"])


async def test_presigned_post_uploads_with_conditions(s3: Any, env: S3Env) -> None:
    fields = await _presigned(
        s3,
        "uploads/${filename}",
        Fields={"Content-Type": "text/plain", "x-amz-meta-note": "hi"},
        Conditions=[
            ["starts-with", "$key", "uploads/"],
            ["content-length-range", 1, 4 * 1024 * 1024],
            {"Content-Type": "text/plain"},
            {"x-amz-meta-note": "hi"},
        ],
    )
    big = os.urandom(3 * 1024 * 1024 + 17)  # past the inline limit: chunks
    status, headers, body = await _post(env, fields, big, filename="photo.bin")
    assert status == 204, body
    got = await call(s3, "get_object", Bucket=BUCKET, Key="uploads/photo.bin")
    assert await read_body(got) == big
    assert got["ContentType"] == "text/plain" and got["Metadata"] == {"note": "hi"}
    assert headers["ETag"] == f'"{hashlib.md5(big).hexdigest()}"'

    # 201 answers a PostResponse document; 200 nothing; a redirect 303 to it.
    status, _, body = await _post(env, {**fields, "success_action_status": "201"})
    assert status == 403  # the policy does not name success_action_status
    fields = await _presigned(
        s3,
        "k",
        Conditions=[["starts-with", "$success_action_status", ""]],
        Fields={"success_action_status": "201"},
    )
    status, _, body = await _post(env, fields)
    assert status == 201 and b"<Key>k</Key>" in body and b"<Bucket>forms</Bucket>" in body
    for value, expected in (("200", 200), ("404", 204)):
        status, _, _ = await _post(env, {**fields, "success_action_status": value})
        assert status == expected
    fields = await _presigned(
        s3,
        "r",
        Conditions=[{"success_action_redirect": "https://example.com/done?x=1"}],
        Fields={"success_action_redirect": "https://example.com/done?x=1"},
    )
    status, headers, _ = await _post(env, fields)
    assert status == 303
    assert headers["Location"].startswith("https://example.com/done?x=1&bucket=forms&key=r&etag=")


async def test_policy_violations(s3: Any, env: S3Env) -> None:
    base = await _presigned(s3, "only/${filename}", Conditions=[["content-length-range", 2, 10]])
    for fields, data, expected in (
        ({**base, "key": "elsewhere/x"}, b"hello", (403, b"Policy Condition failed")),
        (
            {**base, "x-amz-meta-extra": "1"},
            b"hello",
            (403, b"Extra input fields: x-amz-meta-extra"),
        ),
        (base, b"x" * 11, (400, b"EntityTooLarge")),
        (base, b"x", (400, b"EntityTooSmall")),
        ({**base, "x-amz-signature": "0" * 64}, b"hello", (403, b"SignatureDoesNotMatch")),
        (
            {**base, "x-amz-credential": "AKIDNOBODY/" + base["x-amz-credential"].split("/", 1)[1]},
            b"hello",
            (403, b"InvalidAccessKeyId"),
        ),
        ({k: v for k, v in base.items() if k != "key"}, b"hello", (400, b"InvalidArgument")),
        (
            {k: v for k, v in base.items() if k != "x-amz-signature"},
            b"hello",
            (400, b"InvalidArgument"),
        ),
    ):
        status, _, body = await _post(env, fields, data)
        assert (status, expected[1] in body) == (expected[0], True), (fields, body)
    expired = await _presigned(s3, "k", expires=-10)
    status, _, body = await _post(env, expired)
    assert status == 403 and b"Policy expired" in body
    # A form without its file.
    form = aiohttp.FormData(default_to_multipart=True)
    for name, value in base.items():
        form.add_field(name, value)
    async with (
        aiohttp.ClientSession() as session,
        session.post(f"{env.endpoint}/{BUCKET}", data=form) as resp,
    ):
        assert resp.status == 400 and b"exactly one file" in await resp.read()


def _v2_form(policy: dict[str, Any], **fields: str) -> dict[str, str]:
    encoded = base64.b64encode(json.dumps(policy).encode()).decode()
    signature = base64.b64encode(
        hmac.new(SECRET_KEY.encode(), encoded.encode(), hashlib.sha1).digest()
    ).decode()
    return {"AWSAccessKeyId": ACCESS_KEY, "policy": encoded, "signature": signature, **fields}


async def test_sigv2_policies_and_their_shape(s3: Any, env: S3Env) -> None:
    later = (datetime.datetime.now(datetime.UTC) + datetime.timedelta(minutes=5)).strftime(
        "%Y-%m-%dT%H:%M:%SZ"
    )
    conditions = [{"bucket": BUCKET}, ["StArTs-WiTh", "$key", "v2/"], {"acl": "private"}]
    form = _v2_form({"expiration": later, "conditions": conditions}, key="v2/a", acl="private")
    form["x-ignore-me"] = "ignored"
    status, _, body = await _post(env, form)
    assert status == 204, body
    assert await read_body(await call(s3, "get_object", Bucket=BUCKET, Key="v2/a")) == b"hello"
    wrong_bucket = [{"bucket": "other"}, ["starts-with", "$key", ""]]
    for policy, expected in (
        ({"expiration": later, "conditions": wrong_bucket}, (403, b"AccessDenied")),
        ({"conditions": conditions}, (400, b"InvalidPolicyDocument")),  # no expiration
        ({"EXPIRATION": later, "conditions": conditions}, (400, b"InvalidPolicyDocument")),
        ({"expiration": later}, (400, b"InvalidPolicyDocument")),  # no conditions
        ({"expiration": "soon", "conditions": conditions}, (400, b"InvalidPolicyDocument")),
        ({"expiration": later, "conditions": [{}]}, (400, b"InvalidPolicyDocument")),
        (
            {"expiration": later, "conditions": [["content-length-range", 0]]},
            (400, b"InvalidPolicyDocument"),
        ),
        (
            {"expiration": later, "conditions": [{"bucket": BUCKET}]},
            (403, b"Extra input fields: key"),
        ),
    ):
        status, _, body = await _post(env, _v2_form(policy, key="v2/b"))
        assert (status, expected[1] in body) == (expected[0], True), (policy, body)


async def test_anonymous_uploads_need_a_bucket_policy(s3: Any, env: S3Env) -> None:
    status, _, body = await _post(env, {"key": "anon"})
    assert status == 403 and b"AccessDenied" in body
    policy = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": "*",
                "Action": "s3:PutObject",
                "Resource": f"arn:aws:s3:::{BUCKET}/public/*",
            }
        ],
    }
    await call(s3, "put_bucket_policy", Bucket=BUCKET, Policy=json.dumps(policy))
    await asyncio.sleep(1.1)  # the worker's cached bucket facts expire
    status, _, body = await _post(env, {"key": "public/${filename}"}, filename="drop.txt")
    assert status == 204, body
    got = await call(s3, "get_object", Bucket=BUCKET, Key="public/drop.txt")
    assert await read_body(got) == b"hello"
    status, _, _ = await _post(env, {"key": "private/x"})
    assert status == 403


async def test_a_broken_form_is_malformed(s3: Any, env: S3Env) -> None:
    for body in (
        b"--b\r\nContent-Disposition: form-data; name=key\r\n\r\nk\r\n--b\r\n\r\nnot a part",
        b"no boundary at all",
        b"--b\r\nContent-Disposition: form-data; name=file; filename=x\r\n\r\ncut short",
        b"--b\r\nContent-Disposition: form-data; name=key\r\n\r\nk\r\n--b\r\nContent-Dispos",
    ):
        async with (
            aiohttp.ClientSession() as session,
            session.post(
                f"{env.endpoint}/{BUCKET}",
                data=body,
                headers={"Content-Type": "multipart/form-data; boundary=b"},
            ) as resp,
        ):
            answer = await resp.read()
            assert resp.status == 400, answer
            assert b"MalformedPOSTRequest" in answer or b"InvalidArgument" in answer, answer


async def test_form_uploads_are_encrypted_as_their_fields_ask(s3: Any, env: S3Env) -> None:
    fields = await _presigned(
        s3,
        "sealed",
        Fields={"x-amz-server-side-encryption": "AES256"},
        Conditions=[{"x-amz-server-side-encryption": "AES256"}],
    )
    data = os.urandom(200_000)
    status, _, body = await _post(env, fields, data)
    assert status == 204, body
    got = await call(s3, "get_object", Bucket=BUCKET, Key="sealed")
    assert got["ServerSideEncryption"] == "AES256" and await read_body(got) == data
    enc = (await env.manifest(BUCKET, "sealed")).attributes.encryption
    assert enc is not None and enc.algorithm == "AES256"


async def test_form_uploads_take_their_acl_field(s3: Any, env: S3Env) -> None:
    await call(
        s3,
        "put_bucket_ownership_controls",
        Bucket=BUCKET,
        OwnershipControls={"Rules": [{"ObjectOwnership": "ObjectWriter"}]},
    )
    fields = await _presigned(
        s3, "public", Fields={"acl": "public-read"}, Conditions=[{"acl": "public-read"}]
    )
    status, _, body = await _post(env, fields, b"for everyone")
    assert status == 204, body
    async with (
        aiohttp.ClientSession() as session,
        session.get(f"{env.endpoint}/{BUCKET}/public") as r,
    ):
        assert r.status == 200 and await r.read() == b"for everyone"
