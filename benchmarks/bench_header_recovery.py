"""Benchmark, recovery from chunk headers: time to rebuild N objects, and the v2 header's cost.

Writes ``--objects`` objects of ``--size`` bytes as real chunk files (chunk format v2, 4+2,
one chunk per disk over six disk directories, a record with user metadata as the gateway
writes it), then runs the header recovery onto an empty SQLite database
(``coordinator.headerrecovery.recover_headers``: scan, decode and verify every block, ETag
and CRC32C from the data, one transaction per version) and prints the wall time, the rate
and the time extrapolated to 100,000 objects. Then the header cost per chunk: bytes and
encode+decode time of a v1 header and of a v2 header with that record.

Run: ``.venv/bin/python benchmarks/bench_header_recovery.py [--objects 10000 --size 70000]``
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import msgspec

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from wormfs.coordinator.headerrecovery import recover_headers
from wormfs.erasure import get_codec
from wormfs.format.chunkformat import ChunkHeader, seal_block
from wormfs.format.chunkrecord import ObjectRecord
from wormfs.format.layout import Profile
from wormfs.ids import new_id, new_version_id

PROFILE = Profile("isal_rs_vand", 4, 2, 1024 * 1024)


def _record(size: int, created: float) -> ObjectRecord:
    return ObjectRecord(
        created=created,
        part_size=size,
        segment_size=64 * 1024 * 1024,
        size=size,
        owner_id="f" * 64,
        content_type="application/octet-stream",
        user_metadata={"project": "benchmark", "owner": "someone@example.com"},
        checksum_algorithm="CRC32C",
        checksum_type="FULL_OBJECT",
    )


def _write(disks: list[Path], n: int, size: int) -> None:
    codec = get_codec(PROFILE.codec, PROFILE.k, PROFILE.m)
    data = os.urandom(size)
    fragments = codec.encode(data)  # one stripe; the same bytes for every object
    bodies = [f + seal_block(f) for f in fragments]
    for i in range(n):
        version_id = new_version_id()
        record = _record(size, 1_000_000.0 + i)
        for index, disk in enumerate(disks):
            header = ChunkHeader(
                new_id(), version_id, 1, 0, index, PROFILE, 0, size, "bench", f"k/{i:07d}", record
            )
            folder = disk / "chunks" / header.chunk_id[:3]
            folder.mkdir(exist_ok=True)
            (folder / f"{header.chunk_id}.chunk").write_bytes(header.encode() + bodies[index])


def _header_cost(size: int) -> dict[str, float]:
    base = ChunkHeader(new_id(), new_id(), 1, 0, 0, PROFILE, 0, size, "bench", "k/0000001")
    v1 = msgspec.structs.replace(base, format_version=1)
    v2 = msgspec.structs.replace(base, record=_record(size, time.time()))
    out: dict[str, float] = {}
    for name, header in (("v1", v1), ("v2", v2)):
        rounds = 20_000
        started = time.perf_counter()
        for _ in range(rounds):
            ChunkHeader.decode(header.encode())
        out[f"{name}_bytes"] = len(header.encode())
        out[f"{name}_encode_decode_us"] = round((time.perf_counter() - started) / rounds * 1e6, 2)
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--objects", type=int, default=10_000)
    parser.add_argument("--size", type=int, default=70_000)  # just above inline_max
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="wormfs-bench-") as tmp:
        root = Path(tmp)
        disks = []
        for d in range(PROFILE.n):
            disk = root / f"disk{d + 1}"
            (disk / "chunks").mkdir(parents=True)
            marker = {"disk_id": new_id(), "node_id": "n" * 32}
            (disk / ".wormfs-disk").write_text(json.dumps(marker))
            disks.append(disk)
        _write(disks, args.objects, args.size)
        database = root / "wormfs.db"
        started = time.monotonic()
        lines = asyncio.run(recover_headers(disks, database, gc_delay=60.0))
        elapsed = time.monotonic() - started
    assert any(f"recovered from headers: {args.objects} versions" in x for x in lines), lines
    result = {
        "objects": args.objects,
        "size": args.size,
        "seconds": round(elapsed, 2),
        "objects_per_s": round(args.objects / elapsed, 1),
        "extrapolated_100k_s": round(elapsed * 100_000 / args.objects, 1),
        **_header_cost(args.size),
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
