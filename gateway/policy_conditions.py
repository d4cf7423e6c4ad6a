"""Condition operators and keys of bucket policies (gateway layer, pure).

Contract: ``parse_condition_block(block)`` turns a statement's ``Condition`` object into
``Condition``s, or raises ``PolicyError`` with AWS's MalformedPolicy reason (an unknown
operator, an unknown key, a value of the wrong type such as an address that is no CIDR).
``Condition.holds(context)`` decides one (operator, key, values) triple against the request's
context, a mapping of lower-cased key names to the tuple of the request's values (absent:
the request has no such key), with IAM's rules:

* values of one key are ORed, keys and operators of one block ANDed (``Statement`` does that);
* a key missing from the request makes a positive operator false and a negated one
  (``StringNotEquals``, ``NotIpAddress``, ...) true; ``...IfExists`` makes any operator true
  then; ``Null`` tests presence itself (``"true"``: the key is absent);
* ``ForAnyValue:`` holds when any request value matches, ``ForAllValues:`` when every one does
  (and when the request has none); without a qualifier a multi-valued key matches as
  ``ForAnyValue``, its negation when no request value matches;
* ``String*Like`` and ``Arn*`` take ``*`` and ``?`` wildcards; ``Date*`` take ISO 8601 or epoch
  seconds; ``Numeric*`` integers or decimals; ``Bool`` ``true`` / ``false``.

Policy variables (``${aws:username}``, ``${*}``, ...) are substituted in string values and
resources by ``substitute`` before matching.
"""

from __future__ import annotations

import datetime
import ipaddress
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from typing import Any

Context = Mapping[str, tuple[str, ...]]


class PolicyError(ValueError):
    """A policy AWS would refuse: the MalformedPolicy reason."""


# Keys a bucket policy may test (lower-cased); tag keys are prefixes followed by the tag key.
GLOBAL_KEYS = frozenset(
    {
        "aws:sourceip",
        "aws:securetransport",
        "aws:currenttime",
        "aws:epochtime",
        "aws:username",
        "aws:userid",
        "aws:principaltype",
        "aws:principalarn",
        "aws:principalaccount",
        "aws:useragent",
        "aws:referer",
        "aws:sourcearn",
        "aws:sourceaccount",
        "aws:sourcevpc",
        "aws:sourcevpce",
        "aws:principalorgid",
        "aws:requestedregion",
        "aws:viaawsservice",
        "aws:multifactorauthpresent",
        "aws:multifactorauthage",
        "aws:tokenissuetime",
    }
)
S3_KEYS = frozenset(
    {
        "s3:prefix",
        "s3:delimiter",
        "s3:max-keys",
        "s3:x-amz-acl",
        "s3:x-amz-content-sha256",
        "s3:x-amz-copy-source",
        "s3:x-amz-grant-full-control",
        "s3:x-amz-grant-read",
        "s3:x-amz-grant-read-acp",
        "s3:x-amz-grant-write",
        "s3:x-amz-grant-write-acp",
        "s3:x-amz-metadata-directive",
        "s3:x-amz-server-side-encryption",
        "s3:x-amz-server-side-encryption-aws-kms-key-id",
        "s3:x-amz-storage-class",
        "s3:x-amz-website-redirect-location",
        "s3:versionid",
        "s3:signatureversion",
        "s3:signatureage",
        "s3:authtype",
        "s3:tlsversion",
        "s3:requestobjecttagkeys",
        "s3:existingobjecttagkeys",
        "s3:locationconstraint",
        "s3:objectlockmode",
        "s3:objectlockremainingretentiondays",
        "s3:objectlockretainuntildate",
        "s3:objectlocklegalhold",
        "s3:resourceaccount",
        "s3:delimiterprefix",
    }
)
TAG_PREFIXES = ("s3:existingobjecttag/", "s3:requestobjecttag/", "aws:resourcetag/")


def normalise_key(key: str) -> str:
    """A condition key as the context names it: lower-case, except a tag key's own name."""
    lowered = key.lower()
    for prefix in TAG_PREFIXES:
        if lowered.startswith(prefix):
            return prefix + key[len(prefix) :]
    return lowered


def _known_key(key: str) -> bool:
    if key in GLOBAL_KEYS or key in S3_KEYS:
        return True
    return any(key.startswith(p) and len(key) > len(p) for p in TAG_PREFIXES)


# ---- policy variables ------------------------------------------------------------------------
_VARIABLE = re.compile(r"\$\{([^}]*)\}")
_ESCAPES = {"*": "*", "?": "?", "$": "$"}


