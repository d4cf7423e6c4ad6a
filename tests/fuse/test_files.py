"""File contents through a real mount: open flags, reads and writes, truncation, a large file,
and commit errors reaching the caller of close."""

from __future__ import annotations

import errno
import hashlib
import os
from pathlib import Path
from typing import Any

import pytest
from mounting import BUCKET, Mounted

pytestmark = pytest.mark.fuse


def raises(code: int, call: Any, *args: Any) -> None:
    with pytest.raises(OSError) as info:
        call(*args)
    assert info.value.errno == code, (errno.errorcode.get(info.value.errno or 0), info.value)


def key_of(mount: Mounted, path: Path) -> str:
    return str(path.relative_to(mount.mountpoint))


def test_open_flags(root: Path) -> None:
    f = root / "f"
    fd = os.open(f, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o640)
    os.write(fd, b"first")
    os.close(fd)
    raises(errno.EEXIST, os.open, f, os.O_WRONLY | os.O_CREAT | os.O_EXCL)
    fd = os.open(f, os.O_WRONLY | os.O_APPEND)
    os.write(fd, b"+more")
    os.close(fd)
    assert f.read_bytes() == b"first+more"
    fd = os.open(f, os.O_WRONLY | os.O_TRUNC)
    os.close(fd)
    assert f.read_bytes() == b"" and f.stat().st_size == 0
    raises(errno.ENOENT, os.open, root / "none", os.O_RDONLY)
    raises(errno.EISDIR, os.open, root, os.O_WRONLY)


def test_pwrite_holes_truncate_ftruncate(root: Path) -> None:
    f = root / "f"
    f.write_bytes(b"0123456789")
    fd = os.open(f, os.O_RDWR)
    try:
        os.pwrite(fd, b"ab", 3)
        os.pwrite(fd, b"Z", 20)  # a hole from 10 to 20
        assert os.pread(fd, 100, 0) == b"012ab56789" + bytes(10) + b"Z"
        os.ftruncate(fd, 5)
        assert os.pread(fd, 100, 0) == b"012ab"
        os.ftruncate(fd, 8)  # extended: zeros
        os.fsync(fd)
    finally:
        os.close(fd)
    assert f.read_bytes() == b"012ab\0\0\0"
    os.truncate(f, 2)
    assert f.read_bytes() == b"01" and f.stat().st_size == 2
    os.truncate(f, 0)
    assert f.read_bytes() == b""


def test_large_file_round_trip(root: Path, mount: Mounted, s3: Any) -> None:
    # Above the inline limit and several 1 MiB stripes: the chunked path.
    data = os.urandom(3 * 1024 * 1024 + 12345)
    f = root / "big"
    with f.open("wb") as out:
        for offset in range(0, len(data), 100_000):
            out.write(data[offset : offset + 100_000])
    assert f.stat().st_size == len(data)
    assert hashlib.md5(f.read_bytes()).hexdigest() == hashlib.md5(data).hexdigest()
    got = s3.get_object(Bucket=BUCKET, Key=key_of(mount, f))
    assert got["Body"].read() == data
    assert got["ETag"].strip('"') == hashlib.md5(data).hexdigest()
    with f.open("r+b") as out:  # a small change in the middle: the rest kept
        out.seek(2 * 1024 * 1024)
        out.write(b"CHANGED")
    expected = data[: 2 * 1024 * 1024] + b"CHANGED" + data[2 * 1024 * 1024 + 7 :]
    assert f.read_bytes() == expected


def test_close_reports_a_conflict_and_keeps_the_bytes(root: Path, mount: Mounted, s3: Any) -> None:
    f = root / "contested"
    f.write_bytes(b"base")
    fd = os.open(f, os.O_WRONLY | os.O_TRUNC)
    os.write(fd, b"the mount's bytes")
    s3.put_object(Bucket=BUCKET, Key=key_of(mount, f), Body=b"S3 won")
    with pytest.raises(OSError) as info:
        os.close(fd)
    assert info.value.errno == errno.ESTALE
    cache = mount.log_path.parent / f"{mount.mountpoint.name}-cache"
    kept = list(cache.rglob("contested.*"))
    assert [p.read_bytes() for p in kept] == [b"the mount's bytes"]
    assert s3.get_object(Bucket=BUCKET, Key=key_of(mount, f))["Body"].read() == b"S3 won"


def test_fsync_commits_while_open(root: Path, mount: Mounted, s3: Any) -> None:
    f = root / "synced"
    fd = os.open(f, os.O_WRONLY | os.O_CREAT, 0o644)
    try:
        os.write(fd, b"durable")
        os.fsync(fd)
        got = s3.get_object(Bucket=BUCKET, Key=key_of(mount, f))["Body"].read()
        assert got == b"durable"
        os.write(fd, b" and more")
        os.fdatasync(fd)
        got = s3.get_object(Bucket=BUCKET, Key=key_of(mount, f))["Body"].read()
        assert got == b"durable and more"
    finally:
        os.close(fd)
