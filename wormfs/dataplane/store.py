"""Storing one part's bytes: the begin-write and write steps every front door takes.

Layer: data plane (used by the gateway's ObjectService and the FUSE mount). Contract:
``store_part`` asks the coordinator for a grant (``BeginWrite``: version id, profile,
placements) and streams exactly ``size`` bytes of ``body`` through ``ObjectWriter`` into
durable chunks; it returns the grant and what was written, and commits nothing: the caller
builds its commit (``CommitObject`` with its own conditions and attributes, or a part of an
upload). The chunks of the first segment carry the object record (chunk format v2) built
from the grant and what the caller says of the object: ``owner_id``, ``attributes`` and the
checksum algorithm and type it computes. ``one_part`` is the part record of an object
written whole in one part, with the ETag (the quoted MD5 of its bytes) both the part and the
object carry.
"""

from __future__ import annotations

import time

from wormfs.clients.coordinator import CoordinatorClient
from wormfs.dataplane.hashing import StreamDigests
from wormfs.dataplane.sealing import SealingBody
from wormfs.dataplane.writer import BodySource, ObjectWriter, WriteResult
from wormfs.format.chunkrecord import ObjectRecord
from wormfs.format.sealing import Sealer, sealed_size
from wormfs.wire.coordinator import (
    BeginWrite,
    ObjectAttributes,
    ObjectChecksum,
    PartRecord,
    WriteGrant,
)


def object_record(
    grant: WriteGrant,
    size: int,
    created: float,
    owner_id: str,
    attributes: ObjectAttributes | None,
    upload_id: str | None,
    checksum: tuple[str, str],
    stored: int | None = None,
) -> ObjectRecord:
    """The record the first segment's chunks carry (``wormfs.format.chunkrecord``): ``size``
    bytes of plaintext, ``stored`` bytes as stored (sealed; None: the same)."""
    attrs = attributes or ObjectAttributes()
    return ObjectRecord(
        created=created,
        part_size=size if stored is None else stored,
        segment_size=grant.segment_size,
        size=-1 if upload_id else size,
        owner_id=owner_id,
        storage_class=grant.storage_class,
        content_type=attrs.content_type,
        user_metadata=attrs.user_metadata,
        system_metadata=attrs.system_metadata,
        tags=attrs.tags,
        checksum_algorithm=checksum[0],
        checksum_type=checksum[1],
        upload_id=upload_id or "",
        encryption=attrs.encryption,
    )


async def store_part(
    coordinator: CoordinatorClient,
    writer: ObjectWriter,
    bucket: str,
    key: str,
    size: int,
    body: BodySource,
    digests: StreamDigests,
    upload_id: str | None = None,
    part_number: int = 1,
    storage_class: str = "",
    owner_id: str = "",
    attributes: ObjectAttributes | None = None,
    checksum: tuple[str, str] = ("", ""),
    data_key: bytes | None = None,
) -> tuple[WriteGrant, WriteResult]:
    """Store ``size`` bytes durably; returns the coordinator's grant and what was written.
    ``storage_class`` picks the profile of a whole object ("": the bucket's default class);
    the grant says which class that was, for the commit to store. ``checksum`` is the
    (algorithm, type) computed, ("", "") for none. With ``data_key`` (the attributes then
    carry the version's ``encryption``) the part is sealed before it is coded: the chunks
    hold ``sealed_size(size)`` bytes, ``digests`` still hash the plaintext."""
    created = time.time()
    stored = size
    if data_key is not None:
        stored = sealed_size(size)
        body = SealingBody(body, Sealer(data_key, part_number), digests)
    grant = await coordinator.begin_write(
        BeginWrite(
            bucket=bucket,
            key=key,
            size=stored,
            upload_id=upload_id,
            part_number=part_number,
            storage_class=storage_class,
        )
    )
    record = object_record(grant, size, created, owner_id, attributes, upload_id, checksum, stored)
    if data_key is None:
        result = await writer.write(grant, bucket, key, part_number, size, body, digests, record)
        return grant, result
    # The sealing body feeds ``digests``; the writer hashes nothing of the sealed bytes.
    written = await writer.write(
        grant, bucket, key, part_number, stored, body, StreamDigests(md5=False), record
    )
    await digests.finish()
    return grant, WriteResult(size=size, segments=written.segments, digests=digests)


def one_part(result: WriteResult, checksum: ObjectChecksum | None = None) -> PartRecord:
    """The single part of an object written whole; its ETag is the object's too."""
    return PartRecord(
        part_number=1,
        size=result.size,
        etag=f'"{result.digests.md5_hex}"',
        segments=result.segments,
        checksum=checksum,
    )
