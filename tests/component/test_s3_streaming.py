"""Bodies and authentication beyond plain signed requests, end to end through the app:
aws-chunked uploads (boto3's unsigned-trailer mode over HTTPS, signed chunks and signed
trailers from a SigV4 chunk signer), presigned URLs, payload hashes, 100-continue."""

from __future__ import annotations

import asyncio
import hashlib
import io
import ssl
import subprocess
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestServer
from botocore.auth import S3SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from component.s3_fixtures import ACCESS_KEY, REGION, SECRET_KEY, S3Env, start_env
from waiting import within

from wormfs.format.checksums import checksum_b64
from wormfs.gateway.app import STATE_KEY
from wormfs.gateway.sigv4 import ChunkSigning, derive_signing_key

Server = Callable[..., Awaitable[TestServer]]


async def call(client: Any, method: str, **kwargs: Any) -> Any:
    return await asyncio.to_thread(getattr(client, method), **kwargs)


@pytest.fixture(scope="module")
def tls_files(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("tls")
    key, cert = folder / "key.pem", folder / "cert.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key),
         "-out", str(cert), "-days", "1", "-subj", "/CN=127.0.0.1",
         "-addext", "subjectAltName=IP:127.0.0.1"],
        check=True,
        capture_output=True,
    )  # fmt: skip
    return key, cert


@pytest.fixture
async def env(aiohttp_server: Server, tmp_path: Path) -> S3Env:
    env = await start_env(aiohttp_server, tmp_path)
    await call(env.client(), "create_bucket", Bucket="bkt")
    return env


# ---- boto3 over HTTPS: aws-chunked with an unsigned CRC32 trailer --------------------------------
@pytest.mark.filterwarnings("ignore::urllib3.exceptions.InsecureRequestWarning")
async def test_boto3_trailer_uploads_over_https(
    aiohttp_server: Server, tls_files: tuple[Path, Path], tmp_path: Path
) -> None:
    key, cert = tls_files
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    env = await start_env(aiohttp_server, tmp_path, ssl=context)
    assert env.endpoint.startswith("https://")
    s3 = env.client()
    await call(s3, "create_bucket", Bucket="bkt")
    data = bytes(range(256)) * 5000
    put = await call(s3, "put_object", Bucket="bkt", Key="t", Body=io.BytesIO(data))
    assert put["ChecksumCRC32"] == checksum_b64("CRC32", data)
    assert await env.stored("bkt", "t") == data  # no chunk framing reached the service
    manifest = await env.manifest("bkt", "t")
    assert manifest.checksum is not None
    assert (
        manifest.attributes.system_metadata.get("content-encoding") is None
    )  # aws-chunked dropped

    source = tmp_path / "big.bin"
    big = bytes(range(256)) * (40 * 1024 * 4 + 3)  # ~40 MiB
    source.write_bytes(big)
    await asyncio.to_thread(s3.upload_file, str(source), "bkt", "big")
    got = await call(s3, "get_object", Bucket="bkt", Key="big")
    assert await asyncio.to_thread(got["Body"].read) == big


# ---- signed chunks, signed trailers (a SigV4 chunk signer against the app) ---------------------
class StreamingAuth(S3SigV4Auth):
    """botocore's S3 signer computing the seed signature of a STREAMING-* request."""

    def __init__(self, mode: str) -> None:
        super().__init__(Credentials(ACCESS_KEY, SECRET_KEY), "s3", REGION)
        self.mode = mode

    def payload(self, request: AWSRequest) -> str:
        return self.mode


def signed_chunked_request(
    url: str,
    chunks: list[bytes],
    trailer: tuple[str, str] | None = None,
    tamper: bool = False,
) -> tuple[dict[str, str], bytes]:
    mode = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD" + ("-TRAILER" if trailer else "")
    headers = {
        "Content-Encoding": "aws-chunked",
        "x-amz-decoded-content-length": str(sum(map(len, chunks))),
    }
    if trailer:
        headers["x-amz-trailer"] = trailer[0]
    request = AWSRequest(method="PUT", url=url, headers=headers)
    auth = StreamingAuth(mode)
    auth.add_auth(request)
    amz_date = request.headers["X-Amz-Date"]
    seed = request.headers["Authorization"].rsplit("Signature=", 1)[1]
    key = derive_signing_key(SECRET_KEY, amz_date[:8], REGION)
    signer = ChunkSigning(key, amz_date, f"{amz_date[:8]}/{REGION}/s3/aws4_request", seed)
    out, previous = io.BytesIO(), seed
    for chunk in [*chunks, b""]:
        previous = signer.chunk_signature(previous, hashlib.sha256(chunk).hexdigest())
        out.write(b"%x;chunk-signature=%s\r\n" % (len(chunk), previous.encode()))
        if chunk or not trailer:
            out.write(chunk + b"\r\n")
    if trailer:
        line = f"{trailer[0]}:{trailer[1]}"
        signature = signer.trailer_signature(
            previous, hashlib.sha256((line + "\n").encode()).hexdigest()
        )
        out.write(f"{line}\r\nx-amz-trailer-signature:{signature}\r\n\r\n".encode())
    body = out.getvalue()
    if tamper:
        body = body.replace(b"payload", b"PAYLOAD", 1)
    return dict(request.headers.items()), body


