"""The jobs service: what the internal ``/v1/jobs`` routes, the admin API and the UI call.

Layer: coordinator, between the HTTP handlers and the durability workers. The state of every
job lives in SQL (``db.jobs``); this service changes it and tells the kind's worker at once,
so a pause, resume, cancel or throttle takes effect without a restart. Contract:

* ``list`` / ``get`` answer ``JobInfo`` (progress from the row, the rate over the last
  ``RATE_WINDOW`` seconds as this leader saw it, the ETA from both);
* ``control(job_id, action)`` applies pause / resume / cancel (``db.jobs.next_state``) and
  calls the kind's ``JobControl.apply``; ``set_throttle(kind, t)`` persists and applies;
* ``start(StartJob)`` hands the request to the kind's ``JobControl.start``;
* ``loop()`` (on the leader): first makes sure the standing jobs exist and gives each worker
  its persisted state and throttle (``ready`` is set then: the repair dispatcher waits for
  it, so a pause survives a failover), then every ``TRACK_PERIOD`` asks each kind to bring
  its jobs' progress up to date (``JobControl.track``).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from typing import Protocol

from wormfs.coordinator.db.jobs import JobRecord, JobsRepo
from wormfs.coordinator.jobs import job_failed
from wormfs.errors import InvalidInputError, NotFoundError
from wormfs.wire.jobs import (
    FINAL,
    KINDS,
    MAX_PAGE,
    STANDING,
    JobInfo,
    JobList,
    KindThrottle,
    StartJob,
    Throttle,
    ThrottleList,
    page_key,
    parse_page_key,
)

log = logging.getLogger(__name__)

RATE_WINDOW = 30.0  # seconds of samples the reported rates are averaged over
MIN_SAMPLE_GAP = 0.2  # samples closer than this replace each other
TRACK_PERIOD = 1.0


class JobRates:
    """Recent items/s and bytes/s of each job, from samples of its done counters."""

    def __init__(self, window: float = RATE_WINDOW) -> None:
        self._window = window
        self._samples: dict[str, deque[tuple[float, int, int]]] = {}

    def observe(self, job: JobRecord) -> tuple[float, float]:
        if job.state in FINAL:
            self._samples.pop(job.job_id, None)  # nothing moves any more
            return 0.0, 0.0
        now = time.monotonic()
        samples = self._samples.setdefault(job.job_id, deque())
        if samples and (samples[-1][1] > job.done_items or samples[-1][2] > job.done_bytes):
            samples.clear()  # counters went back: a new total, not negative progress
        if samples and now - samples[-1][0] < MIN_SAMPLE_GAP:
            samples.pop()
        samples.append((now, job.done_items, job.done_bytes))
        while len(samples) > 2 and samples[0][0] < now - self._window:
            samples.popleft()
        if job.state != "running" or len(samples) < 2:
            return 0.0, 0.0
        first = samples[0]
        span = max(now - first[0], 1.0)
        return (job.done_items - first[1]) / span, (job.done_bytes - first[2]) / span


class JobControl(Protocol):
    """What a worker of one kind offers the service."""

    async def start(self, request: StartJob) -> JobRecord: ...

    async def apply(self, job: JobRecord) -> None:
        """The job's state changed (pause, resume, cancel): act on it now."""

    async def track(self, jobs: list[JobRecord]) -> None:
        """Bring the progress of these jobs of the kind up to date (finish those that are)."""

    async def throttle(self, throttle: Throttle, is_set: bool) -> None:
        """Apply the kind's throttle (``is_set`` False: never set, use the configured one)."""


def eta(job: JobRecord, items_per_s: float, bytes_per_s: float) -> float | None:
    if job.state in FINAL:
        return None
    if job.total_bytes is not None and bytes_per_s > 0:
        return max(job.total_bytes - job.done_bytes, 0) / bytes_per_s
    if job.total_items is not None and items_per_s > 0:
        return max(job.total_items - job.done_items, 0) / items_per_s
    return None


