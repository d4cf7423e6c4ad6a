"""Versioning in the coordinator, on SQLite and PostgreSQL: the bucket's state, what a commit
and a delete do with the key's versions, the null version, and what goes to GC."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from component.coordinator_harness import Running, make_bucket, make_config, put, register, running

from wormfs.errors import (
    DeleteMarkerError,
    InvalidInputError,
    NoSuchKeyError,
    NoSuchVersionError,
)

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
async def coord(database_url: str) -> AsyncIterator[Running]:
    async with running(make_config(database_url, node_offline_after=3600.0)) as r:
        await register(r.client, "node-1", 6)
        await make_bucket(r.client, "bkt")
        yield r


async def _gc_chunks(r: Running) -> int:
    return len(await r.gc_entries())


async def test_state_and_the_versions_a_commit_keeps(coord: Running) -> None:
    c = coord.client
    assert (await c.bucket_versioning("bkt", None)).status == ""
    null = await put(c, "bkt", "k")
    assert null.s3_version_id is None  # never versioned: S3 shows no id
    await c.put_bucket_versioning("bkt", None, "Enabled")
    assert (await c.bucket_versioning("bkt", None)).status == "Enabled"
    with pytest.raises(InvalidInputError):
        await c.put_bucket_versioning("bkt", None, "")
    queued = await _gc_chunks(coord)
    one = await put(c, "bkt", "k")
    two = await put(c, "bkt", "k")
    assert (one.s3_version_id, two.s3_version_id) == (one.version_id, two.version_id)
    assert await _gc_chunks(coord) == queued  # nothing replaced went to GC
    assert (await c.get_object("bkt", "k")).version_id == two.version_id
    assert (await c.get_object("bkt", "k", version_id="null")).s3_version_id == "null"
    page = await c.list_versions("bkt")
    assert [(v.version_id, v.is_latest) for v in page.versions] == [
        (two.version_id, True),
        (one.version_id, False),
        ("null", False),
    ]

    deleted = await c.delete_object("bkt", "k")
    assert deleted.delete_marker and deleted.version_id
    with pytest.raises(NoSuchKeyError) as info:
        await c.get_object("bkt", "k")
    assert (info.value.delete_marker, info.value.version_id) == (True, deleted.version_id)
    with pytest.raises(DeleteMarkerError):
        await c.get_object("bkt", "k", version_id=deleted.version_id)
    assert (await c.list_objects("bkt")).objects == []

    await c.delete_object("bkt", "k", version_id=two.version_id)
    assert await _gc_chunks(coord) > queued  # a version deleted by id goes to GC
    with pytest.raises(NoSuchVersionError):
        await c.get_object("bkt", "k", version_id=two.version_id)
    await c.delete_object("bkt", "k", version_id=deleted.version_id)
    assert (await c.get_object("bkt", "k")).version_id == one.version_id


async def test_suspended_replaces_only_the_null_version(coord: Running) -> None:
    c = coord.client
    await c.put_bucket_versioning("bkt", None, "Enabled")
    kept = await put(c, "bkt", "k")
    await c.put_bucket_versioning("bkt", None, "Suspended")
    first = await put(c, "bkt", "k")
    second = await put(c, "bkt", "k")
    assert first.s3_version_id == second.s3_version_id == "null"
    page = await c.list_versions("bkt")
    assert [(v.version_id, v.is_latest) for v in page.versions] == [
        ("null", True),
        (kept.version_id, False),
    ]
    marker = await c.delete_object("bkt", "k")
    assert (marker.version_id, marker.delete_marker) == ("null", True)
    page = await c.list_versions("bkt")
    assert [(v.version_id, v.is_delete_marker) for v in page.versions] == [
        ("null", True),
        (kept.version_id, False),
    ]
    # Paging from the null version goes on with the older ones.
    first_page = await c.list_versions("bkt", max_keys=1)
    assert first_page.next_version_id_marker == "null"
    rest = await c.list_versions(
        "bkt", key_marker="k", version_id_marker=first_page.next_version_id_marker or ""
    )
    assert [v.version_id for v in rest.versions] == [kept.version_id]
