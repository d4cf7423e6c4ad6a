"""Metadata backup format: names of backup pieces, their chunk ids, and the page delta.

Layer: format (pure functions over bytes and strings, no I/O). Contract:

* A backup of the metadata database is a series of **pieces**, each stored as one
  erasure-coded object of the system bucket ``SYSTEM_BUCKET`` through the data plane's
  writer. ``SYSTEM_BUCKET`` starts with a dot, which S3's bucket naming rules refuse, so no S3
  request can ever name it; and no row of ``buckets`` holds it, so no listing shows it.
* A **generation** (numbers only grow: the shipper takes at least the minutes since 2020,
  so one that lost its state never reuses a number) is one base piece (a consistent
  snapshot of the whole database file, seq 0) followed by delta pieces (seq 1, 2, ...):
  each delta holds the database pages that differ from the image after the previous piece.
  Base plus deltas 1..n, applied in order,
  give the database exactly as it was at the snapshot of delta n.
* A piece's **key** carries everything recovery needs without a database
  (``piece_key`` / ``parse_piece_key``)::

      metadata/<generation:06x>/<seq:08x>/<kind>/<size>/<sha256>/<snapshot unix ms>

  so the newest backup and its recovery point are read off the chunk headers alone (every
  chunk header names its bucket and key, ``wormfs.format.chunkformat``).
* A piece's **chunk ids** begin with ``SYSTEM_CHUNK_PREFIX`` (``system_chunk_id``): recovery
  finds them by file name on a disk (``chunks/NNN/ffffffff....chunk``) or in a node's
  inventory without opening any other chunk, and the orphan scrub leaves them alone (they are
  in no placement row, on purpose: see ``wormfs.coordinator.backup``). A random id starts
  with the prefix once in 2^32; such a chunk is merely never collected as an orphan.

Delta layout (``encode_delta``; all integers big-endian), zlib-compressed as a whole:

    offset  size  field
    0       8     magic        b"WORMDLT1"
    8       4     page size    bytes per database page
    12      4     page count   pages of the database after this delta (it may shrink)
    16      4     n            pages that follow
    20      ...   n times: page number (4, 0-based) then ``page size`` bytes

A base piece is the zlib-compressed database file. ``sha256`` in the key is of the piece's
stored (compressed) bytes.
"""

from __future__ import annotations

import hashlib
import os
import struct
import zlib
from dataclasses import dataclass

SYSTEM_BUCKET = ".wormfs-system"
SYSTEM_CHUNK_PREFIX = "ffffffff"
KEY_PREFIX = "metadata/"
BASE = "base"
DELTA = "delta"
DELTA_MAGIC = b"WORMDLT1"
_DELTA_HEAD = struct.Struct(">8sIII")
_PAGE_NO = struct.Struct(">I")
# SQLite keeps the page size at offset 16 of the file header (1 means 65536).
_SQLITE_MAGIC = b"SQLite format 3\x00"


class BackupFormatError(Exception):
    """Bytes or a name that are not a valid backup piece."""


@dataclass(frozen=True, order=True)
class PieceName:
    generation: int
    seq: int
    kind: str
    size: int
    sha256: str
    snapshot_ms: int

    @property
    def key(self) -> str:
        return piece_key(self)


def piece_key(name: PieceName) -> str:
    return (
        f"{KEY_PREFIX}{name.generation:06x}/{name.seq:08x}/{name.kind}/{name.size}/"
        f"{name.sha256}/{name.snapshot_ms}"
    )


def parse_piece_key(key: str) -> PieceName:
    """The name encoded in ``key``; ``BackupFormatError`` if it is not a piece's key."""
    if not key.startswith(KEY_PREFIX):
        raise BackupFormatError(f"not a metadata backup key: {key!r}")
    parts = key[len(KEY_PREFIX) :].split("/")
    if len(parts) != 6 or parts[2] not in (BASE, DELTA):
        raise BackupFormatError(f"not a metadata backup key: {key!r}")
    try:
        name = PieceName(
            generation=int(parts[0], 16),
            seq=int(parts[1], 16),
            kind=parts[2],
            size=int(parts[3]),
            sha256=parts[4],
            snapshot_ms=int(parts[5]),
        )
    except ValueError:
        raise BackupFormatError(f"not a metadata backup key: {key!r}") from None
    if (name.seq == 0) != (name.kind == BASE):
        raise BackupFormatError(f"seq 0 is the base, and only it: {key!r}")
    return name


def system_chunk_id(generation: int, seq: int) -> str:
    """A chunk id of a backup piece: the prefix, generation, seq and 40 random bits."""
    return f"{SYSTEM_CHUNK_PREFIX}{generation & 0xFFFFFF:06x}{seq & 0xFFFFFFFF:08x}" + (
        os.urandom(5).hex()
    )


def is_system_chunk(chunk_id: str) -> bool:
    return chunk_id.startswith(SYSTEM_CHUNK_PREFIX)


def digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def page_size(image: bytes) -> int:
    """The page size of a SQLite database image."""
    if len(image) < 100 or not image.startswith(_SQLITE_MAGIC):
        raise BackupFormatError("not a SQLite database image")
    size = int.from_bytes(image[16:18], "big")
    return 65536 if size == 1 else size


def changed_pages(old: bytes, new: bytes) -> tuple[int, list[tuple[int, bytes]]]:
    """The page size and the pages of ``new`` that differ from ``old`` (or are beyond it)."""
    size = page_size(new)
    if old and page_size(old) != size:
        old = b""  # a changed page size (VACUUM): every page is new
    pages: list[tuple[int, bytes]] = []
    view_old, view_new = memoryview(old), memoryview(new)
    for number in range(len(new) // size):
        start = number * size
        page = view_new[start : start + size]
        if view_old[start : start + size] != page:
            pages.append((number, bytes(page)))
    return size, pages


def encode_delta(size: int, page_count: int, pages: list[tuple[int, bytes]]) -> bytes:
    out = [_DELTA_HEAD.pack(DELTA_MAGIC, size, page_count, len(pages))]
    for number, page in pages:
        out += [_PAGE_NO.pack(number), page]
    return zlib.compress(b"".join(out), 1)


def apply_delta(image: bytes, piece: bytes) -> bytes:
    """``image`` with the delta ``piece`` (stored bytes) applied."""
    try:
        raw = zlib.decompress(piece)
    except zlib.error as exc:
        raise BackupFormatError(f"delta does not decompress: {exc}") from None
    if len(raw) < _DELTA_HEAD.size:
        raise BackupFormatError("delta shorter than its header")
    magic, size, page_count, n = _DELTA_HEAD.unpack_from(raw)
    if magic != DELTA_MAGIC or len(raw) != _DELTA_HEAD.size + n * (4 + size):
        raise BackupFormatError("not a delta, or a truncated one")
    out = bytearray(image[: page_count * size].ljust(page_count * size, b"\x00"))
    offset = _DELTA_HEAD.size
    for _ in range(n):
        (number,) = _PAGE_NO.unpack_from(raw, offset)
        if number >= page_count:
            raise BackupFormatError(f"delta page {number} beyond its page count {page_count}")
        out[number * size : (number + 1) * size] = raw[offset + 4 : offset + 4 + size]
        offset += 4 + size
    return bytes(out)


def encode_base(image: bytes) -> bytes:
    page_size(image)  # refuse anything that is not a database
    return zlib.compress(image, 1)


def decode_base(piece: bytes) -> bytes:
    try:
        image = zlib.decompress(piece)
    except zlib.error as exc:
        raise BackupFormatError(f"base does not decompress: {exc}") from None
    page_size(image)
    return image
