"""Durability job schemas: the jobs the coordinator keeps in SQL, their progress and throttles.

Layer: wire schemas (pure structs, no I/O). Routes on the active coordinator, authenticated
with the cluster secret (the admin API's ``/admin/v1/jobs`` answers the same structs):

    GET    /v1/jobs?kind=&state=&limit=&after=      -> JobList   (newest first, paged)
    POST   /v1/jobs               StartJob          -> JobInfo   (scrub, rebalance, repair now)
    GET    /v1/jobs/{job_id}                        -> JobInfo
    POST   /v1/jobs/{job_id}/pause                  -> JobInfo
    POST   /v1/jobs/{job_id}/resume                 -> JobInfo
    POST   /v1/jobs/{job_id}/cancel                 -> JobInfo
    GET    /v1/jobs/throttles                       -> ThrottleList
    PUT    /v1/jobs/throttles/{kind}  Throttle      -> KindThrottle (takes effect at once)

Kinds and what they support (``CONTROLS``):

* ``repair``, ``gc`` and ``lifecycle`` are standing jobs, one per kind, id = the kind: pause
  and resume; cancel means pause (continuous work cannot end). Their ``total_items`` is what
  they did plus their backlog, so their progress rises as the backlog falls (lifecycle's
  items are the actions its rules took: versions expired, markers removed, uploads aborted;
  it has no backlog it can count ahead).
* ``scrub``: one job per requested scrub: pause, resume, cancel.
* ``rebalance``: one job per call; its moves run on the repair workers: cancel drops the moves
  still queued (pause is the repair job's).
* ``drain`` / ``decommission``: one job per drained disk or node: pause (the disks stop
  draining, moves still queued are dropped), resume, cancel (the disks are undrained).

States: ``running`` -> ``paused`` -> ``running``; ``running|paused`` -> ``cancelled | done |
failed`` (final). Throttles: ``items_per_s`` and ``bytes_per_s`` (0: no limit) and
``concurrency`` (0: the configured default), per kind; drains, decommissions and rebalances
move chunks through the repair workers, so the repair throttle paces them.
"""

from __future__ import annotations

from typing import Any, Literal

import msgspec

from wormfs.errors import InvalidInputError

JobKind = Literal["repair", "scrub", "gc", "rebalance", "drain", "decommission", "lifecycle"]
JobState = Literal["running", "paused", "cancelled", "done", "failed"]
JobAction = Literal["pause", "resume", "cancel"]

KINDS: tuple[str, ...] = (
    "repair",
    "scrub",
    "gc",
    "rebalance",
    "drain",
    "decommission",
    "lifecycle",
)
STATES: tuple[str, ...] = ("running", "paused", "cancelled", "done", "failed")
STANDING: tuple[str, ...] = ("repair", "gc", "lifecycle")
FINAL: frozenset[str] = frozenset({"cancelled", "done", "failed"})
CONTROLS: dict[str, frozenset[str]] = {
    "repair": frozenset({"pause", "resume", "cancel"}),
    "gc": frozenset({"pause", "resume", "cancel"}),
    "scrub": frozenset({"pause", "resume", "cancel"}),
    "rebalance": frozenset({"cancel"}),
    "drain": frozenset({"pause", "resume", "cancel"}),
    "decommission": frozenset({"pause", "resume", "cancel"}),
    "lifecycle": frozenset({"pause", "resume", "cancel"}),
}
MAX_PAGE = 100


class Throttle(msgspec.Struct, frozen=True):
    items_per_s: float = 0.0  # 0: no limit
    bytes_per_s: int = 0  # 0: no limit
    concurrency: int = 0  # 0: the configured default


class KindThrottle(msgspec.Struct, frozen=True):
    kind: str
    throttle: Throttle
    updated_at: float | None  # None: never set, the configured defaults apply


class ThrottleList(msgspec.Struct, frozen=True):
    throttles: list[KindThrottle]


class JobInfo(msgspec.Struct, frozen=True):
    job_id: str
    kind: str
    target: str  # the disk or node ids it works on; "" for the whole cluster
    standing: bool
    state: str
    done_items: int
    total_items: int | None  # None: not known (yet)
    done_bytes: int
    total_bytes: int | None
    items_per_s: float  # over the recent window (``RATE_WINDOW`` seconds) on the leader
    bytes_per_s: float
    eta_seconds: float | None  # None: finished, no total or no rate known
    failures: int
    last_failure: str
    started_at: float
    updated_at: float
    finished_at: float | None
    throttle: Throttle
    params: dict[str, Any] = {}


class JobList(msgspec.Struct, frozen=True):
    jobs: list[JobInfo]
    next_after: str | None = None  # ``after`` of the next page; None: this is the last page


def page_key(job: JobInfo) -> str:
    """The opaque key a page after ``job`` starts from (jobs are listed newest first)."""
    return f"{job.started_at!r}/{job.job_id}"


def parse_page_key(key: str) -> tuple[float, str]:
    started, _, job_id = key.partition("/")
    try:
        return float(started), job_id
    except ValueError:
        raise InvalidInputError("after is not a key this API gave out") from None


class StartJob(msgspec.Struct, frozen=True):
    """``kind``: scrub (``deep``, ``disk_ids``), rebalance (``max_moves``, ``tolerance``) or
    repair (a scan for lost and draining disks now; answers the standing repair job)."""

    kind: Literal["scrub", "rebalance", "repair"]
    deep: bool = True
    disk_ids: list[str] = []
    max_moves: int = 10_000
    tolerance: float = 0.05
