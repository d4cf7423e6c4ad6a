"""Disks of a storage node: identity, markers, locks, probes, restarts."""

from __future__ import annotations

import asyncio
import os
import shutil
import threading
from collections.abc import AsyncIterator
from pathlib import Path

import msgspec
import pytest
from unit.chunk_fixtures import (
    make_header,
    open_disks,
    pieces,
    random_fragments,
    read_range,
    tmp_files,
)

from wormfs.ids import new_id
from wormfs.storage_node.chunkstore import ChunkStore
from wormfs.storage_node.disks import MARKER_NAME, DiskMarker, DiskSet


@pytest.fixture
def disk_paths(tmp_path: Path) -> list[Path]:
    return [tmp_path / f"disk{i}" for i in range(3)]


@pytest.fixture
async def disks(disk_paths: list[Path]) -> AsyncIterator[DiskSet]:
    disk_set = await asyncio.to_thread(open_disks, disk_paths)
    yield disk_set
    await asyncio.to_thread(disk_set.close)


async def test_probe_notices_a_vanished_marker(disks: DiskSet) -> None:
    disk = disks.all()[0]
    (disk.path / MARKER_NAME).unlink()
    assert not await asyncio.to_thread(disk.probe)
    assert not disk.online


# ---- start-up, identity, markers --------------------------------------------------------------
def test_leftover_temp_files_are_removed_at_start(disk_paths: list[Path]) -> None:
    disks = open_disks(disk_paths)
    disk = disks.all()[0]
    (disk.tmp_dir / f"{new_id()}.abc.tmp").write_bytes(b"half a chunk")
    disks.close()
    disks = open_disks(disk_paths)
    try:
        assert tmp_files(disks.all()[0]) == []
        assert disks.all()[0].online
    finally:
        disks.close()


async def test_restart_keeps_identity_and_chunks(disk_paths: list[Path]) -> None:
    disks = await asyncio.to_thread(open_disks, disk_paths)
    node_id, disk_ids = disks.node_id, [d.disk_id for d in disks.all()]
    header = make_header()
    fragments = random_fragments(header)
    await ChunkStore(disks).put(disk_ids[1], header, pieces(fragments))
    await asyncio.to_thread(disks.close)
    disks = await asyncio.to_thread(open_disks, disk_paths)
    try:
        assert disks.node_id == node_id
        assert [d.disk_id for d in disks.all()] == disk_ids
        assert all(d.online for d in disks.all())
        assert disks.get(disk_ids[1]).info().chunk_count == 1
        got = await read_range(ChunkStore(disks), disk_ids[1], header.chunk_id, 0, 3)
        assert got == fragments
    finally:
        await asyncio.to_thread(disks.close)


def test_disk_of_another_node_is_offline(disk_paths: list[Path], tmp_path: Path) -> None:
    disks = open_disks(disk_paths)
    disks.close()
    other_state = tmp_path / "other-node"
    other_state.mkdir()
    (other_state / "node_id").write_text(new_id())
    other = open_disks([disk_paths[1]], state_dir=str(other_state))
    try:
        disk = other.all()[0]
        assert not disk.online and "belongs to node" in disk.error
        assert disk.info().state == "offline"
        # Nothing of the disk was touched: the other node's marker is still there.
        marker = msgspec.json.decode((disk_paths[1] / MARKER_NAME).read_bytes(), type=DiskMarker)
        assert marker.node_id == disks.node_id
    finally:
        other.close()


def test_missing_marker_on_known_disk_is_not_reinitialised(disk_paths: list[Path]) -> None:
    disks = open_disks(disk_paths)
    old_id = disks.all()[2].disk_id
    disks.close()
    # An unmounted disk: its mount point is an empty directory again.
    shutil.rmtree(disk_paths[2])
    disk_paths[2].mkdir()
    disks = open_disks(disk_paths)
    try:
        disk = disks.all()[2]
        assert disk.disk_id == old_id and not disk.online
        assert "marker is missing" in disk.error
        assert not (disk_paths[2] / MARKER_NAME).exists()
        assert all(d.online for d in disks.all()[:2])
    finally:
        disks.close()


def test_directory_with_chunks_but_no_marker_is_offline(tmp_path: Path) -> None:
    path = tmp_path / "d"
    (path / "chunks" / "123").mkdir(parents=True)
    disks = open_disks([path], state_dir=str(tmp_path / "state"))
    try:
        assert not disks.all()[0].online
        assert not (path / MARKER_NAME).exists()
    finally:
        disks.close()


