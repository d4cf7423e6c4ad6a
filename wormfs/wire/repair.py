"""Durability API schemas: repair, scrub, drain and rebalance, on the coordinator and the nodes.

Layer: wire schemas (pure structs, no I/O). Routes, all authenticated with the cluster secret:

On the active coordinator::

    GET    /v1/repair/status                        -> RepairStatus
    GET    /v1/repair/queue?limit=N                 -> RepairQueueList (riskiest first)
    POST   /v1/repair/pause                         -> RepairStatus   (queue kept, no dispatch)
    POST   /v1/repair/resume                        -> RepairStatus
    POST   /v1/repair/report      BadChunkReport    -> ReportResult   (read path: bad fragments)
    POST   /v1/scrub              StartScrub        -> ScrubStatus    (a scrub now, background)
    GET    /v1/scrub/status                         -> ScrubStatus
    POST   /v1/disks/{disk_id}/drain                -> DrainStatus    (move every chunk away)
    POST   /v1/disks/{disk_id}/undrain              -> DrainStatus
    POST   /v1/nodes/{node_id}/drain                -> DrainStatus    (every disk of the node)
    POST   /v1/nodes/{node_id}/undrain              -> DrainStatus
    POST   /v1/nodes/{node_id}/decommission         -> DrainStatus    (a drain, as that job kind)
    GET    /v1/drain/status                         -> DrainStatus
    POST   /v1/rebalance          StartRebalance    -> RebalanceResult (and a rebalance job)

Each of these is a view of the jobs of ``wormfs.wire.jobs`` (repair and pause/resume: the
standing repair job; a scrub, drain, decommission or rebalance: a job of that kind, whose id
``DrainStatus.job_id`` and ``RebalanceResult.job_id`` name).

On every storage node::

    POST   /v1/repair/rebuild     RebuildTask       -> ChunkPutResult (the new chunk, durable)
    POST   /v1/disks/{disk_id}/scrub  ScrubBatch    -> ScrubBatchResult
    POST   /v1/repair/check       ConsistencyCheck  -> ConsistencyResult

A rebuild task names the surviving chunks of one segment (k or more, any node, this one
included) and the fragment index to produce; the node range-reads the sources block by block,
decodes, re-encodes only the wanted index (or copies it verbatim when a source holds that very
index, as a drain does) and writes the new chunk durably to its own ``target_disk_id``. Header
fields other than ``chunk_id`` and ``fragment_index`` are taken from the sources, which must
agree with each other and with the task's ``profile`` and ``segment_length``.

A consistency check reads every fragment of a few stripes of one segment (all k+m chunks),
re-encodes the data fragments and compares the parity: block CRCs catch bitrot, this catches a
fragment that was written wrong in the first place. When the stripe disagrees, the node finds
the one fragment whose removal makes the rest agree (possible with m >= 2) and names it.

Errors answer with ``ErrorBody`` and the domain error's status, as everywhere.
"""

from __future__ import annotations

from typing import Literal

import msgspec

from wormfs.format.layout import Profile

RepairReason = Literal["offline", "missing", "corrupt", "drain", "rebalance", "inconsistent"]


# ---- node side: rebuild and deep scrub --------------------------------------------------------
class RebuildSource(msgspec.Struct, frozen=True):
    fragment_index: int
    node_address: str
    disk_id: str
    chunk_id: str


class RebuildTask(msgspec.Struct, frozen=True):
    sources: list[RebuildSource]
    target_disk_id: str
    chunk_id: str  # the id of the chunk to create
    fragment_index: int  # the fragment it holds
    profile: Profile
    segment_length: int
    rate_bytes_per_s: int = 0  # pacing of the node's reads; 0 = unpaced


class ConsistencyCheck(msgspec.Struct, frozen=True):
    sources: list[RebuildSource]  # all k+m chunks of the segment
    profile: Profile
    segment_length: int
    blocks: list[int]  # stripe indexes to check


class ConsistencyResult(msgspec.Struct, frozen=True):
    blocks_checked: int
    inconsistent: list[int]  # fragment indexes found wrong
    unresolved_blocks: list[int] = []  # stripes that disagree with no single culprit


