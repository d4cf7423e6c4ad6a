"""Multipart uploads: create, commit parts, list parts, complete, abort.

Layer: coordinator database package. Contract, each operation one transaction:

* ``create`` stores the upload with the profile of its storage class (asked for, or the
  bucket's default; ``db/profiles.py``): its parts are all written with it; and a
  time-ordered upload id.
* ``commit_part`` stores a granted part; a part with the same number is replaced and its
  chunks are queued for GC in the same commit.
* ``complete`` checks the part list as S3 does — ascending (``InvalidPartOrderError``), each
  part uploaded with that ETag, quotes ignored (``InvalidPartError``), every part but the last
  at least 5 MiB (``EntityTooSmallError``) — then, atomically: the chosen parts become the
  new version's parts (re-pointed, not copied), parts not chosen are queued for GC, the upload
  is removed and the version becomes latest exactly as a plain commit does. ETag:
  ``"md5(concat of the parts' binary MD5s)-N"``; checksum: see ``wormfs.format.checksums``.
* ``abort`` queues every part's chunks and removes the upload.

Operations that lose a race on PostgreSQL (two commits of one part number, a completion
meeting an abort, a bucket deleted meanwhile) are re-run whole by ``Database.write``; the
re-run then answers as if it had come second (``NoSuchUploadError``, ``NoSuchBucketError``...).
"""

from __future__ import annotations

import binascii
import hashlib
import time
from itertools import pairwise
from typing import Any

from sqlalchemy import bindparam, delete, insert, null, select, update

from wormfs.config import CodingConfig
from wormfs.coordinator.db.convert import (
    attribute_columns,
    part_records,
    parts_query,
    profile_to_json,
    require_upload,
)
from wormfs.coordinator.db.database import Database
from wormfs.coordinator.db.gc import abandon_write, queue_upload_chunks
from wormfs.coordinator.db.liveness import disk_candidates
from wormfs.coordinator.db.lock_rules import locked_attributes
from wormfs.coordinator.db.manifests import read_manifest
from wormfs.coordinator.db.profiles import check_width, resolve
from wormfs.coordinator.db.tables import parts, uploads
from wormfs.coordinator.db.tx import Row, Tx
from wormfs.coordinator.db.versioning import bucket_facts, written_s3_version_id
from wormfs.coordinator.db.versions import insert_version, make_room, strip_etag
from wormfs.coordinator.db.writes import commit_upload_part
from wormfs.coordinator.naming import check_key
from wormfs.errors import (
    ConflictError,
    EntityTooSmallError,
    InvalidInputError,
    InvalidPartError,
    InvalidPartOrderError,
    NoSuchUploadError,
    StaleLeaderError,
)
from wormfs.format.checksums import (
    default_type,
    multipart_checksum,
    same_checksum,
    type_supported,
)
from wormfs.ids import new_version_id
from wormfs.wire.coordinator import (
    CommitPart,
    CompleteUpload,
    CreateUpload,
    ObjectManifest,
    PartList,
    PartRecord,
    UploadInfo,
)

MIN_PART_SIZE = 5 * 1024 * 1024  # S3: every part but the last
MAX_PAGE = 1000

_INSERT_UPLOAD = insert(uploads)
_DROP_UPLOAD = delete(uploads).where(uploads.c.upload_id == bindparam("upload_id"))
_PART_PAGE = parts_query(
    parts.c.id.in_(
        select(parts.c.id)
        .where(
            parts.c.upload_id == bindparam("upload_id"),
            parts.c.part_number > bindparam("marker"),
        )
        .order_by(parts.c.part_number)
        .limit(bindparam("limit"))
    )
)
_UPLOADED = select(parts.c.part_number, parts.c.size, parts.c.etag, parts.c.checksum_value).where(
    parts.c.upload_id == bindparam("upload_id")
)
_ADOPT_PARTS = (
    update(parts)
    .where(
        parts.c.upload_id == bindparam("upload_id"),
        parts.c.part_number.in_(bindparam("numbers", expanding=True)),
    )
    .values(object_id=bindparam("object_id"), upload_id=null())
)
_DROP_PARTS = delete(parts).where(parts.c.upload_id == bindparam("upload_id"))


