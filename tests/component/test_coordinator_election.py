"""Coordinator election over a real ZooKeeper, on SQLite and on PostgreSQL: one leader among
several coordinators, followers redirecting with NotLeaderError, clients finding the leader
(URL list and ZooKeeper), hand-over on shutdown, SUSPENDED and LOST session states."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from typing import Any

import aiohttp
import pytest
from component.coordinator_harness import (
    SECRET,
    Running,
    make_bucket,
    make_config,
    put,
    register,
    running,
)
from infra.zookeeper import ZooKeeperServer
from kazoo.client import KazooClient
from waiting import eventually

from wormfs.clients.coordinator import CoordinatorClient
from wormfs.coordinator.app import ELECTION, JOBS
from wormfs.coordinator.election import Election
from wormfs.errors import NotLeaderError
from wormfs.internal.http import InternalClient
from wormfs.internal.leader import election_path
from wormfs.wire.coordinator import CoordinatorHealth, CreateUser

pytestmark = pytest.mark.timeout(90)

SESSION_TIMEOUT = 2.0


def election(r: Running) -> Election:
    return r.app[ELECTION]


async def health(r: Running) -> CoordinatorHealth:
    return await r.client.health()  # ungated: every coordinator answers


class Pair:
    """Two coordinators on one database and one ZooKeeper path."""

    def __init__(self, stack: AsyncExitStack, config: Any) -> None:
        self.stack = stack
        self.config = config
        self.members: list[Running] = []

    async def add(self) -> Running:
        member = await self.stack.enter_async_context(running(self.config))
        self.members.append(member)
        return member

    async def leader(self, timeout: float = 15.0) -> Running:
        async def one() -> bool:
            return sum(election(m).serving for m in self.members) == 1

        await eventually(one, timeout)
        return next(m for m in self.members if election(m).serving)


@pytest.fixture
async def pair(database_url: str, zookeeper_server: ZooKeeperServer) -> AsyncIterator[Pair]:
    config = make_config(
        database_url,
        zookeeper_hosts=zookeeper_server.hosts,
        zookeeper_path=f"/wormfs-test-{uuid.uuid4().hex[:8]}",
        zookeeper_session_timeout=SESSION_TIMEOUT,
        node_offline_after=3600.0,
    )
    async with AsyncExitStack() as stack:
        yield Pair(stack, config)


def expire_session(zookeeper: ZooKeeperServer, victim: Election) -> None:
    """Make ZooKeeper expire ``victim``'s session, as a long pause or partition would:
    a second client joins the same session and closes it (kazoo's own tests do this)."""
    intruder = KazooClient(hosts=zookeeper.hosts, client_id=victim._client.client_id)
    intruder.start(timeout=10)
    intruder.stop()
    intruder.close()


async def test_one_leader_followers_redirect_and_clients_follow(pair: Pair) -> None:
    a = await pair.add()
    b = await pair.add()
    leader = await pair.leader()
    follower = b if leader is a else a
    assert (await health(leader)).leader and not (await health(follower)).leader
    await eventually(lambda: _knows(follower, leader.address))

    # A follower answers every /v1 request (but health) with NotLeaderError naming the leader.
    raw = InternalClient(follower.session, follower.address, SECRET)
    with pytest.raises(NotLeaderError) as caught:
        await raw.request("GET", "/v1/buckets")
    assert caught.value.leader == leader.address
    assert leader.address in caught.value.message

    # Clients find the leader: from a follower's redirect, from a list of URLs.
    via_follower = CoordinatorClient(follower.session, follower.address, SECRET)
    await register(via_follower, "n1", 6)
    await make_bucket(via_follower, "bkt")
    both = CoordinatorClient(follower.session, f"{follower.address},{leader.address}", SECRET)
    manifest = await put(both, "bkt", "k", size=10)
    assert await leader.client.get_object("bkt", "k") == manifest
    assert both.base_url == leader.address


async def _knows(follower: Running, address: str) -> bool:
    record = election(follower).leader
    return record is not None and record.address == address


async def test_shutdown_hands_over_at_once(pair: Pair) -> None:
    a = await pair.add()
    assert await pair.leader() is a
    b = await pair.add()
    await register(a.client, "n1", 6)
    await make_bucket(a.client, "bkt")
    await put(a.client, "bkt", "before", size=10)
    old_epoch = a.repo.db.epoch
    assert old_epoch is not None and a.app[JOBS].running and not b.app[JOBS].running

    await election(a).close()  # what SIGTERM does: step down, release the lock at once
    # Released, not left to expire with a's session: only b still contends, right away.
    path = election_path(pair.config.zookeeper_path)
    contenders = await asyncio.to_thread(election(b)._client.get_children, path)
    assert len(contenders) == 1
    assert await pair.leader(timeout=10) is b
    assert b.repo.db.epoch is not None and b.repo.db.epoch > old_epoch
    assert (await b.client.get_object("bkt", "before")).size == 10
    assert b.app[JOBS].running and not a.app[JOBS].running
    with pytest.raises(NotLeaderError):  # a's database handle writes no more
        await a.repo.identity.create_user(CreateUser(display_name="late"))


async def test_suspended_leader_refuses_writes_until_connected(
    database_url: str, tmp_path: Any
) -> None:
    # A private ZooKeeper that we stop and start again on the same port and data.
    zk = ZooKeeperServer().start()
    try:
        config = make_config(
            database_url,
            zookeeper_hosts=zk.hosts,
            zookeeper_session_timeout=20.0,  # the longest the server allows: outlive the outage
        )
        async with running(config) as r:
            await eventually(lambda: _serving(r))
            await make_bucket(r.client, "bkt")
            zk.pause()
            await eventually(lambda: _not_serving(r))
            raw = InternalClient(r.session, r.address, SECRET)
            with pytest.raises(NotLeaderError):
                await raw.request("GET", "/v1/buckets")
            with pytest.raises(NotLeaderError):  # the database gate too, not only HTTP
                await r.repo.identity.create_user(CreateUser(display_name="x"))
            assert r.repo.db.epoch is not None  # still our epoch: not deposed
            epoch = r.repo.db.epoch
            zk.resume()
            await eventually(lambda: _serving(r))
            assert r.repo.db.epoch == epoch  # the same session: the same leadership
            await make_bucket(r.client, "bkt2")
    finally:
        zk.stop()


async def _serving(r: Running) -> bool:
    return election(r).serving


async def _not_serving(r: Running) -> bool:
    return not election(r).serving


async def test_lost_session_steps_down_and_the_other_leads(
    pair: Pair, zookeeper_server: ZooKeeperServer
) -> None:
    a = await pair.add()
    await pair.leader()
    b = await pair.add()
    await register(a.client, "n1", 6)
    await make_bucket(a.client, "bkt")
    old_epoch = a.repo.db.epoch
    expire_session(zookeeper_server, election(a))
    await eventually(lambda: _serving(b))
    await eventually(lambda: _stepped_down(a))
    assert await pair.leader() is b
    assert a.repo.db.epoch is None and not a.app[JOBS].running
    assert b.repo.db.epoch is not None and old_epoch is not None
    assert b.repo.db.epoch > old_epoch
    # a campaigns again as a follower and redirects to b.
    await eventually(lambda: _knows(a, b.address))
    both = CoordinatorClient(a.session, f"{a.address},{b.address}", SECRET)
    await put(both, "bkt", "after", size=5)


async def _stepped_down(r: Running) -> bool:
    return not election(r).serving and r.repo.db.epoch is None


async def test_clients_find_the_leader_through_zookeeper(pair: Pair) -> None:
    a = await pair.add()
    b = await pair.add()
    leader = await pair.leader()
    async with aiohttp.ClientSession() as session:
        client = CoordinatorClient(
            session,
            "",
            SECRET,
            zookeeper_hosts=pair.config.zookeeper_hosts,
            zookeeper_path=pair.config.zookeeper_path,
        )
        try:
            await register(client, "n1", 6)
            await make_bucket(client, "zkb")
            assert client.base_url == leader.address
            await election(leader).close()  # hand over; the watch follows
            other = b if leader is a else a
            await eventually(lambda: _serving(other))
            await put(client, "zkb", "k", size=3)
            assert client.base_url == other.address
        finally:
            await client.close()
