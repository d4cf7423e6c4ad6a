"""Named erasure-coding profiles and storage classes: which profile a new object is written with.

Layer: coordinator database package; module-level Core statements over ``tables.profiles``
and synchronous operations of a ``Tx`` (run whole by ``Database.read`` / ``write``), bundled
by the ``Profiles`` repository. The mapping of a class to a profile is the one documented in
``wormfs.wire.profiles``. Contract:

* ``resolve`` answers the class and profile of a new object: the class asked for, else the
  bucket's default class (``buckets.settings["storage_class"]``), else STANDARD; STANDARD
  (and any AWS class no profile serves) is the coordinator's coding config, so a write never
  depends on a seeded row; an unknown class is ``InvalidStorageClassError``.
* ``seed`` keeps the profile ``standard`` equal to the coding config (the config is the
  source of STANDARD: an operator changes it there, and objects written before keep their
  own profile) and, when it creates it, also seeds ``reduced-redundancy`` (MinIO's RRS: same
  width, one parity chunk).
* ``create`` refuses an invalid profile, one wider than the writable disks, a taken name or
  class, and a class already used by objects written under STANDARD's profile (their bytes
  would be counted under the new one). ``delete`` refuses ``standard`` and a profile whose
  class objects, writes in progress, uploads or a bucket default still use
  (``ProfileInUseError``); on PostgreSQL a write holds the profile's row FOR SHARE and a
  delete takes it FOR UPDATE, so neither misses the other.
* ``listing`` answers every profile with the objects, bytes and raw bytes stored under it.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import bindparam, delete, exists, func, insert, select, update

from wormfs.config import CodingConfig, coding_problems
from wormfs.coordinator.db.convert import require_bucket
from wormfs.coordinator.db.database import Database
from wormfs.coordinator.db.liveness import disk_candidates
from wormfs.coordinator.db.tables import buckets, objects, pending_writes, profiles, uploads
from wormfs.coordinator.db.tx import Tx
from wormfs.errors import (
    InvalidInputError,
    InvalidStorageClassError,
    NoSuchBucketError,
    NoSuchProfileError,
    ProfileExistsError,
    ProfileInUseError,
)
from wormfs.format.layout import Profile
from wormfs.wire.profiles import (
    AWS_STORAGE_CLASSES,
    PROFILE_NAME,
    REDUCED_PROFILE,
    REDUCED_REDUNDANCY,
    STANDARD,
    STANDARD_PROFILE,
    BucketClass,
    ProfileInfo,
    ProfileList,
    ProfileSpec,
    class_name_problem,
)

log = logging.getLogger(__name__)

CLASS_KEY = "storage_class"  # the bucket default's key in buckets.settings

_ALL = select(profiles).order_by(profiles.c.name)
_BY_NAME = select(profiles).where(profiles.c.name == bindparam("name"))
_BY_CLASS = select(profiles).where(profiles.c.storage_class == bindparam("storage_class"))
_INSERT = insert(profiles)
_UPDATE_CODING = (
    update(profiles)
    .where(profiles.c.name == bindparam("name"))
    .values(
        codec=bindparam("codec"),
        k=bindparam("k"),
        m=bindparam("m"),
        stripe_size=bindparam("stripe_size"),
        segment_size=bindparam("segment_size"),
    )
)
_DELETE = delete(profiles).where(profiles.c.name == bindparam("name"))
_BUCKET_SETTINGS = select(buckets.c.settings).where(buckets.c.name == bindparam("name"))
_ALL_BUCKET_SETTINGS = select(buckets.c.name, buckets.c.settings)
_SET_BUCKET_SETTINGS = (
    update(buckets)
    .where(buckets.c.name == bindparam("name"))
    .values(settings=bindparam("settings"))
)
# PostgreSQL: a write of a class holds its profile's row FOR SHARE, a delete takes it FOR
# UPDATE first, so a delete waits for a write in flight and then sees its intent, upload or
# object (SQLite runs one writer at a time anyway).
_BY_CLASS_SHARED = (
    select(profiles)
    .where(profiles.c.storage_class == bindparam("storage_class"))
    .with_for_update(read=True)
    .execution_options(wormfs_dialect="postgresql")
)
_LOCK_BY_NAME = (
    select(profiles.c.name)
    .where(profiles.c.name == bindparam("name"))
    .with_for_update()
    .execution_options(wormfs_dialect="postgresql")
)
_CLASS_IN_OBJECTS = select(exists().where(objects.c.storage_class == bindparam("storage_class")))
_CLASS_IN_WRITES = select(
    exists().where(pending_writes.c.storage_class == bindparam("storage_class"))
)
_CLASS_IN_UPLOADS = select(exists().where(uploads.c.storage_class == bindparam("storage_class")))
# Usage per class: one pass over the versions (delete markers hold no bytes).
_USAGE = (
    select(
        objects.c.storage_class,
        func.count().label("objects"),
        func.coalesce(func.sum(objects.c.size), 0).label("bytes"),
    )
    .where(objects.c.is_delete_marker.is_(False))
    .group_by(objects.c.storage_class)
)


@dataclass(frozen=True)
class Resolved:
    """What a new object is written with: its class, its profile and its segment size."""

    storage_class: str
    profile: Profile
    segment_size: int


def reduced_profile(coding: CodingConfig) -> Profile:
    """REDUCED_REDUNDANCY as MinIO maps it by default (RRS parity EC:1): the same k+m disks
    with one parity chunk; STANDARD itself when it has at most one parity chunk."""
    standard = coding.profile
    if standard.m <= 1:
        return standard
    return Profile(codec=standard.codec, k=standard.n - 1, m=1, stripe_size=standard.stripe_size)


def _info(row: Any, usage: tuple[int, int] = (0, 0)) -> ProfileInfo:
    count, size = usage
    return ProfileInfo(
        name=row.name,
        codec=row.codec,
        k=row.k,
        m=row.m,
        stripe_size=row.stripe_size,
        segment_size=row.segment_size,
        storage_class=row.storage_class,
        created=row.created,
        objects=count,
        bytes=size,
        raw_bytes=size * (row.k + row.m) // row.k,
    )


def settings_class(settings: dict[str, Any] | None) -> str:
    """The default class a bucket's ``settings`` document names (STANDARD when none)."""
    return str((settings or {}).get(CLASS_KEY) or STANDARD)


