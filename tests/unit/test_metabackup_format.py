"""Backup piece names, system chunk ids and the page delta (wormfs.format.metabackup)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from wormfs.format.metabackup import (
    BackupFormatError,
    PieceName,
    apply_delta,
    changed_pages,
    decode_base,
    encode_base,
    encode_delta,
    is_system_chunk,
    parse_piece_key,
    system_chunk_id,
)
from wormfs.ids import is_id


def _image(path: Path, rows: int) -> bytes:
    conn = sqlite3.connect(path)
    conn.execute("create table if not exists t (v text)")
    conn.executemany("insert into t values (?)", [("x" * 500,)] * rows)
    conn.commit()
    conn.close()
    return path.read_bytes()


def test_piece_key_round_trip_and_refusals() -> None:
    name = PieceName(3, 7, "delta", 1234, "ab" * 32, 1_700_000_000_123)
    assert parse_piece_key(name.key) == name
    for bad in ("other/x", "metadata/3/0/delta/1/x/2", "metadata/3/1/base/1/x/2"):
        with pytest.raises(BackupFormatError):
            parse_piece_key(bad)


def test_system_chunk_ids_are_ids_with_the_prefix() -> None:
    chunk = system_chunk_id(5, 9)
    assert is_id(chunk) and is_system_chunk(chunk) and chunk.startswith("ffffffff000005")


def test_delta_applied_to_the_old_image_gives_the_new(tmp_path: Path) -> None:
    db = tmp_path / "a.db"
    old = _image(db, 10)
    new = _image(db, 200)
    size, pages = changed_pages(old, new)
    assert 0 < len(pages) < len(new) // size + 1
    delta = encode_delta(size, len(new) // size, pages)
    assert apply_delta(old, delta) == new
    assert decode_base(encode_base(new)) == new
    with pytest.raises(BackupFormatError):
        apply_delta(old, delta[:-3])
