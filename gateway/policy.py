"""Bucket policies (gateway layer, pure): parse, validate and evaluate a policy document.

Contract: ``parse_policy(text, bucket)`` returns a ``Policy`` or raises ``PolicyError`` with the
reason AWS gives in its MalformedPolicy answer: not JSON (or not starting with ``{``), larger
than 20 KB with whitespace removed, no ``Statement``, an invalid ``Effect``, a missing or
malformed ``Principal``, an unknown action, a resource outside the bucket, an action that
applies to none of the statement's resources, a bad condition (see
``wormfs.gateway.policy_conditions``).

``Policy.evaluate(request)`` decides one request as IAM does: a matching ``Deny`` wins over
everything, else a matching ``Allow`` allows, else nothing matched (``Decision.NONE``, the
implicit deny). A statement matches when its ``Principal`` (or ``NotPrincipal``), its
``Action`` (or ``NotAction``, case-insensitive, ``*`` / ``?`` wildcards), its ``Resource`` (or
``NotResource``, wildcards and policy variables) and every one of its conditions match.

Principals: users here are their own accounts. A user with canonical id ``ID`` and display
name ``NAME`` is matched by ``*``, by ``ID`` (as ``{"AWS": ID}`` or ``{"CanonicalUser": ID}``),
by ``arn:aws:iam::ID:root`` and by ``arn:aws:iam::ID:user/NAME``. An anonymous (unsigned)
request is matched by ``*`` only. ``Policy.is_public`` says whether the policy grants access
to everyone, as AWS's PolicyStatus and Block Public Access judge it.
"""

from __future__ import annotations

import enum
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from wormfs.gateway.actions import KNOWN_ACTIONS, ResourceType
from wormfs.gateway.policy_conditions import (
    Condition,
    Context,
    PolicyError,
    glob_match,
    parse_condition_block,
    substitute,
)

MAX_POLICY_BYTES = 20 * 1024
S3_ARN = "arn:aws:s3:::"
VERSIONS = ("2012-10-17", "2008-10-17")
_STATEMENT_FIELDS = frozenset(
    {
        "Sid",
        "Effect",
        "Principal",
        "NotPrincipal",
        "Action",
        "NotAction",
        "Resource",
        "NotResource",
        "Condition",
    }
)
_ACCOUNT = r"(\d{12}|[0-9a-f]{64})"
_PRINCIPAL = re.compile(
    rf"^(\*|{_ACCOUNT}|arn:aws:iam::{_ACCOUNT}:(root|user/[\w+=,.@/-]+|role/[\w+=,.@/-]+))$"
)
_CANONICAL = re.compile(r"^[0-9a-f]{64}$")
# Keys whose fixed values confine a grant to known callers, so that it is not public.
_CONFINING_KEYS = frozenset(
    {
        "aws:sourceip",
        "aws:sourcearn",
        "aws:sourcevpc",
        "aws:sourcevpce",
        "aws:sourceaccount",
        "aws:sourceowner",
        "aws:principalaccount",
        "aws:principalarn",
        "aws:principalorgid",
        "aws:userid",
        "aws:username",
        "s3:x-amz-server-side-encryption-aws-kms-key-id",
    }
)
PolicyDocument = Mapping[str, Any]


class Decision(enum.Enum):
    ALLOW = "allow"
    DENY = "deny"
    NONE = "none"  # no statement matched: the implicit deny


@dataclass(frozen=True)
class Requester:
    """Who asks, as a policy sees them; ``None`` in ``AccessRequest`` is anonymous."""

    user_id: str
    display_name: str

    def names(self) -> frozenset[str]:
        return frozenset(
            {
                self.user_id,
                f"arn:aws:iam::{self.user_id}:root",
                f"arn:aws:iam::{self.user_id}:user/{self.display_name}",
            }
        )


@dataclass(frozen=True)
class AccessRequest:
    requester: Requester | None
    action: str  # ``s3:GetObject``
    resource: str  # ``arn:aws:s3:::bucket`` or ``arn:aws:s3:::bucket/key``
    context: Context  # condition keys (``policy_conditions.normalise_key``) -> values


