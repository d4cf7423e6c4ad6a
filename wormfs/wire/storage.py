"""Storage-node API schemas (``/v1/...`` on every storage node).

Routes (all authenticated with the cluster secret, see ``wormfs.internal.auth``):

    GET    /v1/health                              -> NodeHealth
    GET    /v1/disks                               -> DiskList
    PUT    /v1/disks/{disk_id}/chunks/{chunk_id}   header X-Wormfs-Chunk-Header (base64url JSON
                                                   of ChunkHeader); body: the fragment bytes of
                                                   every block, back to back, no CRCs
                                                   -> 201 ChunkPutResult
    GET    /v1/disks/{disk_id}/chunks/{chunk_id}?first=A&last=B
                                                   -> 200 fragment bytes of blocks A..B (default
                                                   all), verified, no CRCs; the chunk header
                                                   comes back in X-Wormfs-Chunk-Header
    HEAD   /v1/disks/{disk_id}/chunks/{chunk_id}   -> 200 with X-Wormfs-Chunk-Header, or 404
    DELETE /v1/disks/{disk_id}/chunks/{chunk_id}   -> 204 (404 if absent)
    POST   /v1/chunks/delete                       DeleteChunks -> DeleteChunksResult
    GET    /v1/disks/{disk_id}/inventory?after=ID&limit=N -> InventoryPage
    POST   /v1/disks/{disk_id}/chunks/{chunk_id}/verify   -> VerifyResult

Errors answer with ``ErrorBody`` and the domain error's status: NoSuchChunkError 404,
ChunkExistsError 409, CorruptChunkError 422, DiskOfflineError 503, DiskFullError 507,
AuthError 401, ForbiddenError 403, InvalidInputError 400.

``encode_header_value``/``decode_header_value`` are the one codec of the chunk header in
``X-Wormfs-Chunk-Header``, for both ends: the node and ``wormfs.clients.storage``.
"""

from __future__ import annotations

import base64
import binascii
from typing import Literal

import msgspec

from wormfs.errors import InvalidInputError
from wormfs.format.chunkformat import ChunkHeader

CHUNK_HEADER_HEADER = "X-Wormfs-Chunk-Header"


# ---- the chunk header in HTTP -----------------------------------------------------------------
# One implementation for both ends (the node and its client): base64url, with padding, of the
# msgspec JSON of ``ChunkHeader``.
def encode_header_value(header: ChunkHeader) -> str:
    """The ``X-Wormfs-Chunk-Header`` value for ``header``."""
    return base64.urlsafe_b64encode(msgspec.json.encode(header)).decode("ascii")


def decode_header_value(value: str | None) -> ChunkHeader:
    """Parse an ``X-Wormfs-Chunk-Header`` value; anything malformed is ``InvalidInputError``."""
    if not value:
        raise InvalidInputError(f"missing {CHUNK_HEADER_HEADER}")
    try:
        return msgspec.json.decode(base64.urlsafe_b64decode(value), type=ChunkHeader)
    except (ValueError, binascii.Error, msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise InvalidInputError(f"bad {CHUNK_HEADER_HEADER}: {exc}") from None


DiskState = Literal["online", "offline", "full"]


class DiskInfo(msgspec.Struct, frozen=True):
    disk_id: str
    path: str
    state: DiskState
    capacity_bytes: int
    free_bytes: int
    used_bytes: int
    chunk_count: int = 0
    error: str = ""


class DiskList(msgspec.Struct, frozen=True):
    node_id: str
    disks: list[DiskInfo]


class NodeHealth(msgspec.Struct, frozen=True):
    node_id: str
    status: Literal["ok", "degraded"]
    disks_online: int
    disks_total: int


class ChunkPutResult(msgspec.Struct, frozen=True):
    chunk_id: str
    disk_id: str
    file_size: int
    block_crcs: list[int]


class ChunkRef(msgspec.Struct, frozen=True):
    disk_id: str
    chunk_id: str


class DeleteChunks(msgspec.Struct, frozen=True):
    chunks: list[ChunkRef]


class DeleteChunksResult(msgspec.Struct, frozen=True):
    deleted: list[ChunkRef]
    missing: list[ChunkRef]
    failed: list[ChunkRef] = []


class InventoryEntry(msgspec.Struct, frozen=True):
    chunk_id: str
    file_size: int
    mtime: float


class InventoryPage(msgspec.Struct, frozen=True):
    disk_id: str
    chunks: list[InventoryEntry]
    next_after: str | None


class VerifyResult(msgspec.Struct, frozen=True):
    disk_id: str
    chunk_id: str
    ok: bool
    bad_blocks: list[int]
    error: str = ""
