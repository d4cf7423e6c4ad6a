"""Header scan: rebuild object manifests from the chunk headers found on disk directories.

Layer: runtime (blocking file I/O; run by the CLI with the coordinator stopped, or on a
thread). Contract:

* ``scan_chunks(disks)`` reads the header of every object chunk (``chunks/NNN/ID.chunk``,
  backup pieces excluded) of each disk directory, with the disk and node ids of the disk's
  marker. A file whose header does not parse is counted and named, never touched.
* ``rebuild_versions(chunks)`` groups the chunks by (bucket, key, version id, part) and turns
  each whole object written with chunk format v2 into an ``ObjectManifest``: the object
  record of its first segment's chunks gives size, segment layout, owner, attributes,
  storage class and creation time (as ``last_modified``); every segment of the layout needs
  k chunks of distinct fragment indexes; the data is decoded once (every block verified)
  to compute the ETag (the MD5 of a plain object's bytes) and the checksum the writer
  recorded the algorithm of. Placements are where the chunks are. Segments with fewer than
  k+m chunks are listed as degraded.
* What cannot be rebuilt is reported with its reason: v1 chunks (no record), parts of a
  multipart upload (which parts a completion took is known only to the database), a
  segment with fewer than k chunks, data failing to decode. Inline objects have no chunks
  and are never seen here.
"""

from __future__ import annotations

import hashlib
import json
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from wormfs.format.checksums import new_hasher
from wormfs.format.chunkformat import MAX_HEADER_SIZE, ChunkFormatError, ChunkHeader
from wormfs.format.layout import split_lengths
from wormfs.format.metabackup import SYSTEM_CHUNK_PREFIX, BackupFormatError
from wormfs.runtime.metarecover import FoundChunk, decode_segment
from wormfs.wire.coordinator import (
    ChunkPlacement,
    ObjectAttributes,
    ObjectChecksum,
    ObjectManifest,
    PartRecord,
    Segment,
)


@dataclass(frozen=True)
class ScannedChunk:
    header: ChunkHeader
    path: Path
    disk_id: str
    node_id: str


@dataclass
class ScanResult:
    chunks: list[ScannedChunk] = field(default_factory=list)
    unreadable: list[str] = field(default_factory=list)  # path: reason
    disks_scanned: int = 0
    markers: list[tuple[str, str, str]] = field(default_factory=list)  # disk, node, path


@dataclass(frozen=True)
class RebuiltVersion:
    manifest: ObjectManifest
    degraded: list[int]  # segment indexes with fewer than k+m chunks
    disks: list[str]  # the disk ids its chunks came from


@dataclass(frozen=True)
class Lost:
    """A version the headers cannot rebuild, and why."""

    bucket: str
    key: str
    version_id: str
    reason: str
    upload_id: str = ""  # a part of this multipart upload

    def __str__(self) -> str:
        return f"{self.bucket}/{self.key} version {self.version_id}: {self.reason}"


@dataclass
class Rebuilt:
    versions: list[RebuiltVersion] = field(default_factory=list)
    lost: list[Lost] = field(default_factory=list)


def _marker(disk: Path) -> tuple[str, str]:
    try:
        data = json.loads((disk / ".wormfs-disk").read_text())
    except (OSError, ValueError):
        return "", ""
    return str(data.get("disk_id", "")), str(data.get("node_id", ""))


def scan_chunks(disks: list[Path]) -> ScanResult:
    result = ScanResult(disks_scanned=len(disks))
    for disk in disks:
        disk_id, node_id = _marker(disk)
        if disk_id and node_id:
            result.markers.append((disk_id, node_id, str(disk)))
        else:
            result.unreadable.append(f"{disk}: no readable disk marker")
        for path in sorted((disk / "chunks").glob("*/*.chunk")):
            if path.name.startswith(SYSTEM_CHUNK_PREFIX):
                continue  # a metadata backup piece (metarecover reads those)
            try:
                with path.open("rb") as f:
                    header = ChunkHeader.decode(f.read(MAX_HEADER_SIZE))
            except (ChunkFormatError, OSError, UnicodeDecodeError) as exc:
                result.unreadable.append(f"{path}: {exc}")
                continue
            result.chunks.append(ScannedChunk(header, path, disk_id, node_id))
    return result


def _lost(group: list[ScannedChunk], reason: str) -> Lost:
    h = group[0].header
    record = next((c.header.record for c in group if c.header.record), None)
    return Lost(h.bucket, h.key, h.version_id, reason, record.upload_id if record else "")


