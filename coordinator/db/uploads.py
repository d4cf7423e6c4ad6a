"""Multipart uploads: create, commit parts, list parts, complete, abort.

Layer: coordinator database package. Contract, each operation one transaction:

* ``create`` stores the upload with today's profile (its parts are all written with it) and
  a time-ordered upload id.
* ``commit_part`` stores a granted part; a part with the same number is replaced and its
  chunks are queued for GC in the same commit.
* ``complete`` checks the part list as S3 does — ascending (``InvalidPartOrderError``), each
  part uploaded with that ETag, quotes ignored (``InvalidPartError``), every part but the last
  at least 5 MiB (``EntityTooSmallError``) — then, atomically: the chosen parts become the
  new version's parts (re-pointed, not copied), parts not chosen are queued for GC, the upload
  is removed and the version becomes latest exactly as a plain commit does. ETag:
  ``"md5(concat of the parts' binary MD5s)-N"``; checksum: see ``coordinator.checksums``.
* ``abort`` queues every part's chunks and removes the upload.

Operations that lose a race on PostgreSQL (two commits of one part number, a completion
meeting an abort, a bucket deleted meanwhile) are re-run whole by ``retry_races``; the re-run
then answers as if it had come second (``NoSuchUploadError``, ``NoSuchBucketError``...).
"""

from __future__ import annotations

import binascii
import hashlib
import time
from itertools import pairwise
from typing import cast

from sqlalchemy import delete, select, update