@dataclass(frozen=True)
class Statement:
    sid: str
    allow: bool
    principals: frozenset[str] | None  # None: NotPrincipal
    not_principals: frozenset[str]
    actions: tuple[str, ...]  # lower-case patterns
    negate_actions: bool
    resources: tuple[str, ...]
    negate_resources: bool
    conditions: tuple[Condition, ...]

    def matches(self, request: AccessRequest) -> bool:
        return (
            self._principal_matches(request.requester)
            and self._action_matches(request.action.lower())
            and self._resource_matches(request.resource, request.context)
            and all(c.holds(request.context) for c in self.conditions)
        )

    def _principal_matches(self, requester: Requester | None) -> bool:
        if self.principals is not None:
            return _names_match(self.principals, requester)
        return not _names_match(self.not_principals, requester)

    def _action_matches(self, action: str) -> bool:
        hit = any(glob_match(p, action) for p in self.actions)
        return hit != self.negate_actions

    def _resource_matches(self, resource: str, context: Context) -> bool:
        hit = False
        for pattern in self.resources:
            text = substitute(pattern, context)
            if text is not None and glob_match(text, resource):
                hit = True
                break
        return hit != self.negate_resources

    @property
    def public(self) -> bool:
        """An Allow that everyone (or everyone but a few) gets, not confined by a condition."""
        if not self.allow:
            return False
        everyone = self.principals is None or "*" in self.principals
        return everyone and not any(_confines(c) for c in self.conditions)


def _names_match(names: frozenset[str], requester: Requester | None) -> bool:
    if "*" in names:
        return True
    return requester is not None and not names.isdisjoint(requester.names())


def _confines(condition: Condition) -> bool:
    if condition.key not in _CONFINING_KEYS or condition.null or condition.if_exists:
        return False
    if condition.operator in ("stringnotequals", "stringnotlike", "notipaddress"):
        return False
    if condition.operator == "ipaddress":
        return all(net.prefixlen > 0 for net in condition.values)
    return all("*" not in str(v) and "?" not in str(v) for v in condition.values)


@dataclass(frozen=True)
class Policy:
    text: str  # as the owner put it (GetBucketPolicy answers it unchanged)
    statements: tuple[Statement, ...]

    def evaluate(self, request: AccessRequest) -> Decision:
        allowed = False
        for statement in self.statements:
            if statement.matches(request):
                if not statement.allow:
                    return Decision.DENY
                allowed = True
        return Decision.ALLOW if allowed else Decision.NONE

    @property
    def is_public(self) -> bool:
        return any(s.public for s in self.statements)

    @property
    def uses_existing_tags(self) -> bool:
        """Does any condition test the object's current tags (costing a manifest read)?"""
        return any(
            c.key.startswith("s3:existingobjecttag") for s in self.statements for c in s.conditions
        )


# ---- parsing ---------------------------------------------------------------------------------
def _strings(value: Any, field: str, error: str) -> list[str]:
    values = value if isinstance(value, list) else [value]
    if not values or not all(isinstance(v, str) and v for v in values):
        raise PolicyError(error)
    return values


def _principals(value: Any) -> frozenset[str]:
    if value == "*":
        return frozenset({"*"})
    if not isinstance(value, dict) or not value:
        raise PolicyError("Invalid principal in policy")
    names: set[str] = set()
    for kind, raw in value.items():
        entries = _strings(raw, "Principal", "Invalid principal in policy")
        if kind == "AWS":
            if not all(_PRINCIPAL.match(e) for e in entries):
                raise PolicyError("Invalid principal in policy")
        elif kind == "CanonicalUser":
            if not all(_CANONICAL.match(e) for e in entries):
                raise PolicyError("Invalid principal in policy")
        else:
            # No services, federated or web identities exist here to be let in.
            raise PolicyError("Invalid principal in policy")
        names.update(entries)
    return frozenset(names)


def _action_kinds(pattern: str) -> set[ResourceType]:
    """Resource types of the known actions ``pattern`` names; ``PolicyError`` for none."""
    if pattern == "*":
        return {"bucket", "object"}
    if not pattern.startswith("s3:"):
        raise PolicyError("Policy has invalid action")
    kinds = {kind for name, kind in KNOWN_ACTIONS.items() if glob_match(pattern, name)}
    if not kinds:
        raise PolicyError("Policy has invalid action")
    return kinds


def _resource_kinds(resource: str, bucket: str) -> set[ResourceType]:
    """Resource types ``resource`` may name; ``PolicyError`` if it is outside ``bucket``."""
    if resource == "*":
        return {"bucket", "object"}
    if not resource.startswith(S3_ARN):
        raise PolicyError("Policy has invalid resource")
    path = resource[len(S3_ARN) :]
    name, slash, _ = path.partition("/")
    if not name or not glob_match(name.replace("${", "").replace("}", ""), bucket):
        raise PolicyError("Policy has invalid resource")
    if slash:
        return {"object"}
    if name.endswith("*"):
        return {"bucket", "object"}  # ``arn:aws:s3:::bucket*`` also matches its objects
    return {"bucket"}


