"""Placement: which k+m disks hold the chunks of a segment. Pure functions, no I/O.

Layer: coordinator, below the repositories (which feed it the disks they read) and above
nothing. Contract, per segment (invariant 2):

* k+m distinct usable disks (online disk on a live node, with room for the chunk), never two
  chunks of one segment on one disk;
* spread over nodes first: no node gets a second chunk while another node with a usable disk
  has none (more generally, every pick is from a least-loaded node); among those, over zones,
  then racks, when labels exist;
* among equally spread choices, weighted rendezvous hashing on (segment seed, disk id) with the
  disk's free bytes as weight, so fuller disks get proportionally fewer chunks, the result is
  deterministic for the same inputs, and adding a disk moves only the placements it wins;
* fewer usable disks than k+m -> ``InsufficientDisksError`` naming what is missing, because a
  write is never silently under-protected.

Worked example: one node with six disks and k+m = 6 -> all six disks, in rendezvous order.
Two nodes of three disks, k+m = 6 -> node loads go 1,1 then 2,2 then 3,3: each node gets three.
"""

from __future__ import annotations

import hashlib
import math
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from wormfs.errors import InsufficientDisksError
from wormfs.format.layout import Profile, stripe_count
from wormfs.wire.coordinator import ChunkPlacement, Segment

# A chunk file is its fragment bytes plus a header and per-block checksums; this bound on the
# extra bytes keeps placement from choosing a disk that would fill up half-way through.
CHUNK_HEADER_ALLOWANCE = 64 * 1024
PER_STRIPE_ALLOWANCE = 64  # padding of the fragment to the codec's alignment, plus its CRC


@dataclass(frozen=True)
class DiskCandidate:
    """A disk as placement sees it. ``online``: the disk and its node are both usable now (in
    SQL, ``wormfs.coordinator.db.liveness.DISK_WRITABLE``: an online, undrained disk on a live
    node)."""

    disk_id: str
    node_id: str
    node_address: str
    free_bytes: int
    online: bool = True
    rack: str = ""
    zone: str = ""

    def can_take(self, need: int) -> bool:
        """The one in-memory rule of a usable disk: online and with room for ``need`` bytes
        (placement of new segments and the target of a rebuilt chunk both ask it)."""
        return self.online and self.free_bytes >= need


def chunk_bytes_needed(segment_length: int, profile: Profile) -> int:
    """An upper bound on the size of one chunk of a segment of ``segment_length`` bytes."""
    stripes = stripe_count(segment_length, profile.stripe_size)
    return -(-segment_length // profile.k) + stripes * PER_STRIPE_ALLOWANCE + CHUNK_HEADER_ALLOWANCE


def rendezvous_score(seed: str, disk_id: str, weight: float) -> float:
    """Weighted rendezvous score (larger wins): ``weight / -ln(u)``, u uniform in (0, 1).

    The disk with the largest score over all disks is chosen with probability proportional
    to its weight, independently for every seed.
    """
    digest = hashlib.blake2b(f"{seed}\x00{disk_id}".encode(), digest_size=8).digest()
    u = (int.from_bytes(digest, "big") + 0.5) / 2.0**64
    return weight / -math.log(u)


def place_segment(
    candidates: Sequence[DiskCandidate], count: int, seed: str, need: int = 0
) -> list[DiskCandidate]:
    """``count`` distinct usable disks for one segment, best first (fragment order)."""
    usable = [c for c in candidates if c.can_take(need)]
    if len({c.disk_id for c in usable}) < count:
        raise InsufficientDisksError(_shortage(candidates, usable, count, need))
    # Rank once by rendezvous score; spreading then picks the best-ranked disk among those on
    # the least-loaded node / zone / rack.
    ranked = sorted(
        {c.disk_id: c for c in usable}.values(),
        key=lambda c: (-rendezvous_score(seed, c.disk_id, float(max(c.free_bytes, 1))), c.disk_id),
    )
    node_load: Counter[str] = Counter()
    zone_load: Counter[str] = Counter()
    rack_load: Counter[tuple[str, str]] = Counter()
    chosen: list[DiskCandidate] = []
    remaining = list(enumerate(ranked))
    for _ in range(count):
        pos, best = min(
            remaining,
            key=lambda item: (
                node_load[item[1].node_id],
                zone_load[item[1].zone],
                rack_load[(item[1].zone, item[1].rack)],
                item[0],
            ),
        )
        remaining.remove((pos, best))
        chosen.append(best)
        node_load[best.node_id] += 1
        zone_load[best.zone] += 1
        rack_load[(best.zone, best.rack)] += 1
    return chosen


def place_segments(
    candidates: Sequence[DiskCandidate], lengths: Sequence[int], profile: Profile, seed: str
) -> list[list[DiskCandidate]]:
    """Placements for consecutive segments of one write.

    Free space is charged as segments are placed, so a write of many segments does not plan
    more bytes onto a disk than it has.
    """
    free = {c.disk_id: c.free_bytes for c in candidates}
    out: list[list[DiskCandidate]] = []
    for index, length in enumerate(lengths):
        need = chunk_bytes_needed(length, profile)
        current = [
            DiskCandidate(
                disk_id=c.disk_id,
                node_id=c.node_id,
                node_address=c.node_address,
                free_bytes=free[c.disk_id],
                online=c.online,
                rack=c.rack,
                zone=c.zone,
            )
            for c in candidates
        ]
        chosen = place_segment(current, profile.n, f"{seed}/{index}", need)
        for disk in chosen:
            free[disk.disk_id] -= need
        out.append(chosen)
    return out


def granted_segments(
    lengths: Sequence[int], placed: Sequence[Sequence[DiskCandidate]], chunk_id: Callable[[], str]
) -> list[Segment]:
    """The segments of a write as granted: consecutive offsets, fragment i on the i-th disk
    placed for it, each chunk named by a fresh ``chunk_id()``."""
    segments: list[Segment] = []
    offset = 0
    for index, (length, disks) in enumerate(zip(lengths, placed, strict=True)):
        chunks = [
            ChunkPlacement(
                fragment_index=fragment,
                chunk_id=chunk_id(),
                disk_id=disk.disk_id,
                node_id=disk.node_id,
                node_address=disk.node_address,
            )
            for fragment, disk in enumerate(disks)
        ]
        segments.append(Segment(segment_index=index, offset=offset, length=length, chunks=chunks))
        offset += length
    return segments


def _shortage(
    candidates: Sequence[DiskCandidate], usable: Sequence[DiskCandidate], count: int, need: int
) -> str:
    offline = sum(1 for c in candidates if not c.online)
    full = sum(1 for c in candidates if c.online and not c.can_take(need))
    return (
        f"need {count} usable disks (k+m) with {need} bytes free each, have {len(usable)} "
        f"of {len(candidates)} known ({offline} offline or on offline nodes, {full} without "
        "room); add or repair disks, or use a profile with a smaller k+m"
    )