def bucket_class(tx: Tx, bucket: str) -> str:
    """The bucket's default class (``NoSuchBucketError`` if there is no such bucket); one
    primary-key read, as every write without a class asks it."""
    row = tx.one(_BUCKET_SETTINGS, {"name": bucket})
    if row is None:
        raise NoSuchBucketError(bucket=bucket)
    return settings_class(row.settings)


def resolve(tx: Tx, bucket: str, requested: str, coding: CodingConfig) -> Resolved:
    """The class and profile of a new object in ``bucket`` ("" asks for the bucket's default)."""
    storage_class = requested or bucket_class(tx, bucket)
    if storage_class != STANDARD:
        by_class = _BY_CLASS_SHARED if tx.postgres else _BY_CLASS
        row = tx.one(by_class, {"storage_class": storage_class})
        if row is not None:
            return Resolved(storage_class, _info(row).profile, row.segment_size)
        if storage_class == REDUCED_REDUNDANCY:
            return Resolved(storage_class, reduced_profile(coding), coding.segment_size)
        if storage_class not in AWS_STORAGE_CLASSES:
            raise InvalidStorageClassError(storage_class=storage_class)
    return Resolved(storage_class, coding.profile, coding.segment_size)


def check_width(resolved: Resolved, known_disks: int) -> None:
    """A class whose profile has more chunks than the cluster has disks can never be written:
    refused as the client's choice of class. Fewer disks online than k+m is a 503, from
    placement, and so is any shortfall of STANDARD: it is the cluster's own profile, so a
    cluster still short of disks (one starting, one that lost some) is unavailable, not
    asked something invalid."""
    if resolved.storage_class != STANDARD and resolved.profile.n > known_disks:
        raise InvalidStorageClassError(
            f"storage class {resolved.storage_class!r} needs k+m = {resolved.profile.n} disks "
            f"({resolved.profile.k}+{resolved.profile.m}); the cluster has {known_disks}",
            storage_class=resolved.storage_class,
        )


def _coding_row(
    name: str, coding: CodingConfig, storage_class: str | None, now: float
) -> dict[str, Any]:
    return {
        "name": name,
        "codec": coding.codec,
        "k": coding.k,
        "m": coding.m,
        "stripe_size": coding.stripe_size,
        "segment_size": coding.segment_size,
        "storage_class": storage_class,
        "created": now,
    }


