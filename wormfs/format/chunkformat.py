"""Chunk file format v2 (and v1, still read): a pure byte layout with typed parse errors (no I/O).

A chunk is the file on one disk holding fragment ``i`` of every stripe of one segment. It is a
header followed by one block per stripe; every block carries its own CRC32C so that any byte
range can be verified without reading the whole chunk (invariant 3).

Header (all integers big-endian):

    offset  size  field
    0       8     magic            b"WORMCHNK"
    8       2     format version   1
    10      4     header length H  total header bytes, including the trailing CRC
    14      16    chunk id         raw bytes of the 32-hex-digit id
    30      16    version id       raw bytes of the object version's id
    46      4     part number      1..10000 (a plain PUT is part 1)
    50      4     segment index    0-based index of the segment within its part
    54      1     fragment index   0..k+m-1 (0..k-1 hold data)
    55      1     codec number     1 = isal_rs_vand, 2 = zfec (wormfs.erasure.CODEC_NUMBERS)
    56      1     k
    57      1     m
    58      4     stripe size      bytes of object data per full stripe
    62      8     segment offset   byte offset of the segment within its part
    70      8     segment length   bytes of object data in the segment (>= 1)
    78      2     bucket length B, then B bytes of UTF-8 bucket name
    80+B    2     key length K, then K bytes of UTF-8 object key (at most 1024)
    82+B+K  4     record length R  (format 2 only) 0, or the bytes of the object record:
    86+B+K  R     object record    MessagePack map (``wormfs.format.chunkrecord``), R <= 8192
    H-4     4     header CRC32C    of bytes [0, H-4)

Format 1 is format 2 without the record length and record (its header ends with the key,
then the CRC). Writers write format 2; readers read both (``ChunkHeader.format_version`` says
which a header is, and ``encode`` writes that one back, so a v1 chunk's offsets never move).
The record is on every chunk of a part's first segment (segment index 0): size, segment
layout, owner, content type, metadata, storage class, creation time, checksum algorithm,
upload id (what lets recovery rebuild a manifest from any k of those chunks). Other segments'
chunks carry R = 0.

Blocks, one per stripe j = 0 .. stripe_count-1, straight after the header:

    fragment bytes   codec.fragment_size(stripe_length(j)) bytes
    block CRC32C     4 bytes, of the fragment bytes

Every stripe but the last is full, so block j starts at ``H + j * (F + 4)`` where F is the
fragment size of a full stripe. The bucket, key and record are there so that lost metadata can
be rebuilt from chunks (``wormfs.runtime.headerscan``); nothing on disk is named after them.

Any change to this layout bumps the format version; golden files in tests pin the bytes.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable
from functools import cached_property

import crc32c
import msgspec

from wormfs.erasure import CODEC_BY_NUMBER, CODEC_NUMBERS, get_codec
from wormfs.format.chunkrecord import (
    MAX_RECORD_BYTES,
    ObjectRecord,
    RecordFormatError,
    decode_record,
    encode_record,
)
from wormfs.format.layout import Profile, stripe_count, stripe_length

MAGIC = b"WORMCHNK"
FORMAT_VERSION = 2  # what writers write
READ_VERSIONS = (1, 2)
_FIXED = struct.Struct(">8sHI16s16sIIBBBBIQQ")  # up to and including segment length
_U16 = struct.Struct(">H")
_U32 = struct.Struct(">I")
BLOCK_CRC_SIZE = 4
MAX_KEY_BYTES = 1024
MAX_BUCKET_BYTES = 255
# A header can never be larger than this; readers use it to bound their first read.
MAX_HEADER_SIZE = _FIXED.size + 2 + MAX_BUCKET_BYTES + 2 + MAX_KEY_BYTES + 4 + MAX_RECORD_BYTES + 4
HOLD_GIL_BYTES = 1024 * 1024  # see _gil_mode


class ChunkFormatError(Exception):
    """A chunk file's bytes are not a valid chunk (storage tier; maps to CorruptChunkError)."""


class TruncatedChunkError(ChunkFormatError):
    """The file ends before the header or a block does."""


class BadMagicError(ChunkFormatError):
    """The file does not start with the chunk magic."""


class UnknownVersionError(ChunkFormatError):
    """The format version is not one this code reads."""


class HeaderChecksumError(ChunkFormatError):
    """The header's CRC32C does not match its bytes."""


