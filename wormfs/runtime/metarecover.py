"""Metadata recovery: rebuild the SQLite database from the backup pieces on the disks.

Layer: runtime (blocking file I/O, run by the CLI before any daemon starts, or on a thread).
Contract:

* ``find_pieces(disks)`` scans each disk directory for backup chunks by name alone
  (``chunks/999/ffffffff*.chunk``, ``wormfs.format.metabackup``), reads their headers and
  groups them by piece (the key names generation, seq, kind, size, digest, snapshot time).
  Nothing else is needed: no database, no running process.
* ``recover(disks, database)`` picks the newest generation whose base decodes, applies its
  deltas 1..n in order while each decodes and matches its digest (a gap ends the chain:
  later deltas cannot apply), checks the result with ``PRAGMA integrity_check``, and puts it
  in place: written to a temp file and fsynced, the old ``-wal`` / ``-shm`` removed (a stale
  WAL would be replayed onto the new file), the damaged file kept as
  ``<name>.damaged-<unix time>`` (never deleted), then renamed over ``database``. A kill at any
  point leaves either the old state or the new file, so running it again is always safe
  (idempotent). It refuses a database that exists and passes the integrity check, unless
  ``force``.
* ``restore_file(source, database)`` puts a manual backup file in place the same way.
* Every chunk block is verified against its CRC32C; a bad or missing fragment is replaced by
  another index, as the read path does; fewer than k good fragments of a stripe make that
  piece unusable (reported, with the reason).
"""

from __future__ import annotations

import os
import sqlite3
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from wormfs.erasure import get_codec
from wormfs.format.chunkformat import (
    BLOCK_CRC_SIZE,
    MAX_HEADER_SIZE,
    ChunkFormatError,
    ChunkHeader,
    check_block,
)
from wormfs.format.layout import stripe_length
from wormfs.format.metabackup import (
    BASE,
    SYSTEM_BUCKET,
    SYSTEM_CHUNK_PREFIX,
    BackupFormatError,
    PieceName,
    apply_delta,
    decode_base,
    digest,
    parse_piece_key,
)

# Backup chunk ids start with ffffffff, so they all live in the last of the 1000 subdirectories
# (storage_node.chunkfiles: NNN = first 32 bits of the id * 1000 >> 32).
SYSTEM_SUBDIR = "999"
NO_BACKUP = "no usable metadata backup: the database is rebuilt from chunk headers alone"


class RecoveryError(Exception):
    """Nothing usable to recover from, or the database is fine and ``force`` was not given."""


@dataclass(frozen=True)
class FoundChunk:
    header: ChunkHeader
    path: Path


@dataclass
class RecoveryReport:
    database: Path
    generation: int = 0
    base_snapshot: float = 0.0
    deltas_applied: int = 0
    recovery_point: float = 0.0
    size: int = 0
    chunks_found: int = 0
    disks_scanned: int = 0
    kept_damaged: Path | None = None
    skipped: list[str] = field(default_factory=list)  # pieces not used, with reasons

    def lines(self) -> list[str]:
        point = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(self.recovery_point))
        scanned = f"scanned {self.disks_scanned} disks: {self.chunks_found} backup chunks"
        if not self.generation:
            out = [scanned, NO_BACKUP]
            if self.kept_damaged is not None:
                out.append(f"the damaged database was kept as {self.kept_damaged}")
            return out + [f"skipped: {reason}" for reason in self.skipped]
        out = [
            scanned,
            f"restored generation {self.generation}: base of "
            f"{time.strftime('%Y-%m-%d %H:%M:%S UTC', time.gmtime(self.base_snapshot))} "
            f"+ {self.deltas_applied} deltas, {self.size} bytes -> {self.database}",
            f"recovery point: {point} ({self.recovery_point:.3f}), the snapshot of the newest "
            "piece: every commit before it is restored",
        ]
        if self.kept_damaged is not None:
            out.append(f"the damaged database was kept as {self.kept_damaged}")
        out += [f"skipped: {reason}" for reason in self.skipped]
        return out


