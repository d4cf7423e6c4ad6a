"""Bucket default encryption through real boto3 (and raw signed HTTP for bodies boto3 will not
send) against a real ObjectService and coordinator: Put/Get/DeleteBucketEncryption, AWS's
validation, ownership, and the bucket facts the gateway caches."""

from __future__ import annotations

import base64
import hashlib
from typing import Any

import aiohttp
import pytest
from botocore.auth import S3SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from component.s3_fixtures import (
    ACCESS_KEY,
    OTHER_ACCESS_KEY,
    OTHER_SECRET_KEY,
    REGION,
    SECRET_KEY,
    S3Env,
    call,
    error_of,
)

from wormfs.wire.encryption import BucketEncryption

NOT_FOUND = ("ServerSideEncryptionConfigurationNotFoundError", 404)


def _config(algorithm: str, key_id: str | None = None, **rule: Any) -> dict[str, Any]:
    default: dict[str, Any] = {"SSEAlgorithm": algorithm}
    if key_id is not None:
        default["KMSMasterKeyID"] = key_id
    return {"Rules": [{"ApplyServerSideEncryptionByDefault": default, **rule}]}


@pytest.fixture
async def s3(env: S3Env) -> Any:
    client = env.client()
    await call(client, "create_bucket", Bucket="bkt")
    return client


async def _put_raw(env: S3Env, body: bytes, headers: dict[str, str]) -> tuple[int, str]:
    url = f"{env.endpoint}/bkt?encryption"
    request = AWSRequest(method="PUT", url=url, data=body, headers=headers)
    S3SigV4Auth(Credentials(ACCESS_KEY, SECRET_KEY), "s3", REGION).add_auth(request)
    async with (
        aiohttp.ClientSession() as session,
        session.put(url, data=body, headers=dict(request.headers.items())) as resp,
    ):
        return resp.status, await resp.text()


async def test_round_trip_and_delete(s3: Any, env: S3Env) -> None:
    code, status, response = await error_of(s3, "get_bucket_encryption", Bucket="bkt")
    assert (code, status) == NOT_FOUND
    assert response["Error"]["Message"] == "The server side encryption configuration was not found"
    assert response["Error"]["BucketName"] == "bkt"

    await call(
        s3,
        "put_bucket_encryption",
        Bucket="bkt",
        ServerSideEncryptionConfiguration=_config("AES256"),
    )
    got = await call(s3, "get_bucket_encryption", Bucket="bkt")
    assert got["ServerSideEncryptionConfiguration"]["Rules"] == [
        {
            "ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"},
            "BucketKeyEnabled": False,
        }
    ]

    kms = _config("aws:kms", "arn:aws:kms:us-east-1:111122223333:key/k1", BucketKeyEnabled=True)
    await call(s3, "put_bucket_encryption", Bucket="bkt", ServerSideEncryptionConfiguration=kms)
    got = await call(s3, "get_bucket_encryption", Bucket="bkt")
    assert got["ServerSideEncryptionConfiguration"] == kms  # replaced whole
    # The bucket facts the gateway authorizes (and writes) with carry it.
    access = await env.service.bucket_access("bkt")
    assert access.encryption == BucketEncryption(
        "aws:kms", "arn:aws:kms:us-east-1:111122223333:key/k1", bucket_key=True
    )

    # aws:kms without a key id: the default key.
    await call(
        s3,
        "put_bucket_encryption",
        Bucket="bkt",
        ServerSideEncryptionConfiguration=_config("aws:kms"),
    )
    got = await call(s3, "get_bucket_encryption", Bucket="bkt")
    assert got["ServerSideEncryptionConfiguration"]["Rules"] == [
        {
            "ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "aws:kms"},
            "BucketKeyEnabled": False,
        }
    ]

    for _ in range(2):  # idempotent
        answer = await call(s3, "delete_bucket_encryption", Bucket="bkt")
        assert answer["ResponseMetadata"]["HTTPStatusCode"] == 204
    code, status, _ = await error_of(s3, "get_bucket_encryption", Bucket="bkt")
    assert (code, status) == NOT_FOUND
    assert (await env.service.bucket_access("bkt")).encryption is None


async def test_validation(s3: Any, env: S3Env) -> None:
    await call(
        s3,
        "put_bucket_encryption",
        Bucket="bkt",
        ServerSideEncryptionConfiguration=_config("AES256"),
    )
    two = {"Rules": _config("AES256")["Rules"] * 2}
    for bad, expected in (
        ({"Rules": []}, ("MalformedXML", 400)),
        (two, ("MalformedXML", 400)),
        (_config("SSE-KMS"), ("MalformedXML", 400)),
        (_config("aws:kms:dsse"), ("MalformedXML", 400)),  # DSSE-KMS is not offered
        (_config("AES256", "k1"), ("InvalidArgument", 400)),
    ):
        code, status, response = await error_of(
            s3, "put_bucket_encryption", Bucket="bkt", ServerSideEncryptionConfiguration=bad
        )
        assert (code, status) == expected, bad
        if code == "InvalidArgument":
            assert response["Error"]["ArgumentName"] == "ApplyServerSideEncryptionByDefault"
    # Bodies boto3 will not send: not well-formed, and a well-formed one without a checksum.
    bad_xml = b"<ServerSideEncryptionConfiguration><Rule>"
    md5 = base64.b64encode(hashlib.md5(bad_xml).digest()).decode()
    status, text = await _put_raw(env, bad_xml, {"Content-MD5": md5})
    assert status == 400 and "<Code>MalformedXML</Code>" in text
    good = (
        b"<ServerSideEncryptionConfiguration><Rule><ApplyServerSideEncryptionByDefault>"
        b"<SSEAlgorithm>aws:kms</SSEAlgorithm></ApplyServerSideEncryptionByDefault>"
        b"</Rule></ServerSideEncryptionConfiguration>"
    )
    status, text = await _put_raw(env, good, {})
    assert status == 400 and "<Code>InvalidRequest</Code>" in text
    # Nothing refused changed the configuration.
    got = await call(s3, "get_bucket_encryption", Bucket="bkt")
    assert got["ServerSideEncryptionConfiguration"] == {
        "Rules": [
            {
                "ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"},
                "BucketKeyEnabled": False,
            }
        ]
    }


async def test_only_the_owner(s3: Any, env: S3Env) -> None:
    await call(
        s3,
        "put_bucket_encryption",
        Bucket="bkt",
        ServerSideEncryptionConfiguration=_config("AES256"),
    )
    bob = env.client(OTHER_ACCESS_KEY, OTHER_SECRET_KEY)
    for method, kwargs in (
        ("get_bucket_encryption", {}),
        ("put_bucket_encryption", {"ServerSideEncryptionConfiguration": _config("aws:kms")}),
        ("delete_bucket_encryption", {}),
    ):
        code, status, _ = await error_of(bob, method, Bucket="bkt", **kwargs)
        assert (code, status) == ("AccessDenied", 403), method
    got = await call(s3, "get_bucket_encryption", Bucket="bkt")
    assert got["ServerSideEncryptionConfiguration"] == _config("AES256", BucketKeyEnabled=False)
    code, status, _ = await error_of(s3, "get_bucket_encryption", Bucket="missing")
    assert (code, status) == ("NoSuchBucket", 404)
