"""Storage node, durability tier: the whole-stripe consistency check (decode and compare).

Contract (route ``POST /v1/repair/check``, schemas in ``wormfs.wire.repair``): for each asked
stripe of one segment, read the block of every one of its k+m chunks (verified by CRC on the
way), re-encode the stripe from the data fragments and compare with what is stored. A stripe
that disagrees is examined fragment by fragment: the index whose removal leaves the remaining
fragments consistent (decode from k of them, re-encode, compare the rest) is the culprit; with
no single culprit (m < 2, or more than one bad fragment) the stripe is reported unresolved.
A chunk that cannot be read is not this check's business (the deep scrub and the read path
report those); its stripes are skipped. Codec work runs in an executor.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Mapping

from wormfs.clients.storage import StorageClient
from wormfs.erasure import Codec, get_codec
from wormfs.errors import InvalidInputError, WormError
from wormfs.format.layout import stripe_count, stripe_length
from wormfs.wire.repair import ConsistencyCheck, ConsistencyResult, RebuildSource

MAX_BLOCKS = 64


def find_culprits(
    codec: Codec, fragments: Mapping[int, bytes], stripe_len: int
) -> tuple[bool, int | None]:
    """(consistent, the single bad index if one explains the disagreement)."""
    if _consistent(codec, fragments, stripe_len, exclude=None):
        return True, None
    if codec.m < 2:
        return False, None
    for suspect in sorted(fragments):
        if _consistent(codec, fragments, stripe_len, exclude=suspect):
            return False, suspect
    return False, None


def _consistent(
    codec: Codec, fragments: Mapping[int, bytes], stripe_len: int, exclude: int | None
) -> bool:
    rest = {i: f for i, f in fragments.items() if i != exclude}
    try:
        full = codec.encode(codec.decode(rest, stripe_len))
    except Exception:
        # A codec that embeds its own fragment metadata (liberasurecode) refuses a damaged
        # fragment outright: that is a disagreement too.
        return False
    return all(full[i] == f for i, f in rest.items())


async def _block(storage: StorageClient, source: RebuildSource, block: int) -> bytes | None:
    try:
        async with storage.open_chunk(
            source.node_address, source.disk_id, source.chunk_id, block, block
        ) as reader:
            return await reader.read_block(block)
    except WormError:
        return None


async def check_segment(storage: StorageClient, check: ConsistencyCheck) -> ConsistencyResult:
    profile = check.profile
    count = stripe_count(check.segment_length, profile.stripe_size)
    if len(check.blocks) > MAX_BLOCKS or any(not 0 <= b < count for b in check.blocks):
        raise InvalidInputError(f"at most {MAX_BLOCKS} blocks, each within 0..{count - 1}")
    if sorted(s.fragment_index for s in check.sources) != list(range(profile.n)):
        raise InvalidInputError("a consistency check needs every fragment of the segment")
    codec = get_codec(profile.codec, profile.k, profile.m)
    loop = asyncio.get_running_loop()
    bad: set[int] = set()
    unresolved: list[int] = []
    checked = 0
    for block in sorted(set(check.blocks)):
        got = await asyncio.gather(*(_block(storage, s, block) for s in check.sources))
        fragments = {
            s.fragment_index: data for s, data in zip(check.sources, got, strict=True) if data
        }
        if len(fragments) < profile.n:
            continue  # unreadable fragments are reported by the paths that read them
        length = stripe_length(check.segment_length, profile.stripe_size, block)
        with contextlib.suppress(WormError):
            ok, culprit = await loop.run_in_executor(None, find_culprits, codec, fragments, length)
            checked += 1
            if ok:
                continue
            if culprit is None:
                unresolved.append(block)
            else:
                bad.add(culprit)
    return ConsistencyResult(
        blocks_checked=checked, inconsistent=sorted(bad), unresolved_blocks=unresolved
    )