def _rebuild_one(chunks: list[ScannedChunk]) -> RebuiltVersion:
    """One whole object's manifest; raises ``BackupFormatError`` with the reason it cannot."""
    first = [c for c in chunks if c.header.segment_index == 0 and c.header.record is not None]
    if not first:
        if all(c.header.format_version == 1 for c in chunks):
            raise BackupFormatError("chunk format 1: no object record")
        raise BackupFormatError("no chunk of the first segment carries the object record")
    head = first[0].header
    record = head.record
    assert record is not None
    if record.upload_id:
        raise BackupFormatError(
            f"a part of multipart upload {record.upload_id}: the parts a completion took are "
            "known only to the database or its backup"
        )
    if {c.header.part_number for c in chunks} != {1}:
        raise BackupFormatError("chunks of several parts for a whole object")
    if record.encryption is not None:
        # Its ETag and checksum are of the plaintext, which only the data key opens.
        raise BackupFormatError(
            f"sealed ({record.encryption.algorithm}): its ETag and checksum are of the "
            "plaintext, known only to the database or its backup"
        )
    profile = head.profile
    by_segment: dict[int, dict[int, ScannedChunk]] = defaultdict(dict)
    for chunk in chunks:
        by_segment[chunk.header.segment_index].setdefault(chunk.header.fragment_index, chunk)
    lengths = split_lengths(record.part_size, record.segment_size) if record.part_size else []
    md5 = hashlib.md5(usedforsecurity=False)
    extra = new_hasher(record.checksum_algorithm) if record.checksum_algorithm else None
    segments: list[Segment] = []
    degraded: list[int] = []
    offset = 0
    for index, length in enumerate(lengths):
        found = by_segment.get(index, {})
        if len(found) < profile.k:
            raise BackupFormatError(
                f"segment {index}: {len(found)} chunks found, {profile.k} needed"
            )
        if any(c.header.segment_length != length for c in found.values()):
            raise BackupFormatError(f"segment {index}: chunk length differs from the layout")
        data = decode_segment([FoundChunk(c.header, c.path) for c in found.values()])
        md5.update(data)
        if extra is not None:
            extra.update(data)
        if len(found) < profile.n:
            degraded.append(index)
        placed = [
            ChunkPlacement(
                fragment_index=i,
                chunk_id=c.header.chunk_id,
                disk_id=c.disk_id,
                node_id=c.node_id,
                node_address="",
            )
            for i, c in sorted(found.items())
        ]
        segments.append(Segment(segment_index=index, offset=offset, length=length, chunks=placed))
        offset += length
    etag = f'"{md5.hexdigest()}"'
    checksum = None
    if extra is not None:
        checksum = ObjectChecksum(
            algorithm=record.checksum_algorithm,  # type: ignore[arg-type]
            value=extra.b64(),
            type="FULL_OBJECT",
        )
    part = PartRecord(
        part_number=1,
        size=record.part_size,
        etag=etag,
        segments=segments,
        checksum=checksum,
        last_modified=record.created,
    )
    manifest = ObjectManifest(
        bucket=head.bucket,
        key=head.key,
        version_id=head.version_id,
        owner_id=record.owner_id,
        size=record.part_size,
        etag=etag,
        last_modified=record.created,
        profile=profile,
        parts=[part],
        attributes=ObjectAttributes(
            content_type=record.content_type,
            user_metadata=record.user_metadata,
            system_metadata=record.system_metadata,
            storage_class=record.storage_class,
            tags=record.tags,
        ),
        checksum=checksum,
    )
    disks = sorted({c.disk_id for c in chunks})
    return RebuiltVersion(manifest=manifest, degraded=degraded, disks=disks)


def rebuild_versions(chunks: list[ScannedChunk]) -> Rebuilt:
    groups: dict[tuple[str, str, str], list[ScannedChunk]] = defaultdict(list)
    for chunk in chunks:
        h = chunk.header
        groups[(h.bucket, h.key, h.version_id)].append(chunk)
    out = Rebuilt()
    for _, group in sorted(groups.items()):
        try:
            version = _rebuild_one(group)
        except BackupFormatError as exc:
            out.lost.append(_lost(group, str(exc)))
            continue
        if _dropped(group):
            out.lost.append(_lost(group, "metadata did not fit the record"))
        out.versions.append(version)
    return out


def _dropped(group: list[ScannedChunk]) -> bool:
    return any(c.header.record is not None and c.header.record.metadata_dropped for c in group)