async def test_signed_chunked_put(env: S3Env) -> None:
    chunks = [b"payload-1 " * 10000, b"payload-2 " * 300]
    headers, body = signed_chunked_request(f"{env.endpoint}/bkt/signed", chunks)
    async with (
        aiohttp.ClientSession() as session,
        session.put(f"{env.endpoint}/bkt/signed", headers=headers, data=body) as r,
    ):
        assert r.status == 200, await r.text()
        assert r.headers["ETag"] == f'"{hashlib.md5(b"".join(chunks)).hexdigest()}"'
    assert await env.stored("bkt", "signed") == b"".join(chunks)


async def test_signed_chunked_put_with_signed_trailer(env: S3Env) -> None:
    chunks = [b"payload " * 9000]
    crc = checksum_b64("CRC32C", b"".join(chunks))
    headers, body = signed_chunked_request(
        f"{env.endpoint}/bkt/trail", chunks, ("x-amz-checksum-crc32c", crc)
    )
    async with (
        aiohttp.ClientSession() as session,
        session.put(f"{env.endpoint}/bkt/trail", headers=headers, data=body) as r,
    ):
        assert r.status == 200, await r.text()
        assert r.headers["x-amz-checksum-crc32c"] == crc
    # A trailer checksum that does not match the data: BadDigest, nothing stored.
    headers, body = signed_chunked_request(
        f"{env.endpoint}/bkt/trail2", chunks, ("x-amz-checksum-crc32c", "AAAAAA==")
    )
    async with (
        aiohttp.ClientSession() as session,
        session.put(f"{env.endpoint}/bkt/trail2", headers=headers, data=body) as r,
    ):
        assert r.status == 400
        assert "<Code>BadDigest</Code>" in await r.text()
    assert "trail2" not in await env.keys("bkt")


async def test_tampered_chunk_is_refused_and_nothing_stored(env: S3Env) -> None:
    headers, body = signed_chunked_request(
        f"{env.endpoint}/bkt/bad", [b"payload " * 100], tamper=True
    )
    async with (
        aiohttp.ClientSession() as session,
        session.put(f"{env.endpoint}/bkt/bad", headers=headers, data=body) as r,
    ):
        assert r.status == 403
        assert "<Code>SignatureDoesNotMatch</Code>" in await r.text()
    assert "bad" not in await env.keys("bkt")


async def test_missing_decoded_length(env: S3Env) -> None:
    _, body = signed_chunked_request(f"{env.endpoint}/bkt/x", [b"abc"])
    # Dropping a signed header breaks the signature; rebuild without it instead.
    request = AWSRequest(
        method="PUT", url=f"{env.endpoint}/bkt/x", headers={"Content-Encoding": "aws-chunked"}
    )
    StreamingAuth("STREAMING-AWS4-HMAC-SHA256-PAYLOAD").add_auth(request)
    async with (
        aiohttp.ClientSession() as session,
        session.put(f"{env.endpoint}/bkt/x", headers=dict(request.headers.items()), data=body) as r,
    ):
        assert r.status == 411
        assert "<Code>MissingContentLength</Code>" in await r.text()


# ---- payload hash ------------------------------------------------------------------------------
async def test_payload_hash_mismatch(env: S3Env) -> None:
    url = f"{env.endpoint}/bkt/hashed"
    request = AWSRequest(method="PUT", url=url, data=b"the signed body")
    S3SigV4Auth(Credentials(ACCESS_KEY, SECRET_KEY), "s3", REGION).add_auth(request)
    async with (
        aiohttp.ClientSession() as session,
        session.put(url, headers=dict(request.headers.items()), data=b"the sent   body") as r,
    ):
        assert r.status == 400
        assert "<Code>XAmzContentSHA256Mismatch</Code>" in await r.text()
    assert "hashed" not in await env.keys("bkt")