class BlockChecksumError(ChunkFormatError):
    """A block's CRC32C does not match its fragment bytes."""

    def __init__(self, block: int, message: str = "") -> None:
        super().__init__(message or f"block {block} fails its CRC32C")
        self.block = block


def crc32c_of(data: bytes | memoryview) -> int:
    return int(crc32c.crc32c(data))


class ChunkHeader(msgspec.Struct, frozen=True, dict=True):
    """Everything a chunk says about itself; also the wire form sent with a chunk PUT."""

    chunk_id: str
    version_id: str
    part_number: int
    segment_index: int
    fragment_index: int
    profile: Profile
    segment_offset: int
    segment_length: int
    bucket: str
    key: str
    record: ObjectRecord | None = None  # format 2, first segment of a part
    format_version: int = FORMAT_VERSION

    # ---- geometry ------------------------------------------------------------------------
    @cached_property
    def _full_fragment(self) -> int:
        """Fragment size of a full stripe; every block but the last has it."""
        return self._codec_fragment(self.profile.stripe_size)

    def _codec_fragment(self, stripe_len: int) -> int:
        codec = get_codec(self.profile.codec, self.profile.k, self.profile.m)
        return codec.fragment_size(stripe_len)

    @property
    def block_count(self) -> int:
        return stripe_count(self.segment_length, self.profile.stripe_size)

    def fragment_size(self, block: int) -> int:
        """Fragment bytes in block ``block`` (without its CRC)."""
        length = stripe_length(self.segment_length, self.profile.stripe_size, block)
        if length == self.profile.stripe_size:
            return self._full_fragment
        return self._codec_fragment(length)

    @cached_property
    def header_length(self) -> int:
        return len(self.encode())

    def block_offset(self, block: int) -> int:
        """File offset where block ``block`` starts."""
        if not 0 <= block <= self.block_count:
            raise IndexError(f"block {block} outside 0..{self.block_count}")
        return self.header_length + block * (self._full_fragment + BLOCK_CRC_SIZE)

    @property
    def file_size(self) -> int:
        last = self.block_count - 1
        return self.block_offset(last) + self.fragment_size(last) + BLOCK_CRC_SIZE

    @property
    def payload_size(self) -> int:
        """Fragment bytes in the whole chunk (what a PUT body carries)."""
        return sum(self.fragment_size(j) for j in range(self.block_count))

    # ---- bytes ---------------------------------------------------------------------------
    def encode(self) -> bytes:
        bucket = self.bucket.encode()
        key = self.key.encode()
        if len(key) > MAX_KEY_BYTES or len(bucket) > MAX_BUCKET_BYTES:
            raise ValueError("bucket or key too long for a chunk header")
        if self.segment_length < 1:
            raise ValueError("a chunk holds at least one byte of segment data")
        if self.format_version not in READ_VERSIONS:
            raise ValueError(f"chunk format version {self.format_version} is not supported")
        tail = b""
        if self.format_version >= 2:
            record = b"" if self.record is None else encode_record(self.record)
            tail = _U32.pack(len(record)) + record
        elif self.record is not None:
            raise ValueError("a format 1 header has no object record")
        length = _FIXED.size + 2 + len(bucket) + 2 + len(key) + len(tail) + 4
        body = (
            _FIXED.pack(
                MAGIC,
                self.format_version,
                length,
                bytes.fromhex(self.chunk_id),
                bytes.fromhex(self.version_id),
                self.part_number,
                self.segment_index,
                self.fragment_index,
                CODEC_NUMBERS[self.profile.codec],
                self.profile.k,
                self.profile.m,
                self.profile.stripe_size,
                self.segment_offset,
                self.segment_length,
            )
            + _U16.pack(len(bucket))
            + bucket
            + _U16.pack(len(key))
            + key
            + tail
        )
        return body + _U32.pack(crc32c_of(body))

    @classmethod
    def decode(cls, data: bytes | memoryview) -> ChunkHeader:
        """Parse a header from the first bytes of a chunk file (extra bytes are ignored)."""
        buf = bytes(data[:MAX_HEADER_SIZE])
        if len(buf) < 14:
            raise TruncatedChunkError("file shorter than the fixed header")
        if buf[:8] != MAGIC:
            raise BadMagicError(f"bad magic {buf[:8]!r}")
        (version,) = _U16.unpack_from(buf, 8)
        if version not in READ_VERSIONS:
            raise UnknownVersionError(f"chunk format version {version} is not supported")
        (length,) = _U32.unpack_from(buf, 10)
        if length > MAX_HEADER_SIZE or length < _FIXED.size + 8:
            raise HeaderChecksumError(f"implausible header length {length}")
        if len(buf) < length:
            raise TruncatedChunkError(f"header needs {length} bytes, file has {len(buf)}")
        (stored_crc,) = _U32.unpack_from(buf, length - 4)
        if crc32c_of(buf[: length - 4]) != stored_crc:
            raise HeaderChecksumError("header CRC32C mismatch")
        fields = _FIXED.unpack_from(buf, 0)
        (_, _, _, chunk_id, version_id, part, segment, fragment, codec_no, k, m, stripe) = fields[
            :12
        ]
        seg_offset, seg_length = fields[12], fields[13]
        pos = _FIXED.size
        (blen,) = _U16.unpack_from(buf, pos)
        bucket = buf[pos + 2 : pos + 2 + blen].decode()
        pos += 2 + blen
        (klen,) = _U16.unpack_from(buf, pos)
        key = buf[pos + 2 : pos + 2 + klen].decode()
        pos += 2 + klen
        record = None
        if version >= 2:
            (rlen,) = _U32.unpack_from(buf, pos)
            if pos + 4 + rlen != length - 4:
                raise HeaderChecksumError(f"record of {rlen} bytes does not fill the header")
            if rlen:
                try:
                    record = decode_record(buf[pos + 4 : pos + 4 + rlen])
                except RecordFormatError as exc:
                    raise ChunkFormatError(str(exc)) from None
        if codec_no not in CODEC_BY_NUMBER:
            raise UnknownVersionError(f"unknown codec number {codec_no}")
        return cls(
            chunk_id=chunk_id.hex(),
            version_id=version_id.hex(),
            part_number=part,
            segment_index=segment,
            fragment_index=fragment,
            profile=Profile(codec=CODEC_BY_NUMBER[codec_no], k=k, m=m, stripe_size=stripe),
            segment_offset=seg_offset,
            segment_length=seg_length,
            bucket=bucket,
            key=key,
            record=record,
            format_version=version,
        )


