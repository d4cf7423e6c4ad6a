"""Data-plane failures reach the caller: with the storage node gone, fsync and close of a file
too large to be inline fail with EIO (never a silent loss: the bytes are kept under the cache
dir's conflicts/), and small files, stored inline, still commit."""

from __future__ import annotations

import errno
import os
from pathlib import Path
from typing import Any

import pytest
from integration.cluster import Cluster
from mounting import BUCKET, Mounted
from waiting import wait_until

pytestmark = pytest.mark.fuse


@pytest.mark.expected_log_errors(r"ERROR wormfs\.fuse\.files: the last close of \S+/big could not")
def test_fsync_and_close_fail_with_eio_when_the_nodes_are_gone(
    cluster: Cluster, s3: Any, mount: Mounted, root: Path
) -> None:
    data = os.urandom(512 * 1024)  # above the inline limit: needs the storage nodes
    fd = os.open(root / "big", os.O_WRONLY | os.O_CREAT, 0o644)
    os.write(fd, data)
    cluster.kill_node(1)
    with pytest.raises(OSError) as info:
        os.fsync(fd)
    assert info.value.errno == errno.EIO
    with pytest.raises(OSError) as info:
        os.close(fd)
    assert info.value.errno == errno.EIO
    # The last close could not commit either: its bytes are kept, and the log says where.
    cache = mount.log_path.parent / f"{mount.mountpoint.name}-cache"
    # (The kernel sends the release after close returns.)
    kept = wait_until(lambda: list(cache.rglob("big.*")), 10, message="bytes kept")
    assert [p.read_bytes() for p in kept] == [data]
    (root / "small").write_bytes(b"inline: no node needed")
    key = f"{root.name}/small"
    assert s3.get_object(Bucket=BUCKET, Key=key)["Body"].read() == b"inline: no node needed"
