"""Cross-protocol with other tools: Debian's s3fs-fuse mounts the same bucket through WormFS's
S3 gateway, beside WormFS's own mount, and rclone lists it.

What the mount writes (modes, owners, times, symlinks, fifos, directories, bytes) s3fs shows the
same, and what s3fs writes the mount shows the same: both go by s3fs's ``x-amz-meta-mode``,
``-uid``, ``-gid`` and ``-mtime`` headers (the coordinator projects the mount's attributes to
them and reads them back, ``wormfs.format.posix``), symlinks are objects whose body is the
target, and directories are ``dir/`` markers. Times keep their nanoseconds both ways: s3fs
1.90 writes and reads ``mtime`` as seconds with a fraction (the times it makes itself, for a
new file or a mkdir, are whole seconds), and so does rclone.

The s3fs process runs in the foreground (``-f``), is stopped by its PID and unmounted
(lazily if busy) in teardown, whatever the test did. Its stat cache is kept to 1 s
(``stat_cache_expire=1``) so that it sees changes as soon as the mount does.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from integration.cluster import ACCESS_KEY, SECRET_KEY, Cluster
from mounting import BUCKET, Mounted, missing
from s3compat.support import run_client
from s3compat.test_clients_rclone import rclone_command
from waiting import wait_until

pytestmark = pytest.mark.fuse

VISIBLE_WITHIN = 1.5  # seconds: the mount's entry and attribute timeouts are 1 s
S3FS_SEES_WITHIN = 5.0  # s3fs: its 1 s stat cache plus the kernel's 1 s attribute cache
# Host variables that would change how rclone verifies TLS or finds credentials.
HOST_VARIABLES = ("AWS_", "SSL_CERT", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "RCLONE_")


@dataclass
class S3fs(Mounted):
    """One ``s3fs`` process mounting the bucket through the cluster's gateway: ``Mounted``'s
    start (wait for the mount point) and stop (unmount, lazily if busy; SIGTERM, then SIGKILL
    of its PID) with s3fs's command line."""

    def command(self) -> list[str]:
        passwd = self.log_path.parent / "passwd-s3fs"
        passwd.write_text(f"{ACCESS_KEY}:{SECRET_KEY}\n")
        passwd.chmod(0o600)
        options = [
            f"url={self.cluster.s3_url}",
            "use_path_request_style",
            f"passwd_file={passwd}",
            "stat_cache_expire=1",
            "dbglevel=warn",
        ]
        return ["s3fs", self.bucket, str(self.mountpoint), "-f", "-o", ",".join(options)]


