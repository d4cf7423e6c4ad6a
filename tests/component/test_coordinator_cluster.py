"""Coordinator node registry and background jobs: registration, heartbeats, liveness, GC
through a fake storage node, and the expiry of abandoned writes."""

from __future__ import annotations

import msgspec
import pytest
from component.coordinator_harness import (
    FakeNode,
    chunk_ids,
    disks,
    fake_node,
    make_bucket,
    make_config,
    md5_etag,
    part_from_grant,
    put,
    refs,
    register,
    running,
)
from sqlalchemy import insert, select
from waiting import eventually

from wormfs.coordinator.db.tables import gc_queue, nodes
from wormfs.coordinator.tasks import GarbageCollector, GcPass
from wormfs.errors import ConflictError, InsufficientDisksError, NotFoundError
from wormfs.wire.coordinator import BeginWrite, CommitObject, Heartbeat, NodeRegistration
from wormfs.wire.storage import DiskInfo

pytestmark = pytest.mark.timeout(60)


async def _expired(gc: GarbageCollector) -> GcPass | None:
    result = await gc.run_once()
    return result if result.expired_writes else None


def _with_state(
    infos: list[DiskInfo], index: int, state: str, free: int | None = None
) -> list[DiskInfo]:
    out = list(infos)
    changes: dict[str, object] = {"state": state}
    if free is not None:
        changes["free_bytes"] = free
    out[index] = msgspec.structs.replace(out[index], **changes)  # type: ignore[arg-type]
    return out


async def test_register_heartbeat_and_disk_states(database_url: str) -> None:
    async with running(make_config(database_url)) as r:
        c = r.client
        await make_bucket(c, "bkt")
        result = await c.register_node(
            NodeRegistration(
                node_id="n1", address="http://10.0.0.1:9101/", disks=disks("n1", 6), rack="r1"
            )
        )
        assert result.node_id == "n1" and result.heartbeat_interval == 5.0
        [node] = (await c.list_nodes()).nodes
        assert (node.address, node.state, node.rack, len(node.disks)) == (
            "http://10.0.0.1:9101",
            "online",
            "r1",
            6,
        )
        assert (await c.begin_write(BeginWrite(bucket="bkt", key="k", size=1))).segments

        # A disk reported offline (or full) is out of placement at once.
        beat = await c.heartbeat("n1", Heartbeat(disks=_with_state(disks("n1", 6), 0, "offline")))
        assert beat.node_id == "n1"
        with pytest.raises(InsufficientDisksError):
            await c.begin_write(BeginWrite(bucket="bkt", key="k", size=1))
        await c.heartbeat("n1", Heartbeat(disks=_with_state(disks("n1", 6), 2, "full")))
        with pytest.raises(InsufficientDisksError):
            await c.begin_write(BeginWrite(bucket="bkt", key="k", size=1))
        # An online disk without room is out too.
        await c.heartbeat("n1", Heartbeat(disks=_with_state(disks("n1", 6), 3, "online", free=5)))
        with pytest.raises(InsufficientDisksError):
            await c.begin_write(BeginWrite(bucket="bkt", key="k", size=1))
        await c.heartbeat("n1", Heartbeat(disks=disks("n1", 6)))
        assert (await c.begin_write(BeginWrite(bucket="bkt", key="k", size=1))).segments

        # A disk the node stops reporting is marked offline.
        await c.heartbeat("n1", Heartbeat(disks=disks("n1", 5)))
        states = {d.disk_id: d.state for d in (await c.list_nodes()).nodes[0].disks}
        assert states["n1-d5"] == "offline"
        health = await c.health()
        assert (health.nodes_online, health.disks_online) == (1, 5)

        with pytest.raises(NotFoundError):
            await c.heartbeat("stranger", Heartbeat(disks=[]))


async def test_node_offline_after_silence(database_url: str) -> None:
    config = make_config(database_url, heartbeat_interval=0.1, node_offline_after=0.4)
    async with running(config) as r:
        c = r.client
        await make_bucket(c, "bkt")
        await register(c, "n1", 6)
        assert (await c.begin_write(BeginWrite(bucket="bkt", key="k", size=1))).segments

        async def marked_offline() -> bool:
            state = await r.repo.db.read(
                lambda tx: tx.scalar(select(nodes.c.state).where(nodes.c.node_id == "n1"))
            )
            return bool(state == "offline")

        await eventually(marked_offline)
        assert (await c.list_nodes()).nodes[0].state == "offline"
        assert (await c.health()).nodes_online == 0
        with pytest.raises(InsufficientDisksError):
            await c.begin_write(BeginWrite(bucket="bkt", key="k", size=1))
        # A heartbeat brings it back.
        await c.heartbeat("n1", Heartbeat(disks=disks("n1", 6)))
        assert (await c.list_nodes()).nodes[0].state == "online"
        assert (await c.begin_write(BeginWrite(bucket="bkt", key="k", size=1))).segments


async def test_spreads_over_nodes(database_url: str) -> None:
    async with running(make_config(database_url)) as r:
        await make_bucket(r.client, "bkt")
        for n in range(3):
            await register(r.client, f"n{n}", 4)
        grant = await r.client.begin_write(BeginWrite(bucket="bkt", key="k", size=100_000))
        for seg in grant.segments:
            nodes = [ch.node_id for ch in seg.chunks]
            assert sorted(nodes.count(n) for n in set(nodes)) == [2, 2, 2]


