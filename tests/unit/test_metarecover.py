"""Recovery of the metadata database from backup chunks on disk directories
(wormfs.runtime.metarecover), over chunk files made here with the chunk format and codec."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from wormfs import config as cfg
from wormfs.erasure import get_codec
from wormfs.format.chunkformat import ChunkHeader, seal_block
from wormfs.format.layout import Profile, stripe_length
from wormfs.format.metabackup import (
    BASE,
    DELTA,
    SYSTEM_BUCKET,
    PieceName,
    changed_pages,
    digest,
    encode_base,
    encode_delta,
    system_chunk_id,
)
from wormfs.ids import new_version_id
from wormfs.runtime.metarecover import NO_BACKUP, RecoveryError, recover

PROFILE = Profile("isal_rs_vand", 4, 2, 4096)


def _store(disks: list[Path], name: PieceName, data: bytes) -> list[Path]:
    """Write ``data`` as one segment of k+m chunks, chunk i on disk i (as the shipper does)."""
    codec = get_codec(PROFILE.codec, PROFILE.k, PROFILE.m)
    stripes = [
        data[j * PROFILE.stripe_size : j * PROFILE.stripe_size + PROFILE.stripe_size]
        for j in range(-(-len(data) // PROFILE.stripe_size))
    ]
    assert all(
        len(s) == stripe_length(len(data), PROFILE.stripe_size, j) for j, s in enumerate(stripes)
    )
    fragments = [codec.encode(s) for s in stripes]
    version = new_version_id()
    paths = []
    for index, disk in enumerate(disks):
        chunk_id = system_chunk_id(name.generation, name.seq)
        header = ChunkHeader(
            chunk_id, version, 1, 0, index, PROFILE, 0, len(data), SYSTEM_BUCKET, name.key
        )
        path = disk / "chunks" / "999" / f"{chunk_id}.chunk"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(
            header.encode() + b"".join(f[index] + seal_block(f[index]) for f in fragments)
        )
        paths.append(path)
    return paths


def _database(path: Path, rows: int) -> bytes:
    conn = sqlite3.connect(path)
    conn.execute("create table if not exists t (v text)")
    conn.executemany("insert into t values (?)", [(f"row {i}" * 20,) for i in range(rows)])
    conn.commit()
    conn.close()
    return path.read_bytes()


def _count(path: Path) -> int:
    conn = sqlite3.connect(path)
    try:
        return int(conn.execute("select count(*) from t").fetchone()[0])
    finally:
        conn.close()


def test_base_and_deltas_recovered_despite_a_corrupt_and_a_missing_fragment(tmp_path: Path) -> None:
    disks = [tmp_path / f"disk{i}" for i in range(1, 7)]
    source = tmp_path / "source.db"
    images = [_database(source, 50), _database(source, 150), _database(source, 400)]
    base = encode_base(images[0])
    _store(disks, PieceName(1, 0, BASE, len(base), digest(base), 1000), base)
    for seq in (1, 2):
        size, pages = changed_pages(images[seq - 1], images[seq])
        delta = encode_delta(size, len(images[seq]) // size, pages)
        paths = _store(
            disks, PieceName(1, seq, DELTA, len(delta), digest(delta), 1000 + seq), delta
        )
        if seq == 2:
            paths[0].unlink()  # a lost chunk
            raw = bytearray(paths[1].read_bytes())
            raw[-10] ^= 0xFF  # a bad block in another: parity stands in for both
            paths[1].write_bytes(bytes(raw))
    database = tmp_path / "meta" / "wormfs.db"
    report = recover(disks, database)
    assert (report.generation, report.deltas_applied, report.recovery_point) == (1, 2, 1.002)
    assert _count(database) == 600 and NO_BACKUP not in report.lines()
    with pytest.raises(RecoveryError, match="passes the integrity check"):
        recover(disks, database)  # a sound file is not replaced without force
    assert recover(disks, database, force=True).kept_damaged is not None


def test_a_gap_in_the_deltas_stops_the_chain_and_is_reported(tmp_path: Path) -> None:
    disks = [tmp_path / f"disk{i}" for i in range(1, 7)]
    source = tmp_path / "source.db"
    images = [_database(source, 10), _database(source, 20), _database(source, 30)]
    base = encode_base(images[0])
    _store(disks, PieceName(4, 0, BASE, len(base), digest(base), 5000), base)
    size, pages = changed_pages(images[1], images[2])
    delta = encode_delta(size, len(images[2]) // size, pages)
    _store(disks, PieceName(4, 2, DELTA, len(delta), digest(delta), 5002), delta)  # no seq 1
    report = recover(disks, tmp_path / "w.db")
    assert report.deltas_applied == 0 and _count(tmp_path / "w.db") == 10
    assert any("delta 1 missing" in s for s in report.skipped)


def test_no_backup_on_the_disks_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(RecoveryError, match="no usable metadata backup"):
        recover([tmp_path / "disk1"], tmp_path / "w.db")


def test_backup_settings_are_validated() -> None:
    bad = cfg.CoordinatorConfig(backup=cfg.BackupConfig(backup_lag=0, generations=0))
    with pytest.raises(cfg.ConfigError) as info:
        cfg.validate(bad)
    assert {"backup.backup_lag", "backup.generations"} <= {
        p.split(" ")[0] for p in info.value.problems
    }


def test_no_backup_keeps_the_damaged_file_when_headers_will_rebuild(tmp_path: Path) -> None:
    database = tmp_path / "meta" / "wormfs.db"
    database.parent.mkdir()
    database.write_bytes(b"not sqlite")
    report = recover([tmp_path / "disk1"], database, require_backup=False)
    assert report.generation == 0 and NO_BACKUP in report.lines()
    assert not database.exists() and report.kept_damaged is not None
    assert report.kept_damaged.read_bytes() == b"not sqlite"
