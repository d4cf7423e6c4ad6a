"""Configuration of the durability jobs: repair, scrub, orphan collection (coordinator side).

Layer: shared config (a frozen, typed structure like every section of ``wormfs.config``; it
lives in its own module because it is one subject). It is the ``[durability]`` table of the
coordinator's TOML file; ``durability_problems`` lists every problem at once and
``wormfs.config.validate`` reports them with the rest.

Defaults follow what the field does in practice: a node that is briefly restarted must not
set off a rebuild of everything it holds (``repair_delay``), a deep scrub reads every byte
once a week at a budget that leaves foreground traffic alone, and a chunk nobody references
is deleted only well after any write that could still claim it has expired.
"""

from __future__ import annotations

import msgspec

MB = 1_000_000


class DurabilityConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    # Repair.
    repair_delay: float = 600.0  # a disk or node unavailable this long has its chunks rebuilt
    repair_scan_interval: float = 10.0  # how often unavailable disks and drains are looked at
    repair_rate_mb: float = 400.0  # MB/s of chunk data rebuilt, cluster-wide; 0 = unlimited
    repair_concurrency: int = 4  # rebuild tasks in flight, cluster-wide
    repair_retry: float = 30.0  # first back-off after a failed rebuild (doubles, capped)
    # Scrub.
    shallow_scrub_interval: float = 86_400.0  # inventory vs metadata, per disk
    deep_scrub_interval: float = 7 * 86_400.0  # every block checksum, per disk
    scrub_rate_mb: float = 50.0  # MB/s read by the deep scrub, per disk; 0 = unpaced
    scrub_duty: float = 0.1  # share of a disk's time a deep scrub may read (backs off when busy)
    scrub_batch_mb: float = 256.0  # bytes verified per node call (a resumable step)
    consistency_sample: int = 2  # segments per deep-scrub step decoded and compared (3 stripes)
    # Garbage collection of chunks no metadata references.
    orphan_delay: float = 6 * 3600.0  # an unreferenced chunk must be this old to go

    @property
    def repair_rate_bytes(self) -> int:
        return int(self.repair_rate_mb * MB)

    @property
    def scrub_rate_bytes(self) -> int:
        return int(self.scrub_rate_mb * MB)


def durability_problems(config: DurabilityConfig) -> list[str]:
    problems = []
    for name in (
        "repair_delay",
        "repair_rate_mb",
        "scrub_rate_mb",
        "orphan_delay",
    ):
        if getattr(config, name) < 0:
            problems.append(f"durability.{name} must not be negative")
    for name in (
        "repair_scan_interval",
        "repair_retry",
        "shallow_scrub_interval",
        "deep_scrub_interval",
        "scrub_batch_mb",
    ):
        if getattr(config, name) <= 0:
            problems.append(f"durability.{name} must be positive")
    if not 1 <= config.repair_concurrency <= 256:
        problems.append("durability.repair_concurrency must be within 1..256")
    if not 0 < config.scrub_duty <= 1:
        problems.append("durability.scrub_duty must be within (0, 1]")
    if not 0 <= config.consistency_sample <= 1024:
        problems.append("durability.consistency_sample must be within 0..1024")
    return problems
