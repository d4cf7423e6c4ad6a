"""The metadata consistency check: schema revision and placements against chunk files.

Layer: coordinator database package (statements over ``tables``, run through
``Database.read``). Contract: ``check_database(path, disks)`` opens a SQLite database file
without migrating it and answers a list of problems ([] when consistent): the Alembic
revision differs from this release's head, or a chunk placement names a chunk whose file is
on none of ``disks`` (their ``chunks/NNN/ID.chunk`` names are listed, no chunk is opened).
A placement on a disk that is not among ``disks`` is reported only when no disk at all was
given for it, so checking against part of a cluster names what it could not see.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from alembic.script import ScriptDirectory
from sqlalchemy import Column, MetaData, String, Table, select

from wormfs.coordinator.db.database import Database
from wormfs.coordinator.db.engines import alembic_config, sqlite_engine
from wormfs.coordinator.db.tables import chunk_placements, segments
from wormfs.coordinator.db.tx import Tx

_alembic_version = Table("alembic_version", MetaData(), Column("version_num", String(32)))
_REVISION = select(_alembic_version.c.version_num)
_PLACEMENTS = select(
    chunk_placements.c.chunk_id, chunk_placements.c.disk_id, segments.c.id.label("segment_id")
).join(segments, segments.c.id == chunk_placements.c.segment_id)


def _chunk_files(disks: list[Path]) -> tuple[set[str], set[str]]:
    """The chunk ids on ``disks`` and the disk ids they hold (from their markers)."""
    ids: set[str] = set()
    disk_ids: set[str] = set()
    for disk in disks:
        marker = disk / ".wormfs-disk"
        if marker.exists():
            disk_ids.add(str(json.loads(marker.read_text()).get("disk_id", "")))
        ids.update(p.stem for p in (disk / "chunks").glob("*/*.chunk"))
    return ids, disk_ids


def _read(tx: Tx) -> tuple[list[str], list[tuple[str, str, int]]]:
    revisions = [str(r.version_num) for r in tx.all(_REVISION)]
    rows = [(str(r.chunk_id), str(r.disk_id), int(r.segment_id)) for r in tx.all(_PLACEMENTS)]
    return revisions, rows


def _head() -> str | None:
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


async def check_database(path: Path, disks: list[Path]) -> list[str]:
    engine = await asyncio.to_thread(sqlite_engine, path)
    db = Database.over_sqlite(engine)
    try:
        revisions, rows = await db.read(_read)
    finally:
        await db.close()
    head = await asyncio.to_thread(_head)
    problems = []
    if revisions != [head]:
        problems.append(f"schema revision {revisions} is not this release's head {head!r}")
    files, seen_disks = await asyncio.to_thread(_chunk_files, disks)
    for chunk_id, disk_id, segment_id in rows:
        if disk_id in seen_disks and chunk_id not in files:
            problems.append(
                f"segment {segment_id}: chunk {chunk_id} on disk {disk_id} has no chunk file"
            )
    unseen = {d for _, d, _ in rows} - seen_disks
    if unseen:
        problems.append(f"placements on disks not given, not checked: {sorted(unseen)}")
    return problems
