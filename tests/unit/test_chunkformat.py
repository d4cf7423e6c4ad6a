"""Chunk file format v1 and v2: round trips, golden bytes, and every typed parse error.

The golden files pin the layout: a change to the bytes without a format version bump fails
here. To regenerate them after a deliberate, versioned change, run this module with
WORMFS_REGEN_GOLDEN=1 and review the diff.
"""

from __future__ import annotations

import os
import struct

import msgspec
import pytest
from unit.chunk_fixtures import (
    GOLDEN_CHUNK,
    GOLDEN_FRAGMENTS,
    GOLDEN_HEADER,
    GOLDEN_HEADER_STRUCT,
    GOLDEN_RECORD,
    GOLDEN_V2_BARE,
    GOLDEN_V2_BARE_STRUCT,
    GOLDEN_V2_CHUNK,
    GOLDEN_V2_HEADER,
    GOLDEN_V2_STRUCT,
    chunk_bytes,
    make_header,
)

from wormfs.format.chunkformat import (
    BLOCK_CRC_SIZE,
    FORMAT_VERSION,
    MAGIC,
    MAX_HEADER_SIZE,
    BadMagicError,
    BlockChecksumError,
    ChunkFormatError,
    ChunkHeader,
    HeaderChecksumError,
    TruncatedChunkError,
    UnknownVersionError,
    check_block,
    crc32c_of,
    seal_block,
)
from wormfs.format.chunkrecord import MAX_RECORD_BYTES, ObjectRecord, decode_record
from wormfs.format.layout import Profile


@pytest.fixture(scope="module", autouse=True)
def regenerate_golden() -> None:
    if os.environ.get("WORMFS_REGEN_GOLDEN") == "1":
        GOLDEN_HEADER.parent.mkdir(exist_ok=True)
        GOLDEN_HEADER.write_bytes(GOLDEN_HEADER_STRUCT.encode())
        GOLDEN_CHUNK.write_bytes(chunk_bytes(GOLDEN_HEADER_STRUCT, GOLDEN_FRAGMENTS))
        GOLDEN_V2_HEADER.write_bytes(GOLDEN_V2_STRUCT.encode())
        GOLDEN_V2_BARE.write_bytes(GOLDEN_V2_BARE_STRUCT.encode())
        GOLDEN_V2_CHUNK.write_bytes(chunk_bytes(GOLDEN_V2_STRUCT, GOLDEN_FRAGMENTS))


def _resealed(header: bytes) -> bytes:
    """``header`` with its trailing CRC recomputed (to reach checks behind the CRC)."""
    return header[:-4] + struct.pack(">I", crc32c_of(header[:-4]))


# ---- round trips and geometry -----------------------------------------------------------------
@pytest.mark.parametrize("codec", ["zfec", "isal_rs_vand"])
def test_header_round_trip(codec: str) -> None:
    header = make_header(codec=codec, k=4, m=2, segment_length=10 * 4096 + 1, fragment_index=5)
    data = header.encode()
    assert data.startswith(MAGIC)
    assert ChunkHeader.decode(data) == header
    # Extra bytes after the header (the blocks) are ignored.
    assert ChunkHeader.decode(data + b"\x00" * 100) == header
    assert header.header_length == len(data)


def test_unicode_bucket_and_key_round_trip() -> None:
    decoded = ChunkHeader.decode(GOLDEN_HEADER_STRUCT.encode())
    assert decoded.key == "photos/2024/ключ ✓.jpg"
    assert decoded == GOLDEN_HEADER_STRUCT


def test_geometry() -> None:
    header = GOLDEN_HEADER_STRUCT
    assert header.block_count == 3
    assert [header.fragment_size(j) for j in range(3)] == [4, 4, 3]
    h = header.header_length
    assert header.block_offset(0) == h
    assert header.block_offset(1) == h + 4 + BLOCK_CRC_SIZE
    assert header.block_offset(2) == h + 2 * (4 + BLOCK_CRC_SIZE)
    assert header.file_size == h + 4 + 4 + 3 + 3 * BLOCK_CRC_SIZE
    assert header.payload_size == 11
    with pytest.raises(IndexError):
        header.block_offset(4)


def test_key_too_long_is_refused() -> None:
    header = make_header()
    too_long = ChunkHeader(**{**_fields(header), "key": "k" * 1025})
    with pytest.raises(ValueError):
        too_long.encode()


def _fields(header: ChunkHeader) -> dict[str, object]:
    return {name: getattr(header, name) for name in header.__struct_fields__}


# ---- golden files -----------------------------------------------------------------------------
def test_golden_header_bytes() -> None:
    assert FORMAT_VERSION == 2, "a new format version needs new golden files"
    assert GOLDEN_HEADER_STRUCT.encode() == GOLDEN_HEADER.read_bytes()
    assert ChunkHeader.decode(GOLDEN_HEADER.read_bytes()) == GOLDEN_HEADER_STRUCT