class JobService:
    def __init__(self, repo: JobsRepo, rates: JobRates) -> None:
        self.repo = repo
        self.rates = rates
        self.controls: dict[str, JobControl] = {}
        self.ready = asyncio.Event()
        self._lock = asyncio.Lock()

    def register(self, kinds: tuple[str, ...], control: JobControl) -> None:
        for kind in kinds:
            self.controls[kind] = control

    def _control(self, kind: str) -> JobControl:
        control = self.controls.get(kind)
        if control is None:
            raise NotFoundError(f"no worker runs {kind} jobs on this coordinator")
        return control

    # ---- reads ------------------------------------------------------------------------------
    async def info(self, job: JobRecord, throttles: dict[str, Throttle] | None = None) -> JobInfo:
        if throttles is None:
            throttles = {job.kind: (await self.repo.throttle(job.kind))[0]}
        items_per_s, bytes_per_s = self.rates.observe(job)
        return JobInfo(
            job_id=job.job_id,
            kind=job.kind,
            target=job.target,
            standing=job.standing,
            state=job.state,
            done_items=job.done_items,
            total_items=job.total_items,
            done_bytes=job.done_bytes,
            total_bytes=job.total_bytes,
            items_per_s=items_per_s,
            bytes_per_s=bytes_per_s,
            eta_seconds=eta(job, items_per_s, bytes_per_s),
            failures=job.failures,
            last_failure=job.last_failure,
            started_at=job.started_at,
            updated_at=job.updated_at,
            finished_at=job.finished_at,
            throttle=throttles.get(job.kind, Throttle()),
            params=job.params,
        )

    async def get(self, job_id: str) -> JobInfo:
        return await self.info(await self.repo.get(job_id))

    async def list(
        self,
        kind: str | None = None,
        state: str | None = None,
        limit: int = 50,
        after: str | None = None,
    ) -> JobList:
        """Newest first; ``after``: the ``next_after`` of the previous page."""
        if not 1 <= limit <= MAX_PAGE:
            raise InvalidInputError(f"limit must be within 1..{MAX_PAGE}")
        key = parse_page_key(after) if after else None
        rows = await self.repo.page(kind, state, limit + 1, key)
        throttles = {t.kind: t.throttle for t in await self.repo.throttles()}
        infos = [await self.info(r, throttles) for r in rows[:limit]]
        more = len(rows) > limit
        return JobList(jobs=infos, next_after=page_key(infos[-1]) if more else None)

    async def throttles(self) -> ThrottleList:
        return ThrottleList(throttles=await self.repo.throttles())

    # ---- changes ----------------------------------------------------------------------------
    async def start(self, request: StartJob) -> JobInfo:
        job = await self._control(request.kind).start(request)
        return await self.info(job)

    async def control(self, job_id: str, action: str) -> JobInfo:
        async with self._lock:  # a change and ``prepare`` never interleave their applies
            if job_id in STANDING and job_id in self.controls:
                await self.repo.ensure_standing(job_id)
            before, after = await self.repo.transition(job_id, action)
            if after.state != before.state:
                log.info("job %s (%s): %s -> %s", job_id, after.kind, before.state, after.state)
                await self._control(after.kind).apply(after)
        return await self.info(after)

    async def set_throttle(self, kind: str, throttle: Throttle) -> KindThrottle:
        if kind not in KINDS:
            raise InvalidInputError(f"kind must be one of {', '.join(KINDS)}")
        if kind in ("drain", "decommission", "rebalance"):
            raise InvalidInputError(
                f"{kind} moves chunks through the repair workers: throttle the repair kind"
            )
        if throttle.items_per_s < 0 or throttle.bytes_per_s < 0 or throttle.concurrency < 0:
            raise InvalidInputError("throttle values must not be negative")
        await self.repo.set_throttle(kind, throttle)
        await self._control(kind).throttle(throttle, True)
        log.info("throttle of %s jobs set to %s", kind, throttle)
        return next(t for t in await self.repo.throttles((kind,)))

    # ---- the leader's loop ------------------------------------------------------------------
    async def prepare(self) -> None:
        """Standing jobs exist; every worker has its persisted state and throttle."""
        async with self._lock:
            for kind in STANDING:
                if kind in self.controls:
                    await self.controls[kind].apply(await self.repo.ensure_standing(kind))
            for t in await self.repo.throttles(tuple(self.controls)):
                await self.controls[t.kind].throttle(t.throttle, t.updated_at is not None)
        self.ready.set()

    async def track_once(self) -> None:
        by_kind: dict[str, list[JobRecord]] = {k: [] for k in self.controls}
        for kind in STANDING:
            if kind in by_kind:
                by_kind[kind].append(await self.repo.get(kind))
        for job in await self.repo.active_runs():
            by_kind.setdefault(job.kind, []).append(job)
        for kind, jobs in by_kind.items():
            if jobs and kind in self.controls:
                await self.controls[kind].track(jobs)
                for job in jobs:
                    self.rates.observe(await self.repo.get(job.job_id))

    async def loop(self) -> None:
        while not self.ready.is_set():
            try:
                await self.prepare()
            except Exception:
                job_failed(log, "job preparation")
                await asyncio.sleep(TRACK_PERIOD)
        while True:
            try:
                await self.track_once()
            except Exception:
                job_failed(log, "job tracking")
            await asyncio.sleep(TRACK_PERIOD)
