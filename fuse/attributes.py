"""What the kernel is told about an entry: ``FsEntry`` (and local state) to ``EntryAttributes``.

Layer: fuse. Contract: ``entry_attributes`` fills every field the kernel reads. An entry with
POSIX attributes stored (``attrs``) shows them; one without (an object an S3 client wrote, an
implicit directory) shows the mount's defaults: ``--uid``/``--gid``, mode 0666 (files) or 0777
(directories) less ``--umask``, and all three times from ``last_modified`` (an implicit
directory, which has none, shows the time the mount started). Directories have
nlink 2; ``st_blocks`` counts 512-byte blocks of the size. ``Defaults`` also carries the
entry and attribute timeouts (1 s unless set): how stale the kernel's view of an S3 change
may be.
"""

from __future__ import annotations

import stat
import time
from dataclasses import dataclass, field

import pyfuse3

from wormfs.wire.fs import FsEntry, PosixAttrs

BLOCK_SIZE = 1024 * 1024  # st_blksize: the stripe, the I/O size worth asking for


@dataclass(frozen=True)
class Defaults:
    uid: int
    gid: int
    umask: int = 0o022
    attr_timeout: float = 1.0
    entry_timeout: float = 1.0
    # The time shown for what has none (implicit directories): when the mount started.
    started_ns: int = field(default_factory=time.time_ns)

    def mode(self, kind: str) -> int:
        if kind == "dir":
            return stat.S_IFDIR | (0o777 & ~self.umask)
        return stat.S_IFREG | (0o666 & ~self.umask)


def now_ns() -> int:
    return time.time_ns()


def posix_of(entry: FsEntry, defaults: Defaults) -> PosixAttrs:
    """The entry's POSIX attributes, the mount's defaults where none are stored."""
    if entry.attrs is not None:
        return entry.attrs
    ns = int(entry.last_modified * 1e9) or defaults.started_ns
    return PosixAttrs(
        mode=defaults.mode(entry.kind),
        uid=defaults.uid,
        gid=defaults.gid,
        atime_ns=ns,
        mtime_ns=ns,
        ctime_ns=ns,
    )


def entry_attributes(
    ino: int,
    posix: PosixAttrs,
    size: int,
    nlink: int,
    defaults: Defaults,
) -> pyfuse3.EntryAttributes:
    attr = pyfuse3.EntryAttributes()
    attr.st_ino = ino
    attr.generation = 0
    attr.entry_timeout = defaults.entry_timeout
    attr.attr_timeout = defaults.attr_timeout
    attr.st_mode = posix.mode
    attr.st_nlink = nlink
    attr.st_uid = posix.uid
    attr.st_gid = posix.gid
    attr.st_rdev = posix.rdev
    attr.st_size = size
    attr.st_blksize = BLOCK_SIZE
    attr.st_blocks = (size + 511) // 512
    attr.st_atime_ns = posix.atime_ns
    attr.st_mtime_ns = posix.mtime_ns
    attr.st_ctime_ns = posix.ctime_ns
    return attr


def of_entry(ino: int, entry: FsEntry, defaults: Defaults) -> pyfuse3.EntryAttributes:
    nlink = 2 if entry.kind == "dir" else max(entry.nlink, 1)
    return entry_attributes(ino, posix_of(entry, defaults), entry.size, nlink, defaults)