class ScrubBatch(msgspec.Struct, frozen=True):
    """Verify chunks of one disk in id order, strictly after ``after``, within the bounds."""

    after: str | None = None
    max_chunks: int = 1000
    max_bytes: int = 1 << 30
    rate_bytes_per_s: int = 0  # IO budget on this disk; 0 = unpaced
    duty: float = 1.0  # the share of time spent reading, within (0, 1]; 1 = no duty brake


class BadChunk(msgspec.Struct, frozen=True):
    chunk_id: str
    bad_blocks: list[int]
    error: str


class ScrubBatchResult(msgspec.Struct, frozen=True):
    disk_id: str
    chunks_checked: int
    bytes_checked: int
    bad: list[BadChunk]
    next_after: str | None  # None: the walk reached the end of the disk


# ---- coordinator side: reports, status ---------------------------------------------------------
class ReportedChunk(msgspec.Struct, frozen=True):
    chunk_id: str
    disk_id: str
    problem: Literal["missing", "corrupt"]


class BadChunkReport(msgspec.Struct, frozen=True):
    chunks: list[ReportedChunk]


class ReportResult(msgspec.Struct, frozen=True):
    queued: int  # chunks that were referenced and are now queued for repair


class ReasonCount(msgspec.Struct, frozen=True):
    reason: str
    chunks: int


class RepairStatus(msgspec.Struct, frozen=True):
    paused: bool
    queued: int  # chunks waiting, running included
    running: int
    queued_bytes: int  # chunk bytes still to rebuild
    repaired_chunks: int  # since ``since`` (the creation of the standing repair job)
    repaired_bytes: int
    failed_attempts: int
    rate_bytes_per_s: float  # recent rebuild rate (one minute window)
    eta_seconds: float | None  # None when nothing is queued or no rate is known yet
    min_surviving: int | None  # fewest surviving fragments of any queued segment
    by_reason: list[ReasonCount]
    since: float
    rate_limit_bytes_per_s: int
    concurrency: int


class QueueEntry(msgspec.Struct, frozen=True):
    chunk_id: str
    disk_id: str
    fragment_index: int
    reason: str
    surviving: int
    attempts: int
    running: bool
    last_error: str = ""


class RepairQueueList(msgspec.Struct, frozen=True):
    entries: list[QueueEntry]


class StartScrub(msgspec.Struct, frozen=True):
    deep: bool = True
    disk_ids: list[str] = []  # empty: every disk


class DiskScrubState(msgspec.Struct, frozen=True):
    disk_id: str
    node_id: str
    bytes_verified: int  # by the deep scrub since ``verified_since``
    chunks_verified: int
    verified_since: float
    last_shallow: float | None
    last_deep_finished: float | None
    deep_cursor: str | None  # where the deep walk continues; None between walks
    missing_found: int  # by shallow scrubs since ``verified_since``
    corrupt_found: int  # by deep scrubs since ``verified_since``
    orphans_found: int


class ScrubStatus(msgspec.Struct, frozen=True):
    running: bool  # a requested scrub is still in progress
    requested_at: float | None
    finished_at: float | None
    found_missing: int  # by the last requested scrub
    found_corrupt: int
    found_orphans: int
    disks: list[DiskScrubState]
    found_inconsistent: int = 0  # fragments that disagreed with the rest of their stripe
    failed_disks: list[str] = []  # disks the requested scrub could not finish (errors logged)
    job_id: str | None = None  # the scrub job of the last requested scrub


class DiskDrainState(msgspec.Struct, frozen=True):
    disk_id: str
    node_id: str
    state: Literal["draining", "drained"]
    since: float
    chunks_left: int


class DrainStatus(msgspec.Struct, frozen=True):
    disks: list[DiskDrainState]
    job_id: str | None = None  # the drain or decommission job a drain call started or joined


class ForgetResult(msgspec.Struct, frozen=True):
    """A dead disk the cluster no longer knows: its GC entries were dropped (nobody can
    delete chunks on a disk that is gone; if it ever comes back, the inventory orphan scan
    collects what is on it)."""

    disk_id: str
    gc_entries_dropped: int


class StartRebalance(msgspec.Struct, frozen=True):
    max_moves: int = 10_000
    tolerance: float = 0.05  # leave disks within this fraction of the mean usage alone


class RebalanceResult(msgspec.Struct, frozen=True):
    queued_moves: int
    mean_used_fraction: float
    job_id: str | None = None
