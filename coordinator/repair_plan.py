"""Repair planning: where a rebuilt chunk goes and which chunks it is rebuilt from. Pure.

Layer: coordinator, beside ``placement`` (whose rules it extends to one chunk of a segment
that already has the others). No I/O; the repair repository feeds it rows it read.

Contract:

* ``choose_target`` picks one usable disk for fragment ``i`` of a segment: never a disk that
  holds (or held) a chunk of the segment (invariant 2: one chunk per disk), and spread over
  nodes first: the least-loaded node among the segment's surviving chunks wins, then zone,
  then rack, as ``placement.place_segment`` does for a fresh write. Ties go to weighted
  rendezvous on (seed, disk) with free bytes as weight, or, for a rebalance, to the emptiest
  disk (by used fraction) so that moves even out usage. ``None`` when no disk qualifies.
* ``choose_sources`` orders the surviving chunks a node rebuilds from: for a move (drain,
  rebalance) the chunk itself first (a verbatim copy is cheapest), then data fragments before
  parity (decoding from data fragments alone is the cheapest decode).

Worked example: 4+2 over three nodes A, B, C (two disks each), chunks on A1 A2 B1 B2 C1 and
the chunk on C2 lost: C has one surviving chunk, A and B two, so the target must be on C; C2
held the segment, so if C has no third disk there is no target on C and the least-loaded of
the rest would do (here none: every disk of A and B already holds a chunk) -> ``None``.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from wormfs.coordinator.placement import DiskCandidate, rendezvous_score


@dataclass(frozen=True)
class SourceChunk:
    """A surviving chunk of the segment being repaired."""

    fragment_index: int
    chunk_id: str
    disk_id: str
    node_id: str
    node_address: str


def choose_target(
    candidates: Sequence[DiskCandidate],
    segment_disks: Iterable[str],
    surviving: Sequence[DiskCandidate],
    need: int,
    seed: str,
    used_fraction: dict[str, float] | None = None,
) -> DiskCandidate | None:
    """One usable disk for a rebuilt chunk, or ``None`` (see the module docstring)."""
    taken = set(segment_disks)
    usable = [c for c in candidates if c.can_take(need) and c.disk_id not in taken]
    if not usable:
        return None
    node_load: Counter[str] = Counter(c.node_id for c in surviving)
    zone_load: Counter[str] = Counter(c.zone for c in surviving)
    rack_load: Counter[tuple[str, str]] = Counter((c.zone, c.rack) for c in surviving)

    def rank(c: DiskCandidate) -> tuple[int, int, int, float, str]:
        if used_fraction is not None:
            tie = used_fraction.get(c.disk_id, 0.0)
        else:
            tie = -rendezvous_score(seed, c.disk_id, float(max(c.free_bytes, 1)))
        return (
            node_load[c.node_id],
            zone_load[c.zone],
            rack_load[(c.zone, c.rack)],
            tie,
            c.disk_id,
        )

    return min(usable, key=rank)


def choose_sources(sources: Sequence[SourceChunk], wanted_index: int) -> list[SourceChunk]:
    """Surviving chunks in the order a rebuild should try them."""
    return sorted(sources, key=lambda s: (s.fragment_index != wanted_index, s.fragment_index))
