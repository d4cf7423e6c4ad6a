"""Objects: begin a write, commit a version, read a manifest, delete.

Layer: coordinator database package. Contract, each operation one transaction:

* ``begin_write`` checks the bucket (and, for a part, the upload), cuts ``size`` into
  segments of the profile's segment size, places each segment on k+m disks and records the
  write intent with every granted chunk; the grant's profile is the one of the storage class
  asked for (or the bucket's default; ``db/profiles.py``) for a plain PUT and the upload's
  stored profile for a part.
* ``commit`` turns a granted write into the bucket's current version atomically: the intent is
  removed (a repeated commit of the same write, e.g. a retry after a lost answer, answers
  the version it made), the conditions are checked, the replaced version's chunks go into
  the gc queue and the new version becomes latest, all in one commit (readers see the old
  or the new version, never a mixture). The profile stored is the one in the request. A
  failed condition drops the intent at once (its chunks are queued) since that write can
  never commit — in the same transaction that found the condition failed.
* ``get`` returns the manifest of the current (or a given) version; ``delete`` removes the
  current (or a given) version, queueing its chunks; deleting a missing key succeeds; both
  check the bucket's owner first when given one; a conditional delete's conditions are
  checked against the current version in the same transaction. ``put_inline`` commits a
  small object with its bytes in one step.

All of them are the per-request path (``db/writes.py``, ``db/manifests.py``, run by
``Database.write`` / ``read``); this class validates the input first. Writes that lose a race
on PostgreSQL (two commits to one key meet on the one-latest-version unique index) are re-run
whole by ``Database.write``.
"""

from __future__ import annotations

import stat
import time

from msgspec.structs import replace

from wormfs.config import CodingConfig
from wormfs.coordinator.db.database import Database
from wormfs.coordinator.db.manifests import delete_version, put_inline, read_manifest
from wormfs.coordinator.db.profiles import resolve
from wormfs.coordinator.db.tx import Tx
from wormfs.coordinator.db.versions import MAX_PART_NUMBER
from wormfs.coordinator.db.writes import Refused, commit_version, grant_write
from wormfs.coordinator.naming import check_key
from wormfs.errors import (
    ConflictError,
    EntityTooLargeError,
    InvalidInputError,
    NoSuchKeyError,
    StaleLeaderError,
)
from wormfs.ids import new_id, new_version_id
from wormfs.wire.coordinator import (
    BeginWrite,
    CommitObject,
    DeleteConditions,
    DeleteResult,
    ObjectManifest,
    PutInline,
    WriteGrant,
)
from wormfs.wire.fs import FsWrite

MAX_OBJECT_SIZE = 5 * 1024**4  # 5 TiB, S3's largest object


def _check_fs(fs: FsWrite | None) -> None:
    if fs is not None and (fs.ino < 2 or stat.S_ISDIR(fs.attrs.mode)):
        raise InvalidInputError("a write of the mount names a file's ino (>= 2)")


def _put_inline_classed(
    tx: Tx, req: PutInline, coding: CodingConfig, now: float, gc_delay: float
) -> ObjectManifest:
    """An inline object takes its class (asked for, or the bucket's default) and records the
    class's profile, though no chunk is written with it."""
    chosen = resolve(tx, req.bucket, req.attributes.storage_class, coding)
    attributes = replace(req.attributes, storage_class=chosen.storage_class)
    return put_inline(tx, replace(req, attributes=attributes), chosen.profile, now, gc_delay)


class Objects:
    def __init__(
        self, db: Database, coding: CodingConfig, gc_delay: float, offline_after: float
    ) -> None:
        self._db = db
        self._coding = coding
        self._gc_delay = gc_delay
        self._offline_after = offline_after

    async def begin_write(self, req: BeginWrite) -> WriteGrant:
        check_key(req.key)
        if req.size < 0:
            raise InvalidInputError("size must not be negative")
        if req.size > MAX_OBJECT_SIZE:
            raise EntityTooLargeError(f"{req.size} bytes is more than {MAX_OBJECT_SIZE}")
        if req.upload_id is not None and not 1 <= req.part_number <= MAX_PART_NUMBER:
            raise InvalidInputError(f"part numbers are 1..{MAX_PART_NUMBER}")
        coding, gc_delay, offline_after = self._coding, self._gc_delay, self._offline_after
        write_id, version_id = new_id(), new_version_id()
        return await self._db.write(
            lambda tx: grant_write(
                tx, req, coding, time.time(), gc_delay, offline_after, write_id, version_id
            )
        )

    async def commit(self, req: CommitObject) -> ObjectManifest:
        _check_fs(req.fs)
        if sum(p.size for p in req.parts) != req.size:
            raise InvalidInputError("the parts' sizes do not add up to the object's size")
        numbers = [p.part_number for p in req.parts]
        if numbers != sorted(set(numbers)):
            raise InvalidInputError("parts must have ascending, distinct part numbers")
        gc_delay = self._gc_delay
        try:
            done = await self._db.write(lambda tx: commit_version(tx, req, time.time(), gc_delay))
        except StaleLeaderError:
            raise
        except ConflictError as unknown:
            # No intent: expired, or this is a retry of a commit whose answer was lost
            # (a version id is granted once, so finding it means this commit happened).
            try:
                made = await self.get(req.bucket, req.key, req.version_id)
            except NoSuchKeyError:
                raise unknown from None
            if (made.etag, made.size) != (req.etag, req.size):
                raise
            return made
        if isinstance(done, Refused):
            raise done.error
        return done

    async def get(
        self,
        bucket: str,
        key: str,
        version_id: str | None = None,
        owner_id: str | None = None,
    ) -> ObjectManifest:
        check_key(key)
        return await self._db.read(lambda tx: read_manifest(tx, bucket, key, version_id, owner_id))

    async def put_inline(self, req: PutInline) -> ObjectManifest:
        check_key(req.key)
        _check_fs(req.fs)
        coding, gc_delay = self._coding, self._gc_delay
        return await self._db.write(
            lambda tx: _put_inline_classed(tx, req, coding, time.time(), gc_delay)
        )

    async def delete(
        self,
        bucket: str,
        key: str,
        version_id: str | None = None,
        owner_id: str | None = None,
        conditions: DeleteConditions | None = None,
        bypass_governance: bool = False,
    ) -> DeleteResult:
        check_key(key)
        gc_delay = self._gc_delay
        return await self._db.write(
            lambda tx: delete_version(
                tx,
                bucket,
                key,
                version_id,
                owner_id,
                time.time(),
                gc_delay,
                conditions,
                bypass_governance,
            )
        )
