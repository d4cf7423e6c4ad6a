"""Placement: distinct disks, node-first spreading, rack/zone spreading, weighting, determinism."""

from __future__ import annotations

from collections import Counter

import pytest

from wormfs.coordinator.placement import (
    DiskCandidate,
    chunk_bytes_needed,
    place_segment,
    place_segments,
    rendezvous_score,
)
from wormfs.errors import InsufficientDisksError
from wormfs.format.layout import Profile

GIB = 1024**3
PROFILE = Profile(codec="zfec", k=4, m=2, stripe_size=1024 * 1024)


def cluster(
    nodes: int, disks_per_node: int, free: int = 100 * GIB, **labels: str
) -> list[DiskCandidate]:
    return [
        DiskCandidate(
            disk_id=f"n{n}-d{d}",
            node_id=f"n{n}",
            node_address=f"http://node{n}",
            free_bytes=free,
            **labels,
        )
        for n in range(nodes)
        for d in range(disks_per_node)
    ]


def test_single_node_six_disks_uses_all_six() -> None:
    disks = cluster(1, 6)
    for seed in range(50):
        chosen = place_segment(disks, 6, f"seed-{seed}")
        assert sorted(d.disk_id for d in chosen) == sorted(d.disk_id for d in disks)


@pytest.mark.parametrize(("nodes", "per_node"), [(1, 8), (2, 5), (3, 3), (6, 1), (10, 4)])
def test_distinct_disks(nodes: int, per_node: int) -> None:
    disks = cluster(nodes, per_node)
    for seed in range(100):
        chosen = place_segment(disks, 6, str(seed))
        assert len({d.disk_id for d in chosen}) == 6


def test_nodes_before_second_chunk_on_a_node() -> None:
    # 4 nodes, one with many disks: every node gets one before any gets a second.
    disks = cluster(3, 2) + [
        DiskCandidate(f"big-d{i}", "big", "http://big", 100 * GIB) for i in range(10)
    ]
    for seed in range(200):
        loads = Counter(d.node_id for d in place_segment(disks, 6, str(seed)))
        assert set(loads) == {"n0", "n1", "n2", "big"}
        assert max(loads.values()) - min(loads.values()) <= 1


def test_more_nodes_than_chunks_never_doubles_up() -> None:
    disks = cluster(8, 3)
    for seed in range(200):
        loads = Counter(d.node_id for d in place_segment(disks, 6, str(seed)))
        assert max(loads.values()) == 1


def test_offline_nodes_do_not_count_for_spreading() -> None:
    disks = cluster(2, 3) + [
        DiskCandidate(f"off-d{i}", "off", "http://off", 100 * GIB, online=False) for i in range(3)
    ]
    chosen = place_segment(disks, 6, "s")
    assert {d.node_id for d in chosen} == {"n0", "n1"}


def test_zone_and_rack_spreading() -> None:
    # Zone a: 3 nodes; zone b: 3 nodes; k+m = 4 must use both zones evenly.
    disks = []
    for n in range(6):
        zone = "a" if n < 3 else "b"
        disks += [
            DiskCandidate(
                f"n{n}-d{d}", f"n{n}", f"http://n{n}", 100 * GIB, zone=zone, rack=f"r{n % 2}"
            )
            for d in range(2)
        ]
    for seed in range(200):
        chosen = place_segment(disks, 4, str(seed))
        zones = Counter(d.zone for d in chosen)
        assert zones == {"a": 2, "b": 2}
        assert len({d.node_id for d in chosen}) == 4
        # Within each zone, its two chunks sit on different racks when the zone has both.
        for zone in "ab":
            racks = [d.rack for d in chosen if d.zone == zone]
            assert len(set(racks)) == 2


def test_weighted_by_free_space() -> None:
    # One disk with 3x the free space of another wins about 3 of 4 single-chunk placements.
    disks = [
        DiskCandidate("small", "n0", "http://n0", 10 * GIB),
        DiskCandidate("large", "n1", "http://n1", 30 * GIB),
    ]
    wins = Counter(place_segment(disks, 1, f"seed-{i}")[0].disk_id for i in range(4000))
    share = wins["large"] / 4000
    assert 0.70 < share < 0.80


def test_rendezvous_is_uniform_over_equal_disks() -> None:
    disks = cluster(1, 10)
    wins = Counter(place_segment(disks, 1, f"s{i}")[0].disk_id for i in range(5000))
    assert len(wins) == 10
    assert min(wins.values()) > 350


def test_deterministic() -> None:
    disks = cluster(4, 4)
    first = [place_segment(disks, 6, f"w/{i}") for i in range(20)]
    again = [place_segment(list(reversed(disks)), 6, f"w/{i}") for i in range(20)]
    assert first == again
    assert rendezvous_score("a", "b", 1.0) == rendezvous_score("a", "b", 1.0)


def test_adding_a_disk_moves_few_placements() -> None:
    disks = cluster(1, 12)
    before = [place_segment(disks, 1, f"s{i}")[0].disk_id for i in range(2000)]
    more = [*disks, DiskCandidate("new", "n0", "http://node0", 100 * GIB)]
    after = [place_segment(more, 1, f"s{i}")[0].disk_id for i in range(2000)]
    moved = [(b, a) for b, a in zip(before, after, strict=True) if b != a]
    assert all(a == "new" for _, a in moved)  # only the new disk takes placements
    assert len(moved) < 2000 * 0.15


def test_insufficient_disks() -> None:
    disks = cluster(1, 5)
    with pytest.raises(InsufficientDisksError) as info:
        place_segment(disks, 6, "s")
    assert "need 6 usable disks" in info.value.message
    assert "have 5 of 5 known" in info.value.message


def test_offline_and_full_disks_are_excluded_and_explained() -> None:
    disks = [
        *cluster(1, 4),
        DiskCandidate("off", "n0", "http://node0", 100 * GIB, online=False),
        DiskCandidate("full", "n0", "http://node0", 10),
    ]
    with pytest.raises(InsufficientDisksError) as info:
        place_segment(disks, 6, "s", need=1000)
    assert "1 offline" in info.value.message
    assert "1 without room" in info.value.message


def test_place_segments_charges_free_space() -> None:
    # Each disk has room for exactly one chunk of a segment: the second segment must fail.
    segment = 4 * 1024 * 1024
    need = chunk_bytes_needed(segment, PROFILE)
    disks = cluster(1, 6, free=need + 10)
    assert len(place_segments(disks, [segment], PROFILE, "w")) == 1
    with pytest.raises(InsufficientDisksError):
        place_segments(disks, [segment, segment], PROFILE, "w")
    # With two sets of six disks, two segments fit.
    roomy = cluster(2, 6, free=need + 10)
    placed = place_segments(roomy, [segment, segment], PROFILE, "w")
    assert not {d.disk_id for d in placed[0]} & {d.disk_id for d in placed[1]}


def test_chunk_bytes_needed_covers_a_fragment() -> None:
    assert chunk_bytes_needed(4 * 1024 * 1024, PROFILE) > 1024 * 1024
    assert chunk_bytes_needed(0, PROFILE) > 0
