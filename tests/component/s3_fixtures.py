"""Fixtures for the S3 protocol component tests: the gateway app in-process over a fake
service, and a real boto3 client (default settings, path-style, us-east-1) pointed at it."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import boto3
import pytest
from aiohttp.test_utils import TestServer
from botocore.config import Config
from botocore.exceptions import ClientError
from component.fake_service import FakeObjectService

from wormfs.config import GatewayConfig
from wormfs.gateway.app import create_s3_app

ACCESS_KEY = "AKIDWORMFSTEST0001"
SECRET_KEY = "wormfs-test-secret-key-0001"
OTHER_ACCESS_KEY = "AKIDWORMFSTEST0002"
OTHER_SECRET_KEY = "wormfs-test-secret-key-0002"
REGION = "us-east-1"


@dataclass
class S3Env:
    server: TestServer
    service: FakeObjectService
    endpoint: str

    def client(
        self, access_key: str = ACCESS_KEY, secret_key: str = SECRET_KEY, **config: Any
    ) -> Any:
        return boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            region_name=REGION,
            aws_access_key_id=access_key,
            aws_secret_access_key=secret_key,
            config=Config(s3={"addressing_style": "path"}, **config),
            verify=False,
        )


def make_service() -> FakeObjectService:
    service = FakeObjectService()
    service.add_user(ACCESS_KEY, SECRET_KEY, "user-1", "alice")
    service.add_user(OTHER_ACCESS_KEY, OTHER_SECRET_KEY, "user-2", "bob")
    return service


async def start_env(
    aiohttp_server: Callable[..., Awaitable[TestServer]],
    config: GatewayConfig | None = None,
    **server_kwargs: Any,
) -> S3Env:
    service = make_service()
    app = create_s3_app(service, config or GatewayConfig(region=REGION))
    server = await aiohttp_server(app, **server_kwargs)
    return S3Env(server, service, str(server.make_url("")).rstrip("/"))


Server = Callable[..., Awaitable[TestServer]]


async def call(client: Any, method: str, **kwargs: Any) -> Any:
    return await asyncio.to_thread(getattr(client, method), **kwargs)


async def read_body(response: Any) -> bytes:
    """The body of a get_object answer, read in a thread (the server runs on this loop)."""
    return await asyncio.to_thread(response["Body"].read)


async def error_of(client: Any, method: str, **kwargs: Any) -> tuple[str, int, dict[str, Any]]:
    with pytest.raises(ClientError) as info:
        await call(client, method, **kwargs)
    response = info.value.response
    return (
        response["Error"].get("Code", ""),
        response["ResponseMetadata"]["HTTPStatusCode"],
        response,
    )
