"""Master key rotation under S3 traffic: objects sealed by the real gateway read back identical
after their data keys were re-wrapped under another master key.

The coordinator's keys come from ``WORMFS_MASTER_KEY`` (``test-key-1``, then ``test-key-2``
current), as on several hosts after the operator appended a key and restarted; the gateway
holds both but still wraps under ``test-key-1``, as one not restarted yet would. Objects of
each kind (SSE-S3 inline, SSE-KMS in chunks, a multipart upload half done, SSE-C, plaintext)
are written through S3, re-wrapped through the admin API (``--rewrap-only``), and read back
whole and by range; the upload completes afterwards with a part written after the rotation.
"""

from __future__ import annotations

import base64
import hashlib
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from component.admin_harness import ADMIN_TOKEN
from component.s3_fixtures import S3Env, Server, call, read_body, start_env

from wormfs.config import ListenConfig
from wormfs.coordinator.admin.server import ADMIN_URL
from wormfs.internal.keyring import MASTER_KEY_ENV, MASTER_KEY_FILE_ENV, Keyring

BUCKET = "sealed"
OLD, NEW = bytes(range(32)), bytes(range(32, 64))
CUSTOMER = bytes(range(100, 132))
PART = 5 * 1024 * 1024


@pytest.fixture
async def env(aiohttp_server: Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> S3Env:
    monkeypatch.delenv(MASTER_KEY_FILE_ENV, raising=False)
    keys = {"test-key-1": OLD, "test-key-2": NEW}
    monkeypatch.setenv(
        MASTER_KEY_ENV, ",".join(f"{i}:{base64.b64encode(k).decode()}" for i, k in keys.items())
    )
    # Both keys, test-key-1 current (the last): what this gateway wraps new data keys under.
    gateway_keys = Keyring({"test-key-2": NEW, "test-key-1": OLD})
    admin = {"admin_listen": ListenConfig(port=0), "admin_token": ADMIN_TOKEN}
    return await start_env(aiohttp_server, tmp_path, keyring=gateway_keys, coordinator_config=admin)


async def _admin(env: S3Env, method: str, path: str, body: Any = None) -> Any:
    assert env.coordinator is not None
    url = env.coordinator[ADMIN_URL] + "/admin/v1" + path
    headers = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    async with (
        aiohttp.ClientSession() as session,
        session.request(method, url, json=body, headers=headers) as resp,
    ):
        answer = await resp.json()
        assert resp.status == 200, answer
        return answer


def _data(seed: str, size: int) -> bytes:
    return (hashlib.sha256(seed.encode()).digest() * (size // 32 + 1))[:size]


def _sse_c() -> dict[str, str]:
    return {
        "SSECustomerAlgorithm": "AES256",
        "SSECustomerKey": base64.b64encode(CUSTOMER).decode(),
        "SSECustomerKeyMD5": base64.b64encode(hashlib.md5(CUSTOMER).digest()).decode(),
    }


async def _wrapping_key(env: S3Env, key: str) -> str | None:
    enc = (await env.manifest(BUCKET, key)).attributes.encryption
    return None if enc is None else enc.wrapping_key_id


async def test_objects_read_back_identical_after_their_keys_are_rewrapped(env: S3Env) -> None:
    client = env.client()
    await call(client, "create_bucket", Bucket=BUCKET)
    objects = {
        "s3-inline": (_data("a", 100), {"ServerSideEncryption": "AES256"}),
        "kms-chunked": (
            _data("b", 300_000),
            {"ServerSideEncryption": "aws:kms", "SSEKMSKeyId": "app-key"},
        ),
        "customer": (_data("c", 1000), _sse_c()),
        "plain": (_data("d", 1000), {}),
    }
    for key, (body, sse) in objects.items():
        await call(client, "put_object", Bucket=BUCKET, Key=key, Body=body, **sse)
    upload = await call(
        client, "create_multipart_upload", Bucket=BUCKET, Key="multi", ServerSideEncryption="AES256"
    )
    parts = [_data("p1", PART), _data("p2", 1234)]
    etags = [
        (
            await call(
                client,
                "upload_part",
                Bucket=BUCKET,
                Key="multi",
                UploadId=upload["UploadId"],
                PartNumber=1,
                Body=parts[0],
            )
        )["ETag"]
    ]
    assert await _wrapping_key(env, "s3-inline") == "test-key-1"

    before = await _admin(env, "GET", "/keys")
    assert before["current"] == "test-key-2" and before["source"] == "environment"
    assert before["usage"] == {"test-key-1": 3, "test-key-2": 0} and before["sse_c"] == 1
    result = await _admin(env, "POST", "/keys/rotate", {"new_key": False})
    assert (result["rewrapped"], result["failed"], result["remaining"]) == (3, 0, 0)
    assert (await _admin(env, "GET", "/keys"))["usage"] == {"test-key-1": 0, "test-key-2": 3}
    for key in ("s3-inline", "kms-chunked"):
        assert await _wrapping_key(env, key) == "test-key-2"
    assert await _wrapping_key(env, "customer") == ""
    assert await _wrapping_key(env, "plain") is None

    # Read back through S3: whole, and a range across a package boundary.
    for key, (body, sse) in objects.items():
        extra = sse if key == "customer" else {}
        got = await call(client, "get_object", Bucket=BUCKET, Key=key, **extra)
        assert await read_body(got) == body, key
        ranged = await call(
            client, "get_object", Bucket=BUCKET, Key=key, Range="bytes=60-70000", **extra
        )
        assert await read_body(ranged) == body[60:70001], key
    kms = await call(client, "head_object", Bucket=BUCKET, Key="kms-chunked")
    assert kms["ServerSideEncryption"] == "aws:kms" and kms["SSEKMSKeyId"] == "app-key"

    # The upload's data key was re-wrapped too: a part written now seals under the same key.
    etags.append(
        (
            await call(
                client,
                "upload_part",
                Bucket=BUCKET,
                Key="multi",
                UploadId=upload["UploadId"],
                PartNumber=2,
                Body=parts[1],
            )
        )["ETag"]
    )
    await call(
        client,
        "complete_multipart_upload",
        Bucket=BUCKET,
        Key="multi",
        UploadId=upload["UploadId"],
        MultipartUpload={
            "Parts": [{"PartNumber": n + 1, "ETag": etag} for n, etag in enumerate(etags)]
        },
    )
    got = await call(client, "get_object", Bucket=BUCKET, Key="multi")
    assert await read_body(got) == b"".join(parts)
    assert await _wrapping_key(env, "multi") == "test-key-2"

    # A version written meanwhile under the old key shows in the usage; one more pass takes it.
    await call(
        client, "put_object", Bucket=BUCKET, Key="late", Body=b"late", ServerSideEncryption="AES256"
    )
    assert (await _admin(env, "GET", "/keys"))["usage"] == {"test-key-1": 1, "test-key-2": 3}
    again = await _admin(env, "POST", "/keys/rotate", {"new_key": False})
    assert (again["rewrapped"], again["remaining"]) == (1, 0)
    got = await call(client, "get_object", Bucket=BUCKET, Key="late")
    assert await read_body(got) == b"late"