def multipart_etag(part_etags: list[str]) -> str:
    """S3's multipart ETag: MD5 over the parts' binary MD5s, then ``-N``."""
    digests = b"".join(binascii.unhexlify(strip_etag(e)) for e in part_etags)
    return f'"{hashlib.md5(digests).hexdigest()}-{len(part_etags)}"'


class Uploads:
    def __init__(self, db: Database, coding: CodingConfig, gc_delay: float) -> None:
        self._db = db
        self._coding = coding
        self._gc_delay = gc_delay

    async def create(self, req: CreateUpload) -> UploadInfo:
        check_key(req.key)
        checksum_type = req.checksum_type
        if req.checksum_algorithm is None:
            if checksum_type is not None:
                raise InvalidInputError("a checksum type needs a checksum algorithm")
        else:
            checksum_type = checksum_type or default_type(req.checksum_algorithm)
            if not type_supported(req.checksum_algorithm, checksum_type):
                raise InvalidInputError(
                    f"{req.checksum_algorithm} has no {checksum_type} multipart checksum"
                )
        row: dict[str, Any] = {
            "upload_id": new_version_id(),
            "bucket": req.bucket,
            "key": req.key,
            "owner_id": req.owner_id,
            "initiated": time.time(),
            **attribute_columns(req.attributes),
            "checksum_algorithm": req.checksum_algorithm,
            "checksum_type": checksum_type,
        }
        coding = self._coding

        def create(tx: Tx) -> UploadInfo:
            # The lock asked for is checked now and taken at completion.
            locked_attributes(
                req.bucket,
                req.attributes,
                bucket_facts(tx, req.bucket).object_lock,
                row["initiated"],
            )
            # The class (asked for, or the bucket's default) picks the profile every part of
            # the upload is written with.
            chosen = resolve(tx, req.bucket, req.attributes.storage_class, coding)
            check_width(chosen, len(disk_candidates(tx, row["initiated"], 0.0)))
            tx.run(
                _INSERT_UPLOAD,
                {
                    **row,
                    "storage_class": chosen.storage_class,
                    "profile": profile_to_json(chosen.profile),
                },
            )
            return require_upload(tx, row["upload_id"])

        return await self._db.write(create)

    async def get(self, upload_id: str) -> UploadInfo:
        return await self._db.read(lambda tx: require_upload(tx, upload_id))

    async def commit_part(self, upload_id: str, req: CommitPart) -> PartRecord:
        try:
            return await self._commit_part(upload_id, req)
        except StaleLeaderError:
            raise
        except ConflictError:
            # No intent: expired, or a retry of a commit whose answer was lost; then the part
            # stored is this one (same number, ETag and chunks).
            done = await self._stored_part(upload_id, req.part.part_number)
            if done is None or (done.etag, _chunk_ids(done)) != (
                req.part.etag,
                _chunk_ids(req.part),
            ):
                raise
            return done
        except NoSuchUploadError:
            # The upload was completed or aborted while this part was being written: the part
            # can never be used, so its chunks are collected now rather than at expiry.
            await self._db.write(lambda tx: abandon_write(tx, req.write_id, time.time()))
            raise

    async def _stored_part(self, upload_id: str, part_number: int) -> PartRecord | None:
        try:
            page = await self.list_parts(upload_id, marker=part_number - 1, max_parts=1)
        except NoSuchUploadError:
            return None
        if page.parts and page.parts[0].part_number == part_number:
            return page.parts[0]
        return None

    async def _commit_part(self, upload_id: str, req: CommitPart) -> PartRecord:
        return await self._db.write(lambda tx: commit_upload_part(tx, upload_id, req, time.time()))

    async def list_parts(
        self, upload_id: str, marker: int = 0, max_parts: int = MAX_PAGE
    ) -> PartList:
        if max_parts < 0 or marker < 0:
            raise InvalidInputError("marker and max_parts must not be negative")
        limit = min(max_parts, MAX_PAGE)

        def page(tx: Tx) -> list[PartRecord]:
            require_upload(tx, upload_id)
            if limit == 0:
                return []
            params = {"upload_id": upload_id, "marker": marker, "limit": limit + 1}
            return part_records(tx.all(_PART_PAGE, params))

        found = await self._db.read(page)
        truncated = len(found) > limit
        records = found[:limit]
        return PartList(
            parts=records,
            is_truncated=truncated,
            next_marker=records[-1].part_number if truncated else None,
        )

    async def complete(self, upload_id: str, req: CompleteUpload) -> ObjectManifest:
        if not req.parts:
            raise InvalidInputError("a completion must name at least one part")
        numbers = [p.part_number for p in req.parts]
        if any(b <= a for a, b in pairwise(numbers)):
            raise InvalidPartOrderError("parts must be listed in ascending part-number order")
        gc_delay = self._gc_delay
        return await self._db.write(lambda tx: _complete(tx, upload_id, req, time.time(), gc_delay))

    async def abort(self, upload_id: str) -> None:
        def abort(tx: Tx) -> None:
            require_upload(tx, upload_id, for_change=True)
            now = time.time()
            queue_upload_chunks(tx, upload_id, now, now)
            tx.run(_DROP_UPLOAD, {"upload_id": upload_id})  # parts, segments, placements cascade

        await self._db.write(abort)


