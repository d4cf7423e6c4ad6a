"""Clients layer: the durability routes of ``wormfs.wire.repair`` (nodes and coordinator).

* ``NodeRepairClient``: rebuild and deep-scrub calls to any storage node (address per call),
  used by the coordinator's repair and scrub schedulers.
* ``DurabilityClient``: the coordinator's repair, scrub, drain and rebalance routes, and its
  jobs (``wormfs.wire.jobs``: list, get, start, pause/resume/cancel, throttles), used by
  ``wormfs admin`` and by tests.
* ``ChunkReporter``: what the read path calls with chunks it found missing or corrupt; it
  sends them to the coordinator in the background and never lets a failed report reach the
  reader (the scrub finds whatever a lost report missed).

Errors are the domain errors of ``wormfs.internal.http.InternalClient``: an unreachable peer is
``UnavailableError``, an error body raises the error it names.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence

import aiohttp

from wormfs.errors import InvalidInputError, WormError
from wormfs.internal.http import InternalClient
from wormfs.wire.jobs import JobInfo, JobList, KindThrottle, StartJob, Throttle, ThrottleList
from wormfs.wire.repair import (
    BadChunkReport,
    ConsistencyCheck,
    ConsistencyResult,
    DrainStatus,
    ForgetResult,
    RebalanceResult,
    RebuildTask,
    RepairQueueList,
    RepairStatus,
    ReportedChunk,
    ReportResult,
    ScrubBatch,
    ScrubBatchResult,
    ScrubStatus,
    StartRebalance,
    StartScrub,
)
from wormfs.wire.storage import ChunkPutResult

log = logging.getLogger(__name__)

MAX_REPORT_TASKS = 64
MAX_RECENT = 10_000
REPORT_AGAIN_AFTER = 60.0  # seconds


def _seg(value: str) -> str:
    if not value or not value.replace("-", "").replace("_", "").isalnum():
        raise InvalidInputError(f"{value!r} cannot be used as a path segment")
    return value


class NodeRepairClient:
    """Signed rebuild and scrub calls to storage nodes."""

    def __init__(self, session: aiohttp.ClientSession, secret: bytes) -> None:
        self._session = session
        self._secret = secret

    def _http(self, address: str) -> InternalClient:
        return InternalClient(self._session, address, self._secret)

    async def rebuild(self, address: str, task: RebuildTask, timeout: float) -> ChunkPutResult:
        return await self._http(address).call(
            "POST", "/v1/repair/rebuild", ChunkPutResult, body=task, timeout=timeout
        )

    async def check(
        self, address: str, check: ConsistencyCheck, timeout: float
    ) -> ConsistencyResult:
        return await self._http(address).call(
            "POST", "/v1/repair/check", ConsistencyResult, body=check, timeout=timeout
        )

    async def scrub(
        self, address: str, disk_id: str, batch: ScrubBatch, timeout: float
    ) -> ScrubBatchResult:
        return await self._http(address).call(
            "POST",
            f"/v1/disks/{_seg(disk_id)}/scrub",
            ScrubBatchResult,
            body=batch,
            timeout=timeout,
        )


class DurabilityClient:
    """The coordinator's durability routes."""

    def __init__(self, http: InternalClient) -> None:
        self.http = http

    async def repair_status(self) -> RepairStatus:
        return await self.http.call("GET", "/v1/repair/status", RepairStatus)

    async def repair_queue(self, limit: int = 1000) -> RepairQueueList:
        return await self.http.call(
            "GET", "/v1/repair/queue", RepairQueueList, query={"limit": str(limit)}
        )

    async def pause_repair(self) -> RepairStatus:
        return await self.http.call("POST", "/v1/repair/pause", RepairStatus)

    async def resume_repair(self) -> RepairStatus:
        return await self.http.call("POST", "/v1/repair/resume", RepairStatus)

    async def report(self, chunks: Sequence[ReportedChunk]) -> ReportResult:
        return await self.http.call(
            "POST", "/v1/repair/report", ReportResult, body=BadChunkReport(chunks=list(chunks))
        )

    async def scrub(self, request: StartScrub) -> ScrubStatus:
        return await self.http.call("POST", "/v1/scrub", ScrubStatus, body=request)

    async def scrub_status(self) -> ScrubStatus:
        return await self.http.call("GET", "/v1/scrub/status", ScrubStatus)

    async def drain(self, kind: str, ident: str, undo: bool = False) -> DrainStatus:
        if kind not in ("disks", "nodes"):
            raise InvalidInputError("drain applies to disks or nodes")
        action = "undrain" if undo else "drain"
        return await self.http.call("POST", f"/v1/{kind}/{_seg(ident)}/{action}", DrainStatus)

    async def forget_disk(self, disk_id: str) -> ForgetResult:
        return await self.http.call("POST", f"/v1/disks/{_seg(disk_id)}/forget", ForgetResult)

    async def drain_status(self) -> DrainStatus:
        return await self.http.call("GET", "/v1/drain/status", DrainStatus)

    async def rebalance(self, request: StartRebalance) -> RebalanceResult:
        return await self.http.call("POST", "/v1/rebalance", RebalanceResult, body=request)

    async def decommission(self, node_id: str) -> DrainStatus:
        return await self.http.call("POST", f"/v1/nodes/{_seg(node_id)}/decommission", DrainStatus)

    # ---- jobs -------------------------------------------------------------------------------
    async def jobs(
        self,
        kind: str | None = None,
        state: str | None = None,
        limit: int = 50,
        after: str | None = None,
    ) -> JobList:
        query = {"limit": str(limit)}
        for name, value in (("kind", kind), ("state", state), ("after", after)):
            if value:
                query[name] = value
        return await self.http.call("GET", "/v1/jobs", JobList, query=query)

    async def job(self, job_id: str) -> JobInfo:
        return await self.http.call("GET", f"/v1/jobs/{_seg(job_id)}", JobInfo)

    async def start_job(self, request: StartJob) -> JobInfo:
        return await self.http.call("POST", "/v1/jobs", JobInfo, body=request)

    async def control_job(self, job_id: str, action: str) -> JobInfo:
        if action not in ("pause", "resume", "cancel"):
            raise InvalidInputError("a job can be paused, resumed or cancelled")
        return await self.http.call("POST", f"/v1/jobs/{_seg(job_id)}/{action}", JobInfo)

    async def throttles(self) -> ThrottleList:
        return await self.http.call("GET", "/v1/jobs/throttles", ThrottleList)

    async def set_throttle(self, kind: str, throttle: Throttle) -> KindThrottle:
        return await self.http.call(
            "PUT", f"/v1/jobs/throttles/{_seg(kind)}", KindThrottle, body=throttle
        )


