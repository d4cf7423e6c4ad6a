"""Fetching the metadata backup's chunks from running storage nodes, for recovery.

Layer: runtime (clients below it; used by ``wormfs admin metadata recover --node URL``).
Contract: ``fetch_backup_chunks(session, secret, nodes, into)`` asks each node for its disks,
pages through each disk's inventory from the reserved prefix of backup chunk ids on (the
inventory is sorted by id, so no other chunk is listed), and copies every backup chunk,
verified block by block by the node, into ``into/<disk id>/chunks/999/<id>.chunk`` as a
chunk file of the same format. ``wormfs.runtime.metarecover.recover`` then reads those
directories as it reads disks. A node or disk that does not answer is reported in the
result's ``unreachable`` and skipped: what the others hold may still be enough (any k chunks
of each segment).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp

from wormfs.clients.storage import StorageClient
from wormfs.errors import WormError
from wormfs.format.chunkformat import seal_block
from wormfs.format.metabackup import SYSTEM_CHUNK_PREFIX, is_system_chunk
from wormfs.runtime.metarecover import SYSTEM_SUBDIR

INVENTORY_PAGE = 1000
# Every id that starts with the prefix sorts after this one.
_BEFORE_SYSTEM = f"{int(SYSTEM_CHUNK_PREFIX, 16) - 1:08x}" + "f" * 24


@dataclass
class Fetched:
    disks: list[Path] = field(default_factory=list)
    chunks: int = 0
    unreachable: list[str] = field(default_factory=list)


async def _copy_chunk(
    storage: StorageClient, node: str, disk_id: str, chunk_id: str, to: Path
) -> None:
    parts: list[bytes] = []
    async with storage.open_chunk(node, disk_id, chunk_id) as reader:
        parts.append(reader.header.encode())
        for block in range(reader.first, reader.last + 1):
            fragment = await reader.read_block(block)
            parts += [fragment, seal_block(fragment)]
    tmp = to.with_suffix(".tmp")
    await asyncio.to_thread(tmp.write_bytes, b"".join(parts))
    await asyncio.to_thread(tmp.replace, to)


async def fetch_backup_chunks(
    session: aiohttp.ClientSession, secret: bytes, nodes: list[str], into: Path
) -> Fetched:
    storage = StorageClient(session, secret)
    out = Fetched()
    for node in nodes:
        try:
            disks = (await storage.disks(node)).disks
        except WormError as exc:
            out.unreachable.append(f"node {node}: {exc.message}")
            continue
        for disk in disks:
            folder = into / disk.disk_id / "chunks" / SYSTEM_SUBDIR
            await asyncio.to_thread(folder.mkdir, parents=True, exist_ok=True)
            out.disks.append(into / disk.disk_id)
            after: str | None = _BEFORE_SYSTEM
            try:
                while after is not None:
                    page = await storage.inventory(node, disk.disk_id, after, INVENTORY_PAGE)
                    for entry in page.chunks:
                        if is_system_chunk(entry.chunk_id):
                            target = folder / f"{entry.chunk_id}.chunk"
                            await _copy_chunk(storage, node, disk.disk_id, entry.chunk_id, target)
                            out.chunks += 1
                    after = page.next_after
            except WormError as exc:
                out.unreachable.append(f"disk {disk.disk_id} on {node}: {exc.message}")
    return out