def test_golden_chunk_bytes() -> None:
    golden = GOLDEN_CHUNK.read_bytes()
    assert chunk_bytes(GOLDEN_HEADER_STRUCT, GOLDEN_FRAGMENTS) == golden
    assert len(golden) == GOLDEN_HEADER_STRUCT.file_size
    header = ChunkHeader.decode(golden)
    for j, fragment in enumerate(GOLDEN_FRAGMENTS):
        start = header.block_offset(j)
        size = header.fragment_size(j)
        assert golden[start : start + size] == fragment
        check_block(j, golden[start : start + size], golden[start + size : start + size + 4])


def test_golden_header_fields_at_documented_offsets() -> None:
    data = GOLDEN_HEADER.read_bytes()
    assert data[0:8] == b"WORMCHNK"
    assert struct.unpack(">H", data[8:10]) == (1,)
    assert struct.unpack(">I", data[10:14]) == (len(data),)
    assert data[14:30] == bytes.fromhex(GOLDEN_HEADER_STRUCT.chunk_id)
    assert data[30:46] == bytes.fromhex(GOLDEN_HEADER_STRUCT.version_id)
    assert struct.unpack(">IIBBBBIQQ", data[46:78]) == (3, 1, 2, 2, 2, 1, 8, 64, 21)
    assert struct.unpack(">H", data[78:80]) == (len("golden-bucket"),)
    assert data[80:93] == b"golden-bucket"
    assert struct.unpack(">I", data[-4:]) == (crc32c_of(data[:-4]),)


# ---- typed errors -----------------------------------------------------------------------------
def test_truncated_fixed_part() -> None:
    with pytest.raises(TruncatedChunkError):
        ChunkHeader.decode(GOLDEN_HEADER.read_bytes()[:10])
    with pytest.raises(TruncatedChunkError):
        ChunkHeader.decode(b"")


def test_truncated_header() -> None:
    data = GOLDEN_HEADER.read_bytes()
    with pytest.raises(TruncatedChunkError):
        ChunkHeader.decode(data[:-1])


def test_bad_magic() -> None:
    data = GOLDEN_HEADER.read_bytes()
    with pytest.raises(BadMagicError):
        ChunkHeader.decode(b"NOTCHUNK" + data[8:])


def test_unknown_version() -> None:
    data = GOLDEN_HEADER.read_bytes()
    with pytest.raises(UnknownVersionError):
        ChunkHeader.decode(_resealed(data[:8] + struct.pack(">H", 3) + data[10:]))


def test_unknown_codec_number() -> None:
    data = bytearray(GOLDEN_HEADER.read_bytes())
    data[55] = 99  # codec number
    with pytest.raises(UnknownVersionError):
        ChunkHeader.decode(_resealed(bytes(data)))


def test_header_checksum() -> None:
    data = bytearray(GOLDEN_HEADER.read_bytes())
    data[90] ^= 0x01  # inside the bucket name
    with pytest.raises(HeaderChecksumError):
        ChunkHeader.decode(bytes(data))


def test_implausible_header_length() -> None:
    data = GOLDEN_HEADER.read_bytes()
    huge = data[:10] + struct.pack(">I", MAX_HEADER_SIZE + 1) + data[14:]
    with pytest.raises(HeaderChecksumError):
        ChunkHeader.decode(huge)


@pytest.mark.parametrize("position", range(len(GOLDEN_HEADER_STRUCT.encode())))
def test_any_flipped_header_byte_is_a_format_error(position: int) -> None:
    data = bytearray(GOLDEN_HEADER.read_bytes())
    data[position] ^= 0x40
    with pytest.raises(ChunkFormatError):
        ChunkHeader.decode(bytes(data))


def test_block_checksum() -> None:
    fragment = b"fragment bytes"
    trailer = seal_block(fragment)
    check_block(7, fragment, trailer)
    with pytest.raises(BlockChecksumError) as info:
        check_block(7, b"fragment bytez", trailer)
    assert info.value.block == 7
    flipped = bytes([trailer[0] ^ 1]) + trailer[1:]
    with pytest.raises(BlockChecksumError):
        check_block(7, fragment, flipped)


def test_block_missing_its_checksum() -> None:
    fragment = b"abc"
    with pytest.raises(TruncatedChunkError):
        check_block(0, fragment, seal_block(fragment)[:3])


def test_profile_is_stored_not_configured() -> None:
    header = make_header(codec="isal_rs_vand", k=3, m=2, stripe_size=8192)
    assert ChunkHeader.decode(header.encode()).profile == Profile("isal_rs_vand", 3, 2, 8192)


