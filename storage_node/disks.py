"""Storage node, disk tier: one data directory ("disk"), its identity, health and free space.

Contract:

* A disk is a directory holding a marker file ``.wormfs-disk`` (JSON ``DiskMarker``: disk id,
  node id, disk format version, creation time), ``chunks/`` and ``tmp/``. The marker is
  written once, when an empty (or absent) directory is first used; the disk id is generated
  then and never changes.
* A directory is never silently re-initialised: a marker naming another node, an unreadable
  marker, or a missing marker on a directory this node used before (recorded in the node's
  ``disks.json``) or that already holds ``chunks/`` leaves the disk **offline**, with the reason
  recorded. An unmounted disk (an empty mount point) therefore stays offline instead of
  quietly filling the root file system.
* An exclusive ``flock`` on ``.wormfs-disk.lock`` keeps two processes from serving one disk.
* ``adopt`` (``adopt_disks`` in the node's config; ``wormfs server`` sets it, since it splits
  its data directories among its nodes and the split changes with ``--nodes``): a disk whose
  marker names another node is taken over once its lock is held: the marker is rewritten with
  this node's id (the disk id and the chunks stay), and the coordinator, which places chunks
  on disk ids, moves the disk to this node when it is reported. A node that adopts never
  infers its own id from the disks' markers (they may name a sibling), so without a node id
  file it is a new node.
* Any ``OSError`` during I/O takes the disk offline (``fail``), after which every operation on
  it raises ``DiskOfflineError``; the node keeps serving its other disks. ``probe`` brings an
  offline disk back once its marker reads fine and a small write + fsync succeeds.
* Free space is ``statvfs`` available bytes minus ``reserved_bytes`` minus bytes reserved by
  writes in flight; ``reserve`` refuses a write that does not fit with ``DiskFullError``.
* Each disk has its own thread pool, so a hung disk ties up only its own threads.

Node identity lives next to the disks: ``<state dir>/node_id`` (generated once) and
``<state dir>/disks.json`` (path -> disk id of every disk this node initialised).

Everything here blocks (file system calls): callers on an event loop run it in an executor.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import logging
import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import msgspec

from wormfs.errors import DiskFullError, DiskOfflineError, NoSuchDiskError
from wormfs.ids import is_id, new_id
from wormfs.wire.storage import DiskInfo, DiskState

log = logging.getLogger(__name__)

MARKER_NAME = ".wormfs-disk"
LOCK_NAME = ".wormfs-disk.lock"
DISK_FORMAT_VERSION = 1
CHUNKS_DIR = "chunks"
TMP_DIR = "tmp"
CHUNK_SUFFIX = ".chunk"
NODE_ID_FILE = "node_id"
KNOWN_DISKS_FILE = "disks.json"
PROBE_FILE = ".probe"
DEFAULT_THREADS_PER_DISK = 8
NOT_OPENED = "not opened yet"


class DiskMarker(msgspec.Struct, frozen=True):
    """Contents of ``.wormfs-disk`` (JSON)."""

    disk_id: str
    node_id: str
    format_version: int
    created: float


class DiskUnusable(Exception):
    """Why a directory cannot be served right now (recorded as the offline reason)."""


# ---- small durable file helpers -------------------------------------------------------------
def fsync_dir(path: Path | str) -> None:
    """Make the directory's entries (creations, renames, unlinks) durable."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_durable(path: Path, data: bytes) -> None:
    """Replace ``path`` with ``data`` atomically and durably (temp, fsync, rename, dir fsync)."""
    tmp = path.with_name(f"{path.name}.{new_id()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    try:
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)
    fsync_dir(path.parent)


def count_chunks(chunks_dir: Path) -> tuple[int, int]:
    """(number, total bytes) of the chunk files under ``chunks_dir``."""
    count = size = 0
    if not chunks_dir.is_dir():
        return 0, 0
    with os.scandir(chunks_dir) as subdirs:
        for sub in subdirs:
            if not sub.is_dir(follow_symlinks=False):
                continue
            with os.scandir(sub.path) as entries:
                for entry in entries:
                    if entry.name.endswith(CHUNK_SUFFIX):
                        try:
                            size += entry.stat(follow_symlinks=False).st_size
                        except FileNotFoundError:
                            continue  # deleted while we looked
                        count += 1
    return count, size


