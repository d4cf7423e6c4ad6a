"""The web UI with two coordinators elected over a real ZooKeeper: a follower's pages and
login form redirect to the same path on the leader's admin address."""

from __future__ import annotations

import aiohttp
import pytest
from component.coordinator_harness import Running
from component.test_admin_follower import members
from waiting import eventually

from wormfs.coordinator.admin.server import ADMIN_URL
from wormfs.coordinator.app import ELECTION

pytestmark = pytest.mark.timeout(90)
__all__ = ["members"]  # the fixture: two coordinators, one ZooKeeper


async def test_a_followers_pages_redirect_to_the_leaders(members: list[Running]) -> None:
    async def one_leader() -> bool:
        leaders = [m for m in members if m.app[ELECTION].serving]
        return len(leaders) == 1 and all(
            m.app[ELECTION].leader_admin_address == leaders[0].app[ADMIN_URL]
            for m in members
            if m is not leaders[0]
        )

    await eventually(one_leader, 20)
    leader = next(m for m in members if m.app[ELECTION].serving)
    follower = next(m for m in members if m is not leader)
    leader_url, follower_url = leader.app[ADMIN_URL], follower.app[ADMIN_URL]
    async with aiohttp.ClientSession() as session:
        for path in ("/ui/nodes?cursor=x", "/ui/login", "/ui/"):
            async with session.get(follower_url + path, allow_redirects=False) as resp:
                assert resp.status == 307, path
                assert resp.headers["Location"] == leader_url + path
        async with session.get(leader_url + "/ui/login") as resp:
            assert resp.status == 200  # the leader serves its own login form
