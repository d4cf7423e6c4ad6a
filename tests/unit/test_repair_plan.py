"""Repair planning (pure), the repair token bucket, and the durability config's validation."""

from __future__ import annotations

import msgspec
import pytest

from wormfs.config import ConfigError, CoordinatorConfig, DurabilityConfig, validate
from wormfs.coordinator.placement import DiskCandidate
from wormfs.coordinator.repair import TokenBucket
from wormfs.coordinator.repair_plan import SourceChunk, choose_sources, choose_target


def disk(disk_id: str, node: str, free: int = 10**9, online: bool = True) -> DiskCandidate:
    return DiskCandidate(disk_id, node, f"http://{node}", free, online)


NODES = {"A": ["A1", "A2", "A3"], "B": ["B1", "B2", "B3"], "C": ["C1", "C2", "C3"]}
ALL = [disk(d, n) for n, ds in NODES.items() for d in ds]


def by_id(*ids: str) -> list[DiskCandidate]:
    return [c for c in ALL if c.disk_id in ids]


def test_target_goes_to_the_node_that_lost_a_chunk() -> None:
    # 4+2 spread 2/2/2; C2 lost: C now holds one surviving chunk, the others two.
    surviving = by_id("A1", "A2", "B1", "B2", "C1")
    target = choose_target(ALL, ["A1", "A2", "B1", "B2", "C1", "C2"], surviving, 100, "seed")
    assert target is not None and target.disk_id == "C3"


def test_target_is_never_a_disk_of_the_segment_or_unusable() -> None:
    taken = ["A1", "A2", "B1", "B2", "C1", "C2"]
    candidates = [c if c.disk_id != "C3" else disk("C3", "C", online=False) for c in ALL]
    target = choose_target(candidates, taken, by_id("A1", "A2", "B1", "B2", "C1"), 100, "s")
    assert target is not None and target.disk_id in {"A3", "B3"}
    full = [
        c if c.disk_id not in {"A3", "B3", "C3"} else disk(c.disk_id, c.node_id, 10) for c in ALL
    ]
    assert choose_target(full, taken, by_id("A1"), 100, "s") is None


def test_rebalance_prefers_the_emptiest_disk() -> None:
    used = {d.disk_id: 0.5 for d in ALL} | {"B3": 0.1, "A3": 0.2}
    target = choose_target(ALL, ["A1", "B1", "C1"], [], 100, "s", used_fraction=used)
    assert target is not None and target.disk_id == "B3"


def test_target_choice_is_deterministic_and_weighted() -> None:
    picks = {
        choose_target(ALL, [], [], 1, f"seed{i}").disk_id  # type: ignore[union-attr]
        for i in range(200)
    }
    assert len(picks) > 3  # rendezvous spreads over disks
    assert choose_target(ALL, [], [], 1, "x") == choose_target(ALL, [], [], 1, "x")


def test_sources_copy_first_then_data_fragments() -> None:
    sources = [SourceChunk(i, f"c{i}", f"d{i}", "n", "a") for i in (5, 0, 3, 1)]
    assert [s.fragment_index for s in choose_sources(sources, 3)] == [3, 0, 1, 5]
    assert [s.fragment_index for s in choose_sources(sources, 2)] == [0, 1, 3, 5]


async def test_token_bucket_paces_to_its_rate() -> None:
    # An injected clock that the bucket's sleeps advance: the pacing is exact, and instant.
    now = [100.0]
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)
        now[0] += seconds

    bucket = TokenBucket(1_000_000, clock=lambda: now[0], sleep=sleep)
    for _ in range(4):
        await bucket.take(100_000)  # 0.4 s of budget, the first take is free
    assert slept == pytest.approx([0.1, 0.1, 0.1])
    now[0] += 10.0  # idle for a while: it lends one take's worth, no more
    await bucket.take(100_000)
    await bucket.take(100_000)
    assert slept[3:] == pytest.approx([0.1])
    free = TokenBucket(0, clock=lambda: now[0], sleep=sleep)
    await free.take(10**12)  # unlimited: returns at once
    assert len(slept) == 4


def test_durability_config_is_validated_with_every_problem() -> None:
    bad = msgspec.structs.replace(
        CoordinatorConfig(),
        durability=DurabilityConfig(repair_concurrency=0, repair_delay=-1, scrub_batch_mb=0),
    )
    with pytest.raises(ConfigError) as info:
        validate(bad)
    text = "\n".join(info.value.problems)
    assert "repair_concurrency" in text and "repair_delay" in text and "scrub_batch_mb" in text
    validate(CoordinatorConfig())
    parsed = msgspec.convert({"durability": {"repair_delay": 2.5}}, CoordinatorConfig)
    assert parsed.durability.repair_delay == 2.5
    with pytest.raises(msgspec.ValidationError):
        msgspec.convert({"durability": {"no_such_knob": 1}}, CoordinatorConfig)
