"""Object Lock as S3 writes it: the lock headers of a write, the lock documents, the dates.

Layer: gateway (S3 syntax only; the rules that need the bucket are the coordinator's,
``coordinator/db/lock_rules.py``). Contract:

* ``with_lock_headers`` reads ``x-amz-object-lock-mode``, ``x-amz-object-lock-retain-until-date``
  and ``x-amz-object-lock-legal-hold`` of a PUT, copy or CreateMultipartUpload: a mode and a
  date come together (``InvalidArgument`` otherwise), the mode is GOVERNANCE or COMPLIANCE,
  the date ISO 8601 and the hold ON or OFF (``InvalidArgument``). A write that gives any of
  them needs a Content-MD5 or an x-amz-checksum (header, trailer or SDK algorithm), as AWS
  demands (``InvalidRequest``).
* ``lock_headers`` is what GET and HEAD show of a version's lock.
* ``parse_lock_configuration`` / ``parse_retention`` / ``parse_legal_hold`` read the request
  documents of PutObjectLockConfiguration, PutObjectRetention and PutObjectLegalHold
  (``MalformedXML`` for a wrong shape or value, ``InvalidRetentionPeriod`` for a period that is
  not a positive integer), and the ``*_document`` functions write the answers of the Gets.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from typing import Any

import msgspec
from multidict import CIMultiDictProxy

from wormfs.gateway.errors import (
    InvalidArgument,
    InvalidRequest,
    InvalidRetentionPeriod,
    MalformedXML,
)
from wormfs.gateway.xml import Elem, child_text, iso8601, parse_iso8601
from wormfs.wire.coordinator import ObjectAttributes, ObjectLockConfig

Headers = CIMultiDictProxy[str]

MODES = ("GOVERNANCE", "COMPLIANCE")
MODE_HEADER = "x-amz-object-lock-mode"
UNTIL_HEADER = "x-amz-object-lock-retain-until-date"
HOLD_HEADER = "x-amz-object-lock-legal-hold"
BYPASS_HEADER = "x-amz-bypass-governance-retention"


def _integrity_given(headers: Headers) -> bool:
    if "content-md5" in headers or "x-amz-sdk-checksum-algorithm" in headers:
        return True
    if "x-amz-checksum-" in headers.get("x-amz-trailer", "").lower():
        return True
    return any(
        name.lower().startswith("x-amz-checksum-") and name.lower() != "x-amz-checksum-type"
        for name in headers
    )


def with_lock_headers(attributes: ObjectAttributes, headers: Headers) -> ObjectAttributes:
    """``attributes`` with the lock a write's headers ask for, and nothing else of a lock
    (a copy's source lock goes)."""
    fields: dict[str, Any] = {"lock_mode": "", "retain_until": None, "legal_hold": None}
    fields.update(_lock_fields(headers))
    return msgspec.structs.replace(attributes, **fields)


def _lock_fields(headers: Headers) -> dict[str, Any]:
    mode = headers.get(MODE_HEADER)
    until = headers.get(UNTIL_HEADER)
    hold = headers.get(HOLD_HEADER)
    if mode is None and until is None and hold is None:
        return {}
    if (mode is None) != (until is None):
        raise InvalidArgument(
            "x-amz-object-lock-retain-until-date and x-amz-object-lock-mode must both be supplied",
            ArgumentName=MODE_HEADER if mode is None else UNTIL_HEADER,
        )
    out: dict[str, Any] = {}
    if mode is not None and until is not None:
        if mode not in MODES:
            raise InvalidArgument(
                "Unknown wormMode directive.", ArgumentName=MODE_HEADER, ArgumentValue=mode
            )
        seconds = parse_iso8601(until)
        if seconds is None:
            raise InvalidArgument(
                "The retain until date must be a valid ISO 8601 date.",
                ArgumentName=UNTIL_HEADER,
                ArgumentValue=until,
            )
        out.update(lock_mode=mode, retain_until=seconds)
    if hold is not None:
        if hold not in ("ON", "OFF"):
            raise InvalidArgument(
                "Legal Hold must be either of 'ON' or 'OFF'",
                ArgumentName=HOLD_HEADER,
                ArgumentValue=hold,
            )
        out["legal_hold"] = hold == "ON"
    if not _integrity_given(headers):
        raise InvalidRequest(
            "Content-MD5 OR x-amz-checksum- HTTP header is required for Put Object requests "
            "with Object Lock parameters"
        )
    return out


def wants_bypass(headers: Headers) -> bool:
    return headers.get(BYPASS_HEADER, "").strip().lower() == "true"


def lock_headers(attributes: ObjectAttributes) -> dict[str, str]:
    headers = {}
    if attributes.lock_mode and attributes.retain_until is not None:
        headers[MODE_HEADER] = attributes.lock_mode
        headers[UNTIL_HEADER] = iso8601(attributes.retain_until)
    if attributes.legal_hold is not None:
        headers[HOLD_HEADER] = "ON" if attributes.legal_hold else "OFF"
    return headers


# ---- documents ---------------------------------------------------------------------------------
def _positive(text: str | None) -> int:
    try:
        value = int(text or "")
    except ValueError:
        raise MalformedXML() from None
    if value <= 0:
        raise InvalidRetentionPeriod()
    return value


def parse_lock_configuration(doc: ET.Element) -> ObjectLockConfig:
    if doc.tag != "ObjectLockConfiguration" or child_text(doc, "ObjectLockEnabled") != "Enabled":
        raise MalformedXML()
    rule = doc.find("Rule")
    if rule is None:
        return ObjectLockConfig(enabled=True)
    default = rule.find("DefaultRetention")
    if default is None:
        raise MalformedXML()
    mode = child_text(default, "Mode")
    days, years = child_text(default, "Days"), child_text(default, "Years")
    if mode not in MODES or (days is None) == (years is None):
        raise MalformedXML()
    if days is not None:
        return ObjectLockConfig(enabled=True, mode=mode, days=_positive(days))
    return ObjectLockConfig(enabled=True, mode=mode, years=_positive(years))


def lock_configuration_document(config: ObjectLockConfig) -> Elem:
    root = Elem("ObjectLockConfiguration")
    root.leaf("ObjectLockEnabled", "Enabled")
    if config.mode:
        default = root.add("Rule").add("DefaultRetention")
        default.leaf("Mode", config.mode)
        if config.days:
            default.leaf("Days", config.days)
        else:
            default.leaf("Years", config.years)
    return root


def parse_retention(doc: ET.Element | None) -> tuple[str, float | None]:
    """A Retention document's mode and date ("" and None: an empty one, which removes it)."""
    if doc is None:
        return "", None
    if doc.tag != "Retention":
        raise MalformedXML()
    mode, until = child_text(doc, "Mode"), child_text(doc, "RetainUntilDate")
    if mode is None and until is None:
        return "", None
    if mode not in MODES or until is None:
        raise MalformedXML()
    seconds = parse_iso8601(until)
    if seconds is None:
        raise MalformedXML()
    return mode, seconds


def retention_document(mode: str, retain_until: float) -> Elem:
    root = Elem("Retention")
    root.leaf("Mode", mode)
    root.leaf("RetainUntilDate", iso8601(retain_until))
    return root


def parse_legal_hold(doc: ET.Element | None) -> bool:
    if doc is None or doc.tag != "LegalHold":
        raise MalformedXML()
    status = child_text(doc, "Status")
    if status not in ("ON", "OFF"):
        raise MalformedXML()
    return status == "ON"


def legal_hold_document(on: bool) -> Elem:
    root = Elem("LegalHold")
    root.leaf("Status", "ON" if on else "OFF")
    return root
