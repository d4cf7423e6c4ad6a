"""Recent samples of cluster figures, kept in the coordinator's memory for the UI's charts.

Layer: coordinator UI (no HTTP, no SQL: a probe function supplies the figures). Contract:

* ``Samples(capacity)`` keeps, per series name, the last ``capacity`` ``(time, value)`` points.
* ``record(now, figures)`` appends one point to each named series.
* ``series(name)`` answers ``(times, values)`` (oldest first), ready for a uPlot chart;
  ``rate(name)`` the per-second change between the last two points of a cumulative series
  (``None`` with fewer than two, 0 when it fell, e.g. after deletes).
* ``sample_loop(samples, probe, interval)`` calls ``probe()`` every ``interval`` seconds and
  records what it answers; a failing probe is logged and the loop goes on (a sparkline with a
  gap beats a dead sampler).

Why memory and not Prometheus: the Overview's sparkline (repair backlog over time) must work
on a single machine with no monitoring stack; an hour at 10 s is 360 points per series.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable, Mapping

log = logging.getLogger(__name__)

Probe = Callable[[], Awaitable[Mapping[str, float]]]


class Samples:
    def __init__(self, capacity: int = 360) -> None:
        self.capacity = capacity
        self._series: dict[str, deque[tuple[float, float]]] = {}

    def record(self, now: float, figures: Mapping[str, float]) -> None:
        for name, value in figures.items():
            points = self._series.setdefault(name, deque(maxlen=self.capacity))
            points.append((now, float(value)))

    def series(self, name: str) -> tuple[list[float], list[float]]:
        points = self._series.get(name, ())
        return [t for t, _ in points], [v for _, v in points]

    def rate(self, name: str) -> float | None:
        points = self._series.get(name)
        if points is None or len(points) < 2:
            return None
        (t0, v0), (t1, v1) = points[-2], points[-1]
        if t1 <= t0:
            return None
        return max(0.0, (v1 - v0) / (t1 - t0))


async def sample_loop(samples: Samples, probe: Probe, interval: float) -> None:
    while True:
        try:
            samples.record(time.time(), await probe())
        except asyncio.CancelledError:
            raise
        except Exception:
            log.warning("UI sampler: probe failed; next try in %.0f s", interval, exc_info=True)
        await asyncio.sleep(interval)