def substitute(text: str, context: Context) -> str | None:
    """``text`` with ``${key}`` replaced by the request's value; None when a key is missing
    (the statement then does not match, as IAM decides). ``${*}``, ``${?}``, ``${$}`` are the
    characters themselves (a literal ``*`` after substitution stays a wildcard in ``Like``)."""
    if "${" not in text:
        return text
    missing = False

    def replace(match: re.Match[str]) -> str:
        nonlocal missing
        name = match.group(1)
        if name in _ESCAPES:
            return _ESCAPES[name]
        values = context.get(normalise_key(name.split(",", 1)[0].strip()))
        if not values:
            missing = True
            return ""
        return values[0]

    result = _VARIABLE.sub(replace, text)
    return None if missing else result


@lru_cache(maxsize=4096)
def _glob(pattern: str, ignore_case: bool) -> re.Pattern[str]:
    # IAM knows only * and ? (no [..] classes as in shell globs).
    body = "".join(".*" if ch == "*" else "." if ch == "?" else re.escape(ch) for ch in pattern)
    return re.compile(body, re.DOTALL | (re.IGNORECASE if ignore_case else 0))


def glob_match(pattern: str, value: str, ignore_case: bool = False) -> bool:
    """IAM's wildcard match: ``*`` any run of characters, ``?`` one character."""
    if "*" not in pattern and "?" not in pattern:
        return pattern.lower() == value.lower() if ignore_case else pattern == value
    return _glob(pattern, ignore_case).fullmatch(value) is not None


# ---- value parsers ---------------------------------------------------------------------------
def _number(text: str) -> Decimal:
    try:
        return Decimal(text.strip())
    except InvalidOperation:
        raise ValueError(text) from None


def _date(text: str) -> float:
    text = text.strip()
    if re.fullmatch(r"-?\d+(\.\d+)?", text):
        return float(text)
    iso = text[:-1] + "+00:00" if text.endswith("Z") else text
    try:
        when = datetime.datetime.fromisoformat(iso)
    except ValueError:
        raise ValueError(text) from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=datetime.UTC)
    return when.timestamp()