def seed(tx: Tx, coding: CodingConfig, now: float) -> list[str]:
    """Make ``standard`` the coding config (and seed ``reduced-redundancy`` with it the
    first time); what changed, in words, for the log."""
    row = tx.one(_BY_NAME, {"name": STANDARD_PROFILE})
    wanted = _coding_row(STANDARD_PROFILE, coding, STANDARD, now)
    if row is None:
        tx.run(_INSERT, wanted)
        done = [f"seeded profile {STANDARD_PROFILE!r} from the coding config"]
        taken = tx.one(_BY_NAME, {"name": REDUCED_PROFILE}) or tx.one(
            _BY_CLASS, {"storage_class": REDUCED_REDUNDANCY}
        )
        if taken is None:
            reduced = reduced_profile(coding)
            rrs = CodingConfig(
                codec=reduced.codec,
                k=reduced.k,
                m=reduced.m,
                stripe_size=reduced.stripe_size,
                segment_size=coding.segment_size,
            )
            tx.run(_INSERT, _coding_row(REDUCED_PROFILE, rrs, REDUCED_REDUNDANCY, now))
            done.append(f"seeded profile {REDUCED_PROFILE!r} ({reduced.k}+{reduced.m})")
        return done
    stored = {name: getattr(row, name) for name in ("codec", "k", "m", "stripe_size")}
    stored["segment_size"] = row.segment_size
    if stored == {name: wanted[name] for name in stored}:
        return []
    tx.run(_UPDATE_CODING, wanted)
    return [
        f"profile {STANDARD_PROFILE!r} follows the coding config: {row.k}+{row.m} -> "
        f"{coding.k}+{coding.m} (objects written before keep their own profile)"
    ]


def _usage_by_profile(tx: Tx, rows: Sequence[Any]) -> dict[str, tuple[int, int]]:
    """Objects and bytes per profile name: a class served by a profile counts under it, any
    other class under ``standard`` (it was written with STANDARD's profile)."""
    by_class = {r.storage_class: r.name for r in rows if r.storage_class}
    counts: Counter[str] = Counter()
    sizes: Counter[str] = Counter()
    for used in tx.all(_USAGE):
        name = by_class.get(used.storage_class, STANDARD_PROFILE)
        counts[name] += int(used.objects)
        sizes[name] += int(used.bytes)
    return {name: (counts[name], sizes[name]) for name in counts}


def listing(tx: Tx) -> ProfileList:
    rows = tx.all(_ALL)
    usage = _usage_by_profile(tx, rows)
    return ProfileList(profiles=[_info(r, usage.get(r.name, (0, 0))) for r in rows])


def get(tx: Tx, name: str) -> ProfileInfo:
    rows = tx.all(_ALL)
    usage = _usage_by_profile(tx, rows)
    for row in rows:
        if row.name == name:
            return _info(row, usage.get(name, (0, 0)))
    raise NoSuchProfileError(f"no profile named {name!r}")


def _coding_of(spec: ProfileSpec) -> CodingConfig:
    return CodingConfig(
        codec=spec.codec,
        k=spec.k,
        m=spec.m,
        stripe_size=spec.stripe_size,
        segment_size=spec.segment_size,
    )


def spec_problems(spec: ProfileSpec) -> list[str]:
    """Everything wrong with ``spec`` on its own (the cluster's width is checked apart)."""
    problems = []
    if not PROFILE_NAME.fullmatch(spec.name):
        problems.append(
            f"profile name {spec.name!r} must be 1..63 of a-z, 0-9, '.', '_', '-' "
            "starting with a letter or digit"
        )
    problems += coding_problems(_coding_of(spec), prefix="")
    if spec.storage_class is not None:
        problem = class_name_problem(spec.storage_class)
        if problem:
            problems.append(problem)
        elif spec.storage_class == STANDARD:
            problems.append("STANDARD is always the coding config's profile (change it there)")
    return problems


def create(tx: Tx, spec: ProfileSpec, now: float, offline_after: float) -> ProfileInfo:
    writable = sum(1 for d in disk_candidates(tx, now, offline_after) if d.online)
    if spec.k + spec.m > writable:
        raise InvalidInputError(
            f"profile {spec.name!r} needs k+m = {spec.k + spec.m} disks; the cluster has "
            f"{writable} writable"
        )
    if tx.one(_BY_NAME, {"name": spec.name}) is not None:
        raise ProfileExistsError(f"a profile named {spec.name!r} exists already")
    if spec.storage_class is not None:
        other = tx.one(_BY_CLASS, {"storage_class": spec.storage_class})
        if other is not None:
            raise ProfileExistsError(
                f"storage class {spec.storage_class!r} is served by profile {other.name!r}; "
                "delete that one first"
            )
        if tx.scalar(_CLASS_IN_OBJECTS, {"storage_class": spec.storage_class}):
            raise ProfileExistsError(
                f"objects of storage class {spec.storage_class!r} exist already, written with "
                "STANDARD's profile; choose another class name"
            )
    tx.run(_INSERT, _coding_row(spec.name, _coding_of(spec), spec.storage_class, now))
    return get(tx, spec.name)


