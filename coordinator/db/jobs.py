"""Durability jobs and their throttles: rows, state changes, progress.

Layer: coordinator database package (statements over ``tables.jobs`` and
``tables.job_throttles``, run through ``Database``). Contract:

* ``create`` inserts a run (state ``running``); ``ensure_standing`` inserts the standing job
  of a kind (id = the kind) once and answers it.
* ``transition(job_id, action)`` applies pause / resume / cancel inside one transaction, by
  the table ``next_state`` (a cancel of a standing job pauses it); an action the kind does
  not support, or on a finished job, is ``ConflictError``; an unknown id ``NoSuchJobError``.
* ``advance`` adds done items and bytes; ``set_totals`` / ``set_progress`` write what a
  tracker measured; ``fail`` counts a failure and keeps its message; ``finish`` ends a job
  (once: a finished job keeps its first final state).
* ``drop_queued_moves`` drops the rebalance moves not running yet (a cancelled rebalance).
* Throttles: ``throttle(kind)`` (the zero ``Throttle`` and ``None`` if never set),
  ``set_throttle``, ``throttles()``.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_, bindparam, delete, insert, or_, select, update

from wormfs.coordinator.db.database import Database
from wormfs.coordinator.db.tables import job_throttles, jobs, repair_queue
from wormfs.coordinator.db.tx import Row, Tx
from wormfs.errors import ConflictError, InvalidInputError, NotFoundError
from wormfs.wire.jobs import CONTROLS, FINAL, KINDS, STATES, KindThrottle, Throttle


class NoSuchJobError(NotFoundError):
    """No job has this id."""


@dataclass(frozen=True)
class JobRecord:
    job_id: str
    kind: str
    target: str
    standing: bool
    state: str
    params: dict[str, Any]
    done_items: int
    total_items: int | None
    done_bytes: int
    total_bytes: int | None
    failures: int
    last_failure: str
    started_at: float
    updated_at: float
    finished_at: float | None


_COLUMNS = [getattr(jobs.c, f) for f in JobRecord.__dataclass_fields__]
_INSERT = insert(jobs)
_GET = select(*_COLUMNS).where(jobs.c.job_id == bindparam("job_id"))
# Newest first, by the unique key (started_at, job_id); a page starts strictly after the
# previous page's last key. "" for kind or state means any; the first page starts after
# (FIRST_PAGE, ""), above every time.
FIRST_PAGE = 1e300
_PAGE = (
    select(*_COLUMNS)
    .where(
        or_(bindparam("kind") == "", jobs.c.kind == bindparam("kind")),
        or_(bindparam("state") == "", jobs.c.state == bindparam("state")),
        or_(
            jobs.c.started_at < bindparam("after_started"),
            and_(
                jobs.c.started_at == bindparam("after_started"),
                jobs.c.job_id < bindparam("after_id"),
            ),
        ),
    )
    .order_by(jobs.c.started_at.desc(), jobs.c.job_id.desc())
    .limit(bindparam("limit"))
)
_ACTIVE = (
    select(*_COLUMNS)
    .where(jobs.c.state.in_(["running", "paused"]), jobs.c.standing.is_(False))
    .order_by(jobs.c.started_at)
)
# UPDATE statements name their WHERE parameter apart from the columns they set.
_SET_STATE = (
    update(jobs)
    .where(jobs.c.job_id == bindparam("which"))
    .values(
        state=bindparam("state"),
        updated_at=bindparam("now"),
        finished_at=bindparam("finished"),
    )
)
_ADVANCE = (
    update(jobs)
    .where(jobs.c.job_id == bindparam("which"))
    .values(
        done_items=jobs.c.done_items + bindparam("items"),
        done_bytes=jobs.c.done_bytes + bindparam("nbytes"),
        updated_at=bindparam("now"),
    )
)
_TOTALS = (
    update(jobs)
    .where(jobs.c.job_id == bindparam("which"))
    .values(
        total_items=jobs.c.done_items + bindparam("backlog_items"),
        total_bytes=jobs.c.done_bytes + bindparam("backlog_bytes"),
        updated_at=bindparam("now"),
    )
)
_PROGRESS = (
    update(jobs)
    .where(jobs.c.job_id == bindparam("which"))
    .values(
        done_items=bindparam("done"),
        total_items=bindparam("total"),
        done_bytes=bindparam("done_b"),
        total_bytes=bindparam("total_b"),
        updated_at=bindparam("now"),
    )
)
_FAIL = (
    update(jobs)
    .where(jobs.c.job_id == bindparam("which"))
    .values(
        failures=jobs.c.failures + 1, last_failure=bindparam("message"), updated_at=bindparam("now")
    )
)
_DROP_MOVES = delete(repair_queue).where(
    repair_queue.c.reason == "rebalance", repair_queue.c.running_since.is_(None)
)
_THROTTLE = select(
    job_throttles.c.items_per_s,
    job_throttles.c.bytes_per_s,
    job_throttles.c.concurrency,
    job_throttles.c.updated_at,
).where(job_throttles.c.kind == bindparam("kind"))
_THROTTLES = select(
    job_throttles.c.kind,
    job_throttles.c.items_per_s,
    job_throttles.c.bytes_per_s,
    job_throttles.c.concurrency,
    job_throttles.c.updated_at,
)
_INSERT_THROTTLE = insert(job_throttles)
_UPDATE_THROTTLE = (
    update(job_throttles)
    .where(job_throttles.c.kind == bindparam("which"))
    .values(
        items_per_s=bindparam("items_per_s"),
        bytes_per_s=bindparam("bytes_per_s"),
        concurrency=bindparam("concurrency"),
        updated_at=bindparam("now"),
    )
)


def next_state(kind: str, standing: bool, state: str, action: str) -> str:
    """The state ``action`` leads to from ``state`` (``ConflictError`` when it cannot)."""
    if action not in CONTROLS.get(kind, frozenset()):
        raise ConflictError(f"a {kind} job cannot be {_done(action)}")
    if state in FINAL:
        raise ConflictError(f"the job is {state} already")
    if action == "pause" or (action == "cancel" and standing):
        return "paused"
    if action == "resume":
        return "running"
    return "cancelled"


def _done(action: str) -> str:
    return {"pause": "paused", "resume": "resumed", "cancel": "cancelled"}.get(action, action)


def _record(row: Row) -> JobRecord:
    return JobRecord(**{f: getattr(row, f) for f in JobRecord.__dataclass_fields__})


def _get(tx: Tx, job_id: str) -> JobRecord:
    row = tx.one(_GET, {"job_id": job_id})
    if row is None:
        raise NoSuchJobError(f"no job {job_id!r}")
    return _record(row)


def _create(tx: Tx, values: dict[str, Any]) -> JobRecord:
    tx.run(_INSERT, values)
    return _get(tx, values["job_id"])


def _ensure_standing(tx: Tx, kind: str, now: float) -> JobRecord:
    row = tx.one(_GET, {"job_id": kind})
    if row is not None:
        return _record(row)
    return _create(tx, new_job(kind, kind, "", {}, now, standing=True))


def _transition(tx: Tx, job_id: str, action: str, now: float) -> tuple[JobRecord, JobRecord]:
    before = _get(tx, job_id)
    state = next_state(before.kind, before.standing, before.state, action)
    finished = now if state in FINAL else None
    tx.run(_SET_STATE, {"which": job_id, "state": state, "now": now, "finished": finished})
    return before, _get(tx, job_id)


def _finish(tx: Tx, job_id: str, state: str, now: float) -> JobRecord:
    job = _get(tx, job_id)
    if job.state not in FINAL:
        tx.run(_SET_STATE, {"which": job_id, "state": state, "now": now, "finished": now})
    return _get(tx, job_id)


def _page(
    tx: Tx, kind: str | None, state: str | None, limit: int, after: tuple[float, str] | None
) -> list[Row]:
    started, job_id = after if after is not None else (FIRST_PAGE, "")
    params = {
        "kind": kind or "",
        "state": state or "",
        "after_started": started,
        "after_id": job_id,
        "limit": limit,
    }
    return tx.all(_PAGE, params)


def _throttle_of(row: Row | None) -> tuple[Throttle, float | None]:
    if row is None:
        return Throttle(), None
    return (
        Throttle(
            items_per_s=row.items_per_s, bytes_per_s=row.bytes_per_s, concurrency=row.concurrency
        ),
        row.updated_at,
    )


def _set_throttle(tx: Tx, kind: str, throttle: Throttle, now: float) -> None:
    values = {
        "items_per_s": throttle.items_per_s,
        "bytes_per_s": throttle.bytes_per_s,
        "concurrency": throttle.concurrency,
    }
    if not tx.run(_UPDATE_THROTTLE, {"which": kind, "now": now, **values}):
        tx.run(_INSERT_THROTTLE, {"kind": kind, "updated_at": now, **values})


def new_job(
    job_id: str,
    kind: str,
    target: str,
    params: dict[str, Any],
    now: float,
    standing: bool = False,
    total_items: int | None = None,
    total_bytes: int | None = None,
) -> dict[str, Any]:
    """The column values of a new job row (state ``running``, nothing done yet)."""
    return {
        "job_id": job_id,
        "kind": kind,
        "target": target,
        "standing": standing,
        "state": "running",
        "params": params,
        "done_items": 0,
        "total_items": total_items,
        "done_bytes": 0,
        "total_bytes": total_bytes,
        "failures": 0,
        "last_failure": "",
        "started_at": now,
        "updated_at": now,
        "finished_at": None,
    }


def check_filters(kind: str | None, state: str | None) -> None:
    if kind and kind not in KINDS:
        raise InvalidInputError(f"kind must be one of {', '.join(KINDS)}")
    if state and state not in STATES:
        raise InvalidInputError(f"state must be one of {', '.join(STATES)}")


class JobsRepo:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def create(self, values: dict[str, Any]) -> JobRecord:
        return await self._db.write(lambda tx: _create(tx, values))

    async def ensure_standing(self, kind: str) -> JobRecord:
        now = time.time()
        return await self._db.write(lambda tx: _ensure_standing(tx, kind, now))

    async def get(self, job_id: str) -> JobRecord:
        return await self._db.read(lambda tx: _get(tx, job_id))

    async def page(
        self, kind: str | None, state: str | None, limit: int, after: tuple[float, str] | None
    ) -> list[JobRecord]:
        """Up to ``limit`` jobs, newest first, strictly after the key ``after``."""
        check_filters(kind, state)
        rows = await self._db.read(lambda tx: _page(tx, kind, state, limit, after))
        return [_record(r) for r in rows]

    async def active_runs(self) -> list[JobRecord]:
        """Runs (not standing jobs) still running or paused, oldest first."""
        return [_record(r) for r in await self._db.read(lambda tx: tx.all(_ACTIVE))]

    async def transition(self, job_id: str, action: str) -> tuple[JobRecord, JobRecord]:
        """(the job before, the job after) ``action``."""
        now = time.time()
        return await self._db.write(lambda tx: _transition(tx, job_id, action, now))

    async def advance(self, job_id: str, items: int, nbytes: int) -> None:
        now = time.time()
        params = {"which": job_id, "items": items, "nbytes": nbytes, "now": now}
        await self._db.write(lambda tx: tx.run(_ADVANCE, params))

    async def set_totals(self, job_id: str, backlog_items: int, backlog_bytes: int) -> None:
        """A standing job's totals: what it did plus what is left."""
        params = {
            "which": job_id,
            "backlog_items": backlog_items,
            "backlog_bytes": backlog_bytes,
            "now": time.time(),
        }
        await self._db.write(lambda tx: tx.run(_TOTALS, params))

    async def set_progress(
        self,
        job_id: str,
        done: int,
        total: int | None,
        done_bytes: int = 0,
        total_bytes: int | None = None,
    ) -> None:
        params = {
            "which": job_id,
            "done": done,
            "total": total,
            "done_b": done_bytes,
            "total_b": total_bytes,
            "now": time.time(),
        }
        await self._db.write(lambda tx: tx.run(_PROGRESS, params))

    async def fail(self, job_id: str, message: str) -> None:
        params = {"which": job_id, "message": message[:2000], "now": time.time()}
        await self._db.write(lambda tx: tx.run(_FAIL, params))

    async def finish(self, job_id: str, state: str) -> JobRecord:
        now = time.time()
        return await self._db.write(lambda tx: _finish(tx, job_id, state, now))

    async def drop_queued_moves(self) -> int:
        return await self._db.write(lambda tx: tx.run(_DROP_MOVES))

    async def throttle(self, kind: str) -> tuple[Throttle, float | None]:
        return _throttle_of(await self._db.read(lambda tx: tx.one(_THROTTLE, {"kind": kind})))

    async def set_throttle(self, kind: str, throttle: Throttle) -> None:
        now = time.time()
        await self._db.write(lambda tx: _set_throttle(tx, kind, throttle, now))

    async def throttles(self, kinds: Sequence[str] = KINDS) -> list[KindThrottle]:
        rows = {r.kind: r for r in await self._db.read(lambda tx: tx.all(_THROTTLES))}
        out = []
        for kind in kinds:
            throttle, updated = _throttle_of(rows.get(kind))
            out.append(KindThrottle(kind=kind, throttle=throttle, updated_at=updated))
        return out
