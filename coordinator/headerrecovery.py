"""Recovery from chunk headers: the step after the backup restore (or instead of it).

Layer: coordinator (opens the SQLite file through ``Database``; every statement is
``db/recovered.py``'s, run by ``Database.write``). Contract: ``recover_headers(disks,
database, gc_delay)`` migrates ``database`` (an empty file when no backup was restored),
scans every disk's chunk headers (``wormfs.runtime.headerscan``), rebuilds each whole object
written with chunk format v2 and merges it (``restore_version``: present / deleted /
superseded / recovered, ``BATCH`` versions per transaction, so a second run after a kill
finishes the job). Owners the database lacks become users without keys (``root_owner``:
the root user). It answers the report lines: counts per outcome, the disks the recovered
versions came from, segments with fewer than k+m chunks (repair needed; not queued here),
and everything that could not be recovered with its reason.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from pathlib import Path

from wormfs.coordinator.db.database import Database
from wormfs.coordinator.db.engines import migrate_sqlite, sqlite_engine
from wormfs.coordinator.db.recovered import (
    has_version,
    restore_disk,
    restore_owner,
    restore_version,
)
from wormfs.coordinator.db.tx import Tx
from wormfs.runtime.headerscan import (
    Rebuilt,
    RebuiltVersion,
    ScanResult,
    rebuild_versions,
    scan_chunks,
)

# Versions merged per transaction: a commit (and its fsync) per batch, not per version; a
# killed run loses at most one batch, which the next run merges again.
BATCH = 200
MAX_LISTED = 50  # lines of lost or degraded items printed; the counts are always complete


def _scan(disks: list[Path]) -> tuple[ScanResult, Rebuilt]:
    scan = scan_chunks(disks)
    return scan, rebuild_versions(scan.chunks)


async def recover_headers(
    disks: list[Path], database: Path, gc_delay: float, root_owner: str = ""
) -> list[str]:
    started = time.monotonic()
    engine = await asyncio.to_thread(sqlite_engine, database)
    await asyncio.to_thread(migrate_sqlite, engine)
    scan, rebuilt = await asyncio.to_thread(_scan, disks)
    db = Database.over_sqlite(engine)
    outcomes: Counter[str] = Counter()
    sources: Counter[str] = Counter()
    degraded: list[str] = []
    owners: set[str] = set()
    try:
        for disk_id, node_id, path in scan.markers:

            def enter(tx: Tx, d: str = disk_id, n: str = node_id, p: str = path) -> bool:
                return restore_disk(tx, d, n, p, time.time())

            await db.write(enter)
        # Newest first: an older version of a key is then superseded, not inserted and retired.
        ordered = sorted(rebuilt.versions, key=lambda v: -v.manifest.last_modified)
        for start in range(0, len(ordered), BATCH):
            batch = ordered[start : start + BATCH]

            def merge(tx: Tx, chunk: list[RebuiltVersion] = batch) -> list[tuple[str, bool]]:
                now = time.time()
                out: list[tuple[str, bool]] = []
                for version in chunk:
                    m = version.manifest
                    outcome = restore_version(tx, m, now, gc_delay)
                    entered = outcome == "recovered" and restore_owner(
                        tx, m.owner_id, root_owner, now
                    )
                    out.append((outcome, entered))
                return out

            for version, (outcome, entered) in zip(batch, await db.write(merge), strict=True):
                manifest = version.manifest
                outcomes[outcome] += 1
                if entered:
                    owners.add(manifest.owner_id)
                if outcome == "recovered":
                    sources.update(version.disks)
                    degraded += [
                        f"{manifest.bucket}/{manifest.key} segment {i}: fewer than "
                        f"{manifest.profile.n} chunks found"
                        for i in version.degraded
                    ]

        # What the headers cannot rebuild but the restored backup has is not lost.
        def missing(tx: Tx) -> list[str]:
            return [
                str(x)
                for x in rebuilt.lost
                if not has_version(tx, x.bucket, x.version_id, x.upload_id)
            ]

        lost = scan.unreadable + await db.read(missing)
    finally:
        await db.close()
    lines = [
        f"header scan: {len(scan.chunks)} object chunks on {scan.disks_scanned} disks, "
        f"{len(rebuilt.versions)} whole objects rebuilt in {time.monotonic() - started:.1f} s",
        f"recovered from headers: {outcomes['recovered']} versions; already in the backup: "
        f"{outcomes['present']}; deleted before the recovery point: {outcomes['deleted']}; "
        f"superseded by a newer version: {outcomes['superseded']}",
    ]
    if sources:
        listed = ", ".join(f"{d} ({n} versions)" for d, n in sorted(sources.items()))
        lines.append(f"recovered from disks: {listed}")
    if owners:
        lines.append("owners entered as users without access keys: " + ", ".join(sorted(owners)))
    lines.append(f"degraded segments (repair needed): {len(degraded)}")
    lines += [f"degraded: {d}" for d in degraded[:MAX_LISTED]]
    lines.append(f"not recovered from headers: {len(lost)}")
    lines += [f"not recovered: {reason}" for reason in lost[:MAX_LISTED]]
    lines.append("inline objects are stored only in the database: only a backup brings them back")
    return lines
