"""The lifecycle worker of the active coordinator: buckets' lifecycle rules applied in bounded
passes.

Layer: coordinator background jobs, over ``db/lifecycle.py``. Contract:

* ``run_once(now)`` is one pass: for every bucket with rules and every enabled rule, the
  actions that are due (``Expiration`` by days or date, ``ExpiredObjectDeleteMarker``,
  ``NoncurrentVersionExpiration``, ``AbortIncompleteMultipartUpload``), at most ``batch``
  actions in all, each in its own transaction. Ages count lifecycle days of
  ``LifecycleSettings.day_seconds`` (AWS's day, or a shorter one for tests); a due time is the
  version's write (or replacement, or an upload's initiation) plus the days, rounded up to
  midnight UTC when a day is a real day, as AWS counts.
* Candidates are walked in key order from a cursor kept per bucket, rule and action, so a
  pass cut short by its budget resumes where it stopped and a version that cannot go (one
  under Object Lock: counted in ``locked``) does not hold back the ones after it; a walk
  that reaches the end starts again from the first key on the next pass.
* The standing ``lifecycle`` job (``job_kinds.LifecycleJobs``) pauses and resumes the loop
  (``paused``), its throttle's items/s sets the budget of a pass, and every action done
  advances it; ``stats`` counts what was done, by action, for ``/metrics``.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

import msgspec
from aiohttp import web

from wormfs.config import LifecycleSettings
from wormfs.coordinator.db.database import Database
from wormfs.coordinator.db.jobs import JobsRepo
from wormfs.coordinator.db.lifecycle import (
    due_current,
    due_markers,
    due_noncurrent,
    due_uploads,
    expire_current,
    expire_marker,
    expire_noncurrent,
    lifecycles,
)
from wormfs.coordinator.db.tx import Row, Tx
from wormfs.coordinator.db.uploads import Uploads
from wormfs.coordinator.jobs import job_failed
from wormfs.errors import NoSuchUploadError, ObjectLockedError
from wormfs.wire.lifecycle import LifecycleConfig, LifecycleRule, cutoff

log = logging.getLogger(__name__)

ACTIONS = ("expiration", "delete_marker", "noncurrent", "abort_upload")
Action = Callable[[Tx, str, str, str, float, float], bool]


@dataclass
class LifecyclePass:
    """What one pass did, by action, and the versions Object Lock kept."""

    done: Counter[str] = field(default_factory=Counter)
    locked: int = 0


class LifecycleWorker:
    def __init__(
        self, db: Database, uploads: Uploads, settings: LifecycleSettings, gc_delay: float
    ) -> None:
        self._db = db
        self._uploads = uploads
        self.settings = settings
        self._gc_delay = gc_delay
        self._jobs = JobsRepo(db)
        self._batch = settings.batch
        self._cursors: dict[tuple[str, str, str], str] = {}
        self._lock = asyncio.Lock()  # the loop and a test's run_once never overlap
        self.paused = False  # the lifecycle job's state, as the service last applied it
        self.stats: Counter[str] = Counter()  # actions done since start, and "locked"

    @property
    def period(self) -> float:
        """Seconds between passes: the configured interval, and at least four a day."""
        return max(0.05, min(self.settings.interval, self.settings.day_seconds / 4))

    def set_throttle(self, items_per_s: float) -> None:
        """At most ``items_per_s`` actions per second, as a budget per pass (0: no limit)."""
        self._batch = (
            max(1, int(items_per_s * self.period)) if items_per_s > 0 else self.settings.batch
        )

    def cutoff(self, now: float, days: int) -> float:
        return cutoff(now, days, self.settings.day_seconds)

    async def loop(self) -> None:
        while True:
            if not self.paused:
                try:
                    await self.run_once()
                except Exception:
                    job_failed(log, "lifecycle pass")
            await asyncio.sleep(self.period)

    async def run_once(self, now: float | None = None) -> LifecyclePass:
        async with self._lock:
            when = time.time() if now is None else now
            result = LifecyclePass()
            for bucket, stored in await self._db.read(lifecycles):
                config = msgspec.convert(stored, LifecycleConfig)
                for rule in config.rules:
                    if rule.enabled and sum(result.done.values()) < self._batch:
                        await self._apply(bucket, rule, when, result)
            total = sum(result.done.values())
            if total:
                await self._jobs.advance("lifecycle", total, 0)
                log.info("lifecycle: %s", dict(result.done))
            self.stats.update(result.done)
            self.stats["locked"] += result.locked
            return result

    async def _apply(
        self, bucket: str, rule: LifecycleRule, now: float, out: LifecyclePass
    ) -> None:
        prefix = rule.filter.prefix
        if rule.expiration_days is not None or (
            rule.expiration_date is not None and now >= rule.expiration_date
        ):
            cutoff = now if rule.expiration_days is None else self.cutoff(now, rule.expiration_days)

            def current(tx: Tx, after: str, limit: int) -> list[Row]:
                return due_current(tx, bucket, prefix, cutoff, after, limit)

            await self._walk(bucket, rule, "expiration", current, expire_current, now, out)
        if rule.expired_object_delete_marker:

            def markers(tx: Tx, after: str, limit: int) -> list[Row]:
                return due_markers(tx, bucket, prefix, after, limit)

            await self._walk(bucket, rule, "delete_marker", markers, expire_marker, now, out)
        if rule.noncurrent_days is not None:
            cutoff = self.cutoff(now, rule.noncurrent_days)
            keep = rule.newer_noncurrent_versions or 0

            def noncurrent(tx: Tx, after: str, limit: int) -> list[Row]:
                return due_noncurrent(tx, bucket, prefix, cutoff, keep, after, limit)

            await self._walk(bucket, rule, "noncurrent", noncurrent, expire_noncurrent, now, out)
        if rule.abort_days is not None:
            await self._abort_uploads(bucket, rule, self.cutoff(now, rule.abort_days), out)

    def _left(self, out: LifecyclePass) -> int:
        return self._batch - sum(out.done.values())

    async def _walk(
        self,
        bucket: str,
        rule: LifecycleRule,
        action: str,
        find: Callable[[Tx, str, int], list[Row]],
        act: Action,
        now: float,
        out: LifecyclePass,
    ) -> None:
        gc_delay = self._gc_delay

        def page_after(after: str, limit: int) -> Callable[[Tx], list[Row]]:
            return lambda tx: find(tx, after, limit)

        def act_on(row: Row) -> Callable[[Tx], bool]:
            return lambda tx: act(tx, bucket, row.key, row.version_id, now, gc_delay)

        place = (bucket, rule.id, action)
        after = self._cursors.get(place, "")
        while (left := self._left(out)) > 0:
            page = await self._db.read(page_after(after, left))
            for row in page:
                after = row.key
                if not rule.filter.matches(row.key, row.size, dict(row.tags or {})):
                    continue
                try:
                    done = await self._db.write(act_on(row))
                except ObjectLockedError:
                    out.locked += 1
                    continue
                if done:
                    out.done[action] += 1
                if self._left(out) <= 0:
                    break
            if len(page) < left:
                after = ""  # the walk reached the end: from the start next time
                break
        self._cursors[place] = after

    async def _abort_uploads(
        self, bucket: str, rule: LifecycleRule, cutoff: float, out: LifecyclePass
    ) -> None:
        prefix = rule.filter.prefix
        left = self._left(out)
        if left <= 0:
            return
        page = await self._db.read(lambda tx: due_uploads(tx, bucket, prefix, cutoff, "", left))
        for row in page:
            try:
                await self._uploads.abort(row.upload_id)
            except NoSuchUploadError:
                continue  # completed or aborted meanwhile
            out.done["abort_upload"] += 1


LIFECYCLE = web.AppKey("lifecycle", LifecycleWorker)  # the app's worker, for /metrics
