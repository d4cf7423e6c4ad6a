"""Durability jobs over a real coordinator (both engines), storage nodes faked.

Pins: the state machine of pause / resume / cancel per kind; the jobs repository (progress,
a finished job keeps its first final state, key-ordered paging with filters, throttles); the
standing repair job (progress as the backlog falls, pause stops dispatching and survives a
restart, a throttle of chunks/s slows it at once); a scrub job paused between steps, resumed
and cancelled; a drain job's progress to done; the admin API's /admin/v1/jobs (read and admin
scopes, one audit row per mutating call, cursor paging).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from component.admin_harness import ADMIN_TOKEN, admin_running
from component.coordinator_harness import SECRET, Running, make_bucket, put, register, running
from component.test_repair_queue import FakeRebuilder, chunks_of
from waiting import eventually

from wormfs.clients.repair import DurabilityClient
from wormfs.config import DurabilityConfig
from wormfs.coordinator.db.jobs import JobsRepo, new_job, next_state
from wormfs.coordinator.durability import Durability
from wormfs.coordinator.durability_api import DURABILITY
from wormfs.errors import ConflictError, InvalidInputError, NotFoundError
from wormfs.internal.auth import Verifier
from wormfs.internal.http import internal_middleware, json_response, read_json
from wormfs.wire.jobs import CONTROLS, JobInfo, StartJob, Throttle
from wormfs.wire.repair import ScrubBatch, ScrubBatchResult

from component.coordinator_harness import make_config  # isort: skip


class SlowScrubNode(FakeRebuilder):
    """A fake node whose deep-scrub steps wait until ``release`` is set."""

    def __init__(self) -> None:
        super().__init__()
        self.release = asyncio.Event()
        self.steps = 0

    async def scrub(self, request: web.Request) -> web.Response:
        await read_json(request, ScrubBatch)
        self.steps += 1
        await self.release.wait()
        disk = request.match_info["disk_id"]
        return json_response(ScrubBatchResult(disk, 1, 1000, [], None))


@asynccontextmanager
async def cluster(
    database_url: str, again: bool = False, **durability: Any
) -> AsyncIterator[tuple[Running, Any]]:
    """``again``: the database holds a cluster already (a restarted coordinator)."""
    settings: dict[str, Any] = {"repair_retry": 60.0, "repair_rate_mb": 0.0}
    settings.update(durability)
    config = make_config(database_url, durability=DurabilityConfig(**settings))
    node = SlowScrubNode()
    app = web.Application(middlewares=[internal_middleware(Verifier(SECRET))])
    app.router.add_post("/v1/repair/rebuild", node.rebuild)
    app.router.add_post("/v1/disks/{disk_id}/chunks/{chunk_id}/verify", node.verify)
    app.router.add_get("/v1/disks/{disk_id}/inventory", node.inventory)
    app.router.add_post("/v1/disks/{disk_id}/scrub", node.scrub)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    address = str(server.make_url("")).rstrip("/")
    try:
        async with running(config) as r:
            for name in ("n1", "n2", "n3", "n4"):
                await register(r.client, name, count=2, address=address)
            if not again:
                await make_bucket(r.client, "bkt")
            yield r, node
    finally:
        node.release.set()
        await server.close()


def durability(r: Running) -> Durability:
    return r.app[DURABILITY]


async def job_where(client: DurabilityClient, job_id: str, **wanted: Any) -> JobInfo:
    async def check() -> JobInfo | None:
        job = await client.job(job_id)
        return job if all(getattr(job, k) == v for k, v in wanted.items()) else None

    return await eventually(check, message=f"job {job_id} with {wanted}")


def test_state_machine() -> None:
    assert next_state("scrub", False, "running", "pause") == "paused"
    assert next_state("scrub", False, "paused", "resume") == "running"
    assert next_state("scrub", False, "paused", "cancel") == "cancelled"
    assert next_state("repair", True, "running", "cancel") == "paused"  # a standing job
    assert next_state("gc", True, "paused", "resume") == "running"
    assert next_state("drain", False, "running", "cancel") == "cancelled"
    with pytest.raises(ConflictError, match="rebalance job cannot be paused"):
        next_state("rebalance", False, "running", "pause")
    for final in ("cancelled", "done", "failed"):
        with pytest.raises(ConflictError, match=final):
            next_state("scrub", False, final, "resume")
    assert set(CONTROLS) == {
        "repair",
        "scrub",
        "gc",
        "rebalance",
        "drain",
        "decommission",
        "lifecycle",
    }


async def test_jobs_repository(database_url: str) -> None:
    async with running(make_config(database_url)) as r:
        repo = JobsRepo(r.repo.db)
        base = time.time() - 100
        for i in range(5):
            kind = "scrub" if i % 2 == 0 else "rebalance"
            await repo.create(new_job(f"{kind}-{i}", kind, "", {"i": i}, base + i, total_items=10))
        await repo.advance("scrub-4", 3, 300)
        await repo.fail("scrub-4", "disk d1 unreachable")
        job = await repo.get("scrub-4")
        assert (job.done_items, job.done_bytes, job.total_items) == (3, 300, 10)
        assert (job.failures, job.last_failure, job.params) == (1, "disk d1 unreachable", {"i": 4})

        before, after = await repo.transition("scrub-4", "pause")
        assert (before.state, after.state) == ("running", "paused")
        assert (await repo.finish("scrub-4", "cancelled")).state == "cancelled"
        assert (await repo.finish("scrub-4", "done")).state == "cancelled"  # the first one stays
        with pytest.raises(ConflictError):
            await repo.transition("scrub-4", "resume")
        with pytest.raises(NotFoundError):
            await repo.get("nope")
        with pytest.raises(InvalidInputError):
            await repo.page("dance", None, 10, None)

        # Newest first, pages strictly after the previous page's last key.
        seen: list[str] = []
        after_key = None
        while True:
            page = await repo.page("scrub", None, 2, after_key)
            seen += [j.job_id for j in page]
            if len(page) < 2:
                break
            after_key = (page[-1].started_at, page[-1].job_id)
        assert seen == ["scrub-4", "scrub-2", "scrub-0"]
        assert [j.job_id for j in await repo.page(None, "cancelled", 10, None)] == ["scrub-4"]
        assert len(await repo.page(None, None, 10, None)) >= 5

        assert (await repo.throttle("repair")) == (Throttle(), None)
        await repo.set_throttle("repair", Throttle(items_per_s=2.5, concurrency=1))
        await repo.set_throttle("repair", Throttle(items_per_s=3.0, bytes_per_s=10))
        throttle, updated = await repo.throttle("repair")
        assert throttle == Throttle(items_per_s=3.0, bytes_per_s=10) and updated is not None


async def test_repair_job_progress_pause_throttle_and_restart(database_url: str) -> None:
    async with cluster(database_url) as (r, _):
        d = durability(r)
        client = DurabilityClient(r.client.http)
        paused = await client.control_job("repair", "pause")
        assert paused.state == "paused" and paused.standing
        # Placement is pseudo-random: write until one disk holds a chunk of six objects.
        lost, on_lost = None, 0
        for i in range(40):
            disks = [disk for _, _, disk in chunks_of(await put(r.client, "bkt", f"k{i}", 5000))]
            lost = lost or disks[0]
            on_lost += lost in disks
            if on_lost == 6:
                break
        assert lost is not None and on_lost == 6
        queued = await d.queue.enqueue_disk(lost, "offline")
        assert queued == 6
        await job_where(client, "repair", total_items=queued, done_items=0)
        assert (await client.repair_status()).paused

        # Two chunks a second: the backlog falls, slowly, and the rate shows it.
        await client.set_throttle("repair", Throttle(items_per_s=2.0))
        resumed = await client.control_job("repair", "resume")
        assert resumed.state == "running"
        started = time.monotonic()
        first = await job_where(client, "repair", done_items=1)
        job = await client.job("repair")
        elapsed = time.monotonic() - started
        # The bucket lends one chunk at once; the rest at 2/s (wide margin for a slow machine).
        assert job.done_items <= 2 + 2.0 * elapsed + 2, (job.done_items, elapsed)
        assert first.total_items == queued
        await client.set_throttle("repair", Throttle())  # no limit: the rest at once
        done = await job_where(client, "repair", done_items=queued)
        await job_where(client, "repair", total_items=queued)
        assert done.failures == 0
        status = await client.repair_status()
        assert (status.repaired_chunks, status.queued) == (queued, 0)

        # Paused, persisted: another coordinator on the same database does not dispatch.
        await client.control_job("repair", "pause")
    async with cluster(database_url, again=True) as (r, _):
        d = durability(r)
        client = DurabilityClient(r.client.http)
        await eventually(lambda: d.jobs.ready.is_set(), message="jobs prepared")
        assert d.repair.paused
        job = await client.job("repair")
        assert (job.state, job.done_items) == ("paused", queued)
        throttles = {t.kind: t for t in (await client.throttles()).throttles}
        assert throttles["repair"].throttle == Throttle() and throttles["repair"].updated_at
        # Cancel of a standing job pauses it; gc exists as a standing job too.
        assert (await client.control_job("repair", "cancel")).state == "paused"
        assert (await client.control_job("gc", "pause")).state == "paused"
        assert r.gc.paused


async def test_scrub_job_pause_resume_and_cancel(database_url: str) -> None:
    async with cluster(database_url) as (r, node):
        client = DurabilityClient(r.client.http)
        job = await client.start_job(StartJob(kind="scrub", deep=True))
        assert (job.kind, job.state, job.total_items) == ("scrub", "running", 16)  # 8 disks
        assert (await client.scrub_status()).job_id == job.job_id
        # One disk per node at a time: four shallow passes done, four deep steps waiting.
        await eventually(lambda: node.steps == 4, message="a deep step on every node")
        await job_where(client, job.job_id, done_items=4)
        paused = await client.control_job(job.job_id, "pause")
        assert paused.state == "paused"
        node.release.set()
        # Paused: the four walks end their step and stop; no other disk's pass starts.
        await job_where(client, job.job_id, done_items=8)
        run = durability(r).scrub.run
        assert run is not None and run.finished_at is None and node.steps == 4
        assert (await client.job(job.job_id)).state == "paused"
        await client.control_job(job.job_id, "resume")
        done = await job_where(client, job.job_id, state="done")
        assert done.done_items == done.total_items == 16 and done.finished_at is not None
        assert done.done_bytes == 8 * 1000 and node.steps == 8

        node.release.clear()
        second = await client.start_job(StartJob(kind="scrub", deep=True))
        await eventually(lambda: node.steps > 8, message="a deep step started")
        cancelled = await client.control_job(second.job_id, "cancel")
        assert cancelled.state == "cancelled" and cancelled.finished_at is not None
        node.release.set()
        await eventually(
            lambda: (
                durability(r).scrub.run is not None
                and durability(r).scrub.run.finished_at is not None
            ),
            message="the cancelled scrub ended",
        )
        assert (await client.job(second.job_id)).state == "cancelled"
        with pytest.raises(ConflictError):
            await client.control_job(second.job_id, "resume")
        listed = await client.jobs(kind="scrub")
        assert [j.job_id for j in listed.jobs] == [second.job_id, job.job_id]


async def test_drain_job_runs_to_done(database_url: str) -> None:
    async with cluster(database_url) as (r, _):
        client = DurabilityClient(r.client.http)
        disk = None
        for i in range(4):
            manifest = await put(r.client, "bkt", f"k{i}", size=5000)
            disk = disk or chunks_of(manifest)[0][2]
        assert disk is not None
        status = await client.drain("disks", disk)
        assert status.job_id is not None
        job = await client.job(status.job_id)
        assert (job.kind, job.target) == ("drain", disk) and (job.total_items or 0) >= 1
        # Every chunk moved away; "drained" waits for the GC of the old chunks (no GC here).
        moved = await job_where(client, status.job_id, done_items=job.total_items)
        assert moved.state == "running" and moved.total_items == job.total_items
        # Draining again joins the running job; pausing undrains the disk; undrain cancels.
        assert (await client.drain("disks", disk)).job_id == status.job_id
        assert (await client.control_job(status.job_id, "pause")).state == "paused"
        assert disk not in {d.disk_id for d in (await client.drain_status()).disks}
        assert (await client.control_job(status.job_id, "resume")).state == "running"
        assert disk in {d.disk_id for d in (await client.drain_status()).disks}
        # Draining a disk whose drain job is paused resumes that job.
        await client.control_job(status.job_id, "pause")
        assert (await client.drain("disks", disk)).job_id == status.job_id
        assert (await client.job(status.job_id)).state == "running"
        await client.drain("disks", disk, undo=True)
        assert (await client.job(status.job_id)).state == "cancelled"


async def test_admin_jobs_resource(database_url: str) -> None:
    async with admin_running(database_url) as admin:
        d = durability(admin.coordinator)
        await eventually(lambda: d.jobs.ready.is_set(), message="jobs prepared")
        page = await admin.ok("GET", "/jobs", params={"limit": "1"})
        assert len(page["items"]) == 1 and page["next_cursor"]
        seen = [page["items"][0]["job_id"]]
        while page["next_cursor"]:
            page = await admin.ok(
                "GET", "/jobs", params={"limit": "1", "cursor": page["next_cursor"]}
            )
            seen += [item["job_id"] for item in page["items"]]
        assert sorted(seen) == ["gc", "lifecycle", "repair"]  # the standing jobs, once each
        status, body, _ = await admin.call("GET", "/jobs", params={"kind": "dance"})
        assert status == 400 and body["code"]

        audit_before = len((await admin.ok("GET", "/audit"))["items"])
        job = await admin.ok("POST", "/jobs/repair/pause")
        assert job["state"] == "paused"
        assert d.repair.paused
        audit = (await admin.ok("GET", "/audit"))["items"]
        assert len(audit) == audit_before + 1
        assert (audit[0]["action"], audit[0]["target"], audit[0]["result"]) == (
            "job.pause",
            "jobs/repair",
            "ok",
        )
        throttle = await admin.ok(
            "PUT", "/jobs/throttles/repair", json={"items_per_s": 5, "concurrency": 2}
        )
        assert throttle["throttle"]["concurrency"] == 2 and d.repair.concurrency == 2
        status, body, _ = await admin.call("PUT", "/jobs/throttles/drain", json={})
        assert status == 400 and "repair" in body["message"]
        status, _, _ = await admin.call("POST", "/jobs/repair/resume", token="")
        assert status == 401
        started = await admin.ok("POST", "/jobs", json={"kind": "repair"})
        assert started["job_id"] == "repair"
        openapi = await admin.ok("GET", "/openapi.json", token=ADMIN_TOKEN)
        assert "/admin/v1/jobs/{job_id}/pause" in openapi["paths"]