# ---- node identity ----------------------------------------------------------------------------
class NodeState:
    """The node id and the registry of disks this node initialised, in ``state_dir``.

    ``suspect`` is set when the state dir is one of the disks and its state is gone while the
    other disks name this node: that disk was most likely not mounted, so it is kept offline
    (and nothing is written into it) rather than initialised afresh. To put a replacement disk
    there into service, write the node id into ``<disk>/node_id``.
    """

    def __init__(
        self,
        state_dir: Path,
        node_id: str,
        known: dict[str, str],
        *,
        writable: bool = True,
        suspect: Path | None = None,
    ) -> None:
        self.state_dir = state_dir
        self.node_id = node_id
        self.known = known  # absolute disk path -> disk id
        self.writable = writable
        self.suspect = suspect

    @classmethod
    def load(cls, state_dir: Path, disk_paths: list[Path], adopt: bool = False) -> NodeState:
        """Read (or create once) the node id; a lost id file is rebuilt from the disks' markers
        (unless the node ``adopt``s disks: then their markers say nothing of its identity)."""
        id_file = state_dir / NODE_ID_FILE
        known: dict[str, str] = {}
        try:
            known = msgspec.json.decode(
                (state_dir / KNOWN_DISKS_FILE).read_bytes(), type=dict[str, str]
            )
        except (OSError, msgspec.DecodeError, msgspec.ValidationError):
            pass  # no registry yet (or unreadable): markers still protect the other disks
        try:
            node_id = id_file.read_text().strip()
        except OSError:
            node_id = ""
        if node_id:
            if not is_id(node_id):
                raise DiskUnusable(f"{id_file} does not hold a node id")
            return cls(state_dir, node_id, known)
        # No id: if the disks agree on an owner, this is that node (its state was lost or is
        # not mounted); otherwise it is a new node.
        owners = {m.node_id for m in (_read_marker_quietly(p) for p in disk_paths) if m}
        if len(owners) == 1 and not adopt:
            node_id = owners.pop()
            if state_dir in disk_paths and _read_marker_quietly(state_dir) is None:
                return cls(state_dir, node_id, known, writable=False, suspect=state_dir)
        else:
            node_id = new_id()
        state_dir.mkdir(parents=True, exist_ok=True)
        write_durable(id_file, node_id.encode() + b"\n")
        return cls(state_dir, node_id, known)

    def remember(self, path: Path, disk_id: str) -> None:
        if self.known.get(str(path)) == disk_id or not self.writable:
            return
        self.known[str(path)] = disk_id
        write_durable(self.state_dir / KNOWN_DISKS_FILE, msgspec.json.encode(self.known))


def _read_marker_quietly(path: Path) -> DiskMarker | None:
    try:
        return msgspec.json.decode((path / MARKER_NAME).read_bytes(), type=DiskMarker)
    except (OSError, msgspec.DecodeError, msgspec.ValidationError):
        return None


def read_marker(path: Path) -> DiskMarker:
    """The marker of the disk at ``path``; ``FileNotFoundError`` when there is none."""
    data = (path / MARKER_NAME).read_bytes()
    try:
        marker = msgspec.json.decode(data, type=DiskMarker)
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise DiskUnusable(f"marker {MARKER_NAME} is unreadable: {exc}") from None
    if marker.format_version != DISK_FORMAT_VERSION:
        raise DiskUnusable(f"disk format version {marker.format_version} is not supported")
    if not is_id(marker.disk_id):
        raise DiskUnusable(f"marker {MARKER_NAME} holds a bad disk id")
    return marker


