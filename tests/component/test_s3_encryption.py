"""Server-side encryption through boto3: SSE-S3, SSE-KMS, SSE-C and bucket defaults.

Every test writes a known repeating pattern and checks both sides: S3 answers the plaintext
(whole, ranged, copied, multipart, inline and chunked), and the pattern is on no disk of the
storage node and in no row of the metadata database (the inline copy included).
"""

from __future__ import annotations

import base64
import hashlib
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from component.s3_fixtures import S3Env, call, error_of, read_body

BUCKET = "sealed"
# A pattern that compresses to nothing and is easy to find: 16 distinct bytes repeated.
PATTERN = b"WORMFS-PLAINTEXT"
CUSTOMER_KEY = bytes(range(100, 132))


def _pattern(size: int) -> bytes:
    return (PATTERN * (size // len(PATTERN) + 1))[:size]


def _sse_c(key: bytes = CUSTOMER_KEY, copy: bool = False) -> dict[str, str]:
    prefix = "CopySource" if copy else ""
    return {
        f"{prefix}SSECustomerAlgorithm": "AES256",
        f"{prefix}SSECustomerKey": base64.b64encode(key).decode(),
        f"{prefix}SSECustomerKeyMD5": base64.b64encode(hashlib.md5(key).digest()).decode(),
    }


def _plaintext_anywhere(tmp_path: Path) -> list[str]:
    """Files under the test's directory (disks and the SQLite database) holding the pattern."""
    found = []
    for path in tmp_path.rglob("*"):
        if path.is_file() and PATTERN * 4 in path.read_bytes():
            found.append(str(path))
    return found


def _rows_with_pattern(tmp_path: Path) -> int:
    """Rows of the database whose object bytes hold the pattern (WAL checkpointed first)."""
    hits = 0
    for db in tmp_path.rglob("*.db"):
        conn = sqlite3.connect(db)
        try:
            conn.execute("PRAGMA wal_checkpoint(FULL)")
            for (data,) in conn.execute("SELECT data FROM object_data"):
                hits += PATTERN * 2 in bytes(data)
        finally:
            conn.close()
    return hits


async def _bucket(env: S3Env) -> Any:
    client = env.client()
    await call(client, "create_bucket", Bucket=BUCKET)
    return client


@pytest.mark.parametrize("size", [100, 5 * 1024 * 1024 + 12345])  # inline, and chunked
async def test_sse_s3_round_trip_ranges_and_at_rest(env: S3Env, tmp_path: Path, size: int) -> None:
    client = await _bucket(env)
    data = _pattern(size)
    put = await call(
        client, "put_object", Bucket=BUCKET, Key="k", Body=data, ServerSideEncryption="AES256"
    )
    assert put["ServerSideEncryption"] == "AES256"
    assert put["ETag"] == f'"{hashlib.md5(data).hexdigest()}"'
    got = await call(client, "get_object", Bucket=BUCKET, Key="k")
    assert got["ServerSideEncryption"] == "AES256"
    assert await read_body(got) == data
    head = await call(client, "head_object", Bucket=BUCKET, Key="k")
    assert head["ServerSideEncryption"] == "AES256" and head["ContentLength"] == size
    for start, end in [(0, 0), (1, 50), (65530, 65600), (size - 7, size - 1), (70000, 200000)]:
        if end >= size:
            continue
        part = await call(
            client, "get_object", Bucket=BUCKET, Key="k", Range=f"bytes={start}-{end}"
        )
        assert await read_body(part) == data[start : end + 1], (start, end)
    manifest = await env.manifest(BUCKET, "k")
    assert manifest.attributes.encryption is not None
    assert manifest.attributes.encryption.wrapped_key  # a wrapped key, never the plain one
    assert _plaintext_anywhere(tmp_path) == []
    assert _rows_with_pattern(tmp_path) == 0
    # The same bytes without encryption are found where they lie: the search can fail.
    await call(client, "put_object", Bucket=BUCKET, Key="control", Body=data)
    assert _plaintext_anywhere(tmp_path) != []
    assert _rows_with_pattern(tmp_path) == (1 if size <= 64 * 1024 else 0)


async def test_sse_kms_with_key_id_and_context(env: S3Env, tmp_path: Path) -> None:
    client = await _bucket(env)
    context = base64.b64encode(b'{"team":"storage"}').decode()
    data = _pattern(300_000)
    put = await call(
        client,
        "put_object",
        Bucket=BUCKET,
        Key="kms",
        Body=data,
        ServerSideEncryption="aws:kms",
        SSEKMSKeyId="testkey-1",
        SSEKMSEncryptionContext=context,
    )
    assert put["ServerSideEncryption"] == "aws:kms" and put["SSEKMSKeyId"] == "testkey-1"
    got = await call(client, "get_object", Bucket=BUCKET, Key="kms")
    assert got["SSEKMSKeyId"] == "testkey-1"
    assert await read_body(got) == data
    assert _plaintext_anywhere(tmp_path) == []
    code, status, _ = await error_of(
        client, "put_object", Bucket=BUCKET, Key="x", Body=b"x", SSEKMSKeyId="testkey-1"
    )
    assert (code, status) == ("InvalidArgument", 400)


async def test_sse_c_needs_its_key_on_every_read(env: S3Env, tmp_path: Path) -> None:
    client = await _bucket(env)
    data = _pattern(2 * 1024 * 1024 + 3)
    put = await call(client, "put_object", Bucket=BUCKET, Key="c", Body=data, **_sse_c())
    assert put["SSECustomerAlgorithm"] == "AES256"
    got = await call(client, "get_object", Bucket=BUCKET, Key="c", **_sse_c())
    assert await read_body(got) == data
    assert got["SSECustomerKeyMD5"] == _sse_c()["SSECustomerKeyMD5"]
    ranged = await call(
        client, "get_object", Bucket=BUCKET, Key="c", Range="bytes=100-199", **_sse_c()
    )
    assert await read_body(ranged) == data[100:200]
    assert (await error_of(client, "get_object", Bucket=BUCKET, Key="c"))[:2] == (
        "InvalidRequest",
        400,
    )
    wrong = _sse_c(bytes(32))
    assert (await error_of(client, "get_object", Bucket=BUCKET, Key="c", **wrong))[:2] == (
        "AccessDenied",
        403,
    )
    head = await error_of(client, "head_object", Bucket=BUCKET, Key="c")
    assert head[1] == 400
    # The key is not stored: only its salted HMAC is.
    manifest = await env.manifest(BUCKET, "c")
    enc = manifest.attributes.encryption
    assert enc is not None and not enc.wrapped_key and CUSTOMER_KEY not in enc.key_check
    assert _plaintext_anywhere(tmp_path) == []
    # A bad key MD5 is refused before anything is stored.
    bad = {**_sse_c(), "SSECustomerKeyMD5": base64.b64encode(b"0" * 16).decode()}
    code, status, _ = await error_of(client, "put_object", Bucket=BUCKET, Key="d", Body=b"x", **bad)
    assert (code, status) == ("InvalidArgument", 400)
    # SSE-C headers on a plaintext object are refused too.
    await call(client, "put_object", Bucket=BUCKET, Key="plain", Body=b"plain")
    assert (await error_of(client, "get_object", Bucket=BUCKET, Key="plain", **_sse_c()))[1] == 400


async def test_copies_decrypt_and_reseal(env: S3Env, tmp_path: Path) -> None:
    client = await _bucket(env)
    data = _pattern(1_500_000)
    await call(client, "put_object", Bucket=BUCKET, Key="src", Body=data, **_sse_c())
    copied = await call(
        client,
        "copy_object",
        Bucket=BUCKET,
        Key="dst",
        CopySource={"Bucket": BUCKET, "Key": "src"},
        ServerSideEncryption="AES256",
        **_sse_c(copy=True),
    )
    assert copied["ServerSideEncryption"] == "AES256"
    got = await call(client, "get_object", Bucket=BUCKET, Key="dst")
    assert await read_body(got) == data
    src = (await env.manifest(BUCKET, "src")).attributes.encryption
    dst = (await env.manifest(BUCKET, "dst")).attributes.encryption
    assert src is not None and dst is not None and dst.algorithm == "AES256"
    # Without the source's key the copy is refused.
    code, status, _ = await error_of(
        client,
        "copy_object",
        Bucket=BUCKET,
        Key="dst2",
        CopySource={"Bucket": BUCKET, "Key": "src"},
    )
    assert (code, status) == ("InvalidRequest", 400)
    # A plaintext copy of an SSE-S3 object is plaintext.
    await call(
        client,
        "copy_object",
        Bucket=BUCKET,
        Key="plain",
        CopySource={"Bucket": BUCKET, "Key": "dst"},
    )
    assert (await env.manifest(BUCKET, "plain")).attributes.encryption is None
    assert await read_body(await call(client, "get_object", Bucket=BUCKET, Key="plain")) == data


@pytest.mark.parametrize("sse", ["AES256", "SSE-C"])
async def test_multipart_parts_are_sealed(env: S3Env, tmp_path: Path, sse: str) -> None:
    client = await _bucket(env)
    extra: dict[str, str] = _sse_c() if sse == "SSE-C" else {"ServerSideEncryption": "AES256"}
    part_extra = _sse_c() if sse == "SSE-C" else {}
    upload = await call(client, "create_multipart_upload", Bucket=BUCKET, Key="mp", **extra)
    first, second = _pattern(5 * 1024 * 1024), _pattern(1_000_001)[::-1]
    parts = []
    for number, body in ((1, first), (2, second)):
        done = await call(
            client,
            "upload_part",
            Bucket=BUCKET,
            Key="mp",
            UploadId=upload["UploadId"],
            PartNumber=number,
            Body=body,
            **part_extra,
        )
        parts.append({"PartNumber": number, "ETag": done["ETag"]})
    if sse == "SSE-C":
        # A part without the upload's key is refused.
        code, status, _ = await error_of(
            client,
            "upload_part",
            Bucket=BUCKET,
            Key="mp",
            UploadId=upload["UploadId"],
            PartNumber=3,
            Body=b"x",
        )
        assert status == 403, code
    await call(
        client,
        "complete_multipart_upload",
        Bucket=BUCKET,
        Key="mp",
        UploadId=upload["UploadId"],
        MultipartUpload={"Parts": parts},
    )
    whole = first + second
    got = await call(client, "get_object", Bucket=BUCKET, Key="mp", **part_extra)
    assert await read_body(got) == whole
    across = await call(
        client,
        "get_object",
        Bucket=BUCKET,
        Key="mp",
        Range=f"bytes={len(first) - 10}-{len(first) + 10}",
        **part_extra,
    )
    assert await read_body(across) == whole[len(first) - 10 : len(first) + 11]
    assert _plaintext_anywhere(tmp_path) == []


async def test_bucket_default_encryption_applies_to_writes(env: S3Env, tmp_path: Path) -> None:
    client = await _bucket(env)
    await call(
        client,
        "put_bucket_encryption",
        Bucket=BUCKET,
        ServerSideEncryptionConfiguration={
            "Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "aws:kms"}}]
        },
    )
    data = _pattern(200)
    put = await call(client, "put_object", Bucket=BUCKET, Key="dflt", Body=data)
    assert put["ServerSideEncryption"] == "aws:kms"
    got = await call(client, "get_object", Bucket=BUCKET, Key="dflt")
    assert await read_body(got) == data
    # A request's own choice wins over the default.
    put = await call(
        client, "put_object", Bucket=BUCKET, Key="own", Body=data, ServerSideEncryption="AES256"
    )
    assert put["ServerSideEncryption"] == "AES256"
    assert _rows_with_pattern(tmp_path) == 0
