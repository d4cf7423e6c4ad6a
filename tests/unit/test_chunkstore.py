"""Chunk store: durable writes, verified reads, and disks that fail or fill up under it."""

from __future__ import annotations

import asyncio
import errno
import os
import shutil
import stat
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import msgspec
import pytest
from unit.chunk_fixtures import (
    GOLDEN_CHUNK,
    GOLDEN_FRAGMENTS,
    GOLDEN_HEADER_STRUCT,
    chunk_bytes,
    make_header,
    open_disks,
    pieces,
    random_fragments,
    read_range,
    tmp_files,
    visible_chunks,
)
from waiting import eventually

from wormfs.errors import (
    ChunkExistsError,
    CorruptChunkError,
    DiskFullError,
    DiskOfflineError,
    IncompleteBodyError,
    InvalidInputError,
    NoSuchChunkError,
    NoSuchDiskError,
)
from wormfs.format.chunkformat import ChunkHeader
from wormfs.ids import new_id
from wormfs.storage_node.chunkfiles import chunk_path, chunk_subdir
from wormfs.storage_node.chunkstore import ChunkStore
from wormfs.storage_node.disks import Disk, DiskSet
from wormfs.wire.storage import ChunkRef


@pytest.fixture
def disk_paths(tmp_path: Path) -> list[Path]:
    return [tmp_path / f"disk{i}" for i in range(3)]


@pytest.fixture
async def disks(disk_paths: list[Path]) -> AsyncIterator[DiskSet]:
    disk_set = await asyncio.to_thread(open_disks, disk_paths)
    yield disk_set
    await asyncio.to_thread(disk_set.close)


@pytest.fixture
def store(disks: DiskSet) -> ChunkStore:
    return ChunkStore(disks)


@pytest.fixture
def disk(disks: DiskSet) -> Disk:
    return disks.all()[0]


