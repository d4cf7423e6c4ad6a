"""Continuous metadata backup: the leader ships its SQLite database onto the storage nodes.

Layer: coordinator, a leader-only service (``start``/``close``, run by ``LeaderJobs``) beside
repair and scrub. Contract:

* Every ``backup_lag`` seconds it takes a consistent snapshot of the database file with
  SQLite's online backup API, on a thread of its own (never the event loop; the backup holds
  only a read transaction, and in WAL mode writers go on meanwhile, so commits are not
  blocked). A snapshot equal to the last shipped image ships nothing; otherwise the pages that
  differ go out as one delta piece. Every ``base_interval`` (and at each start) a new
  generation begins with a base piece, the whole file. Piece names, chunk ids and the delta
  layout: ``wormfs.format.metabackup``. The recovery point is therefore at most
  ``backup_lag`` plus one shipping behind the last commit.
* Each piece is written through the data plane's ``ObjectWriter`` as an erasure-coded object
  of the system bucket, with the coordinator's default profile and placement over the usable
  disks, the same way a PUT's chunks are written (durable before it counts as shipped).
  Why here: the coordinator is the one process that may read its own database file, it
  already uses the data plane's lower layers (import contract: components use ``wormfs``
  only, and the data plane sits below them), and only the leader's copy is current.
* The pieces are recorded in **no** database row: a row written per shipment would itself be
  a change to ship, for ever. Their chunk ids carry a reserved prefix instead, so recovery
  finds them on the disks alone and the orphan scrub skips them. What the shipper needs to
  continue and to delete old generations (kept: ``generations``) is in
  ``<database dir>/backup/state.json`` beside ``shadow.db``, the image as last shipped, which
  deltas are computed against.
* On PostgreSQL it ships nothing and says so in its status: rely on PostgreSQL's own
  replication and point-in-time recovery (docs/operations.md).
* ``status()`` is ``BackupStatus`` (served at ``GET /v1/metadata/backup``); ``snapshot_to``
  writes a consistent copy for a manual backup.

Not repaired by the repair queue (no placement rows): a generation survives any m lost
chunks per segment, and the next base rewrites everything onto the disks of the day.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import sqlite3
import time
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import msgspec

from wormfs.clients.storage import StorageClient
from wormfs.config import CoordinatorConfig
from wormfs.coordinator.db.database import Database
from wormfs.coordinator.db.engines import is_sqlite, sqlite_file
from wormfs.coordinator.db.liveness import disk_candidates
from wormfs.coordinator.placement import granted_segments, place_segments
from wormfs.dataplane.hashing import StreamDigests
from wormfs.dataplane.writer import ObjectWriter
from wormfs.format.layout import Profile, split_lengths
from wormfs.format.metabackup import (
    BASE,
    DELTA,
    SYSTEM_BUCKET,
    PieceName,
    changed_pages,
    digest,
    encode_base,
    encode_delta,
    page_size,
    system_chunk_id,
)
from wormfs.ids import new_id, new_version_id
from wormfs.wire.coordinator import WriteGrant
from wormfs.wire.metabackup import BackupStatus

log = logging.getLogger(__name__)

STALE_FACTOR = 3.0  # a lag above this many backup_lag is a health reason
GENERATION_EPOCH = 1_577_836_800  # 2020-01-01 UTC


def _floor(now: float) -> int:
    """The lowest number a new generation may take: minutes since 2020. A shipper that lost
    its state.json (the database's directory is gone) must never reuse the number of a
    generation still on the nodes, or recovery would take the older one for the newest."""
    return int((now - GENERATION_EPOCH) // 60)


class ShippedChunk(msgspec.Struct, frozen=True):
    node_address: str
    disk_id: str
    chunk_id: str


class _State(msgspec.Struct):
    """``state.json``: the generations on the nodes and where their chunks are."""

    generation: int = 0
    seq: int = 0
    base_time: float = 0.0
    recovery_point: float = 0.0
    chunks: dict[str, list[ShippedChunk]] = {}  # generation (decimal string) -> its chunks


def snapshot_file(source: Path, target: Path) -> None:
    """A consistent copy of the database ``source`` into ``target`` (blocking: a thread)."""
    tmp = target.with_suffix(".tmp")
    tmp.unlink(missing_ok=True)
    src = sqlite3.connect(f"file:{source}?mode=ro", uri=True)
    try:
        dst = sqlite3.connect(tmp)
        try:
            src.backup(dst)  # all pages in one step: one read transaction, never restarted
        finally:
            dst.close()
    finally:
        src.close()
    with tmp.open("rb+") as f:
        os.fsync(f.fileno())
    tmp.replace(target)


@dataclass
class _Counters:
    last_success: float = 0.0
    last_error: str = ""
    pieces: int = 0
    bytes: int = 0
    next_base: float = 0.0
    failures: list[str] = field(default_factory=list)


class _Payload:
    """A body of bytes for ``ObjectWriter``: one piece, then the end."""

    def __init__(self, data: bytes) -> None:
        self._data: bytes | None = data

    async def read(self) -> bytes:
        data, self._data = self._data or b"", None
        return data


class MetadataBackup:
    def __init__(
        self,
        db: Database,
        config: CoordinatorConfig,
        session: aiohttp.ClientSession,
        secret: bytes,
    ) -> None:
        self._db = db
        self._config = config
        self._settings = config.backup
        self._storage = StorageClient(session, secret)
        self._writer = ObjectWriter(self._storage, active_writes=1)
        self._sqlite = is_sqlite(config.database_url)
        self._path = sqlite_file(config.database_url) if self._sqlite else Path()
        self._dir = self._path.parent / "backup"
        self._state = _State()
        self._counters = _Counters()
        self._task: asyncio.Task[None] | None = None
        self._started = 0.0  # when this leader's shipper started (the grace before "stale")
        self._lock = asyncio.Lock()

    @property
    def database_file(self) -> Path | None:
        return self._path if self._sqlite else None

    @property
    def active(self) -> bool:
        return self._sqlite and self._settings.enabled

    def start(self) -> None:
        if self.active and self._task is None:
            self._started = time.time()
            self._task = asyncio.create_task(self._loop(), name="coordinator-metadata-backup")

    async def close(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    def status(self) -> BackupStatus:
        now = time.time()
        point = self._state.recovery_point
        lag = (now - point) if self.active and point else 0.0
        return BackupStatus(
            enabled=self.active,
            engine="sqlite" if self._sqlite else "postgresql",
            backup_lag=self._settings.backup_lag,
            generation=self._state.generation,
            seq=self._state.seq,
            recovery_point=point,
            lag=lag,
            last_success=self._counters.last_success,
            last_error=self._counters.last_error,
            pieces_shipped=self._counters.pieces,
            bytes_shipped=self._counters.bytes,
            generations_kept=sorted(int(g) for g in self._state.chunks),
            stale=self.active
            and self._task is not None
            and (now - max(point, self._started)) > STALE_FACTOR * self._settings.backup_lag,
        )

    async def snapshot_to(self, target: Path) -> None:
        """A consistent copy of the database file at ``target`` (SQLite only)."""
        await asyncio.to_thread(snapshot_file, self._path, target)

    # ---- the loop -----------------------------------------------------------------------------
    async def _loop(self) -> None:
        await asyncio.to_thread(self._dir.mkdir, parents=True, exist_ok=True)
        self._state = await asyncio.to_thread(self._load_state)
        while True:
            started = time.monotonic()
            try:
                await self.ship_once()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                # Logged and shown in the status; the next round tries again (a node may be
                # restarting). Nothing is half-shipped: the state moves only after a piece.
                self._counters.last_error = f"{type(exc).__name__}: {exc}"
                log.warning("metadata backup failed: %s", self._counters.last_error)
            spent = time.monotonic() - started
            await asyncio.sleep(max(0.0, self._settings.backup_lag - spent))

    async def ship_once(self) -> None:
        """Snapshot now and ship what changed (a base when a new generation is due)."""
        async with self._lock:
            snapshot_time = time.time()
            stage = self._dir / "stage.db"
            await asyncio.to_thread(snapshot_file, self._path, stage)
            new_base = not self._state.generation or snapshot_time >= self._counters.next_base
            data: bytes | None
            if new_base:
                generation, seq = max(self._state.generation + 1, _floor(snapshot_time)), 0
                data = await asyncio.to_thread(self._base_piece, stage)
            else:
                generation, seq = self._state.generation, self._state.seq + 1
                data = await asyncio.to_thread(self._delta_piece, stage)
            if data is not None:
                name = PieceName(
                    generation=generation,
                    seq=seq,
                    kind=BASE if seq == 0 else DELTA,
                    size=len(data),
                    sha256=digest(data),
                    snapshot_ms=int(snapshot_time * 1000),
                )
                chunks = await self._ship(name, data)
                await asyncio.to_thread(stage.replace, self._dir / "shadow.db")
                self._state.chunks.setdefault(str(generation), []).extend(chunks)
                self._state.generation, self._state.seq = generation, seq
                if new_base:
                    self._state.base_time = snapshot_time
                    self._counters.next_base = snapshot_time + self._settings.base_interval
                self._counters.pieces += 1
                self._counters.bytes += len(data)
            self._state.recovery_point = snapshot_time
            await asyncio.to_thread(self._save_state)
            self._counters.last_success = time.time()
            self._counters.last_error = ""
            if new_base:
                await self._retire_old()

    def _base_piece(self, stage: Path) -> bytes:
        return encode_base(stage.read_bytes())

    def _delta_piece(self, stage: Path) -> bytes | None:
        new = stage.read_bytes()
        shadow = self._dir / "shadow.db"
        old = shadow.read_bytes() if shadow.exists() else b""
        size, pages = changed_pages(old, new)
        if not pages and len(old) == len(new):
            return None
        return encode_delta(size, len(new) // page_size(new), pages)

    async def _ship(self, name: PieceName, data: bytes) -> list[ShippedChunk]:
        coding = self._config.coding
        profile = Profile(coding.codec, coding.k, coding.m, coding.stripe_size)
        now = time.time()
        candidates = await self._db.read(
            lambda tx: disk_candidates(tx, now, self._config.node_offline_after)
        )
        lengths = split_lengths(len(data), coding.segment_size)
        placed = place_segments(candidates, lengths, profile, seed=new_id())
        segments = granted_segments(
            lengths, placed, lambda: system_chunk_id(name.generation, name.seq)
        )
        grant = WriteGrant(
            write_id=new_id(),
            version_id=new_version_id(),
            profile=profile,
            segment_size=coding.segment_size,
            segments=segments,
        )
        shipped = [
            ShippedChunk(c.node_address, c.disk_id, c.chunk_id) for s in segments for c in s.chunks
        ]
        try:
            await self._writer.write(
                grant, SYSTEM_BUCKET, name.key, 1, len(data), _Payload(data), StreamDigests()
            )
        except BaseException:
            await self._delete(shipped)  # a half-written piece must not linger
            raise
        return shipped

    async def _retire_old(self) -> None:
        keep = self._settings.generations
        old = sorted(self._state.chunks, key=int)[:-keep] if keep > 0 else []
        for generation in old:
            await self._delete(self._state.chunks[generation])
            del self._state.chunks[generation]
            log.info("metadata backup: generation %s deleted (%d kept)", generation, keep)
        if old:
            await asyncio.to_thread(self._save_state)

    async def _delete(self, chunks: list[ShippedChunk]) -> None:
        for chunk in chunks:
            try:
                await self._storage.delete_chunk(chunk.node_address, chunk.disk_id, chunk.chunk_id)
            except Exception as exc:
                # Left on the disk: recovery ignores an older generation, and the next
                # retirement does not see it again; say so instead of hiding it.
                log.warning("metadata backup: chunk %s not deleted: %s", chunk.chunk_id, exc)

    # ---- state.json ---------------------------------------------------------------------------
    def _load_state(self) -> _State:
        path = self._dir / "state.json"
        if not path.exists():
            return _State()
        # A restarted shipper starts a new generation anyway: the shadow may be older than
        # the last piece it shipped if it died between the two writes.
        return msgspec.json.decode(path.read_bytes(), type=_State)

    def _save_state(self) -> None:
        path = self._dir / "state.json"
        tmp = path.with_suffix(".tmp")
        tmp.write_bytes(msgspec.json.encode(self._state))
        with tmp.open("rb+") as f:
            os.fsync(f.fileno())
        tmp.replace(path)
