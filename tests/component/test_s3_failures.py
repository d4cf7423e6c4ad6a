"""How the app answers when things below it fail, and addressing/encoding corner cases."""

from __future__ import annotations

import asyncio
import gzip
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestServer
from botocore.auth import S3SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from botocore.exceptions import ClientError
from component.s3_fixtures import ACCESS_KEY, REGION, SECRET_KEY, S3Env, start_env

from wormfs.config import GatewayConfig
from wormfs.errors import NotEnoughFragmentsError
from wormfs.wire.coordinator import ObjectManifest

Server = Callable[..., Awaitable[TestServer]]


async def call(client: Any, method: str, **kwargs: Any) -> Any:
    return await asyncio.to_thread(getattr(client, method), **kwargs)


@pytest.fixture
async def env(aiohttp_server: Server, tmp_path: Path) -> S3Env:
    env = await start_env(aiohttp_server, tmp_path)
    await call(env.client(), "create_bucket", Bucket="bkt")
    return env


async def test_unexpected_exception_is_500_with_logged_request_id(
    env: S3Env, caplog: pytest.LogCaptureFixture
) -> None:
    async def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("boom")

    env.service.list_buckets = broken  # type: ignore[method-assign]
    with pytest.raises(ClientError) as info, caplog.at_level(logging.ERROR):
        await call(env.client(retries={"max_attempts": 1}), "list_buckets")
    response = info.value.response
    assert response["Error"]["Code"] == "InternalError"
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 500
    request_id = response["ResponseMetadata"]["RequestId"]
    assert any(request_id in r.getMessage() and r.exc_info for r in caplog.records)
    assert "boom" not in str(response)  # no internals leak to the client


async def test_read_failing_at_once_is_503(env: S3Env) -> None:
    s3 = env.client(retries={"max_attempts": 1})
    await call(s3, "put_object", Bucket="bkt", Key="k", Body=b"x" * 1000)

    async def unreadable(
        manifest: ObjectManifest, start: int, end: int, customer: object = None
    ) -> AsyncIterator[bytes]:
        raise NotEnoughFragmentsError()
        yield b""

    env.service.read_object = unreadable  # type: ignore[method-assign]
    with pytest.raises(ClientError) as info:
        await call(s3, "get_object", Bucket="bkt", Key="k")
    assert info.value.response["Error"]["Code"] == "ServiceUnavailable"
    assert info.value.response["ResponseMetadata"]["HTTPStatusCode"] == 503


async def test_read_failing_midway_drops_the_connection(env: S3Env) -> None:
    s3 = env.client()
    await call(s3, "put_object", Bucket="bkt", Key="k", Body=b"x" * 3_000_000)

    async def half(
        manifest: ObjectManifest, start: int, end: int, customer: object = None
    ) -> AsyncIterator[bytes]:
        yield b"x" * 1024 * 1024
        raise NotEnoughFragmentsError()

    env.service.read_object = half  # type: ignore[method-assign]
    url = await call(
        env.client(signature_version="s3v4"),
        "generate_presigned_url",
        ClientMethod="get_object",
        Params={"Bucket": "bkt", "Key": "k"},
    )
    async with aiohttp.ClientSession() as session, session.get(url) as r:
        assert r.status == 200
        assert r.headers["Content-Length"] == "3000000"
        with pytest.raises(aiohttp.ClientPayloadError):
            await r.read()


async def test_virtual_hosted_style(aiohttp_server: Server, tmp_path: Path) -> None:
    env = await start_env(
        aiohttp_server, tmp_path, GatewayConfig(region=REGION, virtual_host_domain="s3.wormfs.test")
    )
    await call(env.client(), "create_bucket", Bucket="vbkt")
    port = env.server.port
    virtual = f"http://vbkt.s3.wormfs.test:{port}"
    for method, path, body in (("PUT", "/a/b.txt", b"virtual"), ("GET", "/a/b.txt", b"")):
        request = AWSRequest(method=method, url=virtual + path, data=body)
        S3SigV4Auth(Credentials(ACCESS_KEY, SECRET_KEY), "s3", REGION).add_auth(request)
        headers = dict(request.headers.items())
        headers["Host"] = f"vbkt.s3.wormfs.test:{port}"
        async with (
            aiohttp.ClientSession() as session,
            session.request(method, env.endpoint + path, headers=headers, data=body or None) as r,
        ):
            assert r.status == 200, await r.text()
            if method == "GET":
                assert await r.read() == b"virtual"
    assert await env.stored("vbkt", "a/b.txt") == b"virtual"


async def test_gzip_bodies_are_stored_as_sent(env: S3Env) -> None:
    compressed = gzip.compress(b"some text " * 1000)
    s3 = env.client()
    await call(s3, "put_object", Bucket="bkt", Key="z.gz", Body=compressed, ContentEncoding="gzip")
    assert await env.stored("bkt", "z.gz") == compressed
    head = await call(s3, "head_object", Bucket="bkt", Key="z.gz")
    assert head["ContentEncoding"] == "gzip"
    assert head["ContentLength"] == len(compressed)


async def test_odd_keys_round_trip(env: S3Env) -> None:
    s3 = env.client()
    keys = ["a b", "a+b", "a%2Fb", "ü/ñ", "semi;colon", "q?x=1", "hash#frag", "tab\tkey",
            "new\nline", "cr\rkey", "../up", "dot/./dot", "//double", "~tilde",
            "*star"]  # fmt: skip
    for key in keys:
        await call(s3, "put_object", Bucket="bkt", Key=key, Body=key.encode())
        got = await call(s3, "get_object", Bucket="bkt", Key=key)
        assert await asyncio.to_thread(got["Body"].read) == key.encode()
    listed = await call(s3, "list_objects_v2", Bucket="bkt")  # boto3 asks for encoding-type=url
    assert sorted(o["Key"] for o in listed["Contents"]) == sorted(keys)
    v1 = await call(s3, "list_objects", Bucket="bkt")
    assert sorted(o["Key"] for o in v1["Contents"]) == sorted(keys)
    from urllib.parse import unquote_plus

    raw = await call(s3, "list_objects", Bucket="bkt", EncodingType="url")  # left encoded
    assert sorted(unquote_plus(o["Key"]) for o in raw["Contents"]) == sorted(keys)
