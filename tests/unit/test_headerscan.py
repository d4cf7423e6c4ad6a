"""Recovery from chunk headers (wormfs.runtime.headerscan + coordinator.headerrecovery) over
chunk files written here with chunk format v2, on an empty and on a restored database."""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import sqlite3
from pathlib import Path

from wormfs.coordinator.headerrecovery import recover_headers
from wormfs.erasure import get_codec
from wormfs.format.checksums import checksum_b64
from wormfs.format.chunkformat import ChunkHeader, seal_block
from wormfs.format.chunkrecord import ObjectRecord
from wormfs.format.layout import Profile, split_lengths
from wormfs.ids import new_id, new_version_id
from wormfs.runtime.headerscan import rebuild_versions, scan_chunks

PROFILE = Profile("isal_rs_vand", 2, 1, 4096)
SEGMENT = 10_000


def _disks(tmp_path: Path, n: int = 3) -> list[Path]:
    disks = []
    for i in range(n):
        disk = tmp_path / f"disk{i + 1}"
        (disk / "chunks").mkdir(parents=True)
        marker = {"disk_id": f"d{i}" + "0" * 30, "node_id": f"n{i}"}
        (disk / ".wormfs-disk").write_text(json.dumps(marker))
        disks.append(disk)
    return disks


def _write_object(
    disks: list[Path],
    key: str,
    data: bytes,
    created: float,
    *,
    upload_id: str = "",
    metadata: dict[str, str] | None = None,
    version: int = 2,
) -> list[Path]:
    """An object as ObjectWriter lays it out: segments of SEGMENT bytes, chunk i on disk i."""
    codec = get_codec(PROFILE.codec, PROFILE.k, PROFILE.m)
    version_id = new_version_id()
    record = ObjectRecord(
        created=created,
        part_size=len(data),
        segment_size=SEGMENT,
        size=-1 if upload_id else len(data),
        owner_id="owner",
        content_type="text/plain",
        user_metadata=metadata or {},
        checksum_algorithm="CRC32C",
        checksum_type="FULL_OBJECT",
        upload_id=upload_id,
    )
    paths = []
    offset = 0
    for index, length in enumerate(split_lengths(len(data), SEGMENT)):
        segment = data[offset : offset + length]
        stripes = [segment[j : j + PROFILE.stripe_size] for j in range(0, length, 4096)]
        fragments = [codec.encode(s) for s in stripes]
        for fragment, disk in enumerate(disks):
            header = ChunkHeader(
                chunk_id=new_id(),
                version_id=version_id,
                part_number=1,
                segment_index=index,
                fragment_index=fragment,
                profile=PROFILE,
                segment_offset=offset,
                segment_length=length,
                bucket="bkt",
                key=key,
                record=record if index == 0 and version == 2 else None,
                format_version=version,
            )
            path = disk / "chunks" / "000" / f"{header.chunk_id}.chunk"
            path.parent.mkdir(exist_ok=True)
            body = b"".join(f[fragment] + seal_block(f[fragment]) for f in fragments)
            path.write_bytes(header.encode() + body)
            paths.append(path)
        offset += length
    return paths


def _rows(database: Path) -> dict[str, tuple[str, int, str, str, bool]]:
    conn = sqlite3.connect(database)
    try:
        rows = conn.execute(
            "SELECT key, etag, size, content_type, checksum_value, is_latest FROM objects"
        ).fetchall()
    finally:
        conn.close()
    return {r[0]: (r[1], r[2], r[3], r[4], bool(r[5])) for r in rows}


def test_rebuild_computes_etag_checksum_and_layout(tmp_path: Path) -> None:
    disks = _disks(tmp_path)
    data = os.urandom(25_000)  # three segments
    _write_object(disks, "a", data, 100.0, metadata={"k": "v"})
    rebuilt = rebuild_versions(scan_chunks(disks).chunks)
    assert rebuilt.lost == []
    (version,) = rebuilt.versions
    manifest = version.manifest
    assert manifest.etag == f'"{hashlib.md5(data).hexdigest()}"'
    assert manifest.checksum is not None
    assert manifest.checksum.value == checksum_b64("CRC32C", data)
    assert [s.length for s in manifest.parts[0].segments] == [10_000, 10_000, 5_000]
    assert manifest.attributes.user_metadata == {"k": "v"}
    assert manifest.attributes.content_type == "text/plain"
    assert manifest.owner_id == "owner" and manifest.last_modified == 100.0
    assert version.degraded == []
    assert {c.node_id for c in manifest.parts[0].segments[0].chunks} == {"n0", "n1", "n2"}


