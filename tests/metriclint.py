"""The naming rules of WormFS's Prometheus series, as a check over an exposition's text.

Test support (not installed), used by the unit tests over each daemon's collectors and by the
integration tests over every live ``/metrics``. ``problems(text)`` lists every breach:

* every family is named ``wormfs_...`` in lower snake case;
* counters end in ``_total`` (their samples do) and nothing else does;
* base units only: no ``_milliseconds``/``_ms``/``_kb``/``_mb``/``_percent``...; a name about
  time or size says its unit (``_seconds``, ``_bytes``, ``_timestamp_seconds``); histograms
  end in a unit;
* no label that could be unbounded (an object key, a bucket, a request or version id, a path,
  a user), and at most ``MAX_LABEL_SETS`` label sets per family, ``le`` of a histogram and the
  ``node`` and ``disk`` ids apart (those grow with the cluster, one series per disk, and no
  faster: at most ``MAX_LABEL_SETS`` series per node or disk).
"""

from __future__ import annotations

import re

from prometheus_client.parser import text_string_to_metric_families

MAX_LABEL_SETS = 100
NAME = re.compile(r"^wormfs_[a-z0-9]+(_[a-z0-9]+)*$")
NOT_BASE_UNITS = re.compile(
    r"_(milliseconds|millis|ms|microseconds|us|minutes|hours|days|kb|mb|gb|kib|mib|gib|percent|pct)(_|$)"
)
UNITS = ("_seconds", "_bytes", "_ratio", "_timestamp_seconds", "_bytes_per_second")
# Words that mean a time or a size: a name with one must carry its unit.
TIME_WORDS = re.compile(r"_(age|duration|latency|time|interval|timestamp|delay)(_|$)")
SIZE_WORDS = re.compile(r"_(capacity|size)(_|$)")
SIZED = frozenset({"node", "disk"})  # ids of the cluster's own nodes and disks
UNBOUNDED_LABELS = frozenset(
    {"key", "object", "bucket", "request_id", "version_id", "upload_id", "path", "user", "pid"}
)


def _has_unit(name: str) -> bool:
    base = name.removesuffix("_total")
    return any(base.endswith(unit) for unit in UNITS)


def problems(text: str) -> list[str]:
    found: list[str] = []
    for family in text_string_to_metric_families(text):
        name = family.name
        if not NAME.match(name):
            found.append(f"{name}: not wormfs_ lower snake case")
        if NOT_BASE_UNITS.search(name):
            found.append(f"{name}: not in base units")
        if (TIME_WORDS.search(name) or SIZE_WORDS.search(name)) and not _has_unit(name):
            found.append(f"{name}: names a time or size without its unit")
        if family.type == "histogram" and not _has_unit(name):
            found.append(f"{name}: a histogram without a unit")
        if family.type == "counter":
            bad = [s.name for s in family.samples if not s.name.endswith("_total")]
            if bad:
                found.append(f"{name}: counter samples without _total: {bad[:3]}")
        elif name.endswith("_total") or any(s.name.endswith("_total") for s in family.samples):
            found.append(f"{name}: _total on a {family.type}")
        label_sets = set()
        for sample in family.samples:
            labels = {k: v for k, v in sample.labels.items() if k != "le"}
            unbounded = set(labels) & UNBOUNDED_LABELS
            if unbounded:
                found.append(f"{name}: unbounded labels {sorted(unbounded)}")
            label_sets.add(tuple(sorted((k, v) for k, v in labels.items() if k not in SIZED)))
        if len(label_sets) > MAX_LABEL_SETS:
            found.append(f"{name}: {len(label_sets)} label sets (at most {MAX_LABEL_SETS})")
    return sorted(set(found))


def families(text: str) -> dict[str, str]:
    """Family name -> type, of an exposition."""
    return {f.name: f.type for f in text_string_to_metric_families(text)}


def samples(text: str, name: str) -> list[tuple[dict[str, str], float]]:
    """(labels, value) of every sample named exactly ``name``."""
    return [
        (dict(s.labels), s.value)
        for f in text_string_to_metric_families(text)
        for s in f.samples
        if s.name == name
    ]
