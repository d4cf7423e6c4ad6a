"""Lifecycle configurations as S3 writes them: the document of PutBucketLifecycleConfiguration
checked rule by rule, the document GetBucketLifecycleConfiguration answers, and the
``x-amz-expiration`` header.

Layer: gateway (S3 syntax and AWS's validation; the coordinator stores and applies the
rules, ``coordinator/lifecycle.py``). Contract of ``parse_lifecycle``, as AWS answers:

* a wrong shape is ``MalformedXML``: another root, a rule without ``Status`` ``Enabled`` /
  ``Disabled``, a rule with both ``Prefix`` and ``Filter``, a ``Filter`` with more than one
  condition outside ``And``, an ``Expiration`` with more than one of ``Days``, ``Date`` and
  ``ExpiredObjectDeleteMarker``, numbers that are not numbers, more than 1,000 rules;
* a wrong value is ``InvalidArgument``: an ``ID`` over 255 characters or given twice, days or
  counts that are not positive, a ``Date`` that is not midnight UTC, sizes that leave no
  room between them;
* ``InvalidRequest``: a rule without an action, ``AbortIncompleteMultipartUpload`` or
  ``ExpiredObjectDeleteMarker`` with a tag filter;
* transitions (``Transition``, ``NoncurrentVersionTransition``) are 501: WormFS moves no
  object between storage classes on its own.

A rule without ``ID`` gets one, as AWS gives it. ``expiration_header`` names the first
enabled rule that expires a version (``Days`` or ``Date``) with its date: a version's write
plus the days, rounded up to the next midnight UTC when a lifecycle day is a real day.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET

from wormfs.gateway.errors import InvalidArgument, InvalidRequest, MalformedXML, S3NotImplemented
from wormfs.gateway.xml import Elem, child_text, http_date, iso8601, parse_iso8601
from wormfs.ids import new_id
from wormfs.wire.lifecycle import (
    DAY_SECONDS,
    LifecycleConfig,
    LifecycleFilter,
    LifecycleRule,
    due_at,
)

MAX_RULES = 1000
MAX_ID = 255


def _int(text: str | None, what: str, minimum: int = 1) -> int:
    try:
        value = int((text or "").strip())
    except ValueError:
        raise MalformedXML() from None
    if value < minimum:
        raise InvalidArgument(f"'{what}' must be a positive integer")
    return value


def _optional_int(parent: ET.Element, name: str, what: str, minimum: int = 1) -> int | None:
    text = child_text(parent, name)
    return None if text is None else _int(text, what, minimum)


def _tag(elem: ET.Element) -> tuple[str, str]:
    key = child_text(elem, "Key")
    if key is None:
        raise MalformedXML()
    return key, child_text(elem, "Value") or ""


def _conditions(parent: ET.Element) -> dict[str, object]:
    out: dict[str, object] = {}
    prefix = parent.find("Prefix")
    if prefix is not None:
        out["prefix"] = prefix.text or ""
    tags = dict(_tag(t) for t in parent.findall("Tag"))
    if len(tags) != len(parent.findall("Tag")):
        raise InvalidArgument("Duplicate Tag Keys are not allowed.")
    if tags:
        out["tags"] = tags
    for name, field in (
        ("ObjectSizeGreaterThan", "size_greater_than"),
        ("ObjectSizeLessThan", "size_less_than"),
    ):
        value = _optional_int(parent, name, name, minimum=0)
        if value is not None:
            out[field] = value
    return out


def _filter(rule: ET.Element) -> LifecycleFilter:
    legacy, filt = rule.find("Prefix"), rule.find("Filter")
    if legacy is not None and filt is not None:
        raise MalformedXML()
    if legacy is not None:
        return LifecycleFilter(prefix=legacy.text or "", form="prefix")
    if filt is None:
        return LifecycleFilter()
    both = filt.find("And")
    if both is not None:
        if len(filt) != 1:
            raise MalformedXML()
        found = _conditions(both)
        form = "and"
    else:
        found = _conditions(filt)
        if len(filt) > 1:  # one condition alone, or And
            raise MalformedXML()
        form = "filter"
    result = LifecycleFilter(form=form, **found)  # type: ignore[arg-type]
    low, high = result.size_greater_than, result.size_less_than
    if low is not None and high is not None and low >= high:
        raise InvalidArgument("ObjectSizeGreaterThan must be less than ObjectSizeLessThan")
    return result


def _midnight(text: str) -> float:
    seconds = parse_iso8601(text)
    if seconds is None or len(text.strip()) < 10 or seconds % DAY_SECONDS:
        raise InvalidArgument("'Date' must be at midnight GMT")
    return seconds


def _rule(elem: ET.Element) -> LifecycleRule:
    status = child_text(elem, "Status")
    if status not in ("Enabled", "Disabled"):
        raise MalformedXML()
    if elem.find("Transition") is not None or elem.find("NoncurrentVersionTransition") is not None:
        raise S3NotImplemented("Lifecycle transitions between storage classes are not implemented")
    rule_id = child_text(elem, "ID") or new_id()[:20]
    if len(rule_id) > MAX_ID:
        raise InvalidArgument("ID length should not exceed allowed limit of 255")
    filt = _filter(elem)
    fields: dict[str, object] = {}
    expiration = elem.find("Expiration")
    if expiration is not None:
        given = [
            expiration.find(n) is not None for n in ("Days", "Date", "ExpiredObjectDeleteMarker")
        ]
        if sum(given) != 1:
            raise MalformedXML()
        if given[0]:
            fields["expiration_days"] = _int(child_text(expiration, "Days"), "Days")
        elif given[1]:
            fields["expiration_date"] = _midnight(child_text(expiration, "Date") or "")
        else:
            marker = (child_text(expiration, "ExpiredObjectDeleteMarker") or "").strip().lower()
            if marker not in ("true", "false"):
                raise MalformedXML()
            fields["expired_object_delete_marker"] = marker == "true"
    noncurrent = elem.find("NoncurrentVersionExpiration")
    if noncurrent is not None:
        days = child_text(noncurrent, "NoncurrentDays")
        if days is None:
            raise MalformedXML()
        fields["noncurrent_days"] = _int(days, "NoncurrentDays")
        newer = _optional_int(noncurrent, "NewerNoncurrentVersions", "NewerNoncurrentVersions")
        if newer is not None:
            fields["newer_noncurrent_versions"] = newer
    abort = elem.find("AbortIncompleteMultipartUpload")
    if abort is not None:
        fields["abort_days"] = _int(child_text(abort, "DaysAfterInitiation"), "DaysAfterInitiation")
    if not fields:
        raise InvalidRequest("At least one action needs to be specified in a rule")
    if filt.tags and ("abort_days" in fields or fields.get("expired_object_delete_marker")):
        raise InvalidRequest(
            "AbortIncompleteMultipartUpload and ExpiredObjectDeleteMarker cannot be specified "
            "with Tags."
        )
    return LifecycleRule(id=rule_id, enabled=status == "Enabled", filter=filt, **fields)  # type: ignore[arg-type]


def parse_lifecycle(doc: ET.Element) -> LifecycleConfig:
    if doc.tag != "LifecycleConfiguration":
        raise MalformedXML()
    elems = doc.findall("Rule")
    if not elems or len(elems) > MAX_RULES:
        raise MalformedXML()
    rules = [_rule(e) for e in elems]
    ids = [r.id for r in rules]
    if len(set(ids)) != len(ids):
        raise InvalidArgument("Rule ID must be unique. Found same ID for more than one rule")
    return LifecycleConfig(rules=rules)


# ---- answers -----------------------------------------------------------------------------------
def _filter_elems(parent: Elem, filt: LifecycleFilter) -> None:
    if filt.form == "prefix":
        parent.leaf("Prefix", filt.prefix)
        return
    where = parent.add("Filter")
    sized = filt.size_greater_than is not None or filt.size_less_than is not None
    if filt.form == "and":
        where = where.add("And")
        if filt.prefix:
            where.leaf("Prefix", filt.prefix)
    elif not (filt.tags or sized):  # one condition: the prefix (maybe "", all keys)
        where.leaf("Prefix", filt.prefix)
    for key, value in filt.tags.items():
        tag = where.add("Tag")
        tag.leaf("Key", key)
        tag.leaf("Value", value)
    if filt.size_greater_than is not None:
        where.leaf("ObjectSizeGreaterThan", filt.size_greater_than)
    if filt.size_less_than is not None:
        where.leaf("ObjectSizeLessThan", filt.size_less_than)


def lifecycle_document(config: LifecycleConfig) -> Elem:
    root = Elem("LifecycleConfiguration")
    for rule in config.rules:
        elem = root.add("Rule")
        elem.leaf("ID", rule.id)
        _filter_elems(elem, rule.filter)
        elem.leaf("Status", "Enabled" if rule.enabled else "Disabled")
        if rule.expiration_days is not None:
            elem.add("Expiration").leaf("Days", rule.expiration_days)
        elif rule.expiration_date is not None:
            elem.add("Expiration").leaf("Date", iso8601(rule.expiration_date))
        elif rule.expired_object_delete_marker is not None:
            elem.add("Expiration").leaf(
                "ExpiredObjectDeleteMarker", rule.expired_object_delete_marker
            )
        if rule.noncurrent_days is not None:
            noncurrent = elem.add("NoncurrentVersionExpiration")
            noncurrent.leaf("NoncurrentDays", rule.noncurrent_days)
            if rule.newer_noncurrent_versions is not None:
                noncurrent.leaf("NewerNoncurrentVersions", rule.newer_noncurrent_versions)
        if rule.abort_days is not None:
            elem.add("AbortIncompleteMultipartUpload").leaf("DaysAfterInitiation", rule.abort_days)
    return root


def expiration_header(
    config: LifecycleConfig | None, key: str, size: int, tags: dict[str, str], written: float
) -> dict[str, str]:
    if config is None:
        return {}
    for rule in config.rules:
        if not rule.enabled or not rule.filter.matches(key, size, tags):
            continue
        if rule.expiration_days is not None:
            when = due_at(written, rule.expiration_days, config.day_seconds)
        elif rule.expiration_date is not None:
            when = rule.expiration_date
        else:
            continue
        return {"x-amz-expiration": f'expiry-date="{http_date(when)}", rule-id="{rule.id}"'}
    return {}
