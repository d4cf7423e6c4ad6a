"""What one front door writes, the other sees: the mount and S3 through the gateway."""

from __future__ import annotations

import hashlib
import os
import time
from pathlib import Path
from typing import Any

import pytest
from mounting import BUCKET, Mounted
from waiting import wait_until

pytestmark = pytest.mark.fuse

VISIBLE_WITHIN = 1.5  # seconds: the entry and attribute timeouts are 1 s


def key_of(mount: Mounted, path: Path) -> str:
    return str(path.relative_to(mount.mountpoint))


def test_mount_write_is_an_object(root: Path, mount: Mounted, s3: Any) -> None:
    data = b"written through the mount\n" * 100
    f = root / "note.txt"
    f.write_bytes(data)
    got = s3.get_object(Bucket=BUCKET, Key=key_of(mount, f))
    assert got["Body"].read() == data
    assert got["ContentLength"] == len(data)
    assert got["ETag"] == f'"{hashlib.md5(data).hexdigest()}"'


def test_s3_put_and_delete_show_in_the_mount(root: Path, mount: Mounted, s3: Any) -> None:
    key = key_of(mount, root / "from-s3")
    assert not (root / "from-s3").exists()
    s3.put_object(Bucket=BUCKET, Key=key, Body=b"v1")
    start = time.monotonic()
    wait_until(lambda: (root / "from-s3").exists(), VISIBLE_WITHIN, message="PUT visible")
    assert (root / "from-s3").read_bytes() == b"v1"
    s3.put_object(Bucket=BUCKET, Key=key, Body=b"version 2")
    wait_until(
        lambda: (root / "from-s3").read_bytes() == b"version 2",
        VISIBLE_WITHIN,
        message="overwrite visible",
    )
    s3.delete_object(Bucket=BUCKET, Key=key)
    wait_until(lambda: not (root / "from-s3").exists(), VISIBLE_WITHIN, message="DELETE seen")
    assert time.monotonic() - start < 3 * VISIBLE_WITHIN
    s3.put_object(Bucket=BUCKET, Key=key_of(mount, root / "deep" / "er" / "file"), Body=b"x")
    wait_until(lambda: (root / "deep" / "er").is_dir(), VISIBLE_WITHIN, message="implicit dir")
    assert os.listdir(root / "deep" / "er") == ["file"]


def test_mkdir_makes_a_directory_marker(root: Path, mount: Mounted, s3: Any) -> None:
    (root / "empty").mkdir()
    prefix = key_of(mount, root) + "/"
    listed = s3.list_objects_v2(Bucket=BUCKET, Prefix=prefix)
    keys = [o["Key"] for o in listed.get("Contents", [])]
    assert prefix + "empty/" in keys
    marker = s3.head_object(Bucket=BUCKET, Key=prefix + "empty/")
    assert marker["ContentLength"] == 0
    assert marker["ContentType"] == "application/x-directory"


def test_a_file_deleted_through_s3_stays_gone_whatever_comes_next(
    root: Path, mount: Mounted, s3: Any
) -> None:
    old = root / "old"
    old.write_bytes(b"old")
    os.truncate(old, 75)
    s3.delete_object(Bucket=BUCKET, Key=key_of(mount, old))
    wait_until(lambda: not old.exists(), VISIBLE_WITHIN, message="DELETE seen")
    new = root / "new"
    new.write_bytes(b"")  # may be given the deleted file's number
    with pytest.raises(FileNotFoundError):
        os.truncate(old, 330)
    assert new.read_bytes() == b"" and sorted(os.listdir(root)) == ["new"]