# ---- format 2: the object record ------------------------------------------------------------
def test_v2_golden_header_bytes() -> None:
    assert GOLDEN_V2_STRUCT.encode() == GOLDEN_V2_HEADER.read_bytes()
    decoded = ChunkHeader.decode(GOLDEN_V2_HEADER.read_bytes())
    assert decoded == GOLDEN_V2_STRUCT
    assert decoded.format_version == 2
    assert decoded.record == GOLDEN_RECORD
    assert GOLDEN_V2_BARE_STRUCT.encode() == GOLDEN_V2_BARE.read_bytes()
    assert ChunkHeader.decode(GOLDEN_V2_BARE.read_bytes()).record is None


def test_v2_golden_chunk_bytes() -> None:
    golden = GOLDEN_V2_CHUNK.read_bytes()
    assert chunk_bytes(GOLDEN_V2_STRUCT, GOLDEN_FRAGMENTS) == golden
    header = ChunkHeader.decode(golden)
    assert len(golden) == header.file_size
    for j, fragment in enumerate(GOLDEN_FRAGMENTS):
        start = header.block_offset(j)
        assert golden[start : start + header.fragment_size(j)] == fragment


def test_v2_golden_fields_at_documented_offsets() -> None:
    data = GOLDEN_V2_HEADER.read_bytes()
    assert struct.unpack(">H", data[8:10]) == (2,)
    assert struct.unpack(">I", data[10:14]) == (len(data),)
    assert struct.unpack(">IIBBBBIQQ", data[46:78]) == (3, 0, 2, 2, 2, 1, 8, 0, 21)
    key = GOLDEN_V2_STRUCT.key.encode()
    pos = 80 + len("golden-bucket")
    assert struct.unpack(">H", data[pos : pos + 2]) == (len(key),)
    pos += 2 + len(key)
    (rlen,) = struct.unpack(">I", data[pos : pos + 4])
    assert pos + 4 + rlen == len(data) - 4
    assert msgspec.msgpack.decode(data[pos + 4 : pos + 4 + rlen])["content_type"] == "image/jpeg"
    bare = GOLDEN_V2_BARE.read_bytes()
    assert bare[-8:-4] == b"\x00\x00\x00\x00"  # record length 0, then the CRC


def test_v1_chunk_keeps_reading_and_its_offsets() -> None:
    header = ChunkHeader.decode(GOLDEN_CHUNK.read_bytes())
    assert header.format_version == 1 and header.record is None
    assert header.encode() == GOLDEN_HEADER.read_bytes()  # encodes back as v1: offsets kept


def test_v1_header_refuses_a_record() -> None:
    with pytest.raises(ValueError):
        msgspec.structs.replace(GOLDEN_HEADER_STRUCT, record=GOLDEN_RECORD).encode()


@pytest.mark.parametrize("position", range(len(GOLDEN_V2_STRUCT.encode())))
def test_any_flipped_v2_header_byte_is_a_format_error(position: int) -> None:
    data = bytearray(GOLDEN_V2_HEADER.read_bytes())
    data[position] ^= 0x40
    with pytest.raises(ChunkFormatError):
        ChunkHeader.decode(bytes(data))


def test_record_length_must_fill_the_header() -> None:
    data = bytearray(GOLDEN_V2_BARE.read_bytes())
    data[-8:-4] = struct.pack(">I", 1)
    with pytest.raises(HeaderChecksumError):
        ChunkHeader.decode(_resealed(bytes(data)))


def test_garbage_record_is_a_format_error() -> None:
    data = GOLDEN_V2_BARE.read_bytes()
    broken = data[:-8] + struct.pack(">I", 3) + b"\xc1\xc1\xc1" + data[-4:]
    broken = broken[:10] + struct.pack(">I", len(broken)) + broken[14:]
    with pytest.raises(ChunkFormatError):
        ChunkHeader.decode(_resealed(broken))


def test_large_metadata_is_dropped_with_a_flag() -> None:
    record = msgspec.structs.replace(GOLDEN_RECORD, system_metadata={"x": "y" * 20_000})
    header = msgspec.structs.replace(GOLDEN_V2_STRUCT, record=record)
    data = header.encode()
    assert len(data) <= MAX_HEADER_SIZE
    decoded = ChunkHeader.decode(data).record
    assert decoded is not None and decoded.metadata_dropped
    assert decoded.user_metadata == {} and decoded.content_type == "image/jpeg"
    assert decoded.size == 85 and decoded.owner_id == "owner-1"


def test_unknown_record_fields_are_skipped() -> None:
    raw = msgspec.msgpack.encode({"created": 1.0, "part_size": 5, "segment_size": 5, "new": 1})
    assert decode_record(raw) == ObjectRecord(created=1.0, part_size=5, segment_size=5)


def test_largest_header_fits_the_first_read() -> None:
    record = msgspec.structs.replace(
        GOLDEN_RECORD, system_metadata={"x": "y" * (MAX_RECORD_BYTES - 400)}
    )
    header = msgspec.structs.replace(
        GOLDEN_V2_STRUCT, bucket="b" * 255, key="k" * 1024, record=record
    )
    assert len(header.encode()) <= MAX_HEADER_SIZE