# ---- one disk ---------------------------------------------------------------------------------
class Disk:
    """One data directory. Thread-safe: state and accounting are guarded by one lock."""

    def __init__(
        self,
        path: Path,
        node_id: str,
        disk_id: str,
        reserved_bytes: int,
        threads: int = DEFAULT_THREADS_PER_DISK,
    ) -> None:
        self.path = path
        self.node_id = node_id
        self.disk_id = disk_id
        self.reserved_bytes = reserved_bytes
        self.chunks_dir = path / CHUNKS_DIR
        self.tmp_dir = path / TMP_DIR
        self.executor = ThreadPoolExecutor(
            max_workers=threads, thread_name_prefix=f"disk-{disk_id[:8]}"
        )
        self._lock = threading.Lock()
        self._error: str | None = NOT_OPENED
        self._pending = 0  # bytes reserved by writes in flight
        self._chunk_count = 0
        self._chunk_bytes = 0
        # Since the process started, for /metrics: failed I/O calls, and blocks or chunk
        # files that failed their checksum or format checks.
        self.io_errors = 0
        self.checksum_errors = 0
        self._lock_fd: int | None = None
        # Chunk subdirectories whose own entry in chunks/ is known to be durable.
        self.durable_subdirs: set[str] = set()
        # Serialises check-then-rename where the file system has no hard links.
        self.namespace_lock = threading.Lock()

    # ---- state -------------------------------------------------------------------------------
    @property
    def online(self) -> bool:
        return self._error is None

    @property
    def error(self) -> str:
        return self._error or ""

    def check_online(self) -> None:
        error = self._error
        if error is not None:
            raise DiskOfflineError(f"disk {self.disk_id} is offline: {error}")

    def count_checksum_error(self) -> None:
        with self._lock:
            self.checksum_errors += 1

    def fail(self, exc: BaseException | str, action: str = "") -> DiskOfflineError:
        """Take the disk offline because of ``exc``; return the domain error to raise."""
        reason = f"{action}: {exc}" if action else str(exc)
        with self._lock:
            if isinstance(exc, OSError):
                self.io_errors += 1
            # Keep the first reason: later failures are usually consequences of it.
            first = self._error is None or self._error == NOT_OPENED
            if first:
                self._error = reason
        if first:
            log.error("disk %s (%s) is now offline: %s", self.disk_id, self.path, reason)
        return DiskOfflineError(f"disk {self.disk_id} is offline: {self._error}")

    # ---- opening and probing (blocking) ------------------------------------------------------
    def open(self, clean_tmp: bool = True) -> None:
        """Lock the disk, make its directories, clear leftover temp files, count its chunks.

        Called with a verified marker. A temp file is a write that never finished (a crash, or
        an abort that could not clean up): nothing ever points at it, so it is removed — but
        only at start-up (``clean_tmp``): when a probe brings a disk back, writes begun before
        it went offline may still hold temp files, and they clean up after themselves.
        """
        try:
            self._take_lock()
            self.chunks_dir.mkdir(exist_ok=True)
            self.tmp_dir.mkdir(exist_ok=True)
            if clean_tmp:
                for entry in os.scandir(self.tmp_dir):
                    with contextlib.suppress(FileNotFoundError):
                        os.unlink(entry.path)
            # Subdirectories present now may exist only in the page cache if the previous
            # process died before fsyncing chunks/; one fsync here makes them all durable.
            fsync_dir(self.chunks_dir)
            self.durable_subdirs = {e.name for e in os.scandir(self.chunks_dir) if e.is_dir()}
            count, size = count_chunks(self.chunks_dir)
        except (OSError, DiskUnusable) as exc:
            self.fail(exc, "open")
            return
        with self._lock:
            self._chunk_count, self._chunk_bytes = count, size
            self._error = None

    def _take_lock(self) -> None:
        if self._lock_fd is not None:
            return
        fd = os.open(self.path / LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise DiskUnusable("disk is in use by another process") from None
        except OSError:
            os.close(fd)
            raise
        self._lock_fd = fd

    def adopt(self, marker: DiskMarker) -> None:
        """Take over a disk that ``marker`` says belongs to another node: lock it first (so a
        node still serving it keeps it), then rewrite the marker with this node's id."""
        self._take_lock()
        adopted = msgspec.structs.replace(marker, node_id=self.node_id)
        write_durable(self.path / MARKER_NAME, msgspec.json.encode(adopted))
        log.warning(
            "disk %s (%s) moved from node %s to this node %s",
            self.disk_id,
            self.path,
            marker.node_id,
            self.node_id,
        )

    def check_marker(self) -> None:
        """Raise unless the marker names this disk and this node."""
        marker = read_marker(self.path)
        if marker.node_id != self.node_id:
            raise DiskUnusable(f"disk belongs to node {marker.node_id}")
        if marker.disk_id != self.disk_id:
            raise DiskUnusable(f"marker names disk {marker.disk_id}, expected {self.disk_id}")

    def check_alive(self) -> None:
        """Cheap liveness check (the marker is still there); raises ``OSError`` if not."""
        os.stat(self.path / MARKER_NAME)

    def probe(self) -> bool:
        """Check an online disk's marker, or try to bring an offline disk back. Returns online."""
        if self.online:
            try:
                self.check_marker()
                os.stat(self.chunks_dir)
            except (OSError, DiskUnusable) as exc:
                self.fail(exc, "probe")
            return self.online
        try:
            self.check_marker()
            probe = self.tmp_dir / PROBE_FILE
            fd = os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
            try:
                os.write(fd, b"probe")
                os.fsync(fd)
            finally:
                os.close(fd)
            os.unlink(probe)
        except (OSError, DiskUnusable) as exc:
            log.debug("disk %s still offline: %s", self.disk_id, exc)
            return False
        self.open(clean_tmp=False)
        if self.online:
            log.warning("disk %s (%s) is back online", self.disk_id, self.path)
        return self.online

    def close(self) -> None:
        self.executor.shutdown(wait=True, cancel_futures=True)
        if self._lock_fd is not None:
            with contextlib.suppress(OSError):
                os.close(self._lock_fd)  # closing the descriptor drops the flock
            self._lock_fd = None

    # ---- space accounting --------------------------------------------------------------------
    def _statvfs(self) -> tuple[int, int]:
        """(capacity, available) bytes of the file system holding the disk."""
        st = os.statvfs(self.path)
        return st.f_blocks * st.f_frsize, st.f_bavail * st.f_frsize

    def reserve(self, size: int) -> None:
        """Hold ``size`` bytes for a write, or raise ``DiskFullError`` if they do not fit."""
        _, available = self._statvfs()
        with self._lock:
            free = available - self.reserved_bytes - self._pending
            if size > free:
                raise DiskFullError(
                    f"disk {self.disk_id} has {max(free, 0)} bytes free, the chunk needs {size}"
                )
            self._pending += size

    def release(self, size: int) -> None:
        with self._lock:
            self._pending -= size

    def chunk_added(self, size: int) -> None:
        with self._lock:
            self._chunk_count += 1
            self._chunk_bytes += size

    def chunk_removed(self, size: int) -> None:
        with self._lock:
            self._chunk_count = max(0, self._chunk_count - 1)
            self._chunk_bytes = max(0, self._chunk_bytes - size)

    def info(self) -> DiskInfo:
        """What the node reports about this disk (``used_bytes`` = bytes held in chunks)."""
        capacity = available = 0
        if self.online:
            try:
                capacity, available = self._statvfs()
            except OSError as exc:
                self.fail(exc, "statvfs")
        with self._lock:
            free = max(0, available - self.reserved_bytes - self._pending)
            error = self._error
            state: DiskState
            if error is not None:
                state = "offline"
            elif free <= 0:
                state = "full"
            else:
                state = "online"
            return DiskInfo(
                disk_id=self.disk_id,
                path=str(self.path),
                state=state,
                capacity_bytes=capacity,
                free_bytes=free if error is None else 0,
                used_bytes=self._chunk_bytes,
                chunk_count=self._chunk_count,
                error=error or "",
            )

    def offline_info(self, reason: str) -> DiskInfo:
        """Report without touching the disk (used when it does not answer in time)."""
        with self._lock:
            return DiskInfo(
                disk_id=self.disk_id,
                path=str(self.path),
                state="offline",
                capacity_bytes=0,
                free_bytes=0,
                used_bytes=self._chunk_bytes,
                chunk_count=self._chunk_count,
                error=self._error or reason,
            )


# ---- the node's disks -------------------------------------------------------------------------
def _placeholder_id(node_id: str, path: Path) -> str:
    """A stable id for a directory that never held a readable marker (reported offline)."""
    return hashlib.sha256(f"{node_id}:{path}".encode()).hexdigest()[:32]


def open_disk(
    path: Path,
    state: NodeState,
    reserved_bytes: int,
    threads: int = DEFAULT_THREADS_PER_DISK,
    adopt: bool = False,
) -> Disk:
    """Identify the directory at ``path`` (initialising it if it is new, taking it over from
    another node if ``adopt``) and open it."""
    known_id = state.known.get(str(path))

    def offline(reason: BaseException | str, disk_id: str | None = None) -> Disk:
        disk_id = disk_id or known_id or _placeholder_id(state.node_id, path)
        disk = Disk(path, state.node_id, disk_id, reserved_bytes, threads)
        disk.fail(reason)
        return disk

    try:
        marker: DiskMarker | None = read_marker(path)
    except FileNotFoundError:
        marker = None
    except (OSError, DiskUnusable) as exc:
        return offline(exc)
    if marker is None:
        if path == state.suspect:
            return offline(
                "marker and node state are missing while the other disks name this node "
                "(not mounted?)"
            )
        if known_id is not None:
            return offline("marker is missing (not mounted?); this node initialised it before")
        if (path / CHUNKS_DIR).exists():
            return offline("directory holds chunks but no marker")
        try:
            marker = _initialise(path, state.node_id)
        except OSError as exc:
            return offline(exc)
    disk = Disk(path, state.node_id, marker.disk_id, reserved_bytes, threads)
    if marker.node_id != state.node_id:
        if not adopt:
            disk.fail(f"disk belongs to node {marker.node_id}")
            return disk
        try:
            disk.adopt(marker)
        except (OSError, DiskUnusable) as exc:
            disk.fail(exc, "adopt")
            return disk
    with contextlib.suppress(OSError):
        state.remember(path, marker.disk_id)
    disk.open()
    return disk


def _initialise(path: Path, node_id: str) -> DiskMarker:
    path.mkdir(parents=True, exist_ok=True)
    (path / CHUNKS_DIR).mkdir(exist_ok=True)
    (path / TMP_DIR).mkdir(exist_ok=True)
    fsync_dir(path)
    marker = DiskMarker(
        disk_id=new_id(), node_id=node_id, format_version=DISK_FORMAT_VERSION, created=time.time()
    )
    # The marker goes last: a crash before it leaves an empty directory, initialised again.
    write_durable(path / MARKER_NAME, msgspec.json.encode(marker))
    log.info("initialised disk %s at %s", marker.disk_id, path)
    return marker


class DiskSet:
    """The disks one node serves, by disk id, in configuration order."""

    def __init__(self, node_id: str, disks: list[Disk]) -> None:
        self.node_id = node_id
        self.disks: dict[str, Disk] = {}
        for disk in disks:
            if disk.disk_id in self.disks:
                disk.fail(f"same disk as {self.disks[disk.disk_id].path}")
                disk.disk_id = _placeholder_id(node_id, disk.path)
            self.disks[disk.disk_id] = disk

    @classmethod
    def open(
        cls,
        paths: list[str],
        state_dir: str = "",
        reserved_bytes: int = 0,
        threads: int = DEFAULT_THREADS_PER_DISK,
        adopt: bool = False,
    ) -> DiskSet:
        """Open every configured disk (blocking). Bad disks are offline, never fatal."""
        disk_paths = [Path(p).absolute() for p in paths]
        if not disk_paths:
            raise DiskUnusable("no disks configured")
        state_path = Path(state_dir).absolute() if state_dir else disk_paths[0]
        state = NodeState.load(state_path, disk_paths, adopt)
        disks = [open_disk(p, state, reserved_bytes, threads, adopt) for p in disk_paths]
        return cls(state.node_id, disks)

    def get(self, disk_id: str) -> Disk:
        try:
            return self.disks[disk_id]
        except KeyError:
            raise NoSuchDiskError(f"disk {disk_id} is not on node {self.node_id}") from None

    def online(self, disk_id: str) -> Disk:
        disk = self.get(disk_id)
        disk.check_online()
        return disk

    def all(self) -> list[Disk]:
        return list(self.disks.values())

    def close(self) -> None:
        for disk in self.disks.values():
            disk.close()