def _default_users(tx: Tx, storage_class: str) -> list[str]:
    return [
        r.name
        for r in tx.all(_ALL_BUCKET_SETTINGS)
        if (r.settings or {}).get(CLASS_KEY) == storage_class
    ]


def remove(tx: Tx, name: str) -> None:
    if name == STANDARD_PROFILE:
        raise ProfileInUseError("profile 'standard' is the coding config's; it cannot be deleted")
    if tx.postgres:
        tx.one(_LOCK_BY_NAME, {"name": name})
    row = tx.one(_BY_NAME, {"name": name})
    if row is None:
        raise NoSuchProfileError(f"no profile named {name!r}")
    storage_class = row.storage_class
    if storage_class is not None:
        params = {"storage_class": storage_class}
        if tx.scalar(_CLASS_IN_OBJECTS, params):
            raise ProfileInUseError(
                f"profile {name!r}: objects of storage class {storage_class!r} still exist"
            )
        if tx.scalar(_CLASS_IN_WRITES, params):
            raise ProfileInUseError(
                f"profile {name!r}: writes of storage class {storage_class!r} are in progress"
            )
        if tx.scalar(_CLASS_IN_UPLOADS, params):
            raise ProfileInUseError(
                f"profile {name!r}: multipart uploads of storage class {storage_class!r} are "
                "in progress"
            )
        users = _default_users(tx, storage_class)
        if users:
            raise ProfileInUseError(
                f"profile {name!r}: storage class {storage_class!r} is the default of "
                f"bucket(s) {', '.join(sorted(users)[:5])}"
            )
    tx.run(_DELETE, {"name": name})


def set_bucket_class(tx: Tx, bucket: str, storage_class: str, coding: CodingConfig) -> BucketClass:
    require_bucket(tx, bucket)
    resolve(tx, bucket, storage_class, coding)  # InvalidStorageClassError if nothing serves it
    settings = dict(tx.scalar(_BUCKET_SETTINGS, {"name": bucket}) or {})
    if storage_class == STANDARD:
        settings.pop(CLASS_KEY, None)
    else:
        settings[CLASS_KEY] = storage_class
    tx.run(_SET_BUCKET_SETTINGS, {"name": bucket, "settings": settings})
    return BucketClass(storage_class=storage_class)


class Profiles:
    """The repository: each method one transaction."""

    def __init__(self, db: Database, coding: CodingConfig, offline_after: float) -> None:
        self._db = db
        self._coding = coding
        self._offline_after = offline_after

    async def seed(self) -> None:
        """Run by a coordinator that starts leading (alone at start-up, or elected); each
        change is logged."""
        coding, now = self._coding, time.time()
        for change in await self._db.write(lambda tx: seed(tx, coding, now)):
            log.info("%s", change)

    async def list(self) -> ProfileList:
        return await self._db.read(listing)

    async def get(self, name: str) -> ProfileInfo:
        return await self._db.read(lambda tx: get(tx, name))

    async def create(self, spec: ProfileSpec) -> ProfileInfo:
        problems = spec_problems(spec)
        if problems:
            raise InvalidInputError("; ".join(problems))
        now, offline_after = time.time(), self._offline_after
        return await self._db.write(lambda tx: create(tx, spec, now, offline_after))

    async def delete(self, name: str) -> None:
        await self._db.write(lambda tx: remove(tx, name))

    async def bucket_class(self, bucket: str) -> BucketClass:
        found = await self._db.read(lambda tx: bucket_class(tx, bucket))
        return BucketClass(storage_class=found)

    async def set_bucket_class(self, bucket: str, req: BucketClass) -> BucketClass:
        problem = class_name_problem(req.storage_class)
        if problem:
            raise InvalidStorageClassError(problem, storage_class=req.storage_class)
        coding = self._coding
        return await self._db.write(
            lambda tx: set_bucket_class(tx, bucket, req.storage_class, coding)
        )
