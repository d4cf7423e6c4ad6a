"""POSIX namespace operations through a real mount: results and errnos per family."""

from __future__ import annotations

import ctypes
import errno
import fcntl
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.fuse

RENAME_NOREPLACE = 1
RENAME_EXCHANGE = 2
_libc = ctypes.CDLL(None, use_errno=True)


def renameat2(source: Path, target: Path, flags: int) -> None:
    at_fdcwd = -100
    result = _libc.renameat2(at_fdcwd, bytes(source), at_fdcwd, bytes(target), flags)
    if result != 0:
        code = ctypes.get_errno()
        raise OSError(code, os.strerror(code))


def raises(code: int, call: object, *args: object) -> None:
    with pytest.raises(OSError) as info:
        call(*args)  # type: ignore[operator]
    assert info.value.errno == code, (errno.errorcode.get(info.value.errno or 0), info.value)


def test_mkdir_rmdir(root: Path) -> None:
    d = root / "d"
    d.mkdir(mode=0o750)
    st = d.stat()
    assert stat.S_ISDIR(st.st_mode) and stat.S_IMODE(st.st_mode) == 0o750 and st.st_nlink == 2
    raises(errno.EEXIST, os.mkdir, d)
    (d / "f").write_bytes(b"x")
    raises(errno.ENOTEMPTY, os.rmdir, d)
    raises(errno.ENOTDIR, os.mkdir, d / "f" / "sub")
    raises(errno.ENOTDIR, os.rmdir, d / "f")
    raises(errno.ENOENT, os.mkdir, root / "missing" / "sub")
    os.unlink(d / "f")
    os.rmdir(d)
    raises(errno.ENOENT, os.rmdir, d)
    assert list(root.iterdir()) == []
    raises(errno.ENAMETOOLONG, os.mkdir, root / ("n" * 256))


def test_unlink(root: Path) -> None:
    f = root / "f"
    f.write_bytes(b"data")
    (root / "d").mkdir()
    raises(errno.EISDIR, os.unlink, root / "d")
    os.unlink(f)
    assert not f.exists()
    raises(errno.ENOENT, os.unlink, f)


def test_rename_files_dirs_and_flags(root: Path) -> None:
    (root / "a").write_bytes(b"A")
    os.rename(root / "a", root / "b")
    assert (root / "b").read_bytes() == b"A" and not (root / "a").exists()
    (root / "c").write_bytes(b"C")
    os.rename(root / "b", root / "c")  # over an existing file
    assert (root / "c").read_bytes() == b"A" and not (root / "b").exists()
    tree = root / "tree"
    (tree / "sub").mkdir(parents=True)
    (tree / "sub" / "leaf").write_bytes(b"leaf")
    os.rename(tree, root / "moved")
    assert (root / "moved" / "sub" / "leaf").read_bytes() == b"leaf" and not tree.exists()
    raises(errno.EINVAL, os.rename, root / "moved", root / "moved" / "sub" / "inside")
    (root / "x").write_bytes(b"X")
    raises(errno.EEXIST, renameat2, root / "x", root / "c", RENAME_NOREPLACE)
    renameat2(root / "x", root / "c", RENAME_EXCHANGE)
    assert (root / "x").read_bytes() == b"A" and (root / "c").read_bytes() == b"X"
    raises(errno.ENOENT, os.rename, root / "nothing", root / "y")


def test_symlink_readlink(root: Path) -> None:
    (root / "target").write_bytes(b"pointed at")
    os.symlink("target", root / "link")
    assert os.readlink(root / "link") == "target"
    assert stat.S_ISLNK(os.lstat(root / "link").st_mode)
    assert (root / "link").read_bytes() == b"pointed at"
    raises(errno.EEXIST, os.symlink, "other", root / "link")
    raises(errno.EPERM, os.link, root / "target", root / "hard")  # hard links: not yet


