"""Open files: pinned versions for reading, write-back spools, and commits as new versions.

Layer: fuse, over ``Content`` (the data plane) and ``Spool``. Contract:

* ``open`` gives a file handle. A handle opened for reading pins the version that was current
  at open: all its reads are of that one version, whatever S3 clients do meanwhile. They go
  through a ``ReadCache`` shared by every handle (``wormfs.fuse.readcache``: decoded windows
  keyed by version, bounded, with read-ahead for sequential readers).
* The first handle opened for writing on an inode creates its ``WriteState``: a spool based on
  the version current at open (``base_version_id``). Without ``O_TRUNC`` the old bytes are
  fetched into the spool before the first partial write or truncate; with it the spool starts
  empty. Every handle of that inode (readers too) then reads the spool, as on a local disk.
  ``O_APPEND`` handles write at the spool's end.
* ``flush`` (every close), ``fsync`` and ``fdatasync`` commit a dirty spool as a whole new
  version (``Content.commit``, conditional on ``base_version_id``) and return only when it is
  durable and committed; their errors are raised to the caller (an errno). A
  ``StaleVersionError`` (someone else committed since) keeps the writer's bytes under
  ``<cache-dir>/conflicts/<bucket>/<key>.<timestamp>``, logs where, and is raised (ESTALE).
* ``release`` of the last handle commits what is still dirty (an error there has no caller:
  the bytes are kept under ``conflicts/`` and the error is logged) and drops the spool.
* Commits use the attributes kept in the state (mode, owner, times: chmod, chown and utimens
  on an open file update them, writes set mtime), so a close never undoes a ``futimens``.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import msgspec

from wormfs.errors import StaleVersionError
from wormfs.fuse.attributes import now_ns
from wormfs.fuse.content import Content
from wormfs.fuse.readcache import ReadCache, Stream
from wormfs.fuse.spool import Spool
from wormfs.wire.coordinator import ObjectAttributes, ObjectManifest
from wormfs.wire.fs import FsEntry, FsWrite, PosixAttrs

log = logging.getLogger(__name__)


@dataclass
class WriteState:
    """One inode open for writing: its spool and the version the spool is based on."""

    ino: int
    key: str  # the last key it was known by (``Files`` asks for the current one)
    spool: Spool
    base_version_id: str | None
    base_size: int
    attrs: PosixAttrs
    filled: bool  # the spool holds the base version's bytes (or replaced them all)
    dirty: bool = False
    writers: int = 0
    base_manifest: ObjectManifest | None = None  # fetched for reads before the spool is filled
    stream: Stream = field(default_factory=Stream)  # those reads' position (read-ahead)
    attributes: ObjectAttributes = field(default_factory=ObjectAttributes)
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    @property
    def size(self) -> int:
        return self.spool.size if self.filled else self.base_size


@dataclass
class Handle:
    ino: int
    manifest: ObjectManifest | None  # the pinned version (readers without a write state)
    state: WriteState | None  # set on handles opened for writing
    append: bool = False
    stream: Stream = field(default_factory=Stream)


class Files:
    def __init__(
        self,
        content: Content,
        cache_dir: Path,
        bucket: str,
        key_of: Callable[[int], str | None],
    ) -> None:
        """``key_of(ino)``: the inode's current key (None once unlinked), asked at each commit
        and base read, so renames of open files are followed."""
        self.content = content
        self.cache = ReadCache(content.stream)
        self._key_of = key_of
        self._cache_dir = cache_dir
        self._bucket = bucket
        self._handles: dict[int, Handle] = {}
        self._states: dict[int, WriteState] = {}
        self._next_fh = 1
        # Opens that create a write state await the spool's creation: one at a time, so two
        # concurrent opens of one inode share one state.
        self._opening = asyncio.Lock()

    # ---- what other operations ask ------------------------------------------------------------
    def state(self, ino: int) -> WriteState | None:
        return self._states.get(ino)

    def handle(self, fh: int) -> Handle:
        return self._handles[fh]

    # ---- open and close -----------------------------------------------------------------------
    async def open(self, ino: int, key: str, entry: FsEntry, attrs: PosixAttrs, flags: int) -> int:
        access = flags & os.O_ACCMODE
        state = None
        manifest = None
        if access in (os.O_WRONLY, os.O_RDWR):
            state = await self._writer(ino, key, entry, attrs)
            if flags & os.O_TRUNC:
                async with state.lock:
                    await self._truncate(state, 0)
        elif ino not in self._states:
            manifest = await self.content.manifest(key, entry.version_id)
        fh = self._next_fh
        self._next_fh += 1
        self._handles[fh] = Handle(ino, manifest, state, append=bool(flags & os.O_APPEND))
        return fh

    async def _writer(self, ino: int, key: str, entry: FsEntry, attrs: PosixAttrs) -> WriteState:
        async with self._opening:
            state = self._states.get(ino)
            if state is None:
                spool = await Spool.create(self._cache_dir / "spool")
                state = self._states[ino] = WriteState(
                    ino=ino,
                    key=key,
                    spool=spool,
                    base_version_id=entry.version_id,
                    base_size=entry.size,
                    attrs=attrs,
                    filled=entry.size == 0,
                )
            state.writers += 1
            return state

    async def release(self, fh: int) -> None:
        handle = self._handles.pop(fh, None)
        if handle is None or handle.state is None:
            return
        state = handle.state
        state.writers -= 1
        if state.writers > 0:
            return
        try:
            await self.commit(state)
        except Exception as exc:
            # No caller hears a release: keep the bytes and say where.
            if not isinstance(exc, StaleVersionError):
                target = await self._keep(state, "unsaved")
                log.error(
                    "the last close of %s could not commit (%r); its bytes are kept in %s",
                    state.key,
                    exc,
                    target,
                )
        finally:
            await self._drop(state)

    async def _drop(self, state: WriteState) -> None:
        """Forget a write state no handle uses (one opened meanwhile keeps it)."""
        async with self._opening:
            if state.writers > 0:
                return
            if self._states.get(state.ino) is state:
                del self._states[state.ino]
        await state.spool.close()

    async def temporary(self, ino: int, key: str, entry: FsEntry, attrs: PosixAttrs) -> WriteState:
        """A write state for a change without an open file (``truncate(2)`` by path)."""
        return await self._writer(ino, key, entry, attrs)

    async def done_temporary(self, state: WriteState) -> None:
        state.writers -= 1
        await self._drop(state)

    # ---- data ---------------------------------------------------------------------------------
    async def read(self, fh: int, offset: int, size: int) -> bytes | memoryview:
        handle = self._handles[fh]
        state = handle.state or self._states.get(handle.ino)
        if state is not None:
            async with state.lock:
                if state.filled:
                    return await state.spool.read(offset, size)
                return await self._read_base(state, offset, size)
        if handle.manifest is None:
            # Opened while another handle was writing, which has closed since: its version.
            handle.manifest = await self.content.manifest(self._current_key_of(handle.ino), None)
        return await self._read_pinned(handle, handle.manifest, offset, size)

    def _current_key_of(self, ino: int) -> str:
        key = self._key_of(ino)
        if key is None:
            raise StaleVersionError(bucket=self._bucket, key=str(ino))
        return key

    async def _read_pinned(
        self, handle: Handle, manifest: ObjectManifest, offset: int, size: int
    ) -> bytes | memoryview:
        if manifest.inline is not None:
            # In the manifest already: no store traffic, nothing worth caching.
            end = min(offset + size, manifest.size)
            return await self.content.read(manifest, offset, end) if offset < end else b""
        return await self.cache.read(manifest, handle.stream, offset, size)

    async def _read_base(self, state: WriteState, offset: int, size: int) -> bytes | memoryview:
        end = min(offset + size, state.base_size)
        if offset >= end:
            return b""
        if state.base_manifest is None:
            key = self._current_key(state)
            state.base_manifest = await self.content.manifest(key, state.base_version_id)
        manifest = state.base_manifest
        if manifest.inline is not None:
            return await self.content.read(manifest, offset, end)
        return await self.cache.read(manifest, state.stream, offset, end - offset)

    async def _fill(self, state: WriteState) -> None:
        """Bring the base version's bytes into the spool (before a partial change)."""
        if state.filled:
            return
        manifest = state.base_manifest or await self.content.manifest(
            self._current_key(state), state.base_version_id
        )
        # One streamed read (the reader fetches the next stripe while this one is written).
        offset = 0
        async for piece in self.content.stream(manifest, 0, manifest.size):
            await state.spool.write(offset, bytes(piece))
            offset += len(piece)
        state.filled = True

    async def write(self, fh: int, offset: int, data: bytes) -> int:
        handle = self._handles[fh]
        state = handle.state
        assert state is not None, "write on a handle not opened for writing"
        async with state.lock:
            if handle.append:
                offset = state.size
            if not state.filled and not (offset == 0 and len(data) >= state.base_size):
                await self._fill(state)
            await state.spool.write(offset, data)
            state.filled = True
            self._changed(state)
        return len(data)

    async def truncate(self, state: WriteState, size: int) -> None:
        async with state.lock:
            await self._truncate(state, size)

    async def _truncate(self, state: WriteState, size: int) -> None:
        if size > 0 and size != state.size:
            await self._fill(state)
        await state.spool.truncate(size)
        state.filled = True
        self._changed(state)

    def _current_key(self, state: WriteState) -> str:
        key = self._key_of(state.ino)
        if key is not None:
            state.key = key
        return state.key

    @staticmethod
    def _changed(state: WriteState) -> None:
        ns = now_ns()
        state.attrs = msgspec.structs.replace(state.attrs, mtime_ns=ns, ctime_ns=ns)
        state.dirty = True

    # ---- commits ------------------------------------------------------------------------------
    async def flush(self, fh: int) -> None:
        """close(2) of a descriptor: commit what this handle may have written."""
        handle = self._handles.get(fh)
        if handle is not None and handle.state is not None:
            await self.commit(handle.state)

    async def sync(self, fh: int) -> None:
        """fsync(2)/fdatasync(2): the file's unsaved writes, whichever handle made them (a
        descriptor opened only for reading may be the one fsynced)."""
        handle = self._handles.get(fh)
        if handle is None:
            return
        state = handle.state or self._states.get(handle.ino)
        if state is not None:
            await self.commit(state)

    async def commit(self, state: WriteState) -> None:
        """Store a dirty spool as the inode's new version (durable and committed on return)."""
        async with state.lock:
            if not state.dirty:
                return
            key = self._key_of(state.ino)
            if key is None:
                # Unlinked while open: its bytes go with it, as on a local file system.
                log.debug("%s was unlinked while open; its last writes are dropped", state.key)
                state.dirty = False
                return
            state.key = key
            fs = FsWrite(ino=state.ino, base_version_id=state.base_version_id, attrs=state.attrs)
            try:
                manifest = await self.content.commit(state.key, state.spool, fs, state.attributes)
            except StaleVersionError:
                target = await self._keep(state, "conflict")
                state.dirty = False
                log.warning(
                    "%s changed since it was opened (someone else committed a version): this "
                    "writer's %d bytes were not committed and are kept in %s",
                    state.key,
                    state.spool.size,
                    target,
                )
                raise
            state.base_version_id = manifest.version_id
            state.base_size = manifest.size
            state.base_manifest = None
            state.dirty = False

    async def close(self) -> None:
        """Stop background reads (at unmount)."""
        await self.cache.close()

    async def commit_all(self) -> None:
        """Commit every dirty spool (at unmount or SIGTERM); failures are logged."""
        for state in list(self._states.values()):
            try:
                await self.commit(state)
            except Exception as exc:
                log.error("could not commit %s at unmount: %r", state.key, exc)

    async def _keep(self, state: WriteState, why: str) -> Path:
        stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime()) + f".{time.time_ns() % 10**9:09d}"
        target = self._cache_dir / "conflicts" / self._bucket / f"{state.key}.{stamp}"
        await state.spool.save_copy(target)
        log.debug("kept %s bytes of %s (%s) in %s", state.spool.size, state.key, why, target)
        return target
