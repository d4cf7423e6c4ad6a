"""The workers of each job kind, as the jobs service sees them (``job_service.JobControl``).

Layer: coordinator background jobs, over the repair manager, the scrub scheduler, the garbage
collector and the repositories. Each class starts its kind's jobs, applies a state change
to its worker at once, brings its jobs' progress up to date from what the worker or the
database shows, and applies its throttle. See ``wormfs.wire.jobs`` for what each kind
supports and what its items are:

* repair (standing): items are rebuilt chunks, bytes their chunk bytes; the backlog is the
  repair queue. "Start" scans for lost and draining disks now.
* gc (standing): items are deleted chunks; the backlog is the GC queue.
* lifecycle (standing): items are the actions of buckets' lifecycle rules; no backlog.
* scrub: items are disk passes (a shallow one per disk, plus a deep walk when deep), bytes
  are bytes verified by the deep walks against the disks' used bytes. A newer scrub
  request cancels the one still running. A run whose coordinator stopped leading (the run
  lives in that process) is marked failed by the next leader.
* rebalance: items are the moves it queued; done = moves no longer queued.
* drain / decommission: items are the chunks on the disks when it started; done = chunks no
  longer on them; it is done once every disk is drained (or forgotten).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable

from wormfs.coordinator.db.care import DiskCareRepo
from wormfs.coordinator.db.jobs import JobRecord, JobsRepo, new_job
from wormfs.coordinator.db.repair import RepairQueue
from wormfs.coordinator.lifecycle import LifecycleWorker
from wormfs.coordinator.repair import RepairManager
from wormfs.coordinator.scrub import ScrubRun, ScrubScheduler
from wormfs.coordinator.tasks import GarbageCollector
from wormfs.errors import InvalidInputError
from wormfs.ids import new_id
from wormfs.wire.jobs import StartJob, Throttle
from wormfs.wire.repair import RebalanceResult, StartRebalance

log = logging.getLogger(__name__)

LOST_RUN = "the coordinator that ran this job stopped leading before it finished"


def run_id(kind: str) -> str:
    return f"{kind}-{new_id()[:12]}"


async def set_backlog(repo: JobsRepo, job: JobRecord, items: int, nbytes: int) -> None:
    """A standing job's totals from its backlog; no write when they are what it shows."""
    if (job.total_items, job.total_bytes) != (job.done_items + items, job.done_bytes + nbytes):
        await repo.set_totals(job.job_id, items, nbytes)


class RepairJobs:
    def __init__(self, manager: RepairManager, jobs: JobsRepo) -> None:
        self._manager = manager
        self._jobs = jobs

    async def start(self, request: StartJob) -> JobRecord:
        await self._manager.scan_once()
        self._manager.wake()
        return await self._manager.job()

    async def apply(self, job: JobRecord) -> None:
        self._manager.set_paused(job.state == "paused")

    async def track(self, jobs: list[JobRecord]) -> None:
        queued, _, queued_bytes, _, _ = await self._manager.queue.counts()
        await set_backlog(self._jobs, jobs[0], queued, queued_bytes)

    async def throttle(self, throttle: Throttle, is_set: bool) -> None:
        self._manager.set_throttle(throttle, is_set)


class GcJobs:
    def __init__(self, collector: GarbageCollector, jobs: JobsRepo, interval: float) -> None:
        self._collector = collector
        self._jobs = jobs
        self._interval = interval

    async def start(self, request: StartJob) -> JobRecord:
        raise InvalidInputError("gc runs continuously: resume the gc job instead")

    async def apply(self, job: JobRecord) -> None:
        self._collector.paused = job.state == "paused"

    async def track(self, jobs: list[JobRecord]) -> None:
        pending = await self._collector.pending_count()
        await set_backlog(self._jobs, jobs[0], pending, 0)

    async def throttle(self, throttle: Throttle, is_set: bool) -> None:
        self._collector.set_throttle(throttle.items_per_s, self._interval)


