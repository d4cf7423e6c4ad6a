"""Object Lock in the coordinator, on SQLite and PostgreSQL: a bucket's lock configuration,
the retention and legal hold of versions, the default retention of new versions, and that no
path removes a locked version or sends its chunks to GC."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator

import pytest
from component.coordinator_harness import Running, make_bucket, make_config, put, register, running

from wormfs.errors import (
    AccessDeniedError,
    BucketNotEmptyError,
    InvalidBucketStateError,
    InvalidInputError,
    InvalidRetentionError,
    NoObjectLockError,
    ObjectLockedError,
)
from wormfs.wire.coordinator import (
    CreateBucket,
    ObjectAttributes,
    ObjectLockConfig,
    ObjectRetention,
)

pytestmark = pytest.mark.timeout(60)

DAY = 86_400.0


@pytest.fixture
async def coord(database_url: str) -> AsyncIterator[Running]:
    async with running(make_config(database_url, node_offline_after=3600.0)) as r:
        await register(r.client, "node-1", 6)
        await r.client.create_bucket("locked", CreateBucket(owner_id="owner-a", object_lock=True))
        yield r


def _retention(mode: str, days: float, bypass: bool = False) -> ObjectRetention:
    return ObjectRetention(
        mode=mode, retain_until=time.time() + days * DAY, bypass_governance=bypass
    )


async def test_configuration_rules(coord: Running) -> None:
    c = coord.client
    assert (await c.bucket_versioning("locked", None)).status == "Enabled"
    assert await c.object_lock("locked", None) == ObjectLockConfig(enabled=True)
    with pytest.raises(InvalidBucketStateError):
        await c.put_bucket_versioning("locked", None, "Suspended")
    rule = ObjectLockConfig(enabled=True, mode="GOVERNANCE", days=2)
    await c.put_object_lock("locked", None, rule)
    assert await c.object_lock("locked", None) == rule
    for bad in (
        ObjectLockConfig(enabled=True, mode="GOVERNANCE", days=1, years=1),
        ObjectLockConfig(enabled=True, mode="GOVERNANCE"),
        ObjectLockConfig(enabled=True, mode="FOREVER", days=1),
        ObjectLockConfig(enabled=False),
    ):
        with pytest.raises(InvalidInputError):
            await c.put_object_lock("locked", None, bad)
    with pytest.raises(AccessDeniedError):  # another user's bucket
        await c.object_lock("locked", "owner-b")

    # A bucket without versioning cannot take Object Lock until versioning is enabled.
    await make_bucket(c, "plain")
    assert not (await c.object_lock("plain", None)).enabled
    with pytest.raises(InvalidBucketStateError):
        await c.put_object_lock("plain", None, ObjectLockConfig(enabled=True))
    await c.put_bucket_versioning("plain", None, "Enabled")
    await c.put_object_lock("plain", None, ObjectLockConfig(enabled=True))
    assert (await c.object_lock("plain", None)).enabled


async def test_default_retention_and_lock_requests(coord: Running) -> None:
    c = coord.client
    unlocked = await put(c, "locked", "free")
    assert unlocked.attributes.retain_until is None  # no default: nothing locked
    await c.put_object_lock(
        "locked", None, ObjectLockConfig(enabled=True, mode="COMPLIANCE", years=1)
    )
    before = time.time()
    held = await put(c, "locked", "k")
    assert held.attributes.lock_mode == "COMPLIANCE"
    assert held.attributes.retain_until is not None
    assert before + 365 * DAY - 5 <= held.attributes.retain_until <= time.time() + 365 * DAY
    # A write that names its own retention keeps it.
    asked = ObjectAttributes(lock_mode="GOVERNANCE", retain_until=time.time() + DAY)
    own = await put(c, "locked", "own", attributes=asked)
    assert (own.attributes.lock_mode, own.attributes.retain_until) == (
        "GOVERNANCE",
        asked.retain_until,
    )
    with pytest.raises(InvalidRetentionError):
        await put(
            c,
            "locked",
            "past",
            attributes=ObjectAttributes(lock_mode="GOVERNANCE", retain_until=time.time() - 1),
        )
    await make_bucket(c, "plain")
    with pytest.raises(NoObjectLockError):
        await put(c, "plain", "k", attributes=ObjectAttributes(legal_hold=True))
    with pytest.raises(NoObjectLockError):
        await c.put_object_legal_hold("plain", "k", None, None, True)


async def test_retention_changes_follow_the_modes(coord: Running) -> None:
    c = coord.client
    v = (await put(c, "locked", "g")).version_id
    await c.put_object_retention("locked", "g", v, None, _retention("GOVERNANCE", 2))
    await c.put_object_retention("locked", "g", v, None, _retention("GOVERNANCE", 3))  # extend
    for change in (_retention("GOVERNANCE", 1), ObjectRetention(), _retention("COMPLIANCE", 3)):
        with pytest.raises(ObjectLockedError):  # shorten, remove, switch: bypass needed
            await c.put_object_retention("locked", "g", v, None, change)
    await c.put_object_retention("locked", "g", v, None, _retention("GOVERNANCE", 1, bypass=True))
    await c.put_object_retention("locked", "g", v, None, ObjectRetention(bypass_governance=True))
    assert (await c.get_object("locked", "g", version_id=v)).attributes.retain_until is None

    w = (await put(c, "locked", "c")).version_id
    await c.put_object_retention("locked", "c", w, None, _retention("COMPLIANCE", 2))
    await c.put_object_retention("locked", "c", w, None, _retention("COMPLIANCE", 3))
    for change in (
        _retention("COMPLIANCE", 1, bypass=True),
        _retention("GOVERNANCE", 5, bypass=True),
        ObjectRetention(bypass_governance=True),
    ):
        with pytest.raises(ObjectLockedError):  # COMPLIANCE yields to nobody
            await c.put_object_retention("locked", "c", w, None, change)
    with pytest.raises(InvalidRetentionError):
        await c.put_object_retention(
            "locked", "c", w, None, ObjectRetention(mode="COMPLIANCE", retain_until=1.0)
        )


async def test_no_path_removes_a_locked_version(coord: Running) -> None:
    c = coord.client
    governed = await put(c, "locked", "g")
    await c.put_object_retention(
        "locked", "g", governed.version_id, None, _retention("GOVERNANCE", 1)
    )
    complied = await put(c, "locked", "c")
    await c.put_object_retention(
        "locked", "c", complied.version_id, None, _retention("COMPLIANCE", 1)
    )
    held = await put(c, "locked", "h")
    await c.put_object_legal_hold("locked", "h", held.version_id, None, True)
    queued = len(await coord.gc_entries())

    for version in (governed, complied, held):
        with pytest.raises(ObjectLockedError):
            await c.delete_object("locked", version.key, version_id=version.version_id)
        # A plain delete only hides it behind a delete marker; an overwrite only demotes it.
        assert (await c.delete_object("locked", version.key)).delete_marker
        await put(c, "locked", version.key)
    with pytest.raises(ObjectLockedError):  # the bypass does not lift COMPLIANCE or a hold
        await c.delete_object("locked", "c", version_id=complied.version_id, bypass_governance=True)
    with pytest.raises(ObjectLockedError):
        await c.delete_object("locked", "h", version_id=held.version_id, bypass_governance=True)
    with pytest.raises(BucketNotEmptyError):
        await c.delete_bucket("locked")
    assert len(await coord.gc_entries()) == queued  # no locked chunk was queued
    await coord.gc.run_once()
    for version in (governed, complied, held):
        again = await c.get_object("locked", version.key, version_id=version.version_id)
        assert again.parts == version.parts

    # GOVERNANCE yields to a bypass; a legal hold taken off lets its version go.
    await c.delete_object("locked", "g", version_id=governed.version_id, bypass_governance=True)
    await c.put_object_legal_hold("locked", "h", held.version_id, None, False)
    await c.delete_object("locked", "h", version_id=held.version_id)
    assert len(await coord.gc_entries()) > queued
