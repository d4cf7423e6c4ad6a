"""A bucket's lifecycle rules as the gateway and the coordinator exchange them.

Layer: wire (shared by the gateway, which parses and checks S3's documents, and the
coordinator, which stores the rules in the bucket's settings and applies them). The fields
are S3's, without their XML: a rule that matches a version applies its actions once the
version is old enough, counted in lifecycle days (``LifecycleConfig.day_seconds``: 86,400
unless the coordinator is configured with a shorter day for tests).
"""

from __future__ import annotations

import math

import msgspec

DAY_SECONDS = 86_400.0


def due_at(written: float, days: int, day_seconds: float) -> float:
    """When something written at ``written`` is ``days`` lifecycle days old: AWS rounds up to
    the next midnight UTC; a shortened day is not rounded."""
    due = written + days * day_seconds
    if day_seconds < DAY_SECONDS:
        return due
    return math.ceil(due / DAY_SECONDS) * DAY_SECONDS


def cutoff(now: float, days: int, day_seconds: float) -> float:
    """The latest write time that is ``days`` lifecycle days old at ``now`` (``due_at``'s
    inverse: ``due_at(w) <= now`` exactly when ``w <= cutoff(now)``)."""
    if day_seconds < DAY_SECONDS:
        return now - days * day_seconds
    return math.floor(now / DAY_SECONDS) * DAY_SECONDS - days * day_seconds


class LifecycleFilter(msgspec.Struct, frozen=True):
    """What a rule applies to: keys under ``prefix``, with every tag of ``tags``, and sizes
    strictly between ``size_greater_than`` and ``size_less_than`` (None: no bound).

    ``form`` keeps how the document said it, so a Get answers what was put: "prefix" (the
    rule's legacy ``Prefix``), "filter" (a ``Filter`` with one condition or none) or "and"
    (a ``Filter`` with ``And``)."""

    prefix: str = ""
    tags: dict[str, str] = {}
    size_greater_than: int | None = None
    size_less_than: int | None = None
    form: str = "filter"

    def matches(self, key: str, size: int, tags: dict[str, str]) -> bool:
        if not key.startswith(self.prefix):
            return False
        if self.size_greater_than is not None and size <= self.size_greater_than:
            return False
        if self.size_less_than is not None and size >= self.size_less_than:
            return False
        return all(tags.get(k) == v for k, v in self.tags.items())


class LifecycleRule(msgspec.Struct, frozen=True):
    id: str
    enabled: bool
    filter: LifecycleFilter = LifecycleFilter()
    # Expiration of the current version: ``expiration_days`` after its write, or on
    # ``expiration_date`` (Unix seconds, midnight UTC); ``expired_object_delete_marker``
    # removes a current delete marker that no other version of its key is left behind.
    expiration_days: int | None = None
    expiration_date: float | None = None
    expired_object_delete_marker: bool | None = None
    # NoncurrentVersionExpiration: a version ``noncurrent_days`` after a newer one replaced
    # it, keeping the ``newer_noncurrent_versions`` newest non-current ones.
    noncurrent_days: int | None = None
    newer_noncurrent_versions: int | None = None
    # AbortIncompleteMultipartUpload.
    abort_days: int | None = None


class LifecycleConfig(msgspec.Struct, frozen=True):
    rules: list[LifecycleRule]
    # The length of a lifecycle day in seconds (set by the coordinator on the way out).
    day_seconds: float = DAY_SECONDS


class LifecycleSetting(msgspec.Struct, frozen=True):
    """Put a bucket's lifecycle configuration; None removes it."""

    config: LifecycleConfig | None = None