from wormfs.config import CodingConfig
from wormfs.coordinator.checksums import default_type, multipart_checksum, same_checksum
from wormfs.coordinator.db.convert import (
    load_parts,
    part_records,
    profile_to_json,
    require_bucket,
    require_upload,
    upload_info,
)
from wormfs.coordinator.db.database import Database, retry_races
from wormfs.coordinator.db.direct import in_session
from wormfs.coordinator.db.gc import abandon_write, enqueue_part_chunks
from wormfs.coordinator.db.manifests import read_manifest
from wormfs.coordinator.db.models import ObjectVersion, Part, Upload
from wormfs.coordinator.db.versions import (
    make_room_in,
    strip_etag,
)
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
from wormfs.ids import new_version_id
from wormfs.wire.coordinator import (
    ChecksumAlgorithm,
    ChecksumType,
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


def multipart_etag(part_etags: list[str]) -> str:
    """S3's multipart ETag: MD5 over the parts' binary MD5s, then ``-N``."""
    digests = b"".join(binascii.unhexlify(strip_etag(e)) for e in part_etags)
    return f'"{hashlib.md5(digests).hexdigest()}-{len(part_etags)}"'


class Uploads:
    def __init__(self, db: Database, coding: CodingConfig, gc_delay: float) -> None:
        self._db = db
        self._coding = coding
        self._gc_delay = gc_delay

    @retry_races
    async def create(self, req: CreateUpload) -> UploadInfo:
        check_key(req.key)
        checksum_type = req.checksum_type
        if req.checksum_algorithm is None:
            if checksum_type is not None:
                raise InvalidInputError("a checksum type needs a checksum algorithm")
        else:
            checksum_type = checksum_type or default_type(req.checksum_algorithm)
            if checksum_type == "COMPOSITE" and req.checksum_algorithm == "CRC64NVME":
                raise InvalidInputError("CRC64NVME supports only the FULL_OBJECT checksum type")
            if checksum_type == "FULL_OBJECT" and req.checksum_algorithm in ("SHA1", "SHA256"):
                raise InvalidInputError(f"{req.checksum_algorithm} supports only COMPOSITE")
        upload = Upload(
            upload_id=new_version_id(),
            bucket=req.bucket,
            key=req.key,
            owner_id=req.owner_id,
            initiated=time.time(),
            content_type=req.content_type,
            user_metadata=dict(req.user_metadata),
            system_metadata=dict(req.system_metadata),
            checksum_algorithm=req.checksum_algorithm,
            checksum_type=checksum_type,
            storage_class=req.storage_class,
            profile=profile_to_json(self._coding.profile),
        )
        async with self._db.write() as session:
            await require_bucket(session, req.bucket)
            session.add(upload)
        return upload_info(upload)

    async def get(self, upload_id: str) -> UploadInfo:
        async with self._db.read() as session:
            return upload_info(await require_upload(session, upload_id))

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
            async with self._db.write() as session:
                await abandon_write(session, req.write_id, time.time())
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
        return await self._db.direct_write(
            lambda sql: commit_upload_part(sql, upload_id, req, time.time())
        )

    async def list_parts(
        self, upload_id: str, marker: int = 0, max_parts: int = MAX_PAGE
    ) -> PartList:
        if max_parts < 0 or marker < 0:
            raise InvalidInputError("marker and max_parts must not be negative")
        limit = min(max_parts, MAX_PAGE)
        async with self._db.read() as session:
            await require_upload(session, upload_id)
            if limit == 0:
                return PartList(parts=[], is_truncated=False)
            rows = await load_parts(
                session, (Part.upload_id == upload_id) & (Part.part_number > marker), limit + 1
            )
            truncated = len(rows) > limit
            records = await part_records(session, rows[:limit])
        return PartList(
            parts=records,
            is_truncated=truncated,
            next_marker=records[-1].part_number if truncated else None,
        )

    @retry_races
    async def complete(self, upload_id: str, req: CompleteUpload) -> ObjectManifest:
        if not req.parts:
            raise InvalidInputError("a completion must name at least one part")
        numbers = [p.part_number for p in req.parts]
        if any(b <= a for a, b in pairwise(numbers)):
            raise InvalidPartOrderError("parts must be listed in ascending part-number order")
        now = time.time()
        async with self._db.write() as session:
            upload = await require_upload(session, upload_id)
            stored = {
                p.part_number: p
                for p in await session.scalars(select(Part).where(Part.upload_id == upload_id))
            }
            chosen: list[Part] = []
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
                    raise InvalidPartError(
                        f"part {wanted.part_number} was uploaded with another checksum"
                    )
                chosen.append(part)
            for part in chosen[:-1]:
                if part.size < MIN_PART_SIZE:
                    raise EntityTooSmallError(
                        f"part {part.part_number} is {part.size} bytes; all but the last part "
                        f"must be at least {MIN_PART_SIZE}"
                    )
            try:
                etag = multipart_etag([p.etag for p in chosen])
            except (binascii.Error, ValueError):
                raise InvalidPartError("a part's ETag is not an MD5") from None
            checksum = multipart_checksum(
                cast(ChecksumAlgorithm | None, upload.checksum_algorithm),
                cast(ChecksumType | None, upload.checksum_type),
                [(p.checksum_value, p.size) for p in chosen],
            )

            await make_room_in(
                session,
                upload.bucket,
                upload.key,
                req.if_match,
                req.if_none_match,
                now,
                self._gc_delay,
            )
            obj = ObjectVersion(
                bucket=upload.bucket,
                key=upload.key,
                version_id=new_version_id(),
                is_latest=True,
                is_delete_marker=False,
                size=sum(p.size for p in chosen),
                etag=etag,
                content_type=upload.content_type,
                user_metadata=dict(upload.user_metadata),
                system_metadata=dict(upload.system_metadata),
                checksum_algorithm=checksum.algorithm if checksum else None,
                checksum_value=checksum.value if checksum else None,
                checksum_type=checksum.type if checksum else None,
                profile=dict(upload.profile),
                storage_class=upload.storage_class,
                owner_id=upload.owner_id,
                created=now,
                last_modified=now,
                state="committed",
            )
            session.add(obj)
            await session.flush()
            chosen_numbers = [p.part_number for p in chosen]
            await session.execute(
                update(Part)
                .where(Part.upload_id == upload_id, Part.part_number.in_(chosen_numbers))
                .values(object_id=obj.id, upload_id=None)
                .execution_options(synchronize_session=False)
            )
            # Parts uploaded but not named in the completion: nobody can ever read them.
            await enqueue_part_chunks(session, Part.upload_id == upload_id, now, now)
            await session.execute(
                delete(Part)
                .where(Part.upload_id == upload_id)
                .execution_options(synchronize_session=False)
            )
            await session.delete(upload)
            await session.flush()
            bucket, key, version_id = obj.bucket, obj.key, obj.version_id
            return await in_session(
                session, lambda sql: read_manifest(sql, bucket, key, version_id, None)
            )

    @retry_races
    async def abort(self, upload_id: str) -> None:
        now = time.time()
        async with self._db.write() as session:
            upload = await require_upload(session, upload_id)
            await enqueue_part_chunks(session, Part.upload_id == upload_id, now, now)
            await session.delete(upload)  # parts, segments, placements cascade


def _chunk_ids(part: PartRecord) -> list[str]:
    return [c.chunk_id for s in part.segments for c in s.chunks]