def find_pieces(disks: list[Path]) -> dict[PieceName, list[FoundChunk]]:
    pieces: dict[PieceName, list[FoundChunk]] = defaultdict(list)
    for disk in disks:
        folder = disk / "chunks" / SYSTEM_SUBDIR
        if not folder.is_dir():
            continue
        for path in sorted(folder.glob(f"{SYSTEM_CHUNK_PREFIX}*.chunk")):
            try:
                with path.open("rb") as f:
                    header = ChunkHeader.decode(f.read(MAX_HEADER_SIZE))
                if header.bucket != SYSTEM_BUCKET:
                    continue
                name = parse_piece_key(header.key)
            except (ChunkFormatError, BackupFormatError, OSError):
                continue  # a damaged chunk: another k of the piece may still serve
            pieces[name].append(FoundChunk(header, path))
    return dict(pieces)


def _read_block(f: BinaryIO, header: ChunkHeader, block: int) -> bytes:
    f.seek(header.block_offset(block))
    size = header.fragment_size(block)
    data = f.read(size + BLOCK_CRC_SIZE)
    check_block(block, data[:size], data[size:])
    return data[:size]


def decode_segment(chunks: list[FoundChunk]) -> bytes:
    first = chunks[0].header
    profile = first.profile
    codec = get_codec(profile.codec, profile.k, profile.m)
    by_index = {c.header.fragment_index: c for c in chunks}
    files = {i: c.path.open("rb") for i, c in by_index.items()}
    bad: set[int] = set()
    out = bytearray()
    try:
        for block in range(first.block_count):
            fragments: dict[int, bytes] = {}
            for index in sorted(by_index):
                if index in bad:
                    continue
                try:
                    fragments[index] = _read_block(files[index], by_index[index].header, block)
                except (ChunkFormatError, OSError):
                    bad.add(index)  # from this stripe on, another index replaces it
                    continue
                if len(fragments) == profile.k:
                    break
            if len(fragments) < profile.k:
                raise BackupFormatError(
                    f"segment {first.segment_index}, stripe {block}: {len(fragments)} good "
                    f"fragments of {profile.k} needed"
                )
            length = stripe_length(first.segment_length, profile.stripe_size, block)
            out += codec.decode(fragments, length)
    finally:
        for f in files.values():
            f.close()
    return bytes(out)


def read_piece(name: PieceName, chunks: list[FoundChunk]) -> bytes:
    """The stored bytes of one piece, checked against its size and digest."""
    segments: dict[int, list[FoundChunk]] = defaultdict(list)
    for chunk in chunks:
        segments[chunk.header.segment_index].append(chunk)
    data = bytearray()
    for index in sorted(segments):
        if segments[index][0].header.segment_offset != len(data):
            raise BackupFormatError(f"segment {index} missing before offset {len(data)}")
        data += decode_segment(segments[index])
    if len(data) != name.size or digest(bytes(data)) != name.sha256:
        raise BackupFormatError("decoded bytes do not match the piece's size and SHA-256")
    return bytes(data)


def integrity_problems(path: Path) -> list[str]:
    """Why ``path`` is not a usable SQLite database ([] when it is)."""
    if not path.exists():
        return [f"{path} does not exist"]
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            rows = conn.execute("PRAGMA integrity_check").fetchall()
        finally:
            conn.close()
    except sqlite3.DatabaseError as exc:
        return [f"{path}: {exc}"]
    found = [str(r[0]) for r in rows]
    return [] if found == ["ok"] else [f"{path}: {p}" for p in found]


def _best_image(
    pieces: dict[PieceName, list[FoundChunk]], report: RecoveryReport
) -> tuple[bytes, PieceName, PieceName] | None:
    generations = sorted({n.generation for n in pieces}, reverse=True)
    for generation in generations:
        names = sorted(n for n in pieces if n.generation == generation)
        bases = [n for n in names if n.kind == BASE]
        if not bases:
            report.skipped.append(f"generation {generation}: no base piece found")
            continue
        try:
            image = decode_base(read_piece(bases[0], pieces[bases[0]]))
        except BackupFormatError as exc:
            report.skipped.append(f"generation {generation} base: {exc}")
            continue
        last = bases[0]
        for name in (n for n in names if n.kind != BASE):
            if name.seq != last.seq + 1:
                report.skipped.append(
                    f"generation {generation}: delta {last.seq + 1} missing, so deltas "
                    f"from {name.seq} on cannot apply"
                )
                break
            try:
                image = apply_delta(image, read_piece(name, pieces[name]))
            except BackupFormatError as exc:
                report.skipped.append(f"generation {generation} delta {name.seq}: {exc}")
                break
            last = name
        return image, bases[0], last
    return None


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def put_in_place(image_file: Path, database: Path) -> Path | None:
    """Make ``image_file`` the database (see the module docstring); returns the kept old file."""
    kept: Path | None = None
    for suffix in ("-wal", "-shm", "-journal"):
        Path(f"{database}{suffix}").unlink(missing_ok=True)
    if database.exists():
        kept = database.with_name(f"{database.name}.damaged-{int(time.time())}")
        database.replace(kept)
    image_file.replace(database)
    _fsync_dir(database.parent)
    return kept


