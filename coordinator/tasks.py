"""Background jobs of the active coordinator: node liveness and garbage collection.

Layer: coordinator, beside the HTTP handlers; both use the repositories only. The app starts
the loops in a cleanup context and cancels them on shutdown. Contract:

* liveness: every ``liveness_period`` seconds, nodes silent for ``node_offline_after`` are
  marked offline (placement already ignores them on its own; this makes it visible).
* GC, every ``gc_interval`` seconds (``GarbageCollector.run_once``):
  1. write intents past their expiry are collected (their chunks join the queue);
  2. due queue entries are claimed (referenced chunks are dropped from the queue unharmed);
  3. per node, one batch request ``POST {address}/v1/chunks/delete`` (``DeleteChunks``)
     deletes them; deleted and missing chunks leave the queue, failed ones and all of an
     unreachable or offline node's entries stay for a later pass.
  A failing pass is logged and retried at the next interval; it never stops the loop.
  Deleted chunks advance the standing ``gc`` job (``db.jobs``), a pass that kept a node's
  deletes counts as its failure; while that job is paused the
  loop skips its passes (``paused``, set by ``job_service``), and its throttle's items/s caps
  the chunks claimed per pass (``set_throttle``).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import defaultdict
from dataclasses import dataclass, field

import aiohttp

from wormfs.coordinator.db.gc import DueChunk
from wormfs.coordinator.db.jobs import JobsRepo
from wormfs.coordinator.db.repo import Repository
from wormfs.coordinator.jobs import job_failed
from wormfs.errors import WormError
from wormfs.internal.http import InternalClient
from wormfs.wire.storage import ChunkRef, DeleteChunks, DeleteChunksResult

log = logging.getLogger(__name__)

DELETE_BATCH = 1000
DELETE_TIMEOUT = 30.0


def liveness_period(heartbeat_interval: float, offline_after: float) -> float:
    return max(0.05, min(heartbeat_interval, offline_after / 3))


async def liveness_loop(repo: Repository, period: float) -> None:
    while True:
        try:
            stale = await repo.cluster.mark_stale_offline()
            for node_id in stale:
                log.warning("node %s missed its heartbeats; marked offline", node_id)
        except Exception:
            job_failed(log, "liveness check")
        await asyncio.sleep(period)


@dataclass
class GcPass:
    """What one GC pass did (for logs and tests)."""

    expired_writes: int = 0
    deleted: int = 0
    kept: int = 0
    unreachable_nodes: list[str] = field(default_factory=list)


class GarbageCollector:
    def __init__(
        self,
        repo: Repository,
        session: aiohttp.ClientSession,
        secret: bytes,
        retry_after: float,
        batch: int = DELETE_BATCH,
    ) -> None:
        self._repo = repo
        self._session = session
        self._secret = secret
        self.retry_after = retry_after  # seconds before a kept entry is tried again
        self._default_batch = batch
        self._batch = batch
        self._jobs = JobsRepo(repo.db)
        self._lock = asyncio.Lock()  # the loop and a test's run_once never overlap
        self.paused = False  # the gc job's state, as the service last applied it

    def set_throttle(self, items_per_s: float, interval: float) -> None:
        """At most ``items_per_s`` chunks per second, as a batch per pass (0: no limit)."""
        self._batch = (
            max(1, int(items_per_s * interval)) if items_per_s > 0 else self._default_batch
        )

    async def pending_count(self) -> int:
        return await self._repo.gc.pending_count()

    async def run_once(self) -> GcPass:
        async with self._lock:
            now = time.time()
            result = GcPass(expired_writes=await self._repo.gc.expire_pending(now))
            due = await self._repo.gc.claim(now, self._batch)
            by_node: dict[str, list[DueChunk]] = defaultdict(list)
            for entry in due:
                by_node[entry.node_id].append(entry)
            outcomes = await asyncio.gather(
                *(self._collect_node(entries) for entries in by_node.values())
            )
            done: list[int] = []
            keep: list[int] = []
            for node_id, (ok, failed, reachable) in zip(by_node, outcomes, strict=True):
                done += ok
                keep += failed
                if not reachable:
                    result.unreachable_nodes.append(node_id)
            await self._repo.gc.done(done)
            await self._repo.gc.retry(keep, time.time() + self.retry_after)
            result.deleted, result.kept = len(done), len(keep)
            if done:
                await self._jobs.advance("gc", len(done), 0)
            if result.unreachable_nodes:
                nodes = ", ".join(sorted(result.unreachable_nodes))
                await self._jobs.fail("gc", f"{len(keep)} deletes kept: nodes {nodes} unreachable")
            if done or keep or result.expired_writes:
                log.info(
                    "gc: %d chunks deleted, %d kept for retry, %d abandoned writes collected",
                    result.deleted,
                    result.kept,
                    result.expired_writes,
                )
            return result

    async def _collect_node(self, entries: list[DueChunk]) -> tuple[list[int], list[int], bool]:
        """(entry ids done, entry ids to retry, node reachable) for one node's entries."""
        all_ids = [e.entry_id for e in entries]
        first = entries[0]
        if not first.node_address or not first.node_online:
            return [], all_ids, False
        ids_by_ref: dict[tuple[str, str], list[int]] = defaultdict(list)
        for e in entries:
            ids_by_ref[(e.disk_id, e.chunk_id)].append(e.entry_id)
        client = InternalClient(self._session, first.node_address, self._secret)
        try:
            answer = await client.call(
                "POST",
                "/v1/chunks/delete",
                DeleteChunksResult,
                body=DeleteChunks(chunks=[ChunkRef(disk_id=d, chunk_id=c) for d, c in ids_by_ref]),
                timeout=DELETE_TIMEOUT,
            )
        except WormError as exc:
            log.warning(
                "gc: node %s at %s did not delete %d chunks: %s",
                first.node_id,
                first.node_address,
                len(ids_by_ref),
                exc.message,
            )
            return [], all_ids, False
        done: list[int] = []
        # A chunk already missing counts as deleted; anything failed or not mentioned stays.
        for ref in [*answer.deleted, *answer.missing]:
            done += ids_by_ref.pop((ref.disk_id, ref.chunk_id), [])
        keep = [i for ids in ids_by_ref.values() for i in ids]
        return done, keep, True

    async def loop(self, interval: float) -> None:
        while True:
            await asyncio.sleep(interval)
            if self.paused:
                continue
            try:
                await self.run_once()
            except Exception:
                job_failed(log, "gc pass")
