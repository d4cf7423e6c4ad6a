"""Fixed chunk headers and bodies, and small helpers, shared by the storage-node tests.

The golden chunk uses the zfec codec, whose fragment size is plain arithmetic (ceil(len / k)),
so the bytes do not depend on a codec library's version.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path

import msgspec

from wormfs.format.checksums import ObjectChecksum
from wormfs.format.chunkformat import ChunkHeader, seal_block
from wormfs.format.chunkrecord import ObjectRecord, RecordPart
from wormfs.format.layout import Profile
from wormfs.ids import new_id
from wormfs.storage_node.chunkstore import ChunkStore
from wormfs.storage_node.disks import Disk, DiskSet

GOLDEN_DIR = Path(__file__).parent / "golden"
GOLDEN_HEADER = GOLDEN_DIR / "chunk_v1_header.bin"
GOLDEN_CHUNK = GOLDEN_DIR / "chunk_v1_small.chunk"
GOLDEN_V2_HEADER = GOLDEN_DIR / "chunk_v2_header.bin"
GOLDEN_V2_CHUNK = GOLDEN_DIR / "chunk_v2_small.chunk"
GOLDEN_V2_BARE = GOLDEN_DIR / "chunk_v2_no_record.bin"

# Three stripes of 8, 8 and 5 bytes; k=2 gives fragments of 4, 4 and 3 bytes.
GOLDEN_HEADER_STRUCT = ChunkHeader(
    chunk_id="0123456789abcdef0123456789abcdef",
    version_id="0000018f2a3b4c5d00112233445566ff",
    part_number=3,
    segment_index=1,
    fragment_index=2,
    profile=Profile(codec="zfec", k=2, m=1, stripe_size=8),
    segment_offset=64,
    segment_length=21,
    bucket="golden-bucket",
    key="photos/2024/ключ ✓.jpg",
    format_version=1,
)
GOLDEN_RECORD = ObjectRecord(
    created=1714000000.25,
    part_size=85,
    segment_size=64,
    size=85,
    owner_id="owner-1",
    storage_class="STANDARD_IA",
    content_type="image/jpeg",
    user_metadata={"camera": "x100", "ключ": "✓"},
    system_metadata={"cache-control": "max-age=60"},
    tags={"project": "golden"},
    checksum_algorithm="CRC32C",
    checksum_type="FULL_OBJECT",
    etag='"9e107d9d372bb6826bd81d3542a419d6"',
    checksum=ObjectChecksum(algorithm="CRC32C", value="AAAAAA==", type="FULL_OBJECT"),
    parts=[RecordPart(part_number=1, size=85, etag='"9e107d9d372bb6826bd81d3542a419d6"')],
)
# The same chunk in format 2: segment 0 (so it carries the record), and one of another
# segment without a record.
GOLDEN_V2_STRUCT = msgspec.structs.replace(
    GOLDEN_HEADER_STRUCT, segment_index=0, segment_offset=0, record=GOLDEN_RECORD, format_version=2
)
GOLDEN_V2_BARE_STRUCT = msgspec.structs.replace(GOLDEN_HEADER_STRUCT, format_version=2)
GOLDEN_FRAGMENTS = [b"\x00\x01\x02\x03", b"WORM", b"\xfe\xff\x7f"]


def chunk_bytes(header: ChunkHeader, fragments: list[bytes]) -> bytes:
    """A whole chunk file built by hand from the format description."""
    out = bytearray(header.encode())
    for fragment in fragments:
        out += fragment + seal_block(fragment)
    return bytes(out)


def make_header(
    *,
    chunk_id: str | None = None,
    segment_length: int = 3 * 4096 + 100,
    stripe_size: int = 4096,
    codec: str = "zfec",
    k: int = 2,
    m: int = 1,
    fragment_index: int = 0,
) -> ChunkHeader:
    return ChunkHeader(
        chunk_id=chunk_id or new_id(),
        version_id=new_id(),
        part_number=1,
        segment_index=0,
        fragment_index=fragment_index,
        profile=Profile(codec=codec, k=k, m=m, stripe_size=stripe_size),
        segment_offset=0,
        segment_length=segment_length,
        bucket="bucket",
        key="some/key",
    )


def random_fragments(header: ChunkHeader) -> list[bytes]:
    return [os.urandom(header.fragment_size(j)) for j in range(header.block_count)]


async def pieces(fragments: list[bytes], size: int = 1000) -> AsyncIterator[bytes]:
    """The PUT body: every fragment back to back, delivered in arbitrary pieces."""
    data = b"".join(fragments)
    for start in range(0, len(data), size):
        yield data[start : start + size]


async def read_range(
    store: ChunkStore, disk_id: str, chunk_id: str, first: int, last: int
) -> list[bytes]:
    async with store.open_reader(disk_id, chunk_id, first, last) as reader:
        return [bytes(await reader.read_block(j)) for j in range(first, last + 1)]


def open_disks(paths: list[Path], reserved: int = 0, state_dir: str = "") -> DiskSet:
    return DiskSet.open([str(p) for p in paths], state_dir, reserved)


def tmp_files(disk: Disk) -> list[str]:
    return os.listdir(disk.tmp_dir)


def visible_chunks(disk: Disk) -> list[Path]:
    return sorted(disk.chunks_dir.glob("*/*.chunk"))