class ChunkReporter:
    """Fire-and-forget reports of bad chunks from the read path (see the module docstring)."""

    def __init__(self, http: InternalClient) -> None:
        self._client = DurabilityClient(http)
        self._tasks: set[asyncio.Task[None]] = set()  # strong references until done
        self._recent: dict[str, float] = {}  # chunk id -> when it was last reported

    def __call__(self, chunks: Sequence[ReportedChunk]) -> None:
        now = time.monotonic()
        if len(self._recent) > MAX_RECENT:
            self._recent = {c: t for c, t in self._recent.items() if now - t < REPORT_AGAIN_AFTER}
        # Every GET of a damaged object meets the same chunk: tell the coordinator once.
        chunks = [
            c for c in chunks if now - self._recent.get(c.chunk_id, -1e9) >= REPORT_AGAIN_AFTER
        ]
        if not chunks or len(self._tasks) >= MAX_REPORT_TASKS:
            return  # under a storm of failures, the scrub is the backstop
        for chunk in chunks:
            self._recent[chunk.chunk_id] = now
        task = asyncio.get_running_loop().create_task(self._send(list(chunks)))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _send(self, chunks: list[ReportedChunk]) -> None:
        try:
            await self._client.report(chunks)
        except WormError as exc:
            log.warning("could not report %d bad chunks to the coordinator: %s", len(chunks), exc)

    async def drain(self) -> None:
        """Wait for reports in flight (tests, shutdown)."""
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
