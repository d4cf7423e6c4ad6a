"""The durability jobs of the active coordinator, bundled: repair, scrub, reports, rebalance.

Layer: coordinator background jobs (beside ``tasks``: liveness and GC). ``Durability`` owns the
repositories and clients the jobs share, and the jobs service (``jobs``, ``job_service``) with
a worker per kind (``job_kinds``) registered into it, GC included; ``start()`` launches the
loops (jobs tracking, repair scan, repair dispatch, scrub) and ``close()`` cancels them. It is
started and stopped exactly where the GC and liveness loops are, so it runs on the leader only.

Besides the loops it answers the admin and read-path requests of ``durability_api``:

* ``report``: chunks a reader found missing or corrupt are checked with their node first (a
  HEAD for a missing one, a full verify for a corrupt one: a reader's cut stream may have been
  a network fault), and queued for repair only when the node confirms;
* drains: ``drain(kind, target, disks, draining)`` of a disk or a node (every disk of it) is
  a ``drain`` or ``decommission`` job; undraining cancels the jobs draining those disks;
* ``rebalance``: queue moves off disks fuller than the mean (by used fraction, beyond the
  tolerance) until each would sit at the mean; the repair workers carry them out. Each call
  is a ``rebalance`` job (``start_rebalance``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Sequence

import aiohttp

from wormfs.clients.repair import NodeRepairClient
from wormfs.clients.storage import StorageClient
from wormfs.config import CoordinatorConfig
from wormfs.coordinator.db.care import DiskCareRepo
from wormfs.coordinator.db.database import Database
from wormfs.coordinator.db.jobs import JobsRepo
from wormfs.coordinator.db.repair import RepairQueue
from wormfs.coordinator.db.repair_rows import DiskView
from wormfs.coordinator.job_kinds import (
    DrainJobs,
    GcJobs,
    LifecycleJobs,
    RebalanceJobs,
    RepairJobs,
    ScrubJobs,
)
from wormfs.coordinator.job_service import JobRates, JobService
from wormfs.coordinator.lifecycle import LifecycleWorker
from wormfs.coordinator.repair import RepairManager
from wormfs.coordinator.scrub import ScrubScheduler
from wormfs.coordinator.tasks import GarbageCollector
from wormfs.errors import NoSuchChunkError, WormError
from wormfs.wire.repair import (
    DrainStatus,
    RebalanceResult,
    ReportedChunk,
    ReportResult,
    StartRebalance,
)

log = logging.getLogger(__name__)

MAX_REPORT = 1000


class Durability:
    def __init__(
        self,
        db: Database,
        config: CoordinatorConfig,
        session: aiohttp.ClientSession,
        secret: bytes,
        collector: GarbageCollector | None = None,
        lifecycle: LifecycleWorker | None = None,
    ) -> None:
        d = config.durability
        self.config = d
        self.db = db
        self.node_offline_after = config.node_offline_after
        self.queue = RepairQueue(db, config.node_offline_after, config.gc_delay)
        self.care = DiskCareRepo(db)
        self.nodes = NodeRepairClient(session, secret)
        self.storage = StorageClient(session, secret)
        job_rows = JobsRepo(db)
        self.jobs = JobService(job_rows, JobRates())
        self.repair = RepairManager(
            self.queue, self.care, self.nodes, d, job_rows, self.jobs.rates, self.jobs.ready
        )
        self.scrub = ScrubScheduler(self.care, self.queue, self.repair, self.nodes, self.storage, d)
        self.drains = DrainJobs(self.care, self.repair, job_rows)
        self.rebalances = RebalanceJobs(self.rebalance, self.queue, job_rows)
        self.jobs.register(("repair",), RepairJobs(self.repair, job_rows))
        if collector is not None:  # the gc job: the app's collector
            self.jobs.register(("gc",), GcJobs(collector, job_rows, config.gc_interval))
        if lifecycle is not None:  # the lifecycle job: the app's worker
            self.jobs.register(("lifecycle",), LifecycleJobs(lifecycle, job_rows))
        self.jobs.register(
            ("scrub",), ScrubJobs(self.scrub, self.queue, job_rows, d.scrub_rate_bytes)
        )
        self.jobs.register(("rebalance",), self.rebalances)
        self.jobs.register(("drain", "decommission"), self.drains)
        self._tasks: list[asyncio.Task[None]] = []

    def start(self) -> None:
        self.jobs.ready.clear()
        self._tasks = [
            asyncio.create_task(self.jobs.loop(), name="coordinator-jobs"),
            asyncio.create_task(self.repair.scan_loop(), name="coordinator-repair-scan"),
            asyncio.create_task(self.repair.dispatch_loop(), name="coordinator-repair"),
            asyncio.create_task(self.scrub.loop(), name="coordinator-scrub"),
        ]

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []
        await self.scrub.close()
        await self.repair.close()

    # ---- read-path reports ------------------------------------------------------------------
    async def report(self, chunks: Sequence[ReportedChunk]) -> ReportResult:
        views = {v.disk_id: v for v in await self.queue.disks()}
        chunks = list(chunks)[:MAX_REPORT]
        # Many readers meet the same bad chunk: check each one once while it is queued.
        known = await self.queue.queued_chunks([c.chunk_id for c in chunks])
        confirmed: list[tuple[str, str, str]] = []
        for chunk in chunks:
            if chunk.chunk_id in known:
                continue
            view = views.get(chunk.disk_id)
            if view is None or not view.available:
                continue  # the disk's own state drives its repair
            if await self._confirm(view, chunk):
                confirmed.append((chunk.chunk_id, chunk.disk_id, chunk.problem))
        queued = await self.queue.enqueue_chunks(confirmed)
        if confirmed:
            log.warning(
                "read path reported %d bad chunks, confirmed by their nodes", len(confirmed)
            )
            self.repair.wake()
        return ReportResult(queued=queued)

    async def _confirm(self, view: DiskView, chunk: ReportedChunk) -> bool:
        try:
            if chunk.problem == "missing":
                await self.storage.head_chunk(view.node_address, view.disk_id, chunk.chunk_id)
                return False
            result = await self.storage.verify_chunk(
                view.node_address, view.disk_id, chunk.chunk_id
            )
            return not result.ok
        except NoSuchChunkError:
            return True
        except WormError as exc:
            log.info("could not confirm the report of chunk %s: %s", chunk.chunk_id, exc)
            return False

    # ---- drains and rebalance ---------------------------------------------------------------
    async def drain(
        self, kind: str, target: str, disk_ids: Sequence[str], draining: bool
    ) -> DrainStatus:
        job_id = None
        if draining:
            job_id = (await self.drains.begin(kind, target, list(disk_ids))).job_id
        else:
            await self.drains.end(list(disk_ids))
        status = await self.care.drain_status()
        return DrainStatus(disks=status.disks, job_id=job_id)

    async def rebalance(self, request: StartRebalance) -> RebalanceResult:
        views = [
            v
            for v in await self.queue.disks()
            if v.available and not v.drain_state and v.capacity_bytes > 0
        ]
        if not views:
            return RebalanceResult(queued_moves=0, mean_used_fraction=0.0)
        used = sum(v.used_bytes for v in views)
        capacity = sum(v.capacity_bytes for v in views)
        mean = used / capacity
        moves = 0
        now = time.time()
        for view in sorted(views, key=lambda v: v.used_bytes / v.capacity_bytes, reverse=True):
            excess = view.used_bytes - mean * view.capacity_bytes
            if view.used_bytes / view.capacity_bytes <= mean + request.tolerance or excess <= 0:
                continue
            moves += await self.queue.enqueue_moves(
                view.disk_id, int(excess), request.max_moves - moves, now
            )
            if moves >= request.max_moves:
                break
        if moves:
            self.repair.wake()
        return RebalanceResult(queued_moves=moves, mean_used_fraction=mean)
