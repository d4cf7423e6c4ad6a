"""The coordinator's profiles over both engines: the seeded profiles follow the coding config
across restarts while objects keep their own, the class a write was granted is the class its
commit stores, and deleting a seeded RRS profile is not undone by a restart."""

from __future__ import annotations

import pytest
from component.coordinator_harness import (
    STRIPE,
    Running,
    make_bucket,
    make_config,
    part_from_grant,
    put,
    register,
    running,
)

from wormfs.clients.profiles import ProfileClient
from wormfs.config import CodingConfig
from wormfs.errors import InvalidStorageClassError, ProfileInUseError
from wormfs.wire.coordinator import (
    BeginWrite,
    CommitObject,
    ObjectAttributes,
    ObjectManifest,
    WriteGrant,
)


def _coding(k: int, m: int) -> CodingConfig:
    return CodingConfig(k=k, m=m, stripe_size=STRIPE, segment_size=4 * STRIPE)


async def test_standard_follows_the_coding_config_and_old_objects_keep_theirs(
    database_url: str,
) -> None:
    async with running(make_config(database_url, coding=_coding(4, 2))) as r:
        await register(r.client, "n1", count=8)
        await make_bucket(r.client, "bkt")
        old = await put(r.client, "bkt", "old", size=10_000)
        seeded = {p.name: (p.k, p.m) for p in (await ProfileClient(r.client.http).list()).profiles}
        assert seeded == {"standard": (4, 2), "reduced-redundancy": (5, 1)}
        await ProfileClient(r.client.http).delete("reduced-redundancy")
    async with running(make_config(database_url, coding=_coding(5, 3))) as r:
        profiles = ProfileClient(r.client.http)
        listed = {p.name: p for p in (await profiles.list()).profiles}
        # The config is STANDARD's source; the deleted RRS row is not seeded again.
        assert set(listed) == {"standard"}
        assert (listed["standard"].k, listed["standard"].m) == (5, 3)
        assert (listed["standard"].objects, listed["standard"].bytes) == (1, 10_000)
        manifest = await r.client.get_object("bkt", "old")
        assert manifest.profile == old.profile and (manifest.profile.k, manifest.profile.m) == (
            4,
            2,
        )
        new = await put(r.client, "bkt", "new", size=10_000)
        assert (new.profile.k, new.profile.m) == (5, 3)
        # Unbound now, REDUCED_REDUNDANCY is MinIO's mapping of the new config: 7+1.
        grant = await r.client.begin_write(
            BeginWrite(bucket="bkt", key="rrs", size=100, storage_class="REDUCED_REDUNDANCY")
        )
        assert (grant.profile.k, grant.profile.m, grant.storage_class) == (
            7,
            1,
            "REDUCED_REDUNDANCY",
        )


async def _commit(r: Running, grant: WriteGrant, attributes: ObjectAttributes) -> ObjectManifest:
    """Commit the 100-byte write of ``bkt/k`` that ``grant`` allows."""
    etag = '"' + "0" * 32 + '"'
    return await r.client.commit_object(
        CommitObject(
            write_id=grant.write_id,
            bucket="bkt",
            key="k",
            version_id=grant.version_id,
            owner_id="owner-a",
            size=100,
            etag=etag,
            profile=grant.profile,
            parts=[part_from_grant(grant, 1, 100, etag)],
            attributes=attributes,
        )
    )


async def test_the_commit_stores_the_class_granted(database_url: str) -> None:
    async with running(make_config(database_url)) as r:
        await register(r.client, "n1")
        await make_bucket(r.client, "bkt")
        grant = await r.client.begin_write(
            BeginWrite(bucket="bkt", key="k", size=100, storage_class="REDUCED_REDUNDANCY")
        )
        # A writer claiming another class does not change what the chunks are.
        committed = await _commit(r, grant, ObjectAttributes(storage_class="STANDARD"))
        assert committed.attributes.storage_class == "REDUCED_REDUNDANCY"
        listed = await r.client.list_objects("bkt")
        assert [o.storage_class for o in listed.objects] == ["REDUCED_REDUNDANCY"]
        with pytest.raises(InvalidStorageClassError):
            await r.client.begin_write(
                BeginWrite(bucket="bkt", key="k2", size=100, storage_class="NOPE")
            )


async def test_a_write_in_progress_keeps_its_profile_from_being_deleted(database_url: str) -> None:
    async with running(make_config(database_url)) as r:
        await register(r.client, "n1")
        await make_bucket(r.client, "bkt")
        profiles = ProfileClient(r.client.http)
        grant = await r.client.begin_write(
            BeginWrite(bucket="bkt", key="k", size=100, storage_class="REDUCED_REDUNDANCY")
        )
        with pytest.raises(ProfileInUseError, match="writes of storage class"):
            await profiles.delete("reduced-redundancy")
        await _commit(r, grant, ObjectAttributes())
        with pytest.raises(ProfileInUseError, match="objects of storage class"):
            await profiles.delete("reduced-redundancy")
        await r.client.delete_object("bkt", "k")
        await profiles.delete("reduced-redundancy")
