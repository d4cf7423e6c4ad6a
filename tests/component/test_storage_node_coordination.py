"""The storage node's background work in-process: registration with a (fake) coordinator,
heartbeats, re-registration, a coordinator that starts late, and a clean shutdown."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
from aiohttp.test_utils import TestServer
from component.storage_harness import ClientFactory, FakeCoordinator, Node, start_node
from waiting import eventually, within

from wormfs.storage_node.app import LINK_KEY, PROBER_KEY, start_coordinator_link


@pytest.fixture
async def node(aiohttp_client: ClientFactory, tmp_path: Path) -> Node:
    return await start_node(aiohttp_client, tmp_path)


async def test_registers_and_heartbeats(aiohttp_client: ClientFactory, tmp_path: Path) -> None:
    fake = FakeCoordinator()
    coordinator = await aiohttp_client(fake.app())
    node = await start_node(
        aiohttp_client,
        tmp_path,
        coordinator_url=str(coordinator.make_url("")).rstrip("/"),
        rack="r1",
        zone="z1",
        heartbeat_interval=5.0,
    )
    await start_coordinator_link(node.app, node.address)
    assert len(fake.registrations) == 1  # the first attempt is inline
    registration = fake.registrations[0]
    assert registration.node_id == node.disks.node_id
    assert registration.address == node.address
    assert (registration.rack, registration.zone) == ("r1", "z1")
    assert [d.disk_id for d in registration.disks] == [d.disk_id for d in node.disks.all()]
    # The coordinator asked for 0.1 s heartbeats: faster than the node's own 5 s.
    await eventually(lambda: len(fake.heartbeats) >= 3, timeout=5.0)
    assert all(len(h.disks) == 3 for h in fake.heartbeats)
    # A coordinator that forgot the node gets a new registration.
    fake.forget_next_heartbeat = True
    await eventually(lambda: len(fake.registrations) == 2, timeout=5.0)
    link = node.app[LINK_KEY]
    await node.client.close()
    assert link._task is None  # the heartbeat task was cancelled on shutdown


async def test_registration_waits_for_a_late_coordinator(
    aiohttp_client: ClientFactory, tmp_path: Path
) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    node = await start_node(aiohttp_client, tmp_path, coordinator_url=f"http://127.0.0.1:{port}")
    # Returns after its one inline attempt (bounded far below "forever"), retrying behind.
    await within(start_coordinator_link(node.app, node.address), 60)
    link = node.app[LINK_KEY]
    assert link._task is not None and not link._task.done()
    # Serving is not held up by the missing coordinator.
    assert (await node.storage.health(node.address)).status == "ok"
    fake = FakeCoordinator()
    server = TestServer(fake.app(), port=port)
    await server.start_server()
    try:
        await eventually(lambda: len(fake.registrations) >= 1, timeout=20.0)
        await eventually(lambda: len(fake.heartbeats) >= 1, timeout=5.0)
    finally:
        await server.close()


async def test_shutdown_stops_background_tasks(node: Node) -> None:
    prober = node.app[PROBER_KEY]
    assert prober._task is not None and not prober._task.done()
    await node.client.close()
    assert prober._task is None and node.app[LINK_KEY]._task is None