class LifecycleJobs:
    def __init__(self, worker: LifecycleWorker, jobs: JobsRepo) -> None:
        self._worker = worker
        self._jobs = jobs

    async def start(self, request: StartJob) -> JobRecord:
        raise InvalidInputError("lifecycle runs continuously: resume the lifecycle job instead")

    async def apply(self, job: JobRecord) -> None:
        self._worker.paused = job.state == "paused"

    async def track(self, jobs: list[JobRecord]) -> None:
        await set_backlog(self._jobs, jobs[0], 0, 0)

    async def throttle(self, throttle: Throttle, is_set: bool) -> None:
        self._worker.set_throttle(throttle.items_per_s)


class ScrubJobs:
    def __init__(
        self, scheduler: ScrubScheduler, queue: RepairQueue, jobs: JobsRepo, default_rate: int
    ) -> None:
        self._scheduler = scheduler
        self._queue = queue
        self._jobs = jobs
        self._default_rate = default_rate

    def _run_of(self, job: JobRecord) -> ScrubRun | None:
        run = self._scheduler.run
        return run if run is not None and run.job_id == job.job_id else None

    async def start(self, request: StartJob) -> JobRecord:
        old = self._scheduler.run
        if old is not None and old.finished_at is None:
            self._scheduler.cancel(old)
            if old.job_id:
                await self._jobs.finish(old.job_id, "cancelled")
        job_id = run_id("scrub")
        run = await self._scheduler.request(request.deep, request.disk_ids, job_id)
        wanted = run.shallow_left | run.deep_left
        used = sum(v.used_bytes for v in await self._queue.disks() if v.disk_id in wanted)
        params = {"deep": request.deep, "disk_ids": sorted(request.disk_ids)}
        job = await self._jobs.create(
            new_job(
                job_id,
                "scrub",
                ",".join(sorted(request.disk_ids)),
                params,
                run.requested_at,
                total_items=run.passes,
                total_bytes=used if request.deep else None,
            )
        )
        log.info("scrub job %s started over %d disks (deep: %s)", job_id, len(wanted), run.deep)
        return job

    async def apply(self, job: JobRecord) -> None:
        run = self._run_of(job)
        if run is None:
            return
        if job.state == "cancelled":
            self._scheduler.cancel(run)
        else:
            self._scheduler.pause(run, job.state == "paused")

    async def track(self, jobs: list[JobRecord]) -> None:
        for job in jobs:
            run = self._run_of(job)
            if run is None:
                await self._jobs.fail(job.job_id, LOST_RUN)
                await self._jobs.finish(job.job_id, "failed")
                continue
            for _ in range(len(run.failed) - job.failures):
                await self._jobs.fail(job.job_id, f"disks not scrubbed: {sorted(run.failed)}")
            if run.finished_at is None:
                await self._jobs.set_progress(
                    job.job_id, run.passes_done, run.passes, run.bytes_checked, job.total_bytes
                )
                continue
            total_bytes = run.bytes_checked if run.deep else None
            await self._jobs.set_progress(
                job.job_id, run.passes_done, run.passes, run.bytes_checked, total_bytes
            )
            state = "cancelled" if run.cancelled else ("failed" if run.failed else "done")
            await self._jobs.finish(job.job_id, state)

    async def throttle(self, throttle: Throttle, is_set: bool) -> None:
        self._scheduler.rate_bytes = throttle.bytes_per_s if is_set else self._default_rate