@pytest.fixture(scope="module")
def s3fs(
    cluster: Cluster, s3: Any, mount: Mounted, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[S3fs]:
    if shutil.which("s3fs") is None:
        missing("s3fs is not installed (make test installs it)")
    work = tmp_path_factory.mktemp("s3fs")
    mounted = S3fs(cluster, BUCKET, work / "mnt", work / "s3fs.out")
    try:
        mounted.start()
        yield mounted
    finally:
        code = mounted.stop()
        print(f"s3fs exited with {code}:\n{mounted.log()}")


def twin(s3fs: S3fs, mount: Mounted, path: Path) -> Path:
    """The path in the s3fs mount of ``path`` in WormFS's mount."""
    return s3fs.mountpoint / path.relative_to(mount.mountpoint)


def attrs(path: Path) -> tuple[int, int, int, int]:
    st = os.lstat(path)
    return st.st_mode, st.st_uid, st.st_gid, st.st_mtime_ns


def seen(path: Path, wanted: tuple[int, int, int, int], timeout: float) -> None:
    """Wait until ``path`` shows ``wanted`` (mode, uid, gid, mtime); fail showing both."""
    try:
        wait_until(lambda: attrs(path) == wanted, timeout, message=f"{path} attributes")
    except TimeoutError:
        assert attrs(path) == wanted, path


MTIME_NS = 1_700_000_001_123_456_789  # a time with every sub-second digit set
ATIME_NS = 1_700_000_000_250_000_000
NS = 1_000_000_000


def test_what_the_mount_makes_s3fs_sees(root: Path, mount: Mounted, s3fs: S3fs) -> None:
    small, large = os.urandom(3000), os.urandom(300 * 1024)  # inline, and erasure-coded
    (root / "small").write_bytes(small)
    (root / "large").write_bytes(large)
    os.chmod(root / "small", 0o640)
    os.chown(root / "small", 1234, 5678)
    os.utime(root / "small", ns=(ATIME_NS, MTIME_NS))
    os.chmod(root / "large", 0o751)
    os.chown(root / "large", 0, 4242)
    (root / "empty").mkdir(0o700)
    (root / "full").mkdir()
    (root / "full" / "inner").write_bytes(b"inner")
    os.chown(root / "full", 1001, 1002)
    os.symlink("full/inner", root / "link")
    os.symlink("/an/absolute/target/" + "x" * 200, root / "long-link")
    os.mkfifo(root / "fifo", 0o640)  # its type is in the mode s3fs reads

    other = twin(s3fs, mount, root)
    wait_until(lambda: other.is_dir(), S3FS_SEES_WITHIN, message="the test dir in s3fs")
    names = ["empty", "fifo", "full", "large", "link", "long-link", "small"]
    assert sorted(os.listdir(other)) == names
    for name in names:
        seen(other / name, attrs(root / name), S3FS_SEES_WITHIN)
    assert attrs(other / "small") == (0o100640, 1234, 5678, MTIME_NS)
    assert (other / "small").read_bytes() == small
    assert (other / "large").read_bytes() == large
    assert (other / "empty").is_dir() and os.listdir(other / "empty") == []
    assert os.listdir(other / "full") == ["inner"]
    assert (other / "full" / "inner").read_bytes() == b"inner"
    assert os.readlink(other / "link") == "full/inner"
    assert os.readlink(other / "long-link") == os.readlink(root / "long-link")
    assert (other / "link").read_bytes() == b"inner"  # followed inside the s3fs mount

    # Changes to what s3fs has already seen show once its caches expire.
    os.chmod(root / "small", 0o604)
    os.chown(root / "small", 77, 88)
    os.utime(root / "empty", ns=(ATIME_NS, MTIME_NS + 1))
    os.chmod(root / "empty", 0o755)
    (root / "large").write_bytes(b"rewritten")
    seen(other / "small", (0o100604, 77, 88, MTIME_NS), S3FS_SEES_WITHIN)
    seen(other / "empty", (0o040755, 0, 0, MTIME_NS + 1), S3FS_SEES_WITHIN)
    wait_until(
        lambda: (other / "large").read_bytes() == b"rewritten",
        S3FS_SEES_WITHIN,
        message="the rewrite in s3fs",
    )


def test_what_s3fs_makes_the_mount_sees(root: Path, mount: Mounted, s3fs: S3fs) -> None:
    other = twin(s3fs, mount, root)
    wait_until(lambda: other.is_dir(), S3FS_SEES_WITHIN, message="the test dir in s3fs")
    data = os.urandom(200 * 1024)
    (other / "file").write_bytes(data)
    os.chmod(other / "file", 0o600)
    os.chown(other / "file", 4321, 8765)
    os.utime(other / "file", ns=(ATIME_NS, MTIME_NS))
    (other / "tiny").write_bytes(b"tiny")
    (other / "dir").mkdir()
    (other / "dir" / "empty").mkdir()
    os.chmod(other / "dir" / "empty", 0o700)
    os.chown(other / "dir" / "empty", 1500, 1600)
    (other / "dir" / "in").write_bytes(b"in a dir")
    os.symlink("dir/in", other / "link")
    os.mkfifo(other / "fifo", 0o620)

    # Each name is new to the mount: a lookup miss is not cached, so it shows at once, and
    # its attributes are those s3fs wrote (its headers, read by the coordinator).
    for name in ("file", "tiny", "dir", "dir/empty", "dir/in", "link", "fifo"):
        seen(root / name, attrs(other / name), VISIBLE_WITHIN)
    assert attrs(root / "file") == (0o100600, 4321, 8765, MTIME_NS)
    assert (root / "file").read_bytes() == data
    assert (root / "tiny").read_bytes() == b"tiny"
    assert sorted(os.listdir(root)) == ["dir", "fifo", "file", "link", "tiny"]
    assert stat.S_ISFIFO(os.lstat(root / "fifo").st_mode)
    assert sorted(os.listdir(root / "dir")) == ["empty", "in"]
    assert os.listdir(root / "dir" / "empty") == []
    assert os.readlink(root / "link") == "dir/in"
    assert (root / "link").read_bytes() == b"in a dir"

    # A chmod, chown and utime through s3fs of what the mount has in its caches show within
    # the mount's attribute timeout; so does a rewrite.
    os.chmod(other / "tiny", 0o444)
    os.chown(other / "tiny", 10, 20)
    os.utime(other / "tiny", ns=(ATIME_NS, MTIME_NS + 5))
    seen(root / "tiny", (0o100444, 10, 20, MTIME_NS + 5), VISIBLE_WITHIN)
    (other / "file").write_bytes(b"shorter")
    wait_until(
        lambda: (root / "file").read_bytes() == b"shorter",
        VISIBLE_WITHIN,
        message="the s3fs rewrite in the mount",
    )
    # The rewrite kept the attributes s3fs knew of the file (it sends them with the PUT).
    assert attrs(root / "file")[:3] == (0o100600, 4321, 8765)


def rclone(cluster: Cluster, tmp_path: Path, *args: str) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith(HOST_VARIABLES)}
    env["HOME"] = str(tmp_path)
    return run_client([*rclone_command(cluster, tmp_path), *args], env)