def _network(text: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
    return ipaddress.ip_network(text.strip(), strict=False)


def _bool(text: str) -> bool:
    lowered = text.strip().lower()
    if lowered not in ("true", "false"):
        raise ValueError(text)
    return lowered == "true"


# ---- operators -------------------------------------------------------------------------------
# base name -> (negated, parse policy value, match(request value, parsed policy value))
Matcher = Callable[[str, Any], bool]


def _cmp(parse: Callable[[str], Any], test: Callable[[Any, Any], bool]) -> Matcher:
    def match(value: str, expected: Any) -> bool:
        try:
            return test(parse(value), expected)
        except ValueError:
            return False

    return match


def _in_network(value: str, network: Any) -> bool:
    try:
        return ipaddress.ip_address(value.strip()) in network
    except ValueError:
        return False


def _text(value: str) -> str:
    return value


_OPERATORS: dict[str, tuple[bool, Callable[[str], Any], Matcher]] = {
    "stringequals": (False, _text, lambda v, e: v == e),
    "stringnotequals": (True, _text, lambda v, e: v == e),
    "stringequalsignorecase": (False, _text, lambda v, e: v.lower() == e.lower()),
    "stringnotequalsignorecase": (True, _text, lambda v, e: v.lower() == e.lower()),
    "stringlike": (False, _text, lambda v, e: glob_match(e, v)),
    "stringnotlike": (True, _text, lambda v, e: glob_match(e, v)),
    "arnequals": (False, _text, lambda v, e: glob_match(e, v)),
    "arnlike": (False, _text, lambda v, e: glob_match(e, v)),
    "arnnotequals": (True, _text, lambda v, e: glob_match(e, v)),
    "arnnotlike": (True, _text, lambda v, e: glob_match(e, v)),
    "numericequals": (False, _number, _cmp(_number, lambda v, e: v == e)),
    "numericnotequals": (True, _number, _cmp(_number, lambda v, e: v == e)),
    "numericlessthan": (False, _number, _cmp(_number, lambda v, e: v < e)),
    "numericlessthanequals": (False, _number, _cmp(_number, lambda v, e: v <= e)),
    "numericgreaterthan": (False, _number, _cmp(_number, lambda v, e: v > e)),
    "numericgreaterthanequals": (False, _number, _cmp(_number, lambda v, e: v >= e)),
    "dateequals": (False, _date, _cmp(_date, lambda v, e: v == e)),
    "datenotequals": (True, _date, _cmp(_date, lambda v, e: v == e)),
    "datelessthan": (False, _date, _cmp(_date, lambda v, e: v < e)),
    "datelessthanequals": (False, _date, _cmp(_date, lambda v, e: v <= e)),
    "dategreaterthan": (False, _date, _cmp(_date, lambda v, e: v > e)),
    "dategreaterthanequals": (False, _date, _cmp(_date, lambda v, e: v >= e)),
    "bool": (False, _bool, _cmp(_bool, lambda v, e: v == e)),
    "binaryequals": (False, _text, lambda v, e: v == e),
    "ipaddress": (False, _network, _in_network),
    "notipaddress": (True, _network, _in_network),
}
# Operators whose policy values may hold ${...} variables.
_STRING_LIKE = frozenset(k for k in _OPERATORS if k.startswith(("string", "arn")))


@dataclass(frozen=True)
class Condition:
    operator: str  # the base operator, lower-case (``stringlike``)
    qualifier: str  # "", "foranyvalue" or "forallvalues"
    if_exists: bool
    key: str  # normalised (``normalise_key``)
    values: tuple[Any, ...]  # parsed policy values (raw strings for string operators)
    null: bool = False  # the Null operator (``values`` then holds one bool)

    def holds(self, context: Context) -> bool:
        present = context.get(self.key)
        if self.null:
            return (not present) == bool(self.values[0])
        if not present:
            if self.if_exists or self.qualifier == "forallvalues":
                return True
            negated = _OPERATORS[self.operator][0]
            return negated and self.qualifier == ""
        negated, _, match = _OPERATORS[self.operator]
        expected = self._expected(context)

        def one(value: str) -> bool:
            hit = any(match(value, e) for e in expected)
            return not hit if negated else hit

        if self.qualifier == "forallvalues":
            return all(one(v) for v in present)
        if self.qualifier == "foranyvalue" or not negated:
            return any(one(v) for v in present)
        return all(one(v) for v in present)

    def _expected(self, context: Context) -> tuple[Any, ...]:
        if self.operator not in _STRING_LIKE:
            return self.values
        out = []
        for value in self.values:
            text = substitute(value, context)
            if text is not None:
                out.append(text)
        return tuple(out)


def _as_values(raw: Any) -> list[Any]:
    values = raw if isinstance(raw, list) else [raw]
    for value in values:
        if not isinstance(value, str | int | float | bool) or value is None:
            raise PolicyError("Invalid Condition value")
    return values


def _text_of(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _parse_one(name: str, key: str, raw: Any) -> Condition:
    qualifier = ""
    base = name
    if ":" in base:
        qualifier, _, base = base.partition(":")
        qualifier = qualifier.lower()
        if qualifier not in ("foranyvalue", "forallvalues"):
            raise PolicyError(f"Invalid Condition type : {name}")
    lowered = base.lower()
    if_exists = lowered.endswith("ifexists") and lowered != "ifexists"
    if if_exists:
        lowered = lowered[: -len("ifexists")]
    normal = normalise_key(key)
    if not _known_key(normal):
        raise PolicyError("Policy has an invalid condition key")
    texts = [_text_of(v) for v in _as_values(raw)]
    if lowered == "null" and not if_exists:
        if len(texts) != 1:
            raise PolicyError("Invalid Condition value")
        try:
            return Condition("null", qualifier, False, normal, (_bool(texts[0]),), null=True)
        except ValueError:
            raise PolicyError(f"Invalid Condition value : {texts[0]}") from None
    spec = _OPERATORS.get(lowered)
    if spec is None:
        raise PolicyError(f"Invalid Condition type : {name}")
    parse = spec[1]
    parsed: list[Any] = []
    for text in texts:
        try:
            parsed.append(parse(text))
        except ValueError:
            raise PolicyError(f"Invalid Condition value : {text}") from None
    return Condition(lowered, qualifier, if_exists, normal, tuple(parsed))


def parse_condition_block(block: Any) -> tuple[Condition, ...]:
    if not isinstance(block, dict):
        raise PolicyError("Invalid Condition block")
    conditions = []
    for name, keys in block.items():
        if not isinstance(keys, dict) or not keys:
            raise PolicyError(f"Invalid Condition type : {name}")
        for key, raw in keys.items():
            conditions.append(_parse_one(str(name), str(key), raw))
    return tuple(conditions)