async def test_gc_deletes_through_the_node(database_url: str) -> None:
    node = FakeNode()
    async with fake_node(node) as address, running(make_config(database_url, gc_delay=0.0)) as r:
        c = r.client
        await register(c, "n1", 6, address=address)
        await make_bucket(c, "bkt")
        old = await put(c, "bkt", "k", size=50_000)
        node.stored |= refs(old)
        new = await put(c, "bkt", "k", size=10)
        node.stored |= refs(new)
        gone = await put(c, "bkt", "gone", size=10)  # its chunks were never stored: "missing"
        await c.delete_object("bkt", "gone")

        result = await r.gc.run_once()
        assert result.deleted == len(refs(old)) + len(refs(gone))
        assert node.asked == chunk_ids(old) | chunk_ids(gone)
        assert node.stored == refs(new)  # the live version's chunks are untouched
        assert await r.gc_entries() == []
        assert (await c.get_object("bkt", "k")) == new


async def test_gc_keeps_entries_when_node_unreachable_or_failing(database_url: str) -> None:
    node = FakeNode()
    config = make_config(database_url, gc_delay=0.0)
    async with running(config) as r:
        r.gc.retry_after = 0.0  # kept entries are due again at once
        c = r.client
        # Nothing listens on port 9 of loopback: the node is unreachable.
        await register(c, "n1", 6, address="http://127.0.0.1:9")
        await make_bucket(c, "bkt")
        old = await put(c, "bkt", "k", size=100)
        await c.delete_object("bkt", "k")
        before = await r.gc_entries()
        assert {e[0] for e in before} == chunk_ids(old)
        result = await r.gc.run_once()
        assert result.unreachable_nodes == ["n1"] and result.kept == len(before)
        assert sorted(await r.gc_entries()) == sorted(before)

        # The node comes back at a new address, but one delete fails: only that one stays.
        async with fake_node(node) as address:
            await register(c, "n1", 6, address=address)
            failing = next(iter(chunk_ids(old)))
            node.fail.add(failing)
            result = await r.gc.run_once()
            assert result.deleted == len(before) - 1
            assert [e[0] for e in await r.gc_entries()] == [failing]
            node.fail.clear()
            await r.gc.run_once()
            assert await r.gc_entries() == []


async def test_gc_never_deletes_a_referenced_chunk(database_url: str) -> None:
    node = FakeNode()
    async with fake_node(node) as address, running(make_config(database_url)) as r:
        c = r.client
        await register(c, "n1", 6, address=address)
        await make_bucket(c, "bkt")
        live = await put(c, "bkt", "k", size=100)
        chunk = live.parts[0].segments[0].chunks[0]
        # A bug elsewhere queues a live chunk: GC must drop the entry, not the chunk.
        entry = {
            "chunk_id": chunk.chunk_id,
            "disk_id": chunk.disk_id,
            "node_id": "n1",
            "enqueued_at": 0.0,
            "not_before": 0.0,
            "attempts": 0,
        }
        await r.repo.db.write(lambda tx: tx.run(insert(gc_queue), entry))
        await r.gc.run_once()
        assert node.requests == []
        assert await r.gc_entries() == []


async def test_abandoned_write_expires_and_is_collected(database_url: str) -> None:
    node = FakeNode()
    config = make_config(database_url, gc_delay=0.3)
    async with fake_node(node) as address, running(config) as r:
        c = r.client
        await register(c, "n1", 6, address=address)
        await make_bucket(c, "bkt")
        grant = await c.begin_write(BeginWrite(bucket="bkt", key="k", size=100))
        granted = {ch.chunk_id for s in grant.segments for ch in s.chunks}
        assert (await r.gc.run_once()).expired_writes == 0  # not yet
        assert await r.pending_writes() == [grant.write_id]
        # Poll the collector until the write's gc_delay has passed (no fixed sleep).
        result = await eventually(lambda: _expired(r.gc), message="the abandoned write expired")
        assert result.expired_writes == 1
        assert node.asked == granted
        assert await r.pending_writes() == []
        # The gateway wakes up and commits: refused, since its chunks are gone.
        etag = md5_etag("late")
        with pytest.raises(ConflictError):
            await c.commit_object(
                CommitObject(
                    write_id=grant.write_id,
                    bucket="bkt",
                    key="k",
                    version_id=grant.version_id,
                    owner_id="o",
                    size=100,
                    etag=etag,
                    profile=grant.profile,
                    parts=[part_from_grant(grant, 1, 100, etag)],
                )
            )


async def test_gc_loop_runs_by_itself(database_url: str) -> None:
    node = FakeNode()
    # gc_delay > 0: the loop must not expire the write intents of the puts below.
    config = make_config(database_url, gc_delay=0.5, gc_interval=0.05)
    async with fake_node(node) as address, running(config) as r:
        await register(r.client, "n1", 6, address=address)
        await make_bucket(r.client, "bkt")
        old = await put(r.client, "bkt", "k", size=100)
        await r.client.delete_object("bkt", "k")

        async def drained() -> bool:
            return await r.gc_entries() == []

        await eventually(drained)
        assert node.asked == chunk_ids(old)
