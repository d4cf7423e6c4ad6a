"""The admin API with two coordinators elected over a real ZooKeeper: a follower answers
admin calls with 307 to the same path on the leader's admin address (published with the
leader record), and answers health itself."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack

import aiohttp
import pytest
from component.admin_harness import ADMIN_TOKEN
from component.coordinator_harness import Running, make_config, running
from infra.zookeeper import ZooKeeperServer
from waiting import eventually

from wormfs.config import ListenConfig
from wormfs.coordinator.admin.server import ADMIN_URL
from wormfs.coordinator.app import ELECTION

pytestmark = pytest.mark.timeout(90)
AUTH = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


@pytest.fixture
async def members(
    database_url: str, zookeeper_server: ZooKeeperServer
) -> AsyncIterator[list[Running]]:
    config = make_config(
        database_url,
        zookeeper_hosts=zookeeper_server.hosts,
        zookeeper_path=f"/wormfs-admin-{uuid.uuid4().hex[:8]}",
        zookeeper_session_timeout=2.0,
        admin_listen=ListenConfig(port=0),
        admin_token=ADMIN_TOKEN,
    )
    async with AsyncExitStack() as stack:
        yield [await stack.enter_async_context(running(config)) for _ in range(2)]


async def test_follower_redirects_admin_calls_to_the_leader(members: list[Running]) -> None:
    async def one_leader() -> bool:
        leaders = [m for m in members if m.app[ELECTION].serving]
        followers = [m for m in members if not m.app[ELECTION].serving]
        return len(leaders) == 1 and all(
            f.app[ELECTION].leader_admin_address == leaders[0].app[ADMIN_URL] for f in followers
        )

    await eventually(one_leader, 20)
    leader = next(m for m in members if m.app[ELECTION].serving)
    follower = next(m for m in members if m is not leader)
    leader_url, follower_url = leader.app[ADMIN_URL], follower.app[ADMIN_URL]
    async with aiohttp.ClientSession() as session:
        # The leader added the configured token (a follower cannot write).
        async def token_ready() -> bool:
            async with session.get(leader_url + "/admin/v1/tokens", headers=AUTH) as resp:
                return resp.status == 200

        await eventually(token_ready, 10)
        path = "/admin/v1/buckets?limit=5"
        async with session.get(follower_url + path, headers=AUTH, allow_redirects=False) as resp:
            assert resp.status == 307
            assert resp.headers["Location"] == leader_url + path
            assert resp.headers["x-request-id"]
        async with session.post(
            follower_url + "/admin/v1/buckets", json={"name": "bkt1"}, allow_redirects=False
        ) as resp:
            assert resp.status == 307  # before auth: the leader answers and audits it
        async with session.get(follower_url + "/admin/v1/health") as resp:
            body = await resp.json()
            assert body["leader"] is False and body["status"] in ("healthy", "unavailable")
        async with session.get(resp_url := leader_url + "/admin/v1/audit", headers=AUTH) as r:
            assert (await r.json())["items"] == [], resp_url  # nothing audited on the follower
