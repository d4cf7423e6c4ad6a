"""The storage node's rebuild and deep-scrub routes, in-process on temp disks.

A segment's k+m chunks are written through the node's own PUT route; rebuilding a fragment
from the others must give back exactly its bytes (decode path), and a move must copy it
(copy path); a corrupt source is read around; a deep-scrub walk pages through a disk and
names the corrupt chunk.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path

import msgspec
import pytest
from component.storage_harness import ClientFactory, Node, flip, read_blocks, start_node

from wormfs.clients.repair import NodeRepairClient
from wormfs.erasure import get_codec
from wormfs.errors import InvalidInputError
from wormfs.format.chunkformat import ChunkHeader
from wormfs.format.layout import Profile, stripe_count, stripe_length
from wormfs.ids import new_id
from wormfs.storage_node.chunkfiles import chunk_path
from wormfs.wire.repair import ConsistencyCheck, RebuildSource, RebuildTask, ScrubBatch

PROFILE = Profile(codec="isal_rs_vand", k=4, m=2, stripe_size=64 * 1024)
LENGTH = 3 * 64 * 1024 + 999


async def _body(blocks: list[bytes]) -> AsyncIterator[bytes]:
    for block in blocks:
        yield block


async def write_segment(node: Node) -> tuple[list[ChunkHeader], list[list[bytes]]]:
    """Six chunks of one segment over the node's three disks; returns headers and blocks."""
    codec = get_codec(PROFILE.codec, PROFILE.k, PROFILE.m)
    data = os.urandom(LENGTH)
    per_index: list[list[bytes]] = [[] for _ in range(PROFILE.n)]
    for j in range(stripe_count(LENGTH, PROFILE.stripe_size)):
        start = j * PROFILE.stripe_size
        stripe = data[start : start + stripe_length(LENGTH, PROFILE.stripe_size, j)]
        for i, fragment in enumerate(codec.encode(stripe)):
            per_index[i].append(bytes(fragment))
    version = new_id()
    headers = []
    disks = node.disks.all()
    for i in range(PROFILE.n):
        header = ChunkHeader(
            chunk_id=new_id(),
            version_id=version,
            part_number=1,
            segment_index=0,
            fragment_index=i,
            profile=PROFILE,
            segment_offset=0,
            segment_length=LENGTH,
            bucket="bucket",
            key="key",
        )
        await node.storage.put_chunk(
            node.address, disks[i % 3].disk_id, header, _body(per_index[i])
        )
        headers.append(header)
    return headers, per_index


def task(node: Node, headers: list[ChunkHeader], wanted: int, indexes: list[int]) -> RebuildTask:
    disks = node.disks.all()
    return RebuildTask(
        sources=[
            RebuildSource(
                fragment_index=i,
                node_address=node.address,
                disk_id=disks[i % 3].disk_id,
                chunk_id=headers[i].chunk_id,
            )
            for i in indexes
        ],
        target_disk_id=disks[(wanted + 1) % 3].disk_id,
        chunk_id=new_id(),
        fragment_index=wanted,
        profile=PROFILE,
        segment_length=LENGTH,
    )


@pytest.mark.parametrize("wanted", [0, 3, 5])
async def test_rebuild_decodes_the_missing_fragment(
    aiohttp_client: ClientFactory, tmp_path: Path, wanted: int
) -> None:
    node = await start_node(aiohttp_client, tmp_path)
    headers, blocks = await write_segment(node)
    others = [i for i in range(PROFILE.n) if i != wanted]
    t = task(node, headers, wanted, others)
    result = await NodeRepairClient(node.client.session, b"component-test-secret").rebuild(
        node.address, t, 30
    )
    assert result.chunk_id == t.chunk_id
    assert await read_blocks(node, t.target_disk_id, t.chunk_id) == blocks[wanted]
    header = await node.storage.head_chunk(node.address, t.target_disk_id, t.chunk_id)
    assert header == msgspec.structs.replace(headers[wanted], chunk_id=t.chunk_id)


async def test_rebuild_reads_around_a_corrupt_source(
    aiohttp_client: ClientFactory, tmp_path: Path
) -> None:
    node = await start_node(aiohttp_client, tmp_path)
    headers, blocks = await write_segment(node)
    disks = node.disks.all()
    path = chunk_path(disks[0], headers[0].chunk_id)
    flip(path, path.stat().st_size - 10)  # the last block of fragment 0
    t = task(node, headers, 2, [0, 1, 3, 4, 5])
    await NodeRepairClient(node.client.session, b"component-test-secret").rebuild(
        node.address, t, 30
    )
    assert await read_blocks(node, t.target_disk_id, t.chunk_id) == blocks[2]