def blocks_payload_size(header: ChunkHeader, first: int, last: int) -> int:
    """Fragment bytes of blocks ``first..last`` (every block but the chunk's last is full)."""
    final = header.block_count - 1
    if last < final:
        return (last - first + 1) * header.fragment_size(0)
    full = header.fragment_size(0) if first < final else 0
    return (last - first) * full + header.fragment_size(final)


def seal_block(fragment: bytes | memoryview) -> bytes:
    """The 4-byte CRC32C trailer written after ``fragment``."""
    return _U32.pack(crc32c_of(fragment))


def crc32c_of_parts(parts: Iterable[bytes | memoryview]) -> int:
    """CRC32C of the concatenation of ``parts`` (a fragment that arrived in pieces)."""
    value = 0
    for part in parts:
        value = crc32c.crc32c(part, value, _gil_mode(part))
    return int(value)


def _gil_mode(data: bytes | memoryview) -> int:
    """``crc32c``'s GIL mode: keep the GIL for buffers up to ``HOLD_GIL_BYTES`` (release above).

    The storage node checksums blocks on its disk threads while the event loop thread wants
    the GIL: handing the GIL over and taking it back (two thread switches) costs more than
    the ten to twenty microseconds a 256 KiB CRC32C takes, so only long ones let go of it.
    """
    return 0 if len(data) <= HOLD_GIL_BYTES else 1


def block_trailer(crc: int) -> bytes:
    """The 4-byte trailer holding a block's CRC32C (``seal_block`` for a known CRC)."""
    return _U32.pack(crc)


def check_block(block: int, fragment: bytes | memoryview, trailer: bytes | memoryview) -> None:
    """Raise ``BlockChecksumError`` unless ``trailer`` is the CRC32C of ``fragment``."""
    if len(trailer) != BLOCK_CRC_SIZE:
        raise TruncatedChunkError(f"block {block} is missing its CRC")
    if _U32.unpack(trailer)[0] != int(crc32c.crc32c(fragment, 0, _gil_mode(fragment))):
        raise BlockChecksumError(block)
