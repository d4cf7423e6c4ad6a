"""Automatic repair: find what lacks fragments, have storage nodes rebuild it, switch placements.

Layer: coordinator background job (leader only), over the repair repository
(``wormfs.coordinator.db.repair``) and the nodes' rebuild route (``wormfs.wire.repair``).

Contract:

* Detection, every ``repair_scan_interval`` and whenever ``wake`` is called: a disk (or every
  disk of a node) unavailable for ``repair_delay`` has all its placements queued ("offline");
  draining disks have theirs queued ("drain"); drained-out disks are marked ``drained``. Chunks
  found missing or corrupt by the scrub or the read path are queued by their finders.
* Dispatch: up to ``repair_concurrency`` rebuilds in flight, claimed riskiest first (fewest
  surviving fragments), each paced by a token bucket of ``repair_rate_mb`` MB/s of chunk data.
  The target node gets a ``RebuildTask``; its answer means the new chunk is durable, and only
  then is the placement switched (one transaction, ``RepairQueue.complete``). A failure puts
  the entry back with a doubling back-off; entries that cannot run (fewer than k readable
  fragments, no usable disk) wait the back-off too and are tried again, never dropped.
* Progress lives in the standing ``repair`` job (``db.jobs``, id ``repair``): each rebuilt
  chunk advances it, each failed attempt counts as its failure; ``status()`` gives the queue,
  what the job did since it was created, its recent rate and an ETA. Pausing the job (through
  ``job_service``) stops dispatching (the queue and running rebuilds are kept); its throttle
  (``set_throttle``: bytes/s, chunks/s, concurrency) applies to the next claims and rebuilds.
  Dispatching waits until the service gave the manager its persisted state (``ready``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable

from wormfs.clients.repair import NodeRepairClient
from wormfs.config import DurabilityConfig
from wormfs.coordinator.db.care import DiskCareRepo
from wormfs.coordinator.db.jobs import JobRecord, JobsRepo, NoSuchJobError
from wormfs.coordinator.db.repair import RepairQueue
from wormfs.coordinator.db.repair_claim import RepairJob
from wormfs.coordinator.job_service import JobRates
from wormfs.coordinator.jobs import job_failed
from wormfs.errors import WormError
from wormfs.wire.jobs import Throttle
from wormfs.wire.repair import ReasonCount, RebuildSource, RebuildTask, RepairStatus

log = logging.getLogger(__name__)

MAX_BACKOFF = 600.0
IDLE_POLL = 1.0  # how often an idle dispatcher looks for due entries
MIN_REBUILD_TIMEOUT = 60.0
SLOWEST_REBUILD_RATE = 5_000_000  # bytes/s a rebuild is assumed to reach, at worst


class TokenBucket:
    """Paces byte budgets to ``rate`` per second ("debt" form: a take may run ahead once).

    ``take(n)`` returns after the time ``n`` bytes are due at that rate, counted from the end
    of the previous take's allowance; so a long run of takes averages ``rate`` exactly, and an
    idle bucket lends at most one take's worth. ``clock`` and ``sleep`` are injectable so that
    the pacing can be tested without waiting for it.
    """

    def __init__(
        self,
        rate: float,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.rate = rate
        self._next = 0.0
        self._clock = clock
        self._sleep = sleep

    async def take(self, nbytes: int) -> None:
        if self.rate <= 0:
            return
        now = self._clock()
        start = max(self._next, now)
        self._next = start + nbytes / self.rate
        if start > now:
            await self._sleep(start - now)


class RepairManager:
    def __init__(
        self,
        queue: RepairQueue,
        care: DiskCareRepo,
        nodes: NodeRepairClient,
        config: DurabilityConfig,
        jobs: JobsRepo,
        rates: JobRates,
        ready: asyncio.Event,
    ) -> None:
        self.queue = queue
        self._care = care
        self._nodes = nodes
        self._config = config
        self._jobs = jobs
        self._rates = rates
        self._ready = ready
        self._bucket = TokenBucket(config.repair_rate_bytes)
        self._items = TokenBucket(0)  # chunks per second; 0 = no limit
        self.concurrency = config.repair_concurrency
        self._wake = asyncio.Event()
        self._running: set[asyncio.Task[None]] = set()
        self.paused = False  # the repair job's state, as the service last applied it

    def wake(self) -> None:
        """Look for work now (something was queued)."""
        self._wake.set()

    # ---- detection --------------------------------------------------------------------------
    async def scan_once(self) -> int:
        """Queue lost and draining disks' chunks; returns how many entries were added."""
        now = time.time()
        added = 0
        for disk_id in await self.queue.track_availability(now, self._config.repair_delay):
            n = await self.queue.enqueue_disk(disk_id, "offline", now)
            log.warning("disk %s unavailable past the grace period: %d chunks queued", disk_id, n)
            added += n
        for disk_id in await self._care.draining():
            added += await self.queue.enqueue_disk(disk_id, "drain", now)
        for disk_id in await self._care.finish_drains():
            log.info("disk %s is drained: it holds no chunks any more", disk_id)
        if added:
            self.wake()
        return added

    async def scan_loop(self) -> None:
        while True:
            try:
                await self.scan_once()
            except Exception:
                job_failed(log, "repair scan")
            await asyncio.sleep(self._config.repair_scan_interval)

    # ---- dispatch ---------------------------------------------------------------------------
    async def dispatch_once(self) -> int:
        """Claim and start what the concurrency allows; returns how many were started."""
        if self.paused:
            return 0
        free = self.concurrency - len(self._running)
        if free <= 0:
            return 0
        jobs, deferred = await self.queue.claim(time.time(), free)
        if deferred:
            for d in deferred:
                log.warning("repair of queue entry %d deferred: %s", d.entry_id, d.why)
            await self.queue.defer(deferred, time.time() + self._config.repair_retry)
        for job in jobs:
            task = asyncio.create_task(self._run(job), name=f"repair-{job.entry_id}")
            self._running.add(task)
            task.add_done_callback(self._finished)
        return len(jobs)

    def _finished(self, task: asyncio.Task[None]) -> None:
        self._running.discard(task)
        self._wake.set()  # a slot is free

    async def dispatch_loop(self) -> None:
        await self.queue.reset_running()
        await self._ready.wait()  # the persisted pause and throttle are applied
        while True:
            try:
                started = await self.dispatch_once()
            except Exception:
                job_failed(log, "repair dispatch")
                started = 0
            if started and len(self._running) < self.concurrency:
                continue  # more may be due right away
            self._wake.clear()
            # asyncio.timeout, not wait_for: on 3.11 wait_for swallows a cancel that meets a
            # wake-up, and close() would then wait for this loop forever.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(IDLE_POLL):
                    await self._wake.wait()

    async def _run(self, job: RepairJob) -> None:
        await self._items.take(1)
        await self._bucket.take(job.chunk_bytes)
        task = RebuildTask(
            sources=[
                RebuildSource(
                    fragment_index=s.fragment_index,
                    node_address=s.node_address,
                    disk_id=s.disk_id,
                    chunk_id=s.chunk_id,
                )
                for s in job.sources
            ],
            target_disk_id=job.target_disk_id,
            chunk_id=job.target_chunk_id,
            fragment_index=job.fragment_index,
            profile=job.profile,
            segment_length=job.segment_length,
        )
        timeout = max(MIN_REBUILD_TIMEOUT, job.chunk_bytes * job.profile.k / SLOWEST_REBUILD_RATE)
        try:
            await self._nodes.rebuild(job.target_address, task, timeout)
            switched = await self.queue.complete(job)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            message = exc.message if isinstance(exc, WormError) else repr(exc)
            if not isinstance(exc, WormError):
                log.exception("repair of entry %d failed", job.entry_id)
            backoff = self._backoff(job)
            log.warning(
                "rebuilding fragment %d of segment %d (chunk %s, %s) on disk %s failed, "
                "retrying in %.0fs: %s",
                job.fragment_index,
                job.segment_id,
                job.old_chunk_id,
                job.reason,
                job.target_disk_id,
                backoff,
                message,
            )
            try:
                await self.queue.fail(job, message, time.time() + backoff)
                await self._jobs.fail("repair", f"chunk {job.old_chunk_id}: {message}")
            except Exception:
                # The entry is released at the next leadership (reset_running) anyway.
                job_failed(log, f"recording the failure of repair entry {job.entry_id}")
            return
        if switched:
            try:
                await self._jobs.advance("repair", 1, job.chunk_bytes)
            except Exception:
                job_failed(log, "recording repair progress")
            log.info(
                "fragment %d of segment %d rebuilt (%s) onto disk %s as chunk %s",
                job.fragment_index,
                job.segment_id,
                job.reason,
                job.target_disk_id,
                job.target_chunk_id,
            )

    def _backoff(self, job: RepairJob) -> float:
        # ``attempts`` was read at claim time; each failure doubles the wait.
        return float(min(MAX_BACKOFF, self._config.repair_retry * 2 ** min(job.attempts, 20)))

    # ---- control and progress ---------------------------------------------------------------
    def set_paused(self, paused: bool) -> None:
        self.paused = paused
        if not paused:
            self.wake()

    def set_throttle(self, throttle: Throttle, is_set: bool) -> None:
        """bytes/s and chunks/s (0: no limit), concurrency (0: the configured one); a throttle
        never set leaves the configured rate."""
        self._bucket.rate = throttle.bytes_per_s if is_set else self._config.repair_rate_bytes
        self._items.rate = throttle.items_per_s
        self.concurrency = throttle.concurrency or self._config.repair_concurrency
        self.wake()

    async def job(self) -> JobRecord:
        try:
            return await self._jobs.get("repair")
        except NoSuchJobError:
            return await self._jobs.ensure_standing("repair")

    async def status(self) -> RepairStatus:
        queued, running, queued_bytes, minimum, by_reason = await self.queue.counts()
        job = await self.job()
        _, rate = self._rates.observe(job)
        return RepairStatus(
            paused=job.state == "paused",
            queued=queued,
            running=running,
            queued_bytes=queued_bytes,
            repaired_chunks=job.done_items,
            repaired_bytes=job.done_bytes,
            failed_attempts=job.failures,
            rate_bytes_per_s=rate,
            eta_seconds=queued_bytes / rate if queued and rate > 0 else None,
            min_surviving=minimum,
            by_reason=[ReasonCount(reason=r, chunks=n) for r, n in sorted(by_reason.items())],
            since=job.started_at,
            rate_limit_bytes_per_s=int(self._bucket.rate),
            concurrency=self.concurrency,
        )

    async def close(self) -> None:
        tasks = list(self._running)
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(BaseException):
                await task