def _statement(raw: Any, bucket: str) -> Statement:
    if not isinstance(raw, dict):
        raise PolicyError("Invalid statement")
    for name in raw:
        if name not in _STATEMENT_FIELDS:
            raise PolicyError(f"Unknown field {name}")
    effect = raw.get("Effect")
    if effect is None:
        raise PolicyError("Missing required field Effect")
    if effect not in ("Allow", "Deny"):
        raise PolicyError(f"Invalid effect: {effect}")
    if ("Principal" in raw) == ("NotPrincipal" in raw):
        raise PolicyError("Missing required field Principal")
    principals = _principals(raw["Principal"]) if "Principal" in raw else None
    not_principals = _principals(raw["NotPrincipal"]) if "NotPrincipal" in raw else frozenset()
    if ("Action" in raw) == ("NotAction" in raw):
        raise PolicyError("Missing required field Action")
    negate_actions = "NotAction" in raw
    actions = [
        a.lower()
        for a in _strings(
            raw["NotAction" if negate_actions else "Action"], "Action", "Policy has invalid action"
        )
    ]
    if ("Resource" in raw) == ("NotResource" in raw):
        raise PolicyError("Missing required field Resource")
    negate_resources = "NotResource" in raw
    resources = _strings(
        raw["NotResource" if negate_resources else "Resource"],
        "Resource",
        "Policy has invalid resource",
    )
    action_kinds = set().union(*(_action_kinds(a) for a in actions))
    resource_kinds = set().union(*(_resource_kinds(r, bucket) for r in resources))
    if not negate_actions and not negate_resources and not action_kinds & resource_kinds:
        raise PolicyError("Action does not apply to any resource(s) in statement")
    conditions = parse_condition_block(raw["Condition"]) if "Condition" in raw else ()
    sid = raw.get("Sid", "")
    if not isinstance(sid, str):
        raise PolicyError("Statement IDs (SID) must be strings")
    return Statement(
        sid=sid,
        allow=effect == "Allow",
        principals=principals,
        not_principals=not_principals,
        actions=tuple(actions),
        negate_actions=negate_actions,
        resources=tuple(resources),
        negate_resources=negate_resources,
        conditions=conditions,
    )


def _duplicate_keys_refused(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise PolicyError(f"Duplicate field {key}")
        out[key] = value
    return out


def parse_policy(text: str | bytes, bucket: str) -> Policy:
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError:
            raise PolicyError(
                "Policies must be valid JSON and the first byte must be '{'"
            ) from None
    stripped = text.lstrip()
    if not stripped.startswith("{"):
        raise PolicyError("Policies must be valid JSON and the first byte must be '{'")
    try:
        doc = json.loads(stripped, object_pairs_hook=_duplicate_keys_refused)
    except json.JSONDecodeError:
        raise PolicyError("Policies must be valid JSON and the first byte must be '{'") from None
    if len(json.dumps(doc, separators=(",", ":")).encode("utf-8")) > MAX_POLICY_BYTES:
        raise PolicyError("Policy exceeds the maximum allowed document size.")
    for name in doc:
        if name not in ("Version", "Id", "Statement"):
            raise PolicyError(f"Unknown field {name}")
    version = doc.get("Version", "2008-10-17")
    if version not in VERSIONS:
        raise PolicyError("The policy must contain a valid version string")
    raw = doc.get("Statement")
    if raw is None or raw == []:
        raise PolicyError("Missing required field Statement")
    statements = tuple(_statement(s, bucket) for s in (raw if isinstance(raw, list) else [raw]))
    sids = [s.sid for s in statements if s.sid]
    if len(sids) != len(set(sids)):
        raise PolicyError("Statement IDs (SID) in a single policy must be unique")
    if version != "2012-10-17":
        # Policy variables came with 2012-10-17; in older documents ${...} is literal text.
        statements = tuple(_literal_variables(s) for s in statements)
    return Policy(text=text, statements=statements)


def _literal_variables(statement: Statement) -> Statement:
    if not any("${" in r for r in statement.resources):
        return statement
    escaped = tuple(r.replace("${", "${$}{") for r in statement.resources)
    return Statement(**{**statement.__dict__, "resources": escaped})
