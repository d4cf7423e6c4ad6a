"""``wormfs mount``: the mount process, from its options to a clean unmount.

Layer: fuse (the component's entry, called by ``wormfs.cli``). Contract: ``run_mount(options)``
finds the cluster (``wormfs.runtime.locate``: the data dir of ``wormfs server``, or
``--coordinator-url`` with ``WORMFS_CLUSTER_SECRET``), resolves the user it acts for
(``--user``: an access key or a user id; default the root user), and refuses with a clear
message and exit status 1 when the coordinator cannot be reached, the bucket does not exist or
belongs to someone else, or the prefix is missing or names a file. Then it mounts (pyfuse3 in
asyncio mode on one uvloop loop, with ``default_permissions``, ``fsname=wormfs:BUCKET``,
``subtype=wormfs``), writes the ready file if asked, and serves in the foreground until
unmounted (``fusermount3 -u``, ``umount``), or SIGINT/SIGTERM, which commit every dirty open
file durably, then unmount. Without pyfuse3 installed it says so and exits 2.
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
import signal
import sys
import time
from typing import TYPE_CHECKING

import aiohttp

from wormfs import config as cfg
from wormfs.clients.coordinator import CoordinatorClient
from wormfs.clients.fs import FsClient
from wormfs.clients.storage import StorageClient
from wormfs.errors import AccessDeniedError, NoSuchAccessKeyError, NoSuchEntryError, WormError
from wormfs.fuse.options import MountOptions
from wormfs.internal.keyring import Keyring
from wormfs.runtime.bootstrap import (
    blocking_guard_from_environment,
    setup_logging,
    write_ready_file,
)
from wormfs.runtime.locate import locate, root_access_key

if TYPE_CHECKING:
    from wormfs.fuse.files import Files
    from wormfs.fuse.operations import Operations

log = logging.getLogger(__name__)

# The kernel's read-ahead for the mount (the FUSE connection's bdi), in KiB: enough to keep a
# few 128 KiB reads in flight, so a sequential reader's next requests arrive while the mount
# answers the current one. The kernel's default for FUSE is 128.
READ_AHEAD_KB = 1024
_OCTAL = re.compile(r"\\([0-7]{3})")


def _device_of(mountpoint: str, mountinfo: str) -> str | None:
    """``MAJOR:MINOR`` of the mount at ``mountpoint`` (the last one there), from the text of
    /proc/self/mountinfo; asking the mount itself (stat) would wait on this very process."""
    device = None
    for line in mountinfo.splitlines():
        fields = line.split()
        if len(fields) < 5:
            continue
        # The kernel escapes space, tab, newline and backslash as \ooo (octal).
        if _OCTAL.sub(lambda m: chr(int(m.group(1), 8)), fields[4]) == mountpoint:
            device = fields[2]
    return device


def raise_read_ahead(mountpoint: str, kib: int = READ_AHEAD_KB, settle: float = 0.2) -> bool:
    """Set the mount's bdi ``read_ahead_kb`` (root only; False when it could not be set).

    Blocking (a thread's work). Called once the mount answered the kernel's INIT, which lowers
    the value to what was negotiated: it waits ``settle`` seconds, writes, and writes again if
    the value was lowered meanwhile (the INIT answered later than expected)."""
    try:
        with open("/proc/self/mountinfo") as fh:
            device = _device_of(mountpoint, fh.read())
        if device is None:
            return False
        path = f"/sys/class/bdi/{device}/read_ahead_kb"
        for _ in range(3):
            time.sleep(settle)
            with open(path, "w") as fh:
                fh.write(f"{kib}\n")
            time.sleep(settle)
            with open(path) as fh:
                if int(fh.read()) >= kib:
                    return True
    except (OSError, ValueError) as exc:
        log.debug("could not raise the read-ahead of %s: %r", mountpoint, exc)
    return False


class MountRefused(Exception):
    """The mount cannot start; the message says why."""


async def resolve_owner(coordinator: CoordinatorClient, options: MountOptions) -> str:
    """The user id the mount acts for."""
    wanted = options.user or root_access_key(options.data_dir)
    if not wanted:
        raise MountRefused("give --user (an access key or user id): no root user is known here")
    try:
        return (await coordinator.get_access_key(wanted)).user_id
    except NoSuchAccessKeyError:
        users = (await coordinator.list_users()).users
        if any(user.user_id == wanted for user in users):
            return wanted
        raise MountRefused(f"no user or access key {wanted!r}") from None


async def check_target(fs: FsClient, coordinator: CoordinatorClient, options: MountOptions) -> None:
    bucket = await coordinator.get_bucket(options.bucket)
    if bucket.owner_id != fs.owner_id:
        raise MountRefused(f"bucket {options.bucket} belongs to another user")
    if options.prefix:
        try:
            entry = await fs.entry(options.prefix)
        except NoSuchEntryError:
            raise MountRefused(
                f"{options.bucket}:{options.prefix} does not exist: make the directory first "
                f"(mkdir in a mount of {options.bucket}, or an S3 PUT of {options.prefix}/)"
            ) from None
        if entry.kind != "dir":
            raise MountRefused(f"{options.bucket}:{options.prefix} is a file, not a directory")
    else:
        await fs.entry("")  # the coordinator serves the file namespace


async def _serve(options: MountOptions, url: str, secret: bytes) -> int:
    # Imported here: pyfuse3 is an optional dependency (``run_mount`` checked it is there).
    from wormfs.fuse.attributes import Defaults
    from wormfs.fuse.content import ClusterContent
    from wormfs.fuse.files import Files
    from wormfs.fuse.inodes import InodeTable
    from wormfs.fuse.operations import Operations

    connector = aiohttp.TCPConnector(limit=0, limit_per_host=0, keepalive_timeout=30)
    async with aiohttp.ClientSession(connector=connector, auto_decompress=False) as session:
        coordinator = CoordinatorClient(
            session, url, secret, zookeeper_hosts=options.zookeeper_hosts
        )
        watching: asyncio.Task[None] | None = None
        try:
            try:
                owner = await resolve_owner(coordinator, options)
                fs = FsClient(coordinator, options.bucket, owner)
                await check_target(fs, coordinator, options)
            except AccessDeniedError:
                raise MountRefused(f"bucket {options.bucket} belongs to another user") from None
            except WormError as exc:
                raise MountRefused(f"{exc.code}: {exc.message}") from None
            storage = StorageClient(session, secret)
            keyring = await asyncio.to_thread(Keyring.load, options.data_dir)
            if keyring is not None:  # a rotation's new key is taken up within a second
                watching = asyncio.create_task(keyring.watch())
            content = ClusterContent(
                coordinator, storage, options.bucket, owner, options.inline_max, keyring
            )
            table = InodeTable()
            defaults = Defaults(
                uid=options.uid,
                gid=options.gid,
                umask=options.umask,
                attr_timeout=options.attr_timeout,
                entry_timeout=options.entry_timeout,
            )
            holder: list[Operations] = []
            files = Files(
                content,
                options.cache_dir,
                options.bucket,
                lambda ino: holder[0].key_of(ino),
            )
            ops = Operations(fs, files, table, defaults, options.prefix, options.read_only)
            holder.append(ops)
            return await _run_mounted(ops, files, options)
        finally:
            if watching is not None:
                watching.cancel()
            await coordinator.close()


async def _run_mounted(ops: Operations, files: Files, options: MountOptions) -> int:
    import pyfuse3 as fuse
    import pyfuse3.asyncio as fuse_asyncio

    fuse_asyncio.enable()
    try:
        # Mounting is blocking work (the mount syscall, or fusermount3): off the loop.
        await asyncio.to_thread(fuse.init, ops, str(options.mountpoint), options.fuse_option_set())
    except RuntimeError as exc:
        raise MountRefused(f"could not mount on {options.mountpoint}: {exc}") from None
    log.info(
        "mounted %s%s on %s",
        options.bucket,
        f":{options.prefix}" if options.prefix else "",
        options.mountpoint,
    )
    loop = asyncio.get_running_loop()
    stopping: list[asyncio.Task[None]] = []

    async def stop() -> None:
        log.info("stopping: committing open files, then unmounting")
        await files.commit_all()
        fuse.terminate()

    def on_signal() -> None:
        if not stopping:
            stopping.append(loop.create_task(stop()))

    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, on_signal)
    background: set[asyncio.Future[None]] = set()

    async def read_ahead() -> None:
        if await asyncio.to_thread(raise_read_ahead, str(options.mountpoint)):
            log.debug("read-ahead of %s set to %d KiB", options.mountpoint, READ_AHEAD_KB)

    def initialized() -> None:
        task = loop.create_task(read_ahead())
        background.add(task)
        task.add_done_callback(background.discard)

    ops.on_init = initialized
    if options.ready_file is not None:
        info: dict[str, object] = {"address": str(options.mountpoint), "pid": os.getpid()}
        await asyncio.to_thread(write_ready_file, options.ready_file, info)
    unmount = True
    try:
        await fuse.main(min_tasks=1, max_tasks=99)
        unmount = bool(stopping)  # unmounted from outside: nothing left to unmount
        await files.commit_all()
    finally:
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(sig)
        await files.close()
        await asyncio.to_thread(fuse.close, unmount)
        log.info("unmounted %s", options.mountpoint)
    return 0


def run_mount(options: MountOptions) -> int:
    """The mount process (see the module doc); returns the exit status."""
    try:
        import pyfuse3
        import pyfuse3.asyncio  # noqa: F401
    except ImportError as exc:
        print(
            f"wormfs mount: pyfuse3 is not installed ({exc}); install the fuse extra "
            "(pip install 'wormfs[fuse]', which needs libfuse3-dev and pkg-config)",
            file=sys.stderr,
        )
        return 2
    import uvloop

    setup_logging("mount", options.log_level, options.log_format)
    url, secret = locate(options.data_dir, options.coordinator_url)
    guard = blocking_guard_from_environment(os.environ)
    try:
        with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
            return runner.run(_serve(options, url, secret))
    except MountRefused as exc:
        print(f"wormfs mount: {exc}", file=sys.stderr)
        return 1
    except cfg.ConfigError:
        raise
    finally:
        if guard is not None:
            guard.deactivate()
