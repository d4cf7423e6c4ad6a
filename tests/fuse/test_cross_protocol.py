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


# ---- server-side encryption -------------------------------------------------------------------
PATTERN = b"MOUNT-PLAINTEXT!"


def test_sealed_objects_read_through_the_mount(root: Path, mount: Mounted, s3: Any) -> None:
    big, small, secret = root / "big", root / "small", root / "customer"
    data = PATTERN * 20_000  # 320 KB: erasure-coded
    s3.put_object(Bucket=BUCKET, Key=key_of(mount, big), Body=data, ServerSideEncryption="AES256")
    s3.put_object(
        Bucket=BUCKET,
        Key=key_of(mount, small),
        Body=b"inline and sealed",
        ServerSideEncryption="aws:kms",
        SSEKMSKeyId="mount-key",
    )
    s3.put_object(
        Bucket=BUCKET,
        Key=key_of(mount, secret),
        Body=b"only with the key",
        SSECustomerAlgorithm="AES256",
        SSECustomerKey=b"k" * 32,
    )
    wait_until(lambda: secret.exists(), VISIBLE_WITHIN, message="PUTs visible")
    assert big.read_bytes() == data
    with big.open("rb") as f:  # a read in the middle opens only the packages it needs
        f.seek(100_000)
        assert f.read(50) == data[100_000:100_050]
    assert small.read_bytes() == b"inline and sealed"
    # An SSE-C object needs a key no mount has: refused, never ciphertext.
    with pytest.raises(PermissionError):
        secret.read_bytes()


def test_mount_writes_take_the_bucket_default_encryption(
    root: Path, mount: Mounted, s3: Any, cluster: Any
) -> None:
    s3.put_bucket_encryption(
        Bucket=BUCKET,
        ServerSideEncryptionConfiguration={
            "Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]
        },
    )
    try:
        data = PATTERN * 30_000
        f = root / "sealed.bin"

        def written_sealed() -> bool:
            # The mount reads the bucket's default again within a second.
            f.write_bytes(data)
            head = s3.head_object(Bucket=BUCKET, Key=key_of(mount, f))
            return head.get("ServerSideEncryption") == "AES256"

        wait_until(written_sealed, 5.0, interval=0.3, message="mount writes sealed")
        assert f.read_bytes() == data
        got = s3.get_object(Bucket=BUCKET, Key=key_of(mount, f))
        assert got["Body"].read() == data and got["ServerSideEncryption"] == "AES256"
        # S3 writes without encryption headers take the same default.
        s3.put_object(Bucket=BUCKET, Key=key_of(mount, root / "s3"), Body=data)
        assert (
            s3.head_object(Bucket=BUCKET, Key=key_of(mount, root / "s3"))["ServerSideEncryption"]
            == "AES256"
        )
    finally:
        s3.delete_bucket_encryption(Bucket=BUCKET)
