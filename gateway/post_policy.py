"""The POST policy of a browser form upload: its signature and its conditions, as AWS checks
them.

Layer: gateway (pure functions over the form's fields; ``post_object`` reads the form and
stores the file). Contract:

* ``signed_by(fields)`` names how the form is signed: SigV4 (``x-amz-algorithm``,
  ``x-amz-credential``, ``x-amz-date``, ``x-amz-signature``: the hex HMAC-SHA256 of the
  base64 policy under the credential's signing key), SigV2 (``AWSAccessKeyId`` and
  ``signature``: the base64 HMAC-SHA1 of the policy under the secret key), or not at all
  (anonymous, no policy). A policy without a signature, or a signature without a policy, is
  ``InvalidArgument``.
* ``parse_policy`` decodes the policy: base64 JSON with ``expiration`` (ISO 8601) and a
  ``conditions`` list (names case-sensitive, as AWS reads them); each condition an object of
  one field and its exact value, or ``["eq" | "starts-with", "$field", value]``, or
  ``["content-length-range", min, max]`` (operators and field names case-insensitive).
  Anything else is ``InvalidPolicyDocument``.
* ``check_fields`` holds the form against the policy: not expired (403 ``AccessDenied``
  "Policy expired."), every condition met (403 "Policy Condition failed: ..."), and every
  field the form sent (the bucket and the key included; not the file, the policy, the
  signature fields and ``x-ignore-*``) named by a condition (403 "Extra input fields: ...").
  It answers the content-length range to hold the file to.
"""

from __future__ import annotations

import base64
import binascii
import datetime
import json
from dataclasses import dataclass
from typing import Any

from wormfs.gateway.errors import AccessDenied, InvalidArgument, InvalidPolicyDocument

# Fields the policy does not need to name.
EXEMPT = frozenset({"file", "policy", "signature", "awsaccesskeyid", "x-amz-signature"})
SIGV4_FIELDS = ("x-amz-algorithm", "x-amz-credential", "x-amz-date", "x-amz-signature")


@dataclass(frozen=True)
class Condition:
    operator: str  # "eq", "starts-with" or "content-length-range"
    field: str  # lower case, without "$"
    value: str = ""
    low: int = 0
    high: int = 0

    def text(self) -> str:
        """The condition as AWS quotes it in its error."""
        if self.operator == "content-length-range":
            return f'["content-length-range", {self.low}, {self.high}]'
        return f'["{self.operator}", "${self.field}", "{self.value}"]'


@dataclass(frozen=True)
class PostPolicy:
    expiration: float
    conditions: tuple[Condition, ...]


def _bad(reason: str) -> InvalidPolicyDocument:
    return InvalidPolicyDocument(f"Invalid Policy: {reason}")


def _condition(item: Any) -> Condition:
    if isinstance(item, dict):
        if len(item) != 1:
            raise _bad(
                "Invalid Simple-Condition: Simple-Conditions must have exactly one property "
                "specified."
            )
        ((name, value),) = item.items()
        if not isinstance(value, str):
            raise _bad(f"Invalid Simple-Condition: value of {name} must be a string.")
        return Condition("eq", str(name).lower().removeprefix("$"), value)
    if not isinstance(item, list) or not item or not isinstance(item[0], str):
        raise _bad("Invalid condition.")
    operator = item[0].lower()
    if operator == "content-length-range":
        if len(item) != 3:
            raise _bad("Invalid content-length-range condition: it needs a minimum and a maximum.")
        try:
            low, high = int(item[1]), int(item[2])
        except (TypeError, ValueError):
            raise _bad("Invalid content-length-range condition: bounds must be integers.") from None
        if low < 0 or high < low:
            raise _bad("Invalid content-length-range condition: bounds out of order.")
        return Condition(operator, "content-length", low=low, high=high)
    if operator not in ("eq", "starts-with") or len(item) != 3:
        raise _bad(f"Invalid condition: {json.dumps(item)}")
    field, value = item[1], item[2]
    if not isinstance(field, str) or not field.startswith("$") or not isinstance(value, str):
        raise _bad(f"Invalid condition: {json.dumps(item)}")
    return Condition(operator, field[1:].lower(), value)


def parse_policy(encoded: str) -> PostPolicy:
    try:
        document = json.loads(base64.b64decode(encoded, validate=True))
    except (binascii.Error, ValueError):
        raise _bad("Invalid JSON.") from None
    if not isinstance(document, dict):
        raise _bad("Invalid JSON.")
    expiration = document.get("expiration")
    if expiration is None:
        raise _bad("Policy missing expiration.")
    try:
        when = datetime.datetime.fromisoformat(str(expiration))
    except ValueError:
        raise _bad(f"Invalid 'expiration' value: '{expiration}'") from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=datetime.UTC)
    conditions = document.get("conditions")
    if not isinstance(conditions, list):
        raise _bad("Policy missing conditions.")
    return PostPolicy(when.timestamp(), tuple(_condition(c) for c in conditions))


def signed_by(fields: dict[str, str]) -> str:
    """ "v4", "v2" or "" (anonymous)."""
    v4 = [name for name in SIGV4_FIELDS if name in fields]
    v2 = [name for name in ("awsaccesskeyid", "signature") if name in fields]
    has_policy = "policy" in fields
    if not has_policy:
        if v4 or v2:
            raise InvalidArgument("Bucket POST must contain a field named 'policy'.")
        return ""
    if len(v4) == len(SIGV4_FIELDS):
        return "v4"
    if len(v2) == 2:
        return "v2"
    missing = next(n for n in (*SIGV4_FIELDS, "awsaccesskeyid", "signature") if n not in fields)
    raise InvalidArgument(
        f"Bucket POST must contain a field named '{missing}'.  If it is specified, please check "
        "the order of the fields.",
        ArgumentName=missing,
    )


def _failed(condition: Condition) -> AccessDenied:
    return AccessDenied(f"Invalid according to Policy: Policy Condition failed: {condition.text()}")


def check_fields(policy: PostPolicy, fields: dict[str, str], now: float) -> tuple[int, int] | None:
    """Hold the form (``fields``: lower-case names, the bucket's included) to the policy; the
    content-length range it sets, if any."""
    if now >= policy.expiration:
        raise AccessDenied("Invalid according to Policy: Policy expired.")
    named = set()
    size_range = None
    for condition in policy.conditions:
        if condition.operator == "content-length-range":
            size_range = (condition.low, condition.high)
            continue
        named.add(condition.field)
        value = fields.get(condition.field)
        if value is None:
            raise _failed(condition)
        if condition.operator == "eq" and value != condition.value:
            raise _failed(condition)
        if condition.operator == "starts-with" and not value.startswith(condition.value):
            raise _failed(condition)
    extra = sorted(
        name
        for name in fields
        if name not in named and name not in EXEMPT and not name.startswith("x-ignore-")
    )
    if extra:
        raise AccessDenied(f"Invalid according to Policy: Extra input fields: {', '.join(extra)}")
    return size_range