# ---- presigned URLs ----------------------------------------------------------------------------
async def test_presigned_get_and_put(env: S3Env) -> None:
    # boto3 presigns with SigV2 in us-east-1 unless told otherwise.
    s3 = env.client(signature_version="s3v4")
    put_url = await call(
        s3, "generate_presigned_url", ClientMethod="put_object",
        Params={"Bucket": "bkt", "Key": "pre signed+key"}, ExpiresIn=300,
    )  # fmt: skip
    async with aiohttp.ClientSession() as session, session.put(put_url, data=b"via presign") as r:
        assert r.status == 200, await r.text()
        get_url = await call(
            s3, "generate_presigned_url", ClientMethod="get_object",
            Params={"Bucket": "bkt", "Key": "pre signed+key", "ResponseContentType": "text/x"},
            ExpiresIn=300,
        )  # fmt: skip
        async with session.get(get_url) as r:
            assert r.status == 200
            assert await r.read() == b"via presign"
            assert r.headers["Content-Type"] == "text/x"
        async with session.get(get_url.replace("pre%20signed", "pre%20signer")) as r:
            assert r.status == 403
            assert "<Code>SignatureDoesNotMatch</Code>" in await r.text()
        state = env.server.app[STATE_KEY]  # type: ignore[union-attr]
        state.verifier.clock = lambda: time.time() + 301
        async with session.get(get_url) as r:
            assert r.status == 403
            text = await r.text()
            assert "<Code>AccessDenied</Code>" in text and "Request has expired" in text


async def test_sigv2_clients(env: S3Env) -> None:
    """boto3's default presigned URLs (SigV2 in us-east-1) and SigV2-signing clients."""
    s3 = env.client()
    url = await call(
        s3, "generate_presigned_url", ClientMethod="get_object",
        Params={"Bucket": "bkt", "Key": "v2 key"},
    )  # fmt: skip
    assert "AWSAccessKeyId=" in url and "Signature=" in url
    v2 = env.client(signature_version="s3")
    await call(v2, "put_object", Bucket="bkt", Key="v2 key", Body=b"signed with v2")
    listed = await call(v2, "list_objects", Bucket="bkt")
    assert [o["Key"] for o in listed["Contents"]] == ["v2 key"]
    async with aiohttp.ClientSession() as session, session.get(url) as r:
        assert r.status == 200
        assert await r.read() == b"signed with v2"


# ---- raw protocol details ----------------------------------------------------------------------
async def test_anonymous_request_and_head_error_without_body(env: S3Env) -> None:
    async with aiohttp.ClientSession() as session, session.get(f"{env.endpoint}/bkt/k") as r:
        assert r.status == 403
        text = await r.text()
        assert "<Code>AccessDenied</Code>" in text
        assert "<Resource>/bkt/k</Resource>" in text
        assert r.headers["x-amz-request-id"] in text
        async with session.head(f"{env.endpoint}/bkt/k") as r:
            assert r.status == 403
            assert await r.read() == b""


async def test_expect_continue_refused_without_upload(env: S3Env) -> None:
    """A refused request answers at once, without 100 Continue, and closes the connection."""
    host = env.server.host
    port = env.server.port
    assert port is not None
    reader, writer = await asyncio.open_connection(host, port)
    writer.write(
        b"PUT /bkt/k HTTP/1.1\r\nHost: %s:%d\r\nContent-Length: 1000000\r\n"
        b"Expect: 100-continue\r\n\r\n" % (host.encode(), port)
    )
    await writer.drain()
    status = await within(reader.readline(), 5)
    assert status.startswith(b"HTTP/1.1 403")
    head = await within(reader.readuntil(b"\r\n\r\n"), 5)
    assert b"Connection: close" in head or b"connection: close" in head.lower()
    writer.close()


async def test_expect_continue_sent_when_body_is_read(env: S3Env) -> None:
    url = f"{env.endpoint}/bkt/cont"
    request = AWSRequest(method="PUT", url=url, data=b"0123456789")
    S3SigV4Auth(Credentials(ACCESS_KEY, SECRET_KEY), "s3", REGION).add_auth(request)
    host, port = env.server.host, env.server.port
    assert port is not None
    reader, writer = await asyncio.open_connection(host, port)
    lines = ["PUT /bkt/cont HTTP/1.1", f"Host: {host}:{port}", "Content-Length: 10",
             "Expect: 100-continue"]  # fmt: skip
    lines += [f"{k}: {v}" for k, v in request.headers.items()]
    writer.write(("\r\n".join(lines) + "\r\n\r\n").encode())
    await writer.drain()
    assert (await within(reader.readline(), 5)).startswith(b"HTTP/1.1 100")
    await reader.readline()
    writer.write(b"0123456789")
    assert (await within(reader.readline(), 5)).startswith(b"HTTP/1.1 200")
    writer.close()
    assert await env.stored("bkt", "cont") == b"0123456789"


async def test_header_section_too_large(env: S3Env) -> None:
    headers = {f"x-junk-{i}": "v" * 200 for i in range(50)}
    async with (
        aiohttp.ClientSession() as session,
        session.get(f"{env.endpoint}/bkt", headers=headers) as r,
    ):
        assert r.status == 400
        assert "<Code>RequestHeaderSectionTooLarge</Code>" in await r.text()