class RebalanceJobs:
    def __init__(
        self,
        rebalance: Callable[[StartRebalance], Awaitable[RebalanceResult]],
        queue: RepairQueue,
        jobs: JobsRepo,
    ) -> None:
        self._rebalance = rebalance
        self._queue = queue
        self._jobs = jobs

    async def start(self, request: StartJob) -> JobRecord:
        if request.max_moves < 0 or not 0 <= request.tolerance < 1:
            raise InvalidInputError("max_moves must not be negative, tolerance within [0, 1)")
        result = await self._rebalance(
            StartRebalance(max_moves=request.max_moves, tolerance=request.tolerance)
        )
        return await self.record(request.max_moves, request.tolerance, result)

    async def record(self, max_moves: int, tolerance: float, result: RebalanceResult) -> JobRecord:
        """The job of a rebalance that queued ``result.queued_moves`` moves."""
        params = {
            "max_moves": max_moves,
            "tolerance": tolerance,
            "mean_used_fraction": result.mean_used_fraction,
        }
        job_id = run_id("rebalance")
        values = new_job(
            job_id, "rebalance", "", params, time.time(), total_items=result.queued_moves
        )
        job = await self._jobs.create(values)
        if not result.queued_moves:
            job = await self._jobs.finish(job_id, "done")
        return job

    async def apply(self, job: JobRecord) -> None:
        if job.state == "cancelled":
            dropped = await self._jobs.drop_queued_moves()
            log.info("rebalance %s cancelled: %d queued moves dropped", job.job_id, dropped)

    async def track(self, jobs: list[JobRecord]) -> None:
        _, _, _, _, by_reason = await self._queue.counts()
        left = by_reason.get("rebalance", 0)
        for job in jobs:
            total = job.total_items or 0
            await self._jobs.set_progress(job.job_id, total - min(left, total), total)
            if left == 0:
                await self._jobs.finish(job.job_id, "done")

    async def throttle(self, throttle: Throttle, is_set: bool) -> None:
        return None  # moves run on the repair workers: the repair throttle paces them


class DrainJobs:
    def __init__(self, care: DiskCareRepo, manager: RepairManager, jobs: JobsRepo) -> None:
        self._care = care
        self._manager = manager
        self._jobs = jobs

    async def begin(self, kind: str, target: str, disk_ids: list[str]) -> JobRecord:
        """Drain the disks (a ``drain`` or ``decommission`` of ``target``): the job of the
        same kind and target if one is running (or paused: it resumes), else a new job."""
        same = [j for j in await self._jobs.active_runs() if (j.kind, j.target) == (kind, target)]
        if same and same[0].state == "running":
            return same[0]
        await self._care.set_drain(disk_ids, True)
        await self._manager.scan_once()
        if same:
            _, resumed = await self._jobs.transition(same[0].job_id, "resume")
            return resumed
        status = await self._care.drain_status()
        total = sum(d.chunks_left for d in status.disks if d.disk_id in set(disk_ids))
        values = new_job(
            run_id(kind),
            kind,
            target,
            {"disk_ids": sorted(disk_ids)},
            time.time(),
            total_items=total,
        )
        job = await self._jobs.create(values)
        log.info("%s job %s of %s started: %d chunks to move", kind, job.job_id, target, total)
        return job

    async def end(self, disk_ids: list[str]) -> None:
        """The disks are undrained: the jobs draining any of them are cancelled."""
        await self._care.set_drain(disk_ids, False)
        for job in await self._jobs.active_runs():
            if job.kind in ("drain", "decommission") and set(job.params["disk_ids"]) & set(
                disk_ids
            ):
                await self._jobs.finish(job.job_id, "cancelled")

    async def start(self, request: StartJob) -> JobRecord:
        raise InvalidInputError("drains start with POST /v1/disks|nodes/{id}/drain")

    async def apply(self, job: JobRecord) -> None:
        disk_ids = list(job.params["disk_ids"])
        if job.state == "running":
            await self._care.set_drain(disk_ids, True)
            await self._manager.scan_once()
        else:  # paused or cancelled: the disks take chunks again, queued moves are dropped
            await self._care.set_drain(disk_ids, False)

    async def track(self, jobs: list[JobRecord]) -> None:
        states = {d.disk_id: d for d in (await self._care.drain_status()).disks}
        for job in jobs:
            if job.state != "running":
                continue
            disk_ids = job.params["disk_ids"]
            left = sum(states[d].chunks_left for d in disk_ids if d in states)
            total = max(job.total_items or 0, left)
            await self._jobs.set_progress(job.job_id, total - left, total)
            # A disk no longer listed was forgotten (it is gone): nothing is left on it.
            if all(d not in states or states[d].state == "drained" for d in disk_ids):
                await self._jobs.finish(job.job_id, "done")

    async def throttle(self, throttle: Throttle, is_set: bool) -> None:
        return None  # moves run on the repair workers: the repair throttle paces them
