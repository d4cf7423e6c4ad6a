"""Scrubbing: shallow (inventory vs metadata) and deep (every block's checksum), per disk.

Layer: coordinator background job (leader only), over the care and repair repositories and
the nodes' inventory and scrub routes. Contract:

* Shallow scrub of a disk, every ``shallow_scrub_interval``: page through the node's inventory
  (sorted ids) beside the placements on that disk, range by range (bounded memory). A placed
  chunk that is not listed, and that a HEAD confirms absent (it may have been written while
  the page was listed), is queued for repair ("missing"). A listed chunk that nothing
  references, nothing is about to reference (write intents, running rebuilds) and that is
  older than ``orphan_delay`` goes to the GC queue: the inventory reconciliation that catches
  whatever a crash kept from the normal GC paths.
* Deep scrub of a disk, a walk every ``deep_scrub_interval``: the node verifies chunks in id
  order, ``scrub_batch_mb`` per call within its IO budget (``scrub_rate_mb``, ``scrub_duty``) so
  foreground latency stays put; the coordinator keeps the cursor and the "bytes verified since T"
  counters (``disk_care``), queues corrupt referenced chunks for repair ("corrupt") and wakes
  the repair dispatcher.
* ``request(deep, disk_ids, job_id)`` (``wormfs admin scrub``, a ``scrub`` job of
  ``job_service``) runs a shallow scrub and, if asked, a whole deep walk of the disks now,
  back to back; ``status`` shows whether it is still running and what it found. Unavailable
  disks are skipped: the repair scheduler owns them. The run can be paused (its disks stop
  between two steps, the schedule's own scrubs go on), resumed and cancelled (it ends at the
  next step); ``rate_bytes`` overrides ``scrub_rate_mb`` (the scrub job's throttle).
* One scrub task per node at a time (its disks take turns; nodes scrub in parallel), each
  step braked on the node by ``scrub_rate_mb`` and by ``scrub_duty`` (the share of time a
  step may spend reading; it backs off when foreground requests slow its reads down).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import random
import time
from dataclasses import dataclass, field

from wormfs.clients.repair import NodeRepairClient
from wormfs.clients.storage import StorageClient
from wormfs.config import MB, DurabilityConfig
from wormfs.coordinator.db.care import DiskCareRepo
from wormfs.coordinator.db.repair import RepairQueue
from wormfs.coordinator.db.repair_rows import DiskView
from wormfs.coordinator.jobs import job_failed
from wormfs.coordinator.repair import RepairManager
from wormfs.errors import NoSuchChunkError, WormError
from wormfs.format.layout import stripe_count
from wormfs.format.metabackup import is_system_chunk
from wormfs.wire.repair import (
    ConsistencyCheck,
    DiskScrubState,
    RebuildSource,
    ScrubBatch,
    ScrubStatus,
)

log = logging.getLogger(__name__)

INVENTORY_PAGE = 1000
CHECK_TIMEOUT = 120.0
MAX_TICK = 5.0


@dataclass
class ScrubRun:
    """A scrub asked for by an admin: what is left, what it found."""

    requested_at: float
    deep: bool
    shallow_left: set[str]
    deep_left: set[str]
    job_id: str = ""
    passes: int = 0  # disk passes planned: a shallow one per disk, and a deep one if asked
    passes_done: int = 0
    bytes_checked: int = 0  # by its deep walks
    paused: bool = False
    cancelled: bool = False
    running: asyncio.Event = field(default_factory=asyncio.Event)  # set while not paused
    fresh_walk: set[str] = field(default_factory=set)  # deep walks to start from the beginning
    finished_at: float | None = None
    missing: int = 0
    corrupt: int = 0
    orphans: int = 0
    inconsistent: int = 0
    failed: set[str] = field(default_factory=set)


@dataclass
class ShallowResult:
    missing: list[str]
    orphans: int


class ScrubScheduler:
    def __init__(
        self,
        care: DiskCareRepo,
        queue: RepairQueue,
        repair: RepairManager,
        nodes: NodeRepairClient,
        storage: StorageClient,
        config: DurabilityConfig,
    ) -> None:
        self._care = care
        self._queue = queue
        self._repair = repair
        self._nodes = nodes
        self._storage = storage
        self._config = config
        self._busy: dict[str, asyncio.Task[None]] = {}
        self._wake = asyncio.Event()
        self.run: ScrubRun | None = None
        self.rate_bytes = config.scrub_rate_bytes

    # ---- requests and status ----------------------------------------------------------------
    async def request(self, deep: bool, disk_ids: list[str], job_id: str = "") -> ScrubRun:
        known = {v.disk_id for v in await self._queue.disks() if v.drain_state != "drained"}
        wanted = set(disk_ids) & known if disk_ids else known
        self.run = ScrubRun(
            requested_at=time.time(),
            deep=deep,
            shallow_left=set(wanted),
            deep_left=set(wanted) if deep else set(),
            fresh_walk=set(wanted) if deep else set(),
            job_id=job_id,
            passes=len(wanted) * (2 if deep else 1),
        )
        self.run.running.set()
        self._wake.set()
        self._check_finished()
        return self.run

    def pause(self, run: ScrubRun, paused: bool) -> None:
        run.paused = paused
        if paused:
            run.running.clear()
        else:
            run.running.set()
            self._wake.set()

    def cancel(self, run: ScrubRun) -> None:
        """End the run: nothing more is forced; its disks stop at their next step."""
        run.cancelled = True
        run.shallow_left.clear()
        run.deep_left.clear()
        run.running.set()  # a paused disk task wakes up to see the cancel
        self._check_finished()

    async def status(self) -> ScrubStatus:
        run = self.run
        return ScrubStatus(
            running=run is not None and run.finished_at is None,
            requested_at=run.requested_at if run else None,
            finished_at=run.finished_at if run else None,
            found_missing=run.missing if run else 0,
            found_corrupt=run.corrupt if run else 0,
            found_orphans=run.orphans if run else 0,
            disks=await self._care.scrub_states(),
            failed_disks=sorted(run.failed) if run else [],
            found_inconsistent=run.inconsistent if run else 0,
            job_id=run.job_id or None if run else None,
        )

    # ---- scheduling -------------------------------------------------------------------------
    def _period(self) -> float:
        c = self._config
        return max(0.1, min(MAX_TICK, c.shallow_scrub_interval / 4, c.deep_scrub_interval / 4))

    async def loop(self) -> None:
        while True:
            try:
                await self.tick()
            except Exception:
                job_failed(log, "scrub scheduling")
            self._wake.clear()
            with contextlib.suppress(TimeoutError):  # asyncio.timeout: see repair.dispatch_loop
                async with asyncio.timeout(self._period()):
                    await self._wake.wait()

    async def tick(self) -> None:
        views = [v for v in await self._queue.disks() if v.drain_state != "drained"]
        await self._care.ensure([v.disk_id for v in views])
        states = {s.disk_id: s for s in await self._care.scrub_states()}
        now = time.time()
        run = self.run
        by_disk = {v.disk_id: v for v in views}
        busy_nodes = {by_disk[d].node_id for d in self._busy if d in by_disk}
        forcing = run is not None and not run.paused
        for view in views:
            # One disk per node at a time: the node's CPU and network are shared by its disks.
            if view.disk_id in self._busy or view.node_id in busy_nodes:
                continue
            if not view.available:
                if run is not None:
                    run.passes_done += (view.disk_id in run.shallow_left) + (
                        view.disk_id in run.deep_left
                    )
                    run.shallow_left.discard(view.disk_id)
                    run.deep_left.discard(view.disk_id)
                continue
            state = states.get(view.disk_id)
            if state is None:
                continue
            shallow = self._shallow_due(state, now) or (
                forcing and run is not None and view.disk_id in run.shallow_left
            )
            deep = self._deep_due(state, now) or (
                forcing and run is not None and view.disk_id in run.deep_left
            )
            if shallow or deep:
                busy_nodes.add(view.node_id)
                task = asyncio.create_task(
                    self._scrub_disk(view, state, shallow, deep), name=f"scrub-{view.disk_id}"
                )
                self._busy[view.disk_id] = task
                task.add_done_callback(functools.partial(self._done, view.disk_id))
        self._check_finished()

    def _done(self, disk_id: str, _task: asyncio.Task[None]) -> None:
        self._busy.pop(disk_id, None)
        self._wake.set()

    def _check_finished(self) -> None:
        run = self.run
        if run is None or run.finished_at is not None or run.shallow_left or run.deep_left:
            return
        run.finished_at = time.time()
        log.info(
            "requested scrub finished: %d missing, %d corrupt, %d orphan chunks found",
            run.missing,
            run.corrupt,
            run.orphans,
        )

    def _shallow_due(self, state: DiskScrubState, now: float) -> bool:
        last = state.last_shallow if state.last_shallow is not None else state.verified_since
        return now - last >= self._config.shallow_scrub_interval

    def _deep_due(self, state: DiskScrubState, now: float) -> bool:
        if state.deep_cursor is not None:
            return True  # a walk in progress goes on (the node paces it)
        last = state.last_deep_finished
        return now - (last if last is not None else state.verified_since) >= (
            self._config.deep_scrub_interval
        )

    async def _scrub_disk(
        self, view: DiskView, state: DiskScrubState, shallow: bool, deep: bool
    ) -> None:
        run = self.run
        try:
            if shallow:
                found = await self.shallow(view)
                if run is not None and view.disk_id in run.shallow_left:
                    run.missing += len(found.missing)
                    run.orphans += found.orphans
                    run.shallow_left.discard(view.disk_id)
                    run.passes_done += 1
            if deep:
                forced = run is not None and view.disk_id in run.deep_left
                cursor = state.deep_cursor
                if forced and run is not None and view.disk_id in run.fresh_walk:
                    run.fresh_walk.discard(view.disk_id)
                    cursor = None
                while True:
                    before = cursor
                    corrupt, cursor, checked = await self.deep_step(view, cursor)
                    inconsistent = await self.consistency_step(view, before, cursor)
                    if forced and run is not None:
                        run.corrupt += corrupt
                        run.inconsistent += inconsistent
                        run.bytes_checked += checked
                        if cursor is not None:
                            await run.running.wait()  # paused: the walk stops here
                            forced = not run.cancelled
                    if cursor is None or not forced:
                        break
                if forced and run is not None:
                    run.deep_left.discard(view.disk_id)
                    run.passes_done += 1
        except Exception as exc:
            if isinstance(exc, WormError):
                log.warning("scrub of disk %s stopped: %s", view.disk_id, exc)
            else:
                log.exception("scrub of disk %s failed", view.disk_id)
            # A requested scrub does not wait for a failing disk: it reports it instead (the
            # schedule tries again later; a dead disk is the repair scheduler's).
            if run is not None and (
                view.disk_id in run.shallow_left or view.disk_id in run.deep_left
            ):
                run.failed.add(view.disk_id)
                run.passes_done += (view.disk_id in run.shallow_left) + (
                    view.disk_id in run.deep_left
                )
                run.shallow_left.discard(view.disk_id)
                run.deep_left.discard(view.disk_id)

    # ---- the scrubs -------------------------------------------------------------------------
    async def shallow(self, view: DiskView) -> ShallowResult:
        """Compare the node's inventory of one disk with the placements on it."""
        now = time.time()
        after: str | None = None
        missing: list[str] = []
        old_unreferenced: list[str] = []
        while True:
            page = await self._storage.inventory(
                view.node_address, view.disk_id, after, INVENTORY_PAGE
            )
            upto = page.next_after  # None: this is the last page, the range runs to the end
            referenced = await self._care.referenced(view.disk_id, after, upto)
            listed = {e.chunk_id for e in page.chunks}
            missing += sorted(referenced - listed)
            old_unreferenced += [
                e.chunk_id
                for e in page.chunks
                if e.chunk_id not in referenced
                and e.mtime < now - self._config.orphan_delay
                # metadata backup pieces are in no placement row on purpose (coordinator.backup)
                and not is_system_chunk(e.chunk_id)
            ]
            if page.next_after is None:
                break
            after = page.next_after
        confirmed = [c for c in missing if await self._absent(view, c)]
        if confirmed:
            await self._queue.enqueue_chunks([(c, view.disk_id, "missing") for c in confirmed])
            self._repair.wake()
            log.warning("shallow scrub: %d chunks missing on disk %s", len(confirmed), view.disk_id)
        orphans = await self._care.queue_orphans(
            view.disk_id, view.node_id, old_unreferenced, time.time()
        )
        if orphans:
            log.info("shallow scrub: %d orphan chunks on disk %s queued", orphans, view.disk_id)
        await self._care.record_shallow(view.disk_id, len(confirmed), orphans)
        return ShallowResult(missing=confirmed, orphans=orphans)

    async def _absent(self, view: DiskView, chunk_id: str) -> bool:
        try:
            await self._storage.head_chunk(view.node_address, view.disk_id, chunk_id)
        except NoSuchChunkError:
            return True
        except WormError:
            return False  # corrupt or unreachable: the deep scrub or liveness will tell
        return False

    async def deep_step(self, view: DiskView, cursor: str | None) -> tuple[int, str | None, int]:
        """One deep-scrub call; returns (corrupt chunks found, the next cursor, bytes read)."""
        batch_bytes = int(self._config.scrub_batch_mb * MB)
        rate = self.rate_bytes
        # The duty brake stretches a step by up to 1/duty (more when the node is busy).
        timeout = 120.0 + (batch_bytes / rate * 2 if rate else 0) / self._config.scrub_duty
        result = await self._nodes.scrub(
            view.node_address,
            view.disk_id,
            ScrubBatch(
                after=cursor,
                max_bytes=batch_bytes,
                rate_bytes_per_s=rate,
                duty=self._config.scrub_duty,
            ),
            timeout,
        )
        # Only referenced chunks count: a bad chunk nothing references is garbage already
        # (a replaced corrupt chunk waiting for GC, an orphan), not a loss.
        bad = sorted(await self._care.placed([b.chunk_id for b in result.bad]))
        if bad:
            await self._queue.enqueue_chunks([(c, view.disk_id, "corrupt") for c in bad])
            self._repair.wake()
            log.warning(
                "deep scrub: %d corrupt chunks on disk %s: %s",
                len(bad),
                view.disk_id,
                ", ".join(bad[:10]),
            )
        await self._care.record_deep(
            view.disk_id, result.next_after, result.bytes_checked, result.chunks_checked, len(bad)
        )
        return len(bad), result.next_after, result.bytes_checked

    async def consistency_step(self, view: DiskView, after: str | None, upto: str | None) -> int:
        """Decode-and-compare a few stripes of a sample of the segments just deep-scrubbed.

        Returns how many fragments were found inconsistent (and queued for repair).
        """
        sample = self._config.consistency_sample
        segments = await self._queue.segment_sources(view.disk_id, after, upto, sample)
        found: list[tuple[str, str, str]] = []
        for profile, length, chunks in segments:
            count = stripe_count(length, profile.stripe_size)
            blocks = sorted({0, count - 1, random.randrange(count)})
            check = ConsistencyCheck(
                sources=[
                    RebuildSource(
                        fragment_index=c.fragment_index,
                        node_address=c.node_address,
                        disk_id=c.disk_id,
                        chunk_id=c.chunk_id,
                    )
                    for c in chunks
                ],
                profile=profile,
                segment_length=length,
                blocks=blocks,
            )
            try:
                result = await self._nodes.check(view.node_address, check, CHECK_TIMEOUT)
            except WormError as exc:
                log.info("consistency check on disk %s skipped: %s", view.disk_id, exc)
                continue
            by_index = {c.fragment_index: c for c in chunks}
            found += [
                (by_index[i].chunk_id, by_index[i].disk_id, "inconsistent")
                for i in result.inconsistent
            ]
            if result.unresolved_blocks:
                log.error(
                    "segment with chunk %s: stripes %s disagree with no single culprit",
                    chunks[0].chunk_id,
                    result.unresolved_blocks,
                )
        if found:
            await self._queue.enqueue_chunks(found)
            self._repair.wake()
            log.warning("consistency check: %d fragments disagree with their stripes", len(found))
        return len(found)

    async def close(self) -> None:
        tasks = list(self._busy.values())
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(BaseException):
                await task
