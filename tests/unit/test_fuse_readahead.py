"""The mount's device number, found in /proc/self/mountinfo for raising its read-ahead."""

from __future__ import annotations

from wormfs.fuse.mount import _device_of

MOUNTINFO = """\
22 1 253:0 / / rw,relatime shared:1 - ext4 /dev/vda1 rw
42 22 0:39 / /tmp/m\\040one rw,nosuid,nodev,relatime - fuse.wormfs wormfs:b rw,user_id=0
43 22 0:40 / /tmp/m rw,nosuid,nodev,relatime - fuse.wormfs wormfs:b rw,user_id=0
44 22 0:41 / /tmp/m rw,nosuid,nodev,relatime - fuse.wormfs wormfs:c rw,user_id=0
"""


def test_the_last_mount_on_the_path_is_the_one() -> None:
    assert _device_of("/tmp/m", MOUNTINFO) == "0:41"  # mounted over an older one
    assert _device_of("/tmp/m one", MOUNTINFO) == "0:39"  # octal escapes in the path
    assert _device_of("/tmp/other", MOUNTINFO) is None