def test_chmod_chown_utime(root: Path) -> None:
    f = root / "f"
    f.write_bytes(b"x")
    os.chmod(f, 0o604)
    assert stat.S_IMODE(f.stat().st_mode) == 0o604
    os.chown(f, 1234, 5678)
    assert (f.stat().st_uid, f.stat().st_gid) == (1234, 5678)
    os.utime(f, ns=(1_000_000_123, 2_000_000_456))
    st = f.stat()
    assert (st.st_atime_ns, st.st_mtime_ns) == (1_000_000_123, 2_000_000_456)
    before = f.stat().st_atime_ns
    os.utime(f)  # UTIME_NOW for both
    assert f.stat().st_mtime_ns > 2_000_000_456 and f.stat().st_atime_ns > before
    fd = os.open(f, os.O_RDONLY)
    try:
        # UTIME_OMIT for atime, an explicit mtime.
        libc = ctypes.CDLL(None, use_errno=True)

        class Timespec(ctypes.Structure):
            _fields_ = [("tv_sec", ctypes.c_long), ("tv_nsec", ctypes.c_long)]

        utime_omit = (1 << 30) - 2
        atime = f.stat().st_atime_ns
        times = (Timespec * 2)(Timespec(0, utime_omit), Timespec(42, 7))
        assert libc.futimens(fd, times) == 0, ctypes.get_errno()
    finally:
        os.close(fd)
    st = f.stat()
    assert st.st_mtime_ns == 42_000_000_007 and st.st_atime_ns == atime
    assert stat.S_IMODE(st.st_mode) == 0o604  # unchanged by the times


def test_xattrs(root: Path) -> None:
    f = root / "f"
    f.write_bytes(b"x")
    os.setxattr(f, "user.color", b"blue")
    assert os.getxattr(f, "user.color") == b"blue"
    assert os.listxattr(f) == ["user.color"]
    raises(errno.EEXIST, os.setxattr, f, "user.color", b"red", os.XATTR_CREATE)
    raises(errno.ENODATA, os.setxattr, f, "user.size", b"1", os.XATTR_REPLACE)
    raises(errno.ENODATA, os.getxattr, f, "user.none")
    raises(errno.ENOTSUP, os.setxattr, f, "trusted.x", b"1")
    os.removexattr(f, "user.color")
    assert os.listxattr(f) == []
    raises(errno.ENODATA, os.removexattr, f, "user.color")


def test_statfs(root: Path) -> None:
    st = os.statvfs(root)
    assert st.f_blocks > 0 and 0 < st.f_bavail <= st.f_blocks and st.f_namemax == 255


def test_listing_sizes_and_types(root: Path) -> None:
    (root / "dir").mkdir()
    (root / "small").write_bytes(b"12345")
    os.symlink("small", root / "sym")
    names = sorted(os.listdir(root))
    assert names == ["dir", "small", "sym"]
    kinds = {
        e.name: (e.is_dir(), e.is_symlink(), e.stat(follow_symlinks=False).st_size)
        for e in os.scandir(root)
    }
    assert kinds == {"dir": (True, False, 0), "small": (False, False, 5), "sym": (False, True, 5)}


def test_locks_exclude_processes_on_one_mount(root: Path) -> None:
    # Kernel-local (pyfuse3 has no lock handlers): held between processes of this mount.
    f = root / "locked"
    f.write_bytes(b"x")
    with f.open("rb") as first, f.open("rb") as second:
        fcntl.flock(first, fcntl.LOCK_EX)
        raises(errno.EWOULDBLOCK, fcntl.flock, second, fcntl.LOCK_EX | fcntl.LOCK_NB)
        fcntl.flock(first, fcntl.LOCK_UN)
        fcntl.flock(second, fcntl.LOCK_EX | fcntl.LOCK_NB)
    with f.open("r+b") as held:
        fcntl.lockf(held, fcntl.LOCK_EX)
        probe = (
            "import fcntl, sys\n"
            "f = open(sys.argv[1], 'r+b')\n"
            "try:\n"
            "    fcntl.lockf(f, fcntl.LOCK_EX | fcntl.LOCK_NB)\n"
            "except OSError as e:\n"
            "    sys.exit(e.errno)\n"
        )
        other = subprocess.run([sys.executable, "-c", probe, str(f)], timeout=30, check=False)
        assert other.returncode in (errno.EAGAIN, errno.EACCES)