def _chosen_parts(tx: Tx, upload_id: str, req: CompleteUpload) -> list[Row]:
    """The stored parts a completion names, checked as S3 checks them."""
    stored = {p.part_number: p for p in tx.all(_UPLOADED, {"upload_id": upload_id})}
    chosen = []
    for wanted in req.parts:
        part = stored.get(wanted.part_number)
        if part is None or strip_etag(part.etag) != strip_etag(wanted.etag):
            raise InvalidPartError(
                f"part {wanted.part_number} was not uploaded with ETag {wanted.etag}"
            )
        if (
            wanted.checksum
            and part.checksum_value
            and not same_checksum(wanted.checksum, part.checksum_value)
        ):
            raise InvalidPartError(f"part {wanted.part_number} was uploaded with another checksum")
        chosen.append(part)
    for part in chosen[:-1]:
        if part.size < MIN_PART_SIZE:
            raise EntityTooSmallError(
                f"part {part.part_number} is {part.size} bytes; all but the last part "
                f"must be at least {MIN_PART_SIZE}"
            )
    return chosen


def _complete(
    tx: Tx, upload_id: str, req: CompleteUpload, now: float, gc_delay: float
) -> ObjectManifest:
    upload = require_upload(tx, upload_id, for_change=True)  # no part lands meanwhile
    chosen = _chosen_parts(tx, upload_id, req)
    try:
        etag = multipart_etag([p.etag for p in chosen])
    except (binascii.Error, ValueError):
        raise InvalidPartError("a part's ETag is not an MD5") from None
    checksum = multipart_checksum(
        upload.checksum_algorithm,
        upload.checksum_type,
        [(p.checksum_value, p.size) for p in chosen],
    )
    _, versioning, lock = bucket_facts(tx, upload.bucket)
    make_room(
        tx,
        upload.bucket,
        upload.key,
        req.if_match,
        req.if_none_match,
        now,
        gc_delay,
        versioning=versioning,
    )
    attributes = upload.attributes
    if attributes.retain_until is None:  # one asked for at creation was checked then
        attributes = locked_attributes(upload.bucket, attributes, lock, now)
    version_id = new_version_id()
    manifest = ObjectManifest(
        bucket=upload.bucket,
        key=upload.key,
        version_id=version_id,
        s3_version_id=written_s3_version_id(versioning, version_id),
        owner_id=upload.owner_id,
        size=sum(p.size for p in chosen),
        etag=etag,
        last_modified=now,
        profile=upload.profile,
        parts=[],
        attributes=attributes,
        checksum=checksum,
        upload_id=upload_id,
    )
    object_id = insert_version(tx, manifest, now)
    tx.run(
        _ADOPT_PARTS,
        {
            "upload_id": upload_id,
            "numbers": [p.part_number for p in chosen],
            "object_id": object_id,
        },
    )
    # Parts uploaded but not named in the completion: nobody can ever read them.
    queue_upload_chunks(tx, upload_id, now, now)
    tx.run(_DROP_PARTS, {"upload_id": upload_id})
    tx.run(_DROP_UPLOAD, {"upload_id": upload_id})
    return read_manifest(tx, upload.bucket, upload.key, manifest.version_id, None)


def _chunk_ids(part: PartRecord) -> list[str]:
    return [c.chunk_id for s in part.segments for c in s.chunks]