async def test_move_copies_the_chunk_and_falls_back_to_decoding(
    aiohttp_client: ClientFactory, tmp_path: Path
) -> None:
    node = await start_node(aiohttp_client, tmp_path)
    headers, blocks = await write_segment(node)
    client = NodeRepairClient(node.client.session, b"component-test-secret")
    t = task(node, headers, 1, [1, 0, 2, 3, 4, 5])
    await client.rebuild(node.address, t, 30)
    assert await read_blocks(node, t.target_disk_id, t.chunk_id) == blocks[1]
    # The chunk being moved is damaged: the copy fails and the others rebuild it.
    disks = node.disks.all()
    path = chunk_path(disks[1], headers[1].chunk_id)
    flip(path, path.stat().st_size // 2)
    t2 = task(node, headers, 1, [1, 0, 2, 3, 4, 5])
    await client.rebuild(node.address, t2, 30)
    assert await read_blocks(node, t2.target_disk_id, t2.chunk_id) == blocks[1]


async def test_rebuild_refuses_sources_of_another_shape(
    aiohttp_client: ClientFactory, tmp_path: Path
) -> None:
    node = await start_node(aiohttp_client, tmp_path)
    headers, _ = await write_segment(node)
    t = msgspec.structs.replace(task(node, headers, 0, [1, 2, 3, 4]), segment_length=LENGTH - 1)
    with pytest.raises(InvalidInputError):
        await NodeRepairClient(node.client.session, b"component-test-secret").rebuild(
            node.address, t, 30
        )
    bad = msgspec.structs.replace(t, fragment_index=9)
    with pytest.raises(InvalidInputError):
        await NodeRepairClient(node.client.session, b"component-test-secret").rebuild(
            node.address, bad, 30
        )


async def test_deep_scrub_walks_a_disk_in_steps_and_names_corrupt_chunks(
    aiohttp_client: ClientFactory, tmp_path: Path
) -> None:
    node = await start_node(aiohttp_client, tmp_path)
    headers, _ = await write_segment(node)
    disk = node.disks.all()[0]
    on_disk = sorted(h.chunk_id for i, h in enumerate(headers) if i % 3 == 0)
    path = chunk_path(disk, on_disk[1])
    flip(path, path.stat().st_size // 2)
    client = NodeRepairClient(node.client.session, b"component-test-secret")
    first = await client.scrub(node.address, disk.disk_id, ScrubBatch(max_bytes=1), 30)
    assert first.chunks_checked == 1 and first.next_after == on_disk[0]
    rest = await client.scrub(
        node.address, disk.disk_id, ScrubBatch(after=first.next_after, rate_bytes_per_s=10**9), 30
    )
    assert rest.next_after is None and rest.chunks_checked == 1
    assert [b.chunk_id for b in rest.bad] == [on_disk[1]]
    assert rest.bytes_checked > 0


async def test_consistency_check_names_a_fragment_written_wrong(
    aiohttp_client: ClientFactory, tmp_path: Path
) -> None:
    node = await start_node(aiohttp_client, tmp_path)
    headers, blocks = await write_segment(node)
    # Fragment 4 rewritten with wrong bytes but valid CRCs: only decode-and-compare sees it.
    wrong = [bytes(len(b)) if j == 1 else b for j, b in enumerate(blocks[4])]
    replacement = msgspec.structs.replace(headers[4], chunk_id=new_id())
    disks = node.disks.all()
    await node.storage.put_chunk(node.address, disks[1].disk_id, replacement, _body(wrong))
    headers = [*headers[:4], replacement, headers[5]]
    sources = task(node, headers, 0, list(range(6))).sources
    sources = [
        s if s.fragment_index != 4 else msgspec.structs.replace(s, disk_id=disks[1].disk_id)
        for s in sources
    ]
    check = ConsistencyCheck(
        sources=sources, profile=PROFILE, segment_length=LENGTH, blocks=[0, 1, 3]
    )
    client = NodeRepairClient(node.client.session, b"component-test-secret")
    result = await client.check(node.address, check, 30)
    assert result.blocks_checked == 3
    assert result.inconsistent == [4] and result.unresolved_blocks == []
    good = ConsistencyCheck(
        sources=task(node, [*headers[:4], headers[4], headers[5]], 0, list(range(6))).sources[:4]
        + sources[4:],
        profile=PROFILE,
        segment_length=LENGTH,
        blocks=[0, 2],
    )
    assert (await client.check(node.address, good, 30)).inconsistent == []