def _write_temp(data: bytes, database: Path) -> Path:
    tmp = database.with_name(f"{database.name}.recover-tmp")
    with tmp.open("wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    problems = integrity_problems(tmp)
    if problems:
        tmp.unlink()
        raise RecoveryError("the recovered image fails the integrity check: " + "; ".join(problems))
    return tmp


def recover(
    disks: list[Path], database: Path, force: bool = False, require_backup: bool = True
) -> RecoveryReport:
    """Restore the newest backup as ``database``. With no usable backup: ``RecoveryError``,
    or, unless ``require_backup``, the damaged file kept aside and generation 0 reported
    (the caller rebuilds from chunk headers onto an empty database)."""
    if database.exists() and not integrity_problems(database) and not force:
        raise RecoveryError(
            f"{database} exists and passes the integrity check; give --force to replace it"
        )
    database.parent.mkdir(parents=True, exist_ok=True)
    report = RecoveryReport(database=database, disks_scanned=len(disks))
    pieces = find_pieces(disks)
    report.chunks_found = sum(len(c) for c in pieces.values())
    best = _best_image(pieces, report)
    if best is None and not require_backup:
        if database.exists():
            report.kept_damaged = database.with_name(f"{database.name}.damaged-{int(time.time())}")
            database.replace(report.kept_damaged)
        for suffix in ("-wal", "-shm", "-journal"):
            Path(f"{database}{suffix}").unlink(missing_ok=True)
        return report
    if best is None:
        raise RecoveryError(
            f"no usable metadata backup on {len(disks)} disks ({report.chunks_found} backup "
            "chunks found)" + "".join(f"; {s}" for s in report.skipped)
        )
    image, base, last = best
    report.kept_damaged = put_in_place(_write_temp(image, database), database)
    report.generation = base.generation
    report.base_snapshot = base.snapshot_ms / 1000
    report.deltas_applied = last.seq
    report.recovery_point = last.snapshot_ms / 1000
    report.size = len(image)
    return report


def restore_file(source: Path, database: Path) -> Path | None:
    """Put the manual backup ``source`` in place as ``database``; returns the kept old file."""
    problems = integrity_problems(source)
    if problems:
        raise RecoveryError("not a usable backup: " + "; ".join(problems))
    database.parent.mkdir(parents=True, exist_ok=True)
    return put_in_place(_write_temp(source.read_bytes(), database), database)


def data_dir_disks(data_dir: Path) -> list[Path]:
    """The disk directories of a ``wormfs server`` data dir (``disk1``, ``disk2``, ...)."""
    return sorted(
        (p for p in data_dir.glob("disk*") if p.is_dir() and p.name[4:].isdigit()),
        key=lambda p: int(p.name[4:]),
    )


def recover_data_dir(
    data_dir: Path, then: Callable[[list[Path], Path], list[str]] | None = None
) -> list[str]:
    """``wormfs server --recover``: recover ``data_dir``'s database from its disks unless it is
    sound, holding the data dir's lock meanwhile (so no server runs on it); report lines.
    ``then(disks, database)`` runs after the backup is restored (the header scan) and adds
    its lines; without it a missing backup is an error."""
    from wormfs.runtime.claims import lock_data_dir

    database = data_dir / "meta" / "wormfs.db"
    fd = lock_data_dir(data_dir)
    try:
        if database.exists() and not integrity_problems(database):
            return [f"{database} is sound: nothing to recover"]
        disks = data_dir_disks(data_dir)
        lines = recover(disks, database, require_backup=then is None).lines()
        return lines + ([] if then is None else then(disks, database))
    finally:
        os.close(fd)  # the server takes the lock again at once
