"""CORS through real boto3 and raw HTTP against a real ObjectService and coordinator:
Put/Get/DeleteBucketCors and AWS's validation, OPTIONS preflights as browsers send them
(unsigned), and the Access-Control-* headers of actual requests, presigned ones included."""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
import pytest
from component.s3_fixtures import S3Env, call, error_of

RULES: list[dict[str, Any]] = [
    {
        "ID": "web",
        "AllowedHeaders": ["x-amz-*", "Content-Type"],
        "AllowedMethods": ["GET", "PUT"],
        "AllowedOrigins": ["https://*.example.com"],
        "ExposeHeaders": ["ETag", "x-amz-request-id"],
        "MaxAgeSeconds": 3000,
    },
    {"AllowedMethods": ["GET"], "AllowedOrigins": ["*"]},
]


@pytest.fixture
async def s3(env: S3Env) -> Any:
    client = env.client()
    await call(client, "create_bucket", Bucket="bkt")
    await call(client, "put_object", Bucket="bkt", Key="k", Body=b"hello")
    return client


async def _http(
    env: S3Env, method: str, path: str, headers: dict[str, str]
) -> tuple[int, dict[str, str], bytes]:
    async with (
        aiohttp.ClientSession() as session,
        session.request(method, env.endpoint + path, headers=headers) as resp,
    ):
        return resp.status, dict(resp.headers), await resp.read()


async def test_configuration_round_trip_and_errors(s3: Any) -> None:
    code, status, _ = await error_of(s3, "get_bucket_cors", Bucket="bkt")
    assert (code, status) == ("NoSuchCORSConfiguration", 404)
    await call(s3, "put_bucket_cors", Bucket="bkt", CORSConfiguration={"CORSRules": RULES})
    assert (await call(s3, "get_bucket_cors", Bucket="bkt"))["CORSRules"] == RULES
    for bad, expected in (
        ({"AllowedMethods": ["PATCH"], "AllowedOrigins": ["*"]}, ("InvalidRequest", 400)),
        ({"AllowedMethods": ["GET"], "AllowedOrigins": ["*.a.*"]}, ("InvalidRequest", 400)),
        (
            {"AllowedMethods": ["GET"], "AllowedOrigins": ["*"], "AllowedHeaders": ["*a*"]},
            ("InvalidRequest", 400),
        ),
    ):
        code, status, _ = await error_of(
            s3, "put_bucket_cors", Bucket="bkt", CORSConfiguration={"CORSRules": [bad]}
        )
        assert (code, status) == expected, bad
    await call(s3, "delete_bucket_cors", Bucket="bkt")
    code, status, _ = await error_of(s3, "get_bucket_cors", Bucket="bkt")
    assert (code, status) == ("NoSuchCORSConfiguration", 404)


async def test_preflights(s3: Any, env: S3Env) -> None:
    ask = {"Origin": "https://app.example.com", "Access-Control-Request-Method": "PUT"}
    status, headers, body = await _http(env, "OPTIONS", "/bkt/k", ask)
    assert status == 403 and b"<Code>AccessForbidden</Code>" in body  # no CORS yet
    await call(s3, "put_bucket_cors", Bucket="bkt", CORSConfiguration={"CORSRules": RULES})
    await asyncio.sleep(1.1)  # the worker's cached bucket facts expire
    wanted = {**ask, "Access-Control-Request-Headers": "x-amz-meta-a, content-type"}
    status, headers, _ = await _http(env, "OPTIONS", "/bkt/k", wanted)
    assert status == 200
    assert headers["Access-Control-Allow-Origin"] == "https://app.example.com"
    assert headers["Access-Control-Allow-Methods"] == "GET, PUT"
    assert headers["Access-Control-Allow-Headers"] == "x-amz-meta-a, content-type"
    assert headers["Access-Control-Max-Age"] == "3000"
    assert headers["Access-Control-Allow-Credentials"] == "true"
    assert "Origin" in headers["Vary"]
    # Any origin may GET (the second rule), no other method; a header not allowed is refused.
    status, headers, _ = await _http(
        env, "OPTIONS", "/bkt/k", {"Origin": "http://other", "Access-Control-Request-Method": "GET"}
    )
    assert (status, headers["Access-Control-Allow-Origin"]) == (200, "*")
    for refused in (
        {"Origin": "http://other", "Access-Control-Request-Method": "PUT"},
        {**ask, "Access-Control-Request-Headers": "authorization-x"},
        {"Origin": "https://example.com", "Access-Control-Request-Method": "PUT"},
    ):
        status, _, body = await _http(env, "OPTIONS", "/bkt/k", refused)
        assert status == 403 and b"AccessForbidden" in body, refused
    for incomplete in ({"Origin": "https://app.example.com"}, {}):
        status, _, _ = await _http(env, "OPTIONS", "/bkt/k", incomplete)
        assert status == 400, incomplete
    status, _, body = await _http(env, "OPTIONS", "/missing/k", ask)
    assert status == 404 and b"NoSuchBucket" in body


async def test_actual_requests_carry_the_headers(s3: Any, env: S3Env) -> None:
    await call(s3, "put_bucket_cors", Bucket="bkt", CORSConfiguration={"CORSRules": RULES})
    url = await asyncio.to_thread(
        s3.generate_presigned_url, "get_object", Params={"Bucket": "bkt", "Key": "k"}
    )
    path = url[len(env.endpoint) :]
    status, headers, body = await _http(env, "GET", path, {"Origin": "https://a.example.com"})
    assert (status, body) == (200, b"hello")
    assert headers["Access-Control-Allow-Origin"] == "https://a.example.com"
    assert headers["Access-Control-Expose-Headers"] == "ETag, x-amz-request-id"
    status, headers, _ = await _http(env, "GET", path, {})
    assert status == 200 and "Access-Control-Allow-Origin" not in headers  # no Origin
    # An unsigned request is refused, but a browser can still read why.
    status, headers, _ = await _http(env, "GET", "/bkt/k", {"Origin": "http://any"})
    assert (status, headers["Access-Control-Allow-Origin"]) == (403, "*")
    # A method no rule allows gets no CORS headers.
    status, headers, _ = await _http(env, "DELETE", "/bkt/k", {"Origin": "http://any"})
    assert status == 403 and "Access-Control-Allow-Origin" not in headers
