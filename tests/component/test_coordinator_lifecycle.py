"""Lifecycle rules applied by the coordinator's worker, on SQLite and PostgreSQL: expiration of
current versions (by days and by date, with prefix, tag and size filters), lone delete
markers, non-current versions (with NewerNoncurrentVersions), incomplete multipart uploads,
Object Lock respected, a pass's budget and its resumption, and the standing job's pause.

Passes run with ``run_once(now)`` at chosen times (lifecycle days of 86,400 s, due at the
midnight UTC after, as AWS counts), so nothing sleeps."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator

import pytest
from component.coordinator_harness import Running, make_bucket, make_config, put, register, running

from wormfs.clients.repair import DurabilityClient
from wormfs.config import LifecycleSettings
from wormfs.coordinator.lifecycle import LIFECYCLE, LifecycleWorker
from wormfs.errors import NoSuchKeyError, NoSuchUploadError
from wormfs.wire.coordinator import (
    CreateBucket,
    CreateUpload,
    ObjectAttributes,
    ObjectRetention,
)
from wormfs.wire.lifecycle import LifecycleConfig, LifecycleFilter, LifecycleRule

pytestmark = pytest.mark.timeout(90)

DAY = 86_400.0


@pytest.fixture
async def coord(database_url: str) -> AsyncIterator[Running]:
    settings = LifecycleSettings(interval=3600.0, batch=100)
    async with running(make_config(database_url, node_offline_after=1e9, lifecycle=settings)) as r:
        await register(r.client, "node-1", 6)
        await make_bucket(r.client, "bkt")
        yield r


def _worker(r: Running) -> LifecycleWorker:
    return r.app[LIFECYCLE]


async def _rules(r: Running, bucket: str, *rules: LifecycleRule) -> None:
    await r.client.put_bucket_lifecycle(bucket, None, LifecycleConfig(rules=list(rules)))


async def _keys(r: Running, bucket: str = "bkt") -> list[str]:
    return [o.key for o in (await r.client.list_objects(bucket)).objects]


async def test_expiration_by_days_with_filters(coord: Running) -> None:
    c = coord.client
    await _rules(
        coord,
        "bkt",
        LifecycleRule(
            id="logs", enabled=True, filter=LifecycleFilter(prefix="logs/"), expiration_days=2
        ),
        LifecycleRule(
            id="tagged",
            enabled=True,
            filter=LifecycleFilter(tags={"tmp": "yes"}, size_greater_than=50, form="and"),
            expiration_days=1,
        ),
        LifecycleRule(id="off", enabled=False, expiration_days=1),
    )
    assert (await c.bucket_lifecycle("bkt", None)).config.rules[0].id == "logs"  # type: ignore[union-attr]
    written = time.time()
    for key in ("logs/a", "logs/b", "keep/a"):
        await put(c, "bkt", key)
    await put(c, "bkt", "tmp-big", size=100, attributes=ObjectAttributes(tags={"tmp": "yes"}))
    await put(c, "bkt", "tmp-small", size=10, attributes=ObjectAttributes(tags={"tmp": "yes"}))
    await put(c, "bkt", "untagged-big", size=100)

    # Due at the midnight after write + days: a one-day rule not yet a day later.
    early = await _worker(coord).run_once(written + DAY)
    assert early.done == {} and len(await _keys(coord)) == 6
    one = await _worker(coord).run_once(written + 2 * DAY)
    assert dict(one.done) == {"expiration": 1}
    assert "tmp-big" not in await _keys(coord)
    two = await _worker(coord).run_once(written + 3 * DAY)
    assert dict(two.done) == {"expiration": 2}
    assert await _keys(coord) == ["keep/a", "tmp-small", "untagged-big"]


async def test_versioned_expiration_markers_and_noncurrent(coord: Running) -> None:
    c = coord.client
    await c.put_bucket_versioning("bkt", None, "Enabled")
    start = time.time()
    old = [await put(c, "bkt", "k") for _ in range(4)]  # three non-current, one current
    await put(c, "bkt", "gone")
    await c.delete_object("bkt", "gone", version_id=(await c.get_object("bkt", "gone")).version_id)
    await c.delete_object("bkt", "lone")  # a delete marker with nothing under it
    await _rules(
        coord,
        "bkt",
        LifecycleRule(
            id="current", enabled=True, filter=LifecycleFilter(prefix="k"), expiration_days=3
        ),
        LifecycleRule(id="old", enabled=True, noncurrent_days=1, newer_noncurrent_versions=1),
        LifecycleRule(id="markers", enabled=True, expired_object_delete_marker=True),
    )
    done = await _worker(coord).run_once(start + 2 * DAY)
    # The current "k" is not due yet; two of its three non-current versions go (one kept);
    # the lone marker goes.
    assert dict(done.done) == {"noncurrent": 2, "delete_marker": 1}
    versions = [(v.key, v.version_id) for v in (await c.list_versions("bkt")).versions]
    assert versions == [("k", old[3].version_id), ("k", old[2].version_id)]
    later = await _worker(coord).run_once(start + 4 * DAY)
    # Now the current version expires: a delete marker hides it (versioning keeps it).
    assert later.done["expiration"] == 1
    with pytest.raises(NoSuchKeyError):
        await c.get_object("bkt", "k")
    assert (await c.get_object("bkt", "k", version_id=old[3].version_id)).size == 100
    # Later passes delete the older non-current version; the newest one is kept, as
    # NewerNoncurrentVersions says, so the marker is not alone and stays.
    await _worker(coord).run_once(start + 6 * DAY)
    await _worker(coord).run_once(start + 8 * DAY)
    left = [(v.version_id, v.is_delete_marker) for v in (await c.list_versions("bkt")).versions]
    assert left[1:] == [(old[3].version_id, False)] and left[0][1]


async def test_date_rules_locks_uploads_budget_and_pause(coord: Running) -> None:
    c = coord.client
    await c.create_bucket("locked", CreateBucket(owner_id="owner-a", object_lock=True))
    held = await put(c, "locked", "held")
    until = time.time() + 30 * DAY
    await c.put_object_retention(
        "locked",
        "held",
        held.version_id,
        None,
        ObjectRetention(mode="COMPLIANCE", retain_until=until),
    )
    await put(c, "locked", "held")  # the locked version is now non-current
    midnight = (time.time() // DAY + 1) * DAY
    await _rules(
        coord,
        "locked",
        LifecycleRule(id="all", enabled=True, noncurrent_days=1, abort_days=1),
    )
    upload = await c.create_upload(CreateUpload(bucket="locked", key="mpu", owner_id="owner-a"))
    result = await _worker(coord).run_once(midnight + 2 * DAY)
    assert result.locked == 1 and dict(result.done) == {"abort_upload": 1}
    with pytest.raises(NoSuchUploadError):
        await c.abort_upload(upload.upload_id)
    # The locked version is still there, readable.
    assert (await c.get_object("locked", "held", version_id=held.version_id)).size == 100
    assert _worker(coord).stats["locked"] == 1

    # A date rule: everything under it expires once the date has come; a budget of 2 per
    # pass takes three passes over five keys and resumes where it stopped.
    for i in range(5):
        await put(c, "bkt", f"d/{i}")
    await _rules(
        coord, "bkt", LifecycleRule(id="date", enabled=True, expiration_date=midnight + DAY)
    )
    worker = _worker(coord)
    assert (await worker.run_once(midnight)).done == {}
    worker.set_throttle(2 / worker.period)
    for left in (3, 1, 0):
        await worker.run_once(midnight + DAY)
        assert len(await _keys(coord)) == left
    worker.set_throttle(0)

    # Paused through the standing job, the loop skips its passes.
    jobs = DurabilityClient(c.http)
    paused = await jobs.control_job("lifecycle", "pause")
    assert paused.state == "paused" and worker.paused
    await jobs.control_job("lifecycle", "resume")
    assert not worker.paused
    assert (await jobs.job("lifecycle")).done_items == 5 + 1