def test_k_chunks_suffice_and_fewer_are_reported(tmp_path: Path) -> None:
    disks = _disks(tmp_path)
    ok = os.urandom(12_000)
    _write_object(disks, "ok", ok, 1.0)
    for path in (disks[0] / "chunks").glob("*/*.chunk"):
        path.unlink()  # one disk lost: k=2 of 3 remain
    short = _write_object(disks[1:], "short", b"x" * 500, 2.0)  # chunks on two disks...
    short[0].unlink()  # ...then one lost: 1 of k=2 left
    rebuilt = rebuild_versions(scan_chunks(disks).chunks)
    (version,) = rebuilt.versions
    assert version.manifest.key == "ok" and version.degraded == [0, 1]
    assert version.manifest.etag == f'"{hashlib.md5(ok).hexdigest()}"'
    assert any("bkt/short" in r and "1 chunks found, 2 needed" in r for r in map(str, rebuilt.lost))


def test_parts_and_v1_chunks_are_reported_not_recovered(tmp_path: Path) -> None:
    disks = _disks(tmp_path)
    _write_object(disks, "part", b"p" * 100, 1.0, upload_id=new_id())
    _write_object(disks, "old", b"o" * 100, 1.0, version=1)
    rebuilt = rebuild_versions(scan_chunks(disks).chunks)
    assert rebuilt.versions == []
    assert any("bkt/part" in r and "multipart upload" in r for r in map(str, rebuilt.lost))
    assert any("bkt/old" in r and "chunk format 1" in r for r in map(str, rebuilt.lost))


def test_merge_newest_wins_and_second_run_is_idempotent(tmp_path: Path) -> None:
    disks = _disks(tmp_path)
    old, new = os.urandom(5000), os.urandom(6000)
    _write_object(disks, "k", old, 10.0)
    _write_object(disks, "k", new, 20.0)
    _write_object(disks, "other", b"z" * 3000, 5.0)
    database = tmp_path / "meta" / "wormfs.db"
    database.parent.mkdir()
    lines = asyncio.run(recover_headers(disks, database, gc_delay=60.0))
    assert any("recovered from headers: 2 versions" in line for line in lines), lines
    assert any("superseded by a newer version: 1" in line for line in lines), lines
    rows = _rows(database)
    assert rows["k"][:2] == (f'"{hashlib.md5(new).hexdigest()}"', 6000)
    assert rows["k"][4] and rows["other"][2] == "text/plain"
    again = asyncio.run(recover_headers(disks, database, gc_delay=60.0))
    assert any("already in the backup: 2" in line for line in again), again
    assert _rows(database) == rows


def test_newer_header_version_replaces_the_restored_one(tmp_path: Path) -> None:
    disks = _disks(tmp_path)
    _write_object(disks, "k", b"a" * 5000, 10.0)
    database = tmp_path / "meta" / "wormfs.db"
    database.parent.mkdir()
    asyncio.run(recover_headers(disks, database, gc_delay=60.0))  # the "backup"
    newer = os.urandom(7000)
    _write_object(disks, "k", newer, 30.0)  # written after it
    lines = asyncio.run(recover_headers(disks, database, gc_delay=60.0))
    assert any("recovered from headers: 1 versions" in line for line in lines), lines
    assert _rows(database)["k"][:2] == (f'"{hashlib.md5(newer).hexdigest()}"', 7000)
    conn = sqlite3.connect(database)
    try:
        (queued,) = conn.execute("SELECT count(*) FROM gc_queue").fetchone()
    finally:
        conn.close()
    assert queued == 3  # the replaced version's chunks, as an overwrite queues them
    third = asyncio.run(recover_headers(disks, database, gc_delay=60.0))
    assert any("already in the backup: 1" in line for line in third), third
    assert any("superseded by a newer version: 1" in line for line in third), third


def test_a_version_whose_chunks_are_queued_for_gc_stays_deleted(tmp_path: Path) -> None:
    disks = _disks(tmp_path)
    _write_object(disks, "k", b"a" * 5000, 10.0)
    database = tmp_path / "meta" / "wormfs.db"
    database.parent.mkdir()
    asyncio.run(recover_headers(disks, database, gc_delay=60.0))
    conn = sqlite3.connect(database)
    try:  # the key deleted after that: its version row gone, its chunks queued
        conn.execute(
            "INSERT INTO gc_queue (chunk_id, disk_id, node_id, enqueued_at, not_before, attempts)"
            " SELECT chunk_id, disk_id, '', 0, 0, 0 FROM chunk_placements"
        )
        conn.execute("PRAGMA foreign_keys=ON")
        conn.execute("DELETE FROM objects")
        conn.commit()
    finally:
        conn.close()
    lines = asyncio.run(recover_headers(disks, database, gc_delay=60.0))
    assert any("deleted before the recovery point: 1" in line for line in lines), lines
    assert _rows(database) == {}