def test_unreadable_marker_is_offline(disk_paths: list[Path]) -> None:
    open_disks(disk_paths).close()
    (disk_paths[1] / MARKER_NAME).write_text("{not json")
    disks = open_disks(disk_paths)
    try:
        assert not disks.all()[1].online and "unreadable" in disks.all()[1].error
    finally:
        disks.close()


def test_lost_node_id_is_recovered_from_markers(disk_paths: list[Path], tmp_path: Path) -> None:
    state = tmp_path / "state"
    disks = open_disks(disk_paths, state_dir=str(state))
    node_id = disks.node_id
    disks.close()
    shutil.rmtree(state)
    disks = open_disks(disk_paths, state_dir=str(state))
    try:
        assert disks.node_id == node_id and all(d.online for d in disks.all())
    finally:
        disks.close()


def test_marker_contents(disk_paths: list[Path]) -> None:
    disks = open_disks(disk_paths)
    try:
        marker = msgspec.json.decode((disk_paths[0] / MARKER_NAME).read_bytes(), type=DiskMarker)
        assert marker.node_id == disks.node_id
        assert marker.disk_id == disks.all()[0].disk_id
        assert marker.format_version == 1 and marker.created > 0
        assert (disk_paths[0] / "node_id").read_text().strip() == disks.node_id
    finally:
        disks.close()


def test_second_process_cannot_serve_the_same_disk(disk_paths: list[Path]) -> None:
    disks = open_disks(disk_paths)
    try:
        # Another opener of the same directories (as a second process would be).
        result: list[DiskSet] = []
        thread = threading.Thread(target=lambda: result.append(open_disks(disk_paths)))
        thread.start()
        thread.join()
        second = result[0]
        try:
            assert all(not d.online and "in use" in d.error for d in second.all())
        finally:
            second.close()
        assert all(d.online for d in disks.all())
    finally:
        disks.close()


def test_unmounted_first_disk_holding_node_state_stays_offline(disk_paths: list[Path]) -> None:
    """The default state dir is the first disk: if it is not mounted, its node state is gone
    too, yet the other disks name this node, so the blank directory is not initialised."""
    disks = open_disks(disk_paths)
    node_id, first_id = disks.node_id, disks.all()[0].disk_id
    disks.close()
    shutil.rmtree(disk_paths[0])
    disk_paths[0].mkdir()  # an empty mount point
    for _ in range(2):  # and it stays so across restarts
        disks = open_disks(disk_paths)
        try:
            assert disks.node_id == node_id
            first = disks.all()[0]
            assert not first.online and "not mounted" in first.error
            assert first.disk_id != first_id  # unknown: its registry was on it
            assert os.listdir(disk_paths[0]) == []  # nothing was written into it
            assert all(d.online for d in disks.all()[1:])
        finally:
            disks.close()


def test_adopting_node_takes_over_a_disk_of_another_node(
    disk_paths: list[Path], tmp_path: Path
) -> None:
    """``adopt`` (wormfs server splitting its directories anew): the disk keeps its id and its
    chunks, its marker names the new node, and a node without an id file is a new node even
    though the disks' markers agree on their owner."""
    first = open_disks(disk_paths)
    old_node, disk_ids = first.node_id, [d.disk_id for d in first.all()]
    (first.all()[1].chunks_dir / "000").mkdir()
    first.close()
    state = tmp_path / "node2"
    second = DiskSet.open([str(p) for p in disk_paths[1:]], str(state), adopt=True)
    try:
        assert second.node_id != old_node
        assert [d.disk_id for d in second.all()] == disk_ids[1:]
        assert all(d.online for d in second.all())
        marker = msgspec.json.decode((disk_paths[1] / MARKER_NAME).read_bytes(), type=DiskMarker)
        assert (marker.node_id, marker.disk_id) == (second.node_id, disk_ids[1])
        assert (disk_paths[1] / "chunks" / "000").is_dir()
        # A node still serving a disk keeps it: another cannot adopt it meanwhile.
        third = DiskSet.open([str(disk_paths[1])], str(tmp_path / "node3"), adopt=True)
        try:
            assert not third.all()[0].online and "in use" in third.all()[0].error
            marker = msgspec.json.decode(
                (disk_paths[1] / MARKER_NAME).read_bytes(), type=DiskMarker
            )
            assert marker.node_id == second.node_id
        finally:
            third.close()
    finally:
        second.close()
    # And it moves back the same way.
    back = open_disks(disk_paths)
    try:
        assert back.node_id == old_node
        assert not back.all()[1].online  # without adopt: "belongs to node ..."
    finally:
        back.close()
    back = DiskSet.open([str(p) for p in disk_paths], adopt=True)
    try:
        assert back.node_id == old_node and all(d.online for d in back.all())
    finally:
        back.close()
