"""Object Lock's rules, apart from any statement: a bucket's stored configuration, and the
lock a new version is written with.

Layer: coordinator database package (pure functions; ``object_lock.py`` holds the
operations). Contract:

* A bucket's configuration is stored as ``{}`` (Object Lock without a default retention) or
  ``{"mode": "GOVERNANCE" | "COMPLIANCE", "days": N}`` / ``{..., "years": N}``; no document
  means no Object Lock (``BucketFacts.object_lock``).
* ``locked_attributes`` is what every write does before inserting a version (PUT, inline PUT,
  copy, completion): a retention or legal hold the write asks for needs Object Lock
  (``NoObjectLockError``), a mode and a date together, and a date in the future
  (``InvalidRetentionError``); a write that asks for no retention takes the bucket's default,
  counted from now (a year is 365 days, as AWS counts it).
"""

from __future__ import annotations

from typing import Any

import msgspec

from wormfs.errors import InvalidInputError, InvalidRetentionError, NoObjectLockError
from wormfs.wire.coordinator import ObjectAttributes, ObjectLockConfig

GOVERNANCE = "GOVERNANCE"
COMPLIANCE = "COMPLIANCE"
MODES = (GOVERNANCE, COMPLIANCE)
DAY = 86_400.0
YEAR = 365 * DAY


def config_from_json(stored: dict[str, Any] | None) -> ObjectLockConfig:
    if stored is None:
        return ObjectLockConfig()
    return ObjectLockConfig(
        enabled=True,
        mode=str(stored.get("mode", "")),
        days=int(stored.get("days", 0)),
        years=int(stored.get("years", 0)),
    )


def config_to_json(config: ObjectLockConfig) -> dict[str, Any]:
    """The stored form of an enabled configuration (checked: a default retention needs a
    mode and exactly one positive period)."""
    if not config.mode:
        if config.days or config.years:
            raise InvalidInputError("a default retention needs a mode")
        return {}
    if config.mode not in MODES:
        raise InvalidInputError(f"retention modes are {' and '.join(MODES)}")
    if (config.days > 0) == (config.years > 0) or min(config.days, config.years) < 0:
        raise InvalidInputError("a default retention is a positive number of days or years")
    period = {"days": config.days} if config.days else {"years": config.years}
    return {"mode": config.mode, **period}


def asks_for_lock(attributes: ObjectAttributes) -> bool:
    return (
        bool(attributes.lock_mode)
        or attributes.retain_until is not None
        or (attributes.legal_hold is not None)
    )


def check_retention(mode: str, retain_until: float | None, now: float) -> None:
    if (mode == "") != (retain_until is None):
        raise InvalidInputError("a retention needs both a mode and a date")
    if mode and mode not in MODES:
        raise InvalidInputError(f"retention modes are {' and '.join(MODES)}")
    if retain_until is not None and retain_until <= now:
        raise InvalidRetentionError("a retention must end in the future")


def locked_attributes(
    bucket: str, attributes: ObjectAttributes, lock: dict[str, Any] | None, now: float
) -> ObjectAttributes:
    """The attributes a new version is stored with (module docstring); ``lock`` is the
    bucket's stored configuration (``BucketFacts.object_lock``)."""
    if lock is None:
        if asks_for_lock(attributes):
            raise NoObjectLockError(f"bucket {bucket!r} has no Object Lock")
        return attributes
    check_retention(attributes.lock_mode, attributes.retain_until, now)
    if attributes.retain_until is not None or not lock.get("mode"):
        return attributes
    period = int(lock.get("days", 0)) * DAY + int(lock.get("years", 0)) * YEAR
    return msgspec.structs.replace(
        attributes, lock_mode=str(lock["mode"]), retain_until=now + period
    )
