"""Failed durability jobs in health and on the Overview, over a real coordinator (both
engines): a job that ended ``failed`` in the last hour is a ``job_failed`` reason (degraded)
with its kind, target and last failure; one that failed earlier, or ended otherwise, is not."""

from __future__ import annotations

import time

import aiohttp
from component.admin_harness import AdminHarness
from component.coordinator_harness import register
from component.test_ui_login import _login, admin, browser
from sqlalchemy import insert

from wormfs.coordinator.db.jobs import JobsRepo, new_job
from wormfs.coordinator.db.tables import jobs
from wormfs.coordinator.db.tx import Tx

__all__ = ["admin", "browser"]  # the fixtures, shared with the login tests


async def test_jobs_failed_in_the_last_hour_are_reasons_on_health_and_overview(
    admin: AdminHarness, browser: aiohttp.ClientSession
) -> None:
    await register(admin.coordinator.client, "n1")
    repo = JobsRepo(admin.coordinator.repo.db)
    assert (await admin.ok("GET", "/health"))["status"] == "healthy"
    now = time.time()
    await repo.create(new_job("job-scrub-1", "scrub", "n1-d1", {}, now))
    await repo.fail("job-scrub-1", "node n1 refused the scrub: disk n1-d1 is gone")
    await repo.finish("job-scrub-1", "failed")
    await repo.create(new_job("job-rebalance-1", "rebalance", "", {}, now))
    await repo.finish("job-rebalance-1", "done")
    old = {**new_job("job-drain-old", "drain", "n1-d2", {}, now - 7300), "state": "failed"}
    old |= {"finished_at": now - 7200, "last_failure": "long ago"}

    def insert_old(tx: Tx) -> None:
        tx.run(insert(jobs), old)

    await admin.coordinator.repo.db.write(insert_old)

    health = await admin.ok("GET", "/health")
    assert health["status"] == "degraded"
    failed = [r for r in health["reasons"] if r["kind"] == "job_failed"]
    assert [r["target"] for r in failed] == ["job-scrub-1"]
    assert failed[0]["detail"].startswith("scrub n1-d1 failed at ")
    assert failed[0]["detail"].endswith(": node n1 refused the scrub: disk n1-d1 is gone")

    await _login(browser, admin.url)
    async with browser.get(admin.url + "/ui/") as resp:
        text = await resp.text()
        assert resp.status == 200, text[:2000]
    assert '<li data-kind="job_failed">' in text and "job-scrub-1" in text
    assert "disk n1-d1 is gone" in text and "job-drain-old" not in text
