"""``wormfs mount``'s command line, and the options it makes (nothing of pyfuse3 is imported,
so ``wormfs --help`` and ``make run`` work on machines without FUSE).

Layer: fuse (parsed by ``wormfs.cli``). Contract: ``add_mount_arguments`` declares the flags;
``MountOptions.from_args`` checks them (``ConfigError`` lists every problem) and fills the
defaults: the caller's uid/gid, umask 022, 1 s entry and attribute timeouts, the cache dir
under ``$XDG_CACHE_HOME/wormfs`` (or ``~/.cache/wormfs``), inline objects up to 64 KiB (the
gateway's ``inline_max`` default).
"""

from __future__ import annotations

import argparse
import os
from dataclasses import dataclass
from pathlib import Path

from wormfs import config as cfg
from wormfs.runtime.logs import LogFormat
from wormfs.runtime.startup import add_log_format_argument
from wormfs.wire.coordinator import INLINE_LIMIT

DEFAULT_INLINE_MAX = 64 * 1024


def add_mount_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("target", metavar="BUCKET[:PREFIX]", help="the bucket (and key prefix)")
    parser.add_argument("mountpoint", metavar="MOUNTPOINT", help="an existing empty directory")
    parser.add_argument(
        "--data-dir", help="data dir of `wormfs server` (default WORMFS_DATA_DIR or ./data)"
    )
    parser.add_argument(
        "--coordinator-url", help="base URL(s) of the coordinator (secret: WORMFS_CLUSTER_SECRET)"
    )
    parser.add_argument("--zookeeper-hosts", default="", help="find the leader through ZooKeeper")
    parser.add_argument(
        "--user",
        help="access key or user id the mount acts for (default: the root user)",
    )
    parser.add_argument("--read-only", action="store_true", help="refuse every change (EROFS)")
    parser.add_argument("--allow-other", action="store_true", help="let other users in")
    parser.add_argument("--uid", type=int, help="owner of entries without POSIX attributes")
    parser.add_argument("--gid", type=int, help="group of entries without POSIX attributes")
    parser.add_argument("--umask", default="022", help="octal; for entries without attributes")
    parser.add_argument("--cache-dir", help="write-back spools and conflict copies")
    parser.add_argument("--attr-timeout", type=float, default=1.0, help="seconds (default 1)")
    parser.add_argument("--entry-timeout", type=float, default=1.0, help="seconds (default 1)")
    parser.add_argument(
        "--inline-max",
        type=int,
        default=DEFAULT_INLINE_MAX,
        help=f"files up to this size are stored inline (0..{INLINE_LIMIT}, default 64 KiB)",
    )
    parser.add_argument(
        "-o", dest="fuse_options", action="append", default=[], help="FUSE option(s), a,b=c"
    )
    parser.add_argument("--ready-file", type=Path, help="write {address, pid} once mounted")
    parser.add_argument("--log-level", default="INFO")
    add_log_format_argument(parser)


@dataclass(frozen=True)
class MountOptions:
    bucket: str
    prefix: str
    mountpoint: Path
    data_dir: Path
    coordinator_url: str | None
    zookeeper_hosts: str
    user: str | None
    read_only: bool
    allow_other: bool
    uid: int
    gid: int
    umask: int
    cache_dir: Path
    attr_timeout: float
    entry_timeout: float
    inline_max: int
    fuse_options: tuple[str, ...]
    ready_file: Path | None
    log_level: str
    log_format: LogFormat = "text"

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> MountOptions:
        problems: list[str] = []
        bucket, _, prefix = str(args.target).partition(":")
        if not bucket:
            problems.append("give the bucket as BUCKET or BUCKET:PREFIX")
        mountpoint = Path(args.mountpoint).resolve()
        if not mountpoint.is_dir():
            problems.append(f"mount point {mountpoint} is not a directory")
        try:
            umask = int(str(args.umask), 8)
        except ValueError:
            problems.append(f"--umask {args.umask!r} is not an octal number")
            umask = 0o022
        if not 0 <= args.inline_max <= INLINE_LIMIT:
            problems.append(f"--inline-max must be within 0..{INLINE_LIMIT}")
        for name in ("attr_timeout", "entry_timeout"):
            if getattr(args, name) < 0:
                problems.append(f"--{name.replace('_', '-')} must not be negative")
        if problems:
            raise cfg.ConfigError(problems)
        cache = args.cache_dir or os.path.join(
            os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "wormfs"
        )
        data_dir = Path(args.data_dir or os.environ.get("WORMFS_DATA_DIR") or "./data")
        fuse_options = tuple(o for group in args.fuse_options for o in group.split(",") if o)
        return cls(
            bucket=bucket,
            prefix=prefix.strip("/"),
            mountpoint=mountpoint,
            data_dir=data_dir,
            coordinator_url=args.coordinator_url,
            zookeeper_hosts=args.zookeeper_hosts,
            user=args.user,
            read_only=args.read_only,
            allow_other=args.allow_other,
            uid=os.getuid() if args.uid is None else args.uid,
            gid=os.getgid() if args.gid is None else args.gid,
            umask=umask,
            cache_dir=Path(cache),
            attr_timeout=args.attr_timeout,
            entry_timeout=args.entry_timeout,
            inline_max=args.inline_max,
            fuse_options=fuse_options,
            ready_file=args.ready_file,
            log_level=args.log_level,
            log_format=args.log_format,
        )

    def fuse_option_set(self) -> set[str]:
        options = {"default_permissions", f"fsname=wormfs:{self.bucket}", "subtype=wormfs"}
        if self.allow_other:
            options.add("allow_other")
        if self.read_only:
            options.add("ro")
        options.update(self.fuse_options)
        return options