@pytest.fixture
def no_io_on_loop(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """Fail if a file system call runs on the event loop's thread."""
    offenders: list[str] = []

    def guard(name: str, real: object) -> object:
        def wrapper(*args: object, **kwargs: object) -> object:
            try:
                asyncio.get_running_loop()
                offenders.append(name)
            except RuntimeError:
                pass
            return real(*args, **kwargs)  # type: ignore[operator]

        return wrapper

    for name in ("open", "pread", "preadv", "writev", "fsync", "link", "unlink", "listdir"):
        monkeypatch.setattr(os, name, guard(name, getattr(os, name)))
    yield offenders


# ---- writes -------------------------------------------------------------------------------------
async def test_put_then_read_back(store: ChunkStore, disk: Disk) -> None:
    header = make_header()
    fragments = random_fragments(header)
    result = await store.put(disk.disk_id, header, pieces(fragments, 777))
    assert result.chunk_id == header.chunk_id
    assert result.file_size == header.file_size
    path = chunk_path(disk, header.chunk_id)
    assert path.parent.name == chunk_subdir(header.chunk_id)
    assert path.read_bytes() == chunk_bytes(header, fragments)
    assert tmp_files(disk) == []
    assert await read_range(store, disk.disk_id, header.chunk_id, 0, 3) == fragments
    assert await store.head(disk.disk_id, header.chunk_id) == header
    info = disk.info()
    assert info.chunk_count == 1 and info.used_bytes == header.file_size


async def test_put_writes_the_golden_bytes(store: ChunkStore, disk: Disk) -> None:
    await store.put(disk.disk_id, GOLDEN_HEADER_STRUCT, pieces(GOLDEN_FRAGMENTS, 3))
    assert chunk_path(disk, GOLDEN_HEADER_STRUCT.chunk_id).read_bytes() == GOLDEN_CHUNK.read_bytes()


async def test_block_crcs_are_reported(store: ChunkStore, disk: Disk) -> None:
    from wormfs.format.chunkformat import crc32c_of

    header = make_header()
    fragments = random_fragments(header)
    result = await store.put(disk.disk_id, header, pieces(fragments))
    assert result.block_crcs == [crc32c_of(f) for f in fragments]


async def test_no_file_io_on_the_event_loop(
    store: ChunkStore, disk: Disk, no_io_on_loop: list[str]
) -> None:
    header = make_header()
    fragments = random_fragments(header)
    await store.put(disk.disk_id, header, pieces(fragments))
    await read_range(store, disk.disk_id, header.chunk_id, 0, header.block_count - 1)
    await store.verify(disk.disk_id, header.chunk_id)
    await store.inventory(disk.disk_id, None, 10)
    await store.delete(disk.disk_id, header.chunk_id)
    assert no_io_on_loop == []


async def test_durable_write_order(
    store: ChunkStore, disk: Disk, monkeypatch: pytest.MonkeyPatch
) -> None:
    """fsync(file) before the link makes it visible; fsync(dir) after it, before the ack."""
    events: list[str] = []
    real_fsync, real_link = os.fsync, os.link

    def fsync(fd: int) -> None:
        kind = "dir" if stat.S_ISDIR(os.fstat(fd).st_mode) else "file"
        events.append(f"fsync-{kind}")
        real_fsync(fd)

    def link(src: str, dst: str) -> None:
        events.append("link")
        real_link(src, dst)

    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(os, "link", link)
    header = make_header()
    await store.put(disk.disk_id, header, pieces(random_fragments(header)))
    first_link = events.index("link")
    assert "fsync-file" in events[:first_link]
    assert events[-1] == "fsync-dir"


async def test_duplicate_is_refused_and_original_kept(store: ChunkStore, disk: Disk) -> None:
    header = make_header()
    fragments = random_fragments(header)
    await store.put(disk.disk_id, header, pieces(fragments))
    with pytest.raises(ChunkExistsError):
        await store.put(disk.disk_id, header, pieces(random_fragments(header)))
    assert chunk_path(disk, header.chunk_id).read_bytes() == chunk_bytes(header, fragments)
    assert tmp_files(disk) == []


async def test_duplicate_racing_at_the_link_is_refused(store: ChunkStore, disk: Disk) -> None:
    header = make_header()
    first, second = random_fragments(header), random_fragments(header)
    results = await asyncio.gather(
        store.put(disk.disk_id, header, pieces(first)),
        store.put(disk.disk_id, header, pieces(second)),
        return_exceptions=True,
    )
    assert sum(isinstance(r, ChunkExistsError) for r in results) == 1
    written = chunk_path(disk, header.chunk_id).read_bytes()
    assert written in (chunk_bytes(header, first), chunk_bytes(header, second))
    assert tmp_files(disk) == []


async def test_without_hard_links_nothing_is_overwritten(
    store: ChunkStore, disk: Disk, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_link(src: str, dst: str) -> None:
        raise OSError(errno.EPERM, "Operation not permitted")

    monkeypatch.setattr(os, "link", no_link)
    header = make_header()
    fragments = random_fragments(header)
    await store.put(disk.disk_id, header, pieces(fragments))
    with pytest.raises(ChunkExistsError):
        await store.put(disk.disk_id, header, pieces(random_fragments(header)))
    assert chunk_path(disk, header.chunk_id).read_bytes() == chunk_bytes(header, fragments)
    # Two writers racing past the early existence check: one wins, the other is refused.
    racing = make_header()
    results = await asyncio.gather(
        store.put(disk.disk_id, racing, pieces(random_fragments(racing))),
        store.put(disk.disk_id, racing, pieces(random_fragments(racing))),
        return_exceptions=True,
    )
    assert sum(isinstance(r, ChunkExistsError) for r in results) == 1
    assert tmp_files(disk) == [] and disk.online


async def test_short_body_leaves_nothing(store: ChunkStore, disk: Disk) -> None:
    header = make_header()
    fragments = random_fragments(header)
    short = b"".join(fragments)[:-1]
    with pytest.raises(IncompleteBodyError):
        await store.put(disk.disk_id, header, pieces([short]))
    assert visible_chunks(disk) == [] and tmp_files(disk) == []
    assert disk.info().chunk_count == 0
    # The id stays free: a complete retry succeeds.
    await store.put(disk.disk_id, header, pieces(fragments))


async def test_long_body_leaves_nothing(store: ChunkStore, disk: Disk) -> None:
    header = make_header()
    with pytest.raises(InvalidInputError):
        await store.put(disk.disk_id, header, pieces([*random_fragments(header), b"x"]))
    assert visible_chunks(disk) == [] and tmp_files(disk) == []


async def test_body_failing_midway_leaves_nothing(store: ChunkStore, disk: Disk) -> None:
    header = make_header()
    fragments = random_fragments(header)

    async def broken() -> AsyncIterator[bytes]:
        yield fragments[0]
        yield fragments[1]
        raise IncompleteBodyError("client went away")

    with pytest.raises(IncompleteBodyError):
        await store.put(disk.disk_id, header, broken())
    assert visible_chunks(disk) == [] and tmp_files(disk) == []


async def test_bad_headers_are_refused(store: ChunkStore, disk: Disk) -> None:
    good = make_header()
    fields = {n: getattr(good, n) for n in good.__struct_fields__}
    for bad in (
        {"chunk_id": "../../etc/passwd"},
        {"version_id": "nope"},
        {"fragment_index": 3},
        {"segment_length": 0},
        {"part_number": 0},
        {"profile": msgspec.structs.replace(good.profile, codec="rot13")},
        {"profile": msgspec.structs.replace(good.profile, k=0)},
        {"key": "k" * 2000},
    ):
        header = ChunkHeader(**{**fields, **bad})  # type: ignore[arg-type]
        with pytest.raises(InvalidInputError):
            await store.put(disk.disk_id, header, pieces([b"x"]))
    assert visible_chunks(disk) == [] and tmp_files(disk) == []


async def test_unknown_disk(store: ChunkStore) -> None:
    header = make_header()
    with pytest.raises(NoSuchDiskError):
        await store.put(new_id(), header, pieces(random_fragments(header)))


# ---- reads and corruption ---------------------------------------------------------------------
async def test_ranges(store: ChunkStore, disk: Disk) -> None:
    header = make_header(segment_length=5 * 4096 - 7)
    fragments = random_fragments(header)
    await store.put(disk.disk_id, header, pieces(fragments, 4096))
    for first in range(5):
        for last in range(first, 5):
            got = await read_range(store, disk.disk_id, header.chunk_id, first, last)
            assert got == fragments[first : last + 1]
    with pytest.raises(InvalidInputError):
        await read_range(store, disk.disk_id, header.chunk_id, 3, 5)
    with pytest.raises(InvalidInputError):
        await read_range(store, disk.disk_id, header.chunk_id, 3, 2)
    with pytest.raises(NoSuchChunkError):
        await read_range(store, disk.disk_id, new_id(), 0, 0)


async def test_flipped_byte_anywhere_is_caught_where_it_matters(
    store: ChunkStore, disk: Disk
) -> None:
    header = make_header(segment_length=3 * 64 + 10, stripe_size=64)  # fragments 32, 32, 32, 5
    fragments = random_fragments(header)
    await store.put(disk.disk_id, header, pieces(fragments))
    path = chunk_path(disk, header.chunk_id)
    pristine = path.read_bytes()
    ranges = [(a, b) for a in range(4) for b in range(a, 4)]
    for position in range(len(pristine)):
        damaged = bytearray(pristine)
        damaged[position] ^= 0x10
        path.write_bytes(bytes(damaged))
        if position < header.header_length:
            bad_block = None  # the header: nothing reads
        else:
            bad_block = next(j for j in reversed(range(4)) if position >= header.block_offset(j))
        for first, last in ranges:
            if bad_block is None or first <= bad_block <= last:
                with pytest.raises(CorruptChunkError):
                    await read_range(store, disk.disk_id, header.chunk_id, first, last)
            else:
                got = await read_range(store, disk.disk_id, header.chunk_id, first, last)
                assert got == fragments[first : last + 1]
        result = await store.verify(disk.disk_id, header.chunk_id)
        assert not result.ok
        if bad_block is not None:
            assert result.bad_blocks == [bad_block]
    path.write_bytes(pristine)
    assert (await store.verify(disk.disk_id, header.chunk_id)).ok
    assert disk.online  # corruption is the chunk's problem, not the disk's


async def test_truncated_chunk(store: ChunkStore, disk: Disk) -> None:
    header = make_header()
    fragments = random_fragments(header)
    await store.put(disk.disk_id, header, pieces(fragments))
    path = chunk_path(disk, header.chunk_id)
    with path.open("r+b") as fh:
        fh.truncate(header.block_offset(3) + 2)
    assert await read_range(store, disk.disk_id, header.chunk_id, 0, 2) == fragments[:3]
    with pytest.raises(CorruptChunkError):
        await read_range(store, disk.disk_id, header.chunk_id, 3, 3)
    with pytest.raises(CorruptChunkError):
        await store.head(disk.disk_id, header.chunk_id)
    result = await store.verify(disk.disk_id, header.chunk_id)
    assert result.bad_blocks == [3] and not result.ok


async def test_trailing_bytes_fail_verify(store: ChunkStore, disk: Disk) -> None:
    header = make_header()
    await store.put(disk.disk_id, header, pieces(random_fragments(header)))
    with chunk_path(disk, header.chunk_id).open("ab") as fh:
        fh.write(b"junk")
    result = await store.verify(disk.disk_id, header.chunk_id)
    assert not result.ok and result.bad_blocks == [] and "trailing" in result.error


async def test_misplaced_chunk_is_corrupt(store: ChunkStore, disk: Disk) -> None:
    header = make_header()
    await store.put(disk.disk_id, header, pieces(random_fragments(header)))
    other = make_header(chunk_id=header.chunk_id[:8] + new_id()[8:])
    chunk_path(disk, header.chunk_id).rename(chunk_path(disk, other.chunk_id))
    with pytest.raises(CorruptChunkError):
        await store.head(disk.disk_id, other.chunk_id)


# ---- deletes and inventory --------------------------------------------------------------------
async def test_delete(store: ChunkStore, disk: Disk) -> None:
    header = make_header()
    await store.put(disk.disk_id, header, pieces(random_fragments(header)))
    await store.delete(disk.disk_id, header.chunk_id)
    assert visible_chunks(disk) == []
    assert disk.info().chunk_count == 0
    with pytest.raises(NoSuchChunkError):
        await store.delete(disk.disk_id, header.chunk_id)


async def test_batch_delete(store: ChunkStore, disks: DiskSet) -> None:
    a, b = disks.all()[0], disks.all()[1]
    headers = [make_header() for _ in range(4)]
    for h, d in zip(headers, [a, a, b, b], strict=True):
        await store.put(d.disk_id, h, pieces(random_fragments(h)))
    ghost = new_id()
    unknown_disk = new_id()
    refs = [
        ChunkRef(disk_id=a.disk_id, chunk_id=headers[0].chunk_id),
        ChunkRef(disk_id=a.disk_id, chunk_id=headers[1].chunk_id),
        ChunkRef(disk_id=b.disk_id, chunk_id=headers[2].chunk_id),
        ChunkRef(disk_id=b.disk_id, chunk_id=ghost),
        ChunkRef(disk_id=unknown_disk, chunk_id=headers[3].chunk_id),
    ]
    result = await store.delete_many(refs)
    assert sorted(r.chunk_id for r in result.deleted) == sorted(h.chunk_id for h in headers[:3])
    assert result.missing == [ChunkRef(disk_id=b.disk_id, chunk_id=ghost)]
    assert result.failed == [ChunkRef(disk_id=unknown_disk, chunk_id=headers[3].chunk_id)]
    assert [p.stem for p in visible_chunks(b)] == [headers[3].chunk_id]


async def test_inventory_pages_sorted(store: ChunkStore, disk: Disk) -> None:
    ids = []
    for _ in range(25):
        header = make_header(segment_length=100)
        ids.append(header.chunk_id)
        await store.put(disk.disk_id, header, pieces(random_fragments(header)))
    (disk.chunks_dir / "000").mkdir(exist_ok=True)
    (disk.chunks_dir / "000" / "stray.txt").write_text("not a chunk")
    seen: list[str] = []
    after = None
    while True:
        page = await store.inventory(disk.disk_id, after, 7)
        assert len(page.chunks) <= 7
        seen += [e.chunk_id for e in page.chunks]
        if page.next_after is None:
            break
        after = page.next_after
    assert seen == sorted(ids)
    page = await store.inventory(disk.disk_id, sorted(ids)[9], 1000)
    assert [e.chunk_id for e in page.chunks] == sorted(ids)[10:]
    assert all(e.file_size == make_header(segment_length=100).file_size for e in page.chunks)
    with pytest.raises(InvalidInputError):
        await store.inventory(disk.disk_id, "../x", 10)
    with pytest.raises(InvalidInputError):
        await store.inventory(disk.disk_id, None, 0)


def test_subdirs_are_uniform_and_ordered() -> None:
    assert chunk_subdir("00000000" + "0" * 24) == "000"
    assert chunk_subdir("ffffffff" + "f" * 24) == "999"
    ids = sorted(new_id() for _ in range(2000))
    subdirs = [chunk_subdir(i) for i in ids]
    assert subdirs == sorted(subdirs)
    assert len(set(subdirs)) > 800


# ---- full and failing disks ---------------------------------------------------------------------
async def test_full_disk_refuses_cleanly(tmp_path: Path) -> None:
    disks = await asyncio.to_thread(open_disks, [tmp_path / "d"], 1 << 62)
    try:
        store = ChunkStore(disks)
        disk = disks.all()[0]
        header = make_header()
        with pytest.raises(DiskFullError):
            await store.put(disk.disk_id, header, pieces(random_fragments(header)))
        assert visible_chunks(disk) == [] and tmp_files(disk) == []
        assert disk.info().state == "full"
        assert disk.online
    finally:
        await asyncio.to_thread(disks.close)


async def test_enospc_during_write_is_disk_full(
    store: ChunkStore, disk: Disk, monkeypatch: pytest.MonkeyPatch
) -> None:
    def writev(fd: int, buffers: object) -> int:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "writev", writev)
    header = make_header()
    with pytest.raises(DiskFullError):
        await store.put(disk.disk_id, header, pieces(random_fragments(header)))
    monkeypatch.undo()
    assert disk.online and visible_chunks(disk) == [] and tmp_files(disk) == []


async def test_concurrent_writes_reserve_space(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    disks = await asyncio.to_thread(open_disks, [tmp_path / "d"])
    try:
        disk = disks.all()[0]
        size = make_header().file_size
        monkeypatch.setattr(disk, "_statvfs", lambda: (10 * size, 3 * size // 2))
        store = ChunkStore(disks)
        gate = asyncio.Event()
        headers = [make_header(), make_header()]

        async def slow(fragments: list[bytes]) -> AsyncIterator[bytes]:
            yield fragments[0]
            await gate.wait()
            for f in fragments[1:]:
                yield f

        first = asyncio.create_task(
            store.put(disk.disk_id, headers[0], slow(random_fragments(headers[0])))
        )
        # Once the first write holds its space, a second one does not fit alongside it.
        await eventually(lambda: disk._pending >= size, message="the first reservation")
        with pytest.raises(DiskFullError):
            await store.put(disk.disk_id, headers[1], pieces(random_fragments(headers[1])))
        gate.set()
        await first
    finally:
        await asyncio.to_thread(disks.close)


async def test_broken_chunks_dir_takes_disk_offline_others_serve(
    store: ChunkStore, disks: DiskSet
) -> None:
    bad, good = disks.all()[0], disks.all()[1]
    header = make_header()
    shutil.rmtree(bad.chunks_dir)
    bad.chunks_dir.write_text("not a directory")  # every chunk path now fails with ENOTDIR
    bad.durable_subdirs.clear()
    with pytest.raises(DiskOfflineError):
        await store.put(bad.disk_id, header, pieces(random_fragments(header)))
    assert not bad.online and "Not a directory" in bad.error
    assert bad.info().state == "offline"
    with pytest.raises(DiskOfflineError):
        await read_range(store, bad.disk_id, header.chunk_id, 0, 0)
    # The node keeps serving its other disks.
    fragments = random_fragments(header)
    await store.put(good.disk_id, header, pieces(fragments))
    assert await read_range(store, good.disk_id, header.chunk_id, 0, 3) == fragments
    # Repaired: the probe brings it back.
    bad.chunks_dir.unlink()
    bad.chunks_dir.mkdir()
    assert await asyncio.to_thread(bad.probe)
    await store.put(bad.disk_id, header, pieces(fragments))


async def test_eio_on_read_takes_disk_offline(
    store: ChunkStore, disks: DiskSet, monkeypatch: pytest.MonkeyPatch
) -> None:
    bad, good = disks.all()[0], disks.all()[1]
    header = make_header()
    fragments = random_fragments(header)
    await store.put(bad.disk_id, header, pieces(fragments))
    await store.put(good.disk_id, header, pieces(fragments))
    real_pread = os.pread

    def pread(fd: int, size: int, offset: int) -> bytes:
        if os.readlink(f"/proc/self/fd/{fd}").startswith(str(bad.path)):
            raise OSError(errno.EIO, "Input/output error")
        return real_pread(fd, size, offset)

    monkeypatch.setattr(os, "pread", pread)
    with pytest.raises(DiskOfflineError):
        await read_range(store, bad.disk_id, header.chunk_id, 0, 3)
    assert not bad.online and "Input/output error" in bad.error
    with pytest.raises(DiskOfflineError):
        await store.head(bad.disk_id, header.chunk_id)
    assert await read_range(store, good.disk_id, header.chunk_id, 0, 3) == fragments


async def test_removed_disk_goes_offline(store: ChunkStore, disks: DiskSet) -> None:
    bad, good = disks.all()[0], disks.all()[1]
    header = make_header()
    await store.put(bad.disk_id, header, pieces(random_fragments(header)))
    shutil.rmtree(bad.path)
    # ENOENT on the chunk is not "no such chunk" when the disk itself is gone.
    with pytest.raises(DiskOfflineError):
        await read_range(store, bad.disk_id, header.chunk_id, 0, 0)
    assert not bad.online
    assert not await asyncio.to_thread(bad.probe)
    assert (await store.inventory(good.disk_id, None, 10)).chunks == []


async def test_disk_failing_mid_write_refuses_the_rest(store: ChunkStore, disk: Disk) -> None:
    header = make_header()
    fragments = random_fragments(header)

    async def failing_midway() -> AsyncIterator[bytes]:
        yield fragments[0]
        yield fragments[1]
        await asyncio.sleep(0.05)
        disk.fail("simulated I/O error", "test")
        for fragment in fragments[2:]:
            yield fragment

    with pytest.raises(DiskOfflineError):
        await store.put(disk.disk_id, header, failing_midway())
    assert visible_chunks(disk) == [] and tmp_files(disk) == []
