"""Storing one part's bytes: the begin-write and write steps every front door takes.

Layer: data plane (used by the gateway's ObjectService and the FUSE mount). Contract:
``store_part`` asks the coordinator for a grant (``BeginWrite``: version id, profile,
placements) and streams exactly ``size`` bytes of ``body`` through ``ObjectWriter`` into
durable chunks; it returns the grant and what was written, and commits nothing: the caller
builds its commit (``CommitObject`` with its own conditions and attributes, or a part of an
upload). ``one_part`` is the part record of an object written whole in one part, with the
ETag (the quoted MD5 of its bytes) both the part and the object carry.
"""

from __future__ import annotations

from wormfs.clients.coordinator import CoordinatorClient
from wormfs.dataplane.hashing import StreamDigests
from wormfs.dataplane.writer import BodySource, ObjectWriter, WriteResult
from wormfs.wire.coordinator import BeginWrite, ObjectChecksum, PartRecord, WriteGrant


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
) -> tuple[WriteGrant, WriteResult]:
    """Store ``size`` bytes durably; returns the coordinator's grant and what was written.
    ``storage_class`` picks the profile of a whole object ("": the bucket's default class);
    the grant says which class that was, for the commit to store."""
    grant = await coordinator.begin_write(
        BeginWrite(
            bucket=bucket,
            key=key,
            size=size,
            upload_id=upload_id,
            part_number=part_number,
            storage_class=storage_class,
        )
    )
    result = await writer.write(grant, bucket, key, part_number, size, body, digests)
    return grant, result


def one_part(result: WriteResult, checksum: ObjectChecksum | None = None) -> PartRecord:
    """The single part of an object written whole; its ETag is the object's too."""
    return PartRecord(
        part_number=1,
        size=result.size,
        etag=f'"{result.digests.md5_hex}"',
        segments=result.segments,
        checksum=checksum,
    )
