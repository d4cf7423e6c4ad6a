"""The object record of chunk format v2: what a manifest needs that the v1 header lacks.

Layer: pure format (no I/O). Contract: ``ObjectRecord`` is encoded as a MessagePack map
(``encode_record`` / ``decode_record``) and stored in the v2 header of every chunk of the
first segment (segment index 0) of every part, so any k of those chunks carry it. A map keyed
by field name is extensible: fields added later are skipped by older readers, fields unknown
to a record are left at their defaults. Defaults are not written (``omit_defaults``).

What a writer knows when the first segment's headers go out (before the first byte):
the object's (or part's) size and segment size, so the segment layout is
``split_lengths(part_size, segment_size)`` whatever disks hold it; the owner, content type,
user and system metadata, tags and storage class; the version's creation time; the checksum
algorithm and type it computes; the upload id of a part. What it does not know yet is the
ETag and the checksum value (they depend on the last byte): recovery computes them again from
the data (a plain object's ETag is the MD5 of its bytes), so they stay empty on chunks of a
plain PUT. ``etag``, ``checksum`` and ``parts`` are the slots of a record written once the
whole manifest is known (a multipart completion): readers use them when present.

Bounded size: a record is at most ``MAX_RECORD_BYTES`` (8 KiB). S3 caps user metadata at
2 KB and tags at 10, so a real record fits; one that would not (huge system metadata, say)
is stored without its user metadata, system metadata and tags, with ``metadata_dropped``
set, so a recovery reports that object's metadata as lost instead of failing the write.
"""

from __future__ import annotations

import msgspec

from wormfs.format.checksums import ObjectChecksum
from wormfs.format.sealing import Encryption

MAX_RECORD_BYTES = 8192


class RecordPart(msgspec.Struct, frozen=True, omit_defaults=True):
    """One part of a completed multipart object, as its completion record names it."""

    part_number: int
    size: int
    etag: str
    checksum: ObjectChecksum | None = None


class ObjectRecord(msgspec.Struct, frozen=True, omit_defaults=True):
    """The object version a chunk belongs to, as far as its writer knew it."""

    created: float  # unix seconds when the write was granted: the version's creation time
    part_size: int  # bytes of this part as stored (sealed bytes of a sealed part)
    segment_size: int  # the part's segments are split_lengths(part_size, segment_size)
    size: int = -1  # bytes of the whole object; -1 when unknown (a part of an upload)
    owner_id: str = ""
    storage_class: str = "STANDARD"
    content_type: str = "binary/octet-stream"
    user_metadata: dict[str, str] = {}
    system_metadata: dict[str, str] = {}
    tags: dict[str, str] = {}
    metadata_dropped: bool = False  # user/system metadata and tags did not fit
    checksum_algorithm: str = ""  # the algorithm the writer computed ("": none)
    checksum_type: str = ""  # FULL_OBJECT or COMPOSITE
    upload_id: str = ""  # a part of this multipart upload ("": a whole object)
    # Known only once the manifest is complete (a completion record); "" / None / [] else.
    etag: str = ""
    checksum: ObjectChecksum | None = None
    parts: list[RecordPart] = []
    # Versioning state, for writers that know it ("" = unversioned / not recorded).
    is_delete_marker: bool = False
    versioning: str = ""
    # A sealed version: how its parts are sealed (a wrapped data key, never a plaintext one);
    # its plaintext sizes are ``plain_size`` of the stored ones.
    encryption: Encryption | None = None


_ENCODER = msgspec.msgpack.Encoder()
_DECODER = msgspec.msgpack.Decoder(ObjectRecord)


class RecordFormatError(ValueError):
    """The record bytes are not a valid object record."""


def encode_record(record: ObjectRecord) -> bytes:
    """The record's bytes, at most ``MAX_RECORD_BYTES`` (metadata dropped when too large)."""
    data = _ENCODER.encode(record)
    if len(data) <= MAX_RECORD_BYTES:
        return data
    slim = msgspec.structs.replace(
        record, user_metadata={}, system_metadata={}, tags={}, metadata_dropped=True
    )
    data = _ENCODER.encode(slim)
    if len(data) > MAX_RECORD_BYTES:
        raise ValueError("object record too large even without its metadata")
    return data


def decode_record(data: bytes) -> ObjectRecord:
    try:
        return _DECODER.decode(data)
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise RecordFormatError(f"bad object record: {exc}") from None