def rfc3339_ns(text: str) -> int:
    """Nanoseconds since the epoch of rclone's "2023-11-14T22:13:21.123456789Z"."""
    whole, _, rest = text.partition(".")
    fraction = rest.rstrip("Z") if rest else ""
    seconds = int(datetime.fromisoformat(whole.rstrip("Z") + "+00:00").timestamp())
    return seconds * 1_000_000_000 + int(fraction.ljust(9, "0")[:9] or "0")


def test_renames_either_way_keep_the_attributes(root: Path, mount: Mounted, s3fs: S3fs) -> None:
    """A rename through the mount (one transaction) and through s3fs (copy and delete, its
    headers copied) keep mode, owner and mtime, for files and whole directories."""
    other = twin(s3fs, mount, root)
    (root / "a").write_bytes(b"renamed twice")
    os.chmod(root / "a", 0o612)
    os.chown(root / "a", 5, 6)
    os.utime(root / "a", ns=(ATIME_NS, MTIME_NS))
    (root / "tree" / "sub").mkdir(parents=True)
    (root / "tree" / "sub" / "leaf").write_bytes(b"leaf")
    os.chmod(root / "tree", 0o700)
    os.utime(root / "tree", ns=(ATIME_NS, MTIME_NS))
    wanted = {"a": attrs(root / "a"), "tree": attrs(root / "tree")}
    wanted["tree/sub/leaf"] = attrs(root / "tree" / "sub" / "leaf")

    wait_until(lambda: (other / "a").exists(), S3FS_SEES_WITHIN, message="a in s3fs")
    os.rename(other / "a", other / "b")
    os.rename(other / "tree", other / "tree2")
    seen(root / "b", wanted["a"], VISIBLE_WITHIN)
    # s3fs remakes a renamed directory's marker with its mtime in whole seconds.
    seen(root / "tree2", (*wanted["tree"][:3], MTIME_NS // NS * NS), VISIBLE_WITHIN)
    seen(root / "tree2" / "sub" / "leaf", wanted["tree/sub/leaf"], VISIBLE_WITHIN)
    gone = [root / "a", root / "tree"]  # the old names, once the kernel asks again
    wait_until(lambda: not any(p.exists() for p in gone), VISIBLE_WITHIN, message="old names")

    os.rename(root / "b", root / "c")
    os.rename(root / "tree2", root / "tree3")
    seen(other / "c", wanted["a"], S3FS_SEES_WITHIN)
    seen(other / "tree3", (*wanted["tree"][:3], MTIME_NS // NS * NS), S3FS_SEES_WITHIN)
    seen(other / "tree3" / "sub" / "leaf", wanted["tree/sub/leaf"], S3FS_SEES_WITHIN)
    assert (other / "c").read_bytes() == b"renamed twice"
    assert sorted(os.listdir(other)) == ["c", "tree3"]


def test_rclone_sees_the_mounts_mtimes(
    root: Path, mount: Mounted, cluster: Cluster, tmp_path: Path
) -> None:
    """rclone reads s3fs's ``mtime`` header, to the nanosecond."""
    if shutil.which("rclone") is None:
        missing("rclone is not installed (make test installs it)")
    (root / "written").write_bytes(os.urandom(100 * 1024))
    (root / "dated").write_bytes(b"dated")
    os.utime(root / "dated", ns=(ATIME_NS, MTIME_NS))
    (root / "sub").mkdir()
    prefix = str(root.relative_to(mount.mountpoint))
    listed = json.loads(rclone(cluster, tmp_path, "lsjson", f"wormfs:{BUCKET}/{prefix}"))
    times = {entry["Path"]: rfc3339_ns(entry["ModTime"]) for entry in listed}
    assert {entry["Path"] for entry in listed if entry["IsDir"]} == {"sub"}
    assert set(times) == {"written", "dated", "sub"}  # (rclone dates a directory "now")
    assert times["dated"] == MTIME_NS
    assert times["written"] == os.stat(root / "written").st_mtime_ns
    lines = rclone(cluster, tmp_path, "lsf", "--format", "tp", f"wormfs:{BUCKET}/{prefix}")
    assert "2023-11-14 22:13:21;dated" in lines.splitlines()

    # And the other way: rclone's upload carries its mtime, which the mount shows.
    local = tmp_path / "local"
    local.write_bytes(b"from rclone")
    os.utime(local, ns=(ATIME_NS, MTIME_NS))
    rclone(cluster, tmp_path, "copyto", str(local), f"wormfs:{BUCKET}/{prefix}/uploaded")
    wait_until(lambda: (root / "uploaded").exists(), VISIBLE_WITHIN, message="rclone upload")
    assert os.stat(root / "uploaded").st_mtime_ns == MTIME_NS
    assert (root / "uploaded").read_bytes() == b"from rclone"
