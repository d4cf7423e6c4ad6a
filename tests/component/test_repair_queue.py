"""The repair queue and dispatcher over a real coordinator (SQLite), nodes faked.

Pins: risk order, target choice (never a disk of the segment; in place for a bad chunk on a
healthy disk), the atomic placement switch and what goes to GC, segments that change under a
running repair, back-off, grace periods, drains and the report route's confirmation.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import msgspec
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from component.coordinator_harness import (
    SECRET,
    Running,
    disks,
    make_bucket,
    make_config,
    put,
    register,
    running,
)
from waiting import eventually

from wormfs.clients.repair import DurabilityClient
from wormfs.coordinator.durability import Durability
from wormfs.coordinator.durability_api import DURABILITY
from wormfs.errors import ConflictError, NoSuchDiskError
from wormfs.internal.auth import Verifier
from wormfs.internal.http import internal_middleware, json_response, read_json
from wormfs.wire.coordinator import Heartbeat, ObjectManifest
from wormfs.wire.repair import RebuildTask, ReportedChunk, StartScrub
from wormfs.wire.storage import ChunkPutResult, InventoryPage, VerifyResult


class FakeRebuilder:
    """A node that answers rebuilds (recording them) and chunk checks."""

    def __init__(self) -> None:
        self.tasks: list[RebuildTask] = []
        self.fail = False
        self.corrupt: set[str] = set()

    async def rebuild(self, request: web.Request) -> web.Response:
        task = await read_json(request, RebuildTask)
        self.tasks.append(task)
        if self.fail:
            return web.Response(status=503, text='{"code":"UnavailableError","message":"x"}')
        return json_response(ChunkPutResult(task.chunk_id, task.target_disk_id, 100, [0]))

    async def inventory(self, request: web.Request) -> web.Response:
        page = InventoryPage(disk_id=request.match_info["disk_id"], chunks=[], next_after=None)
        return json_response(page)

    async def verify(self, request: web.Request) -> web.Response:
        chunk = request.match_info["chunk_id"]
        ok = chunk not in self.corrupt
        return json_response(VerifyResult(request.match_info["disk_id"], chunk, ok, []))


@asynccontextmanager
async def fake_rebuilder(node: FakeRebuilder) -> AsyncIterator[str]:
    app = web.Application(middlewares=[internal_middleware(Verifier(SECRET))])
    app.router.add_post("/v1/repair/rebuild", node.rebuild)
    app.router.add_post("/v1/disks/{disk_id}/chunks/{chunk_id}/verify", node.verify)
    app.router.add_get("/v1/disks/{disk_id}/inventory", node.inventory)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    try:
        yield str(server.make_url("")).rstrip("/")
    finally:
        await server.close()


@asynccontextmanager
async def cluster(
    where: Path | str, **durability: Any
) -> AsyncIterator[tuple[Running, FakeRebuilder]]:
    from wormfs.config import DurabilityConfig

    settings: dict[str, Any] = {"repair_retry": 60.0, "repair_rate_mb": 0.0}
    settings.update(durability)
    config = make_config(where, durability=DurabilityConfig(**settings))
    node = FakeRebuilder()
    async with fake_rebuilder(node) as address, running(config) as r:
        for name in ("n1", "n2", "n3", "n4"):
            await register(r.client, name, count=2, address=address)
        await make_bucket(r.client, "bkt")
        yield r, node


def durability(r: Running) -> Durability:
    return r.app[DURABILITY]


def chunks_of(manifest: ObjectManifest) -> list[tuple[int, str, str]]:
    seg = manifest.parts[0].segments[0]
    return [(c.fragment_index, c.chunk_id, c.disk_id) for c in seg.chunks]


async def test_lost_disk_is_rebuilt_elsewhere_and_the_placement_switches(database_url: str) -> None:
    async with cluster(database_url) as (r, _):
        d = durability(r)
        await d.jobs.control("repair", "pause")
        manifest = await put(r.client, "bkt", "k", size=5000)
        index, old_chunk, lost_disk = chunks_of(manifest)[1]
        assert await d.queue.enqueue_disk(lost_disk, "offline") == 1
        assert await d.queue.enqueue_disk(lost_disk, "offline") == 0  # idempotent
        jobs, deferred = await d.queue.claim(time.time(), 10)
        assert not deferred and len(jobs) == 1
        job = jobs[0]
        segment_disks = {c for _, _, c in chunks_of(manifest)}
        assert job.target_disk_id not in segment_disks
        assert index not in {s.fragment_index for s in job.sources}
        assert len(job.sources) == 5
        assert await d.queue.complete(job)
        after = await r.client.get_object("bkt", "k")
        now = dict((i, (c, disk)) for i, c, disk in chunks_of(after))
        assert now[index] == (job.target_chunk_id, job.target_disk_id)
        assert (old_chunk, lost_disk) in {(c, disk) for c, disk, _ in await r.gc_entries()}
        assert (await d.repair.status()).queued == 0


async def test_queue_is_ordered_by_risk(database_url: str) -> None:
    async with cluster(database_url) as (r, _):
        d = durability(r)
        await d.jobs.control("repair", "pause")
        one = await put(r.client, "bkt", "one", size=5000)
        two = await put(r.client, "bkt", "two", size=5000)
        a = chunks_of(one)
        b = chunks_of(two)
        await d.queue.enqueue_chunks([(a[0][1], a[0][2], "corrupt")])
        await d.queue.enqueue_chunks([(b[0][1], b[0][2], "corrupt"), (b[1][1], b[1][2], "missing")])
        entries = await d.queue.entries()
        assert [e.surviving for e in entries] == [4, 4, 5]
        assert {e.chunk_id for e in entries[:2]} == {b[0][1], b[1][1]}
        status = await d.repair.status()
        assert status.min_surviving == 4 and status.queued == 3
        jobs, _ = await d.queue.claim(time.time(), 1)
        assert jobs[0].old_chunk_id in {b[0][1], b[1][1]}


async def test_bad_chunk_on_a_healthy_disk_is_rebuilt_in_place(database_url: str) -> None:
    async with cluster(database_url) as (r, _):
        d = durability(r)
        await d.jobs.control("repair", "pause")
        manifest = await put(r.client, "bkt", "k", size=5000)
        _, chunk, disk = chunks_of(manifest)[2]
        await d.queue.enqueue_chunks([(chunk, disk, "corrupt")])
        jobs, _ = await d.queue.claim(time.time(), 5)
        assert jobs[0].target_disk_id == disk and jobs[0].target_chunk_id != chunk


async def test_consistency_sample_leaves_out_segments_under_repair(database_url: str) -> None:
    async with cluster(database_url) as (r, _):
        d = durability(r)
        await d.jobs.control("repair", "pause")
        queued = await put(r.client, "bkt", "queued", size=5000)
        clean = await put(r.client, "bkt", "clean", size=5000)
        _, chunk, disk = chunks_of(queued)[0]
        await d.queue.enqueue_chunks([(chunk, disk, "corrupt")])
        clean_chunks = {c for _, c, _ in chunks_of(clean)}
        for _, _, on_disk in chunks_of(queued):
            sampled = await d.queue.segment_sources(on_disk, None, None, 10)
            seen = {c.chunk_id for _, _, chunks in sampled for c in chunks}
            assert chunk not in seen  # its known-bad chunk is not read again
            if any(dk == on_disk for _, _, dk in chunks_of(clean)):
                assert seen & clean_chunks


async def test_segment_deleted_during_repair_collects_the_new_chunk(database_url: str) -> None:
    async with cluster(database_url) as (r, _):
        d = durability(r)
        await d.jobs.control("repair", "pause")
        manifest = await put(r.client, "bkt", "k", size=5000)
        _, chunk, disk = chunks_of(manifest)[0]
        await d.queue.enqueue_chunks([(chunk, disk, "missing")])
        jobs, _ = await d.queue.claim(time.time(), 5)
        await r.client.delete_object("bkt", "k")
        assert not await d.queue.complete(jobs[0])
        gc = {(c, disk) for c, disk, _ in await r.gc_entries()}
        assert (jobs[0].target_chunk_id, jobs[0].target_disk_id) in gc
        assert await d.queue.entries() == []


async def test_dispatcher_runs_rebuilds_and_backs_off_on_failure(database_url: str) -> None:
    async with cluster(database_url) as (r, node):
        d = durability(r)
        manifest = await put(r.client, "bkt", "k", size=5000)
        _, chunk, disk = chunks_of(manifest)[3]
        node.fail = True
        await d.queue.enqueue_chunks([(chunk, disk, "corrupt")])
        d.repair.wake()

        async def failed_once() -> list[Any]:
            entries = await d.queue.entries()
            done = entries and entries[0].attempts == 1 and not entries[0].running
            return entries if done else []

        entries = await eventually(failed_once, message="one failed attempt")
        assert entries[0].attempts == 1 and "UnavailableError" not in entries[0].last_error
        assert node.tasks and node.tasks[0].fragment_index == 3
        # The possibly written target chunk is collected.
        assert node.tasks[0].chunk_id in {c for c, _, _ in await r.gc_entries()}
        status = await d.repair.status()
        assert status.failed_attempts == 1 and status.queued == 1


async def test_unavailable_disk_is_queued_only_after_the_grace_period(database_url: str) -> None:
    async with cluster(database_url, repair_delay=1000.0) as (r, _):
        d = durability(r)
        await d.jobs.control("repair", "pause")
        manifest = await put(r.client, "bkt", "k", size=5000)
        _, _, disk = chunks_of(manifest)[0]
        node = disk.split("-")[0]
        from component.coordinator_harness import disks as make_disks

        from wormfs.wire.coordinator import Heartbeat

        infos = make_disks(node, 2)
        infos = [
            i if i.disk_id != disk else type(i)(**{**_fields(i), "state": "offline"}) for i in infos
        ]
        await r.client.heartbeat(node, Heartbeat(disks=infos))
        now = time.time()
        assert await d.queue.track_availability(now, 1000.0) == []
        assert await d.queue.track_availability(now + 1001, 1000.0) == [disk]


def _fields(struct: Any) -> dict[str, Any]:
    return {f: getattr(struct, f) for f in struct.__struct_fields__}


async def test_drain_moves_chunks_and_placement_avoids_the_disk(database_url: str) -> None:
    async with cluster(database_url) as (r, _):
        d = durability(r)
        manifest = await put(r.client, "bkt", "k", size=5000)
        _, _, disk = chunks_of(manifest)[0]
        client = DurabilityClient(r.client.http)
        status = await client.drain("disks", disk)
        assert [(s.disk_id, s.state) for s in status.disks] == [(disk, "draining")]
        await eventually(_queue_empty(d), message="the drain's moves done")
        after = await r.client.get_object("bkt", "k")
        assert disk not in {c for _, _, c in chunks_of(after)}
        for i in range(5):
            m = await put(r.client, "bkt", f"new{i}", size=5000)
            assert disk not in {c for _, _, c in chunks_of(m)}
        await d.repair.scan_once()
        # Not drained yet: the moved chunk waits in the GC queue (gc_delay).
        assert (await client.drain_status()).disks[0].chunks_left == 0
        await client.drain("disks", disk, undo=True)
        assert (await client.drain_status()).disks == []


async def test_reports_are_confirmed_by_the_node_before_queueing(database_url: str) -> None:
    async with cluster(database_url) as (r, node):
        d = durability(r)
        await d.jobs.control("repair", "pause")
        manifest = await put(r.client, "bkt", "k", size=5000)
        (_, bad, bad_disk), (_, good, good_disk) = chunks_of(manifest)[:2]
        node.corrupt.add(bad)
        client = DurabilityClient(r.client.http)
        result = await client.report(
            [
                ReportedChunk(chunk_id=bad, disk_id=bad_disk, problem="corrupt"),
                ReportedChunk(chunk_id=good, disk_id=good_disk, problem="corrupt"),
                ReportedChunk(chunk_id="0" * 32, disk_id=good_disk, problem="corrupt"),
            ]
        )
        assert result.queued == 1
        assert [e.chunk_id for e in await d.queue.entries()] == [bad]


async def test_scrub_request_with_unreachable_nodes_finishes(database_url: str) -> None:
    async with cluster(database_url) as (r, _):
        client = DurabilityClient(r.client.http)
        status = await client.scrub(StartScrub(deep=True))

        async def finished() -> Any:
            status = await client.scrub_status()
            return None if status.running else status

        status = await eventually(finished, message="the scrub finished")
        assert not status.running and len(status.disks) == 8
        assert len(status.failed_disks) == 8  # the fake nodes cannot deep-scrub


async def test_shallow_scrub_runs_on_its_schedule_and_queues_missing_chunks(
    database_url: str,
) -> None:
    async with cluster(database_url, shallow_scrub_interval=0.2) as (r, _):
        d = durability(r)
        await d.jobs.control("repair", "pause")
        manifest = await put(r.client, "bkt", "k", size=5000)

        # The fake nodes list no chunk at all and answer HEAD with 404: all six are missing.
        async def all_scrubbed_and_queued() -> bool:
            states = (await d.scrub.status()).disks
            scrubbed = all(s.last_shallow is not None for s in states)
            return len(await d.queue.entries()) == 6 and scrubbed

        # Every disk scrubbed, on the schedule alone.
        await eventually(all_scrubbed_and_queued, message="every disk scrubbed")
        assert {e.chunk_id for e in await d.queue.entries()} == {
            c for _, c, _ in chunks_of(manifest)
        }
        assert {e.reason for e in await d.queue.entries()} == {"missing"}


def _queue_empty(d: Any) -> Callable[[], Awaitable[bool]]:
    async def check() -> bool:
        return not await d.queue.entries()

    return check


async def test_forget_a_dead_disk_once_repair_moved_its_chunks(database_url: str) -> None:
    async with cluster(database_url) as (r, _):
        d = durability(r)
        await d.jobs.control("repair", "pause")
        client = DurabilityClient(r.client.http)
        manifest = await put(r.client, "bkt", "k", size=5000)
        _, old_chunk, disk = chunks_of(manifest)[0]
        node = disk.rsplit("-d", 1)[0]
        with pytest.raises(ConflictError, match="online"):
            await client.forget_disk(disk)
        # The disk dies: its node reports it offline; its chunk still has a placement.
        dead = [
            msgspec.structs.replace(info, state="offline") if info.disk_id == disk else info
            for info in disks(node, 2)
        ]
        await r.client.heartbeat(node, Heartbeat(disks=dead))
        with pytest.raises(ConflictError, match="placements"):
            await client.forget_disk(disk)
        # Repair rebuilds the chunk elsewhere; the old one waits in the GC queue, forever,
        # since the disk is gone.
        assert await d.queue.enqueue_disk(disk, "offline") == 1
        await d.jobs.control("repair", "resume")
        await eventually(_queue_empty(d), message="the repair done")
        after = await r.client.get_object("bkt", "k")
        assert disk not in {c for _, _, c in chunks_of(after)}
        assert (old_chunk, disk) in {(c, dk) for c, dk, _ in await r.gc_entries()}

        result = await client.forget_disk(disk)
        assert (result.disk_id, result.gc_entries_dropped) == (disk, 1)
        assert disk not in {dk for _, dk, _ in await r.gc_entries()}
        listed = {x.disk_id for n in (await r.client.list_nodes()).nodes for x in n.disks}
        sibling = next(x.disk_id for x in disks(node, 2) if x.disk_id != disk)
        assert disk not in listed and sibling in listed
        assert (await r.client.get_object("bkt", "k")) == after
        with pytest.raises(NoSuchDiskError):
            await client.forget_disk(disk)
