"""Test harness for the admin API: a real coordinator with its admin listener, and a client.

``admin_running(database_url)`` starts the coordinator of ``coordinator_harness.running``
with ``admin_listen`` on a free loopback port and ``ADMIN_TOKEN`` as its configured admin
token, and yields ``AdminHarness``: the running coordinator, the admin base URL and
``call(method, path, token=..., json=..., params=...)`` answering ``(status, body, headers)``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import aiohttp
from component.coordinator_harness import Running, make_config, running

from wormfs.config import ListenConfig
from wormfs.coordinator.admin.server import ADMIN_URL

ADMIN_TOKEN = "wfa_component-test-admin-token-0123456789abcdefghijklmn"
NO_TOKEN = ""


@dataclass
class AdminHarness:
    coordinator: Running
    url: str
    session: aiohttp.ClientSession

    async def call(
        self,
        method: str,
        path: str,
        *,
        token: str | None = ADMIN_TOKEN,
        json: Any = None,
        params: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> tuple[int, Any, Mapping[str, str]]:
        sent = dict(headers or {})
        if token:
            sent["Authorization"] = f"Bearer {token}"
        async with self.session.request(
            method, self.url + "/admin/v1" + path, json=json, params=params, headers=sent
        ) as resp:
            body = await resp.json() if resp.content_type == "application/json" else None
            return resp.status, body, resp.headers

    async def ok(self, method: str, path: str, **kwargs: Any) -> Any:
        status, body, _ = await self.call(method, path, **kwargs)
        assert status < 300, (status, body)
        return body


@asynccontextmanager
async def admin_running(database_url: str, **overrides: Any) -> AsyncIterator[AdminHarness]:
    config = make_config(
        database_url, admin_listen=ListenConfig(port=0), admin_token=ADMIN_TOKEN, **overrides
    )
    async with running(config) as coordinator:
        url = coordinator.app[ADMIN_URL]
        async with aiohttp.ClientSession() as session:
            yield AdminHarness(coordinator, url, session)
