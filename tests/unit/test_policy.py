"""Unit tests of bucket policy parsing and evaluation (wormfs.gateway.policy, policy_conditions).

A table of policies x requests -> decisions, including the examples of AWS's "Examples of
Amazon S3 bucket policies" page, and the MalformedPolicy reasons of bad documents.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from wormfs.gateway.actions import ACTIONS, KNOWN_ACTIONS, action_for
from wormfs.gateway.policy import (
    MAX_POLICY_BYTES,
    AccessRequest,
    Decision,
    PolicyError,
    Requester,
    parse_policy,
)
from wormfs.gateway.policy_conditions import glob_match, normalise_key, substitute
from wormfs.gateway.router import BUCKET_SUBRESOURCES

BUCKET = "photos"
ALICE = Requester("a" * 64, "alice")
BOB = Requester("b" * 64, "bob")
ALLOW, DENY, NONE = Decision.ALLOW, Decision.DENY, Decision.NONE


def doc(*statements: dict[str, Any], version: str = "2012-10-17") -> str:
    return json.dumps({"Version": version, "Statement": list(statements)})


def stmt(
    effect: str = "Allow",
    principal: Any = "*",
    action: Any = "s3:GetObject",
    resource: Any = f"arn:aws:s3:::{BUCKET}/*",
    **more: Any,
) -> dict[str, Any]:
    out: dict[str, Any] = {"Effect": effect, "Principal": principal, "Action": action}
    out["Resource"] = resource
    out.update(more)
    return out


def req(
    who: Requester | None = BOB,
    action: str = "s3:GetObject",
    key: str | None = "a.txt",
    **context: str | tuple[str, ...],
) -> AccessRequest:
    resource = f"arn:aws:s3:::{BUCKET}" + (f"/{key}" if key is not None else "")
    ctx = {normalise_key(k.replace("_", "-").replace("--", ":")): v for k, v in context.items()}
    values = {k: (v,) if isinstance(v, str) else v for k, v in ctx.items()}
    return AccessRequest(who, action, resource, values)


def decide(policy: str, request: AccessRequest) -> Decision:
    return parse_policy(policy, BUCKET).evaluate(request)


def ctx_req(who: Requester | None = BOB, **keys: Any) -> AccessRequest:
    """A GetObject request with exactly the condition keys given (names as IAM spells them)."""
    values = {normalise_key(k): (v,) if isinstance(v, str) else tuple(v) for k, v in keys.items()}
    return AccessRequest(who, "s3:GetObject", f"arn:aws:s3:::{BUCKET}/a.txt", values)


# ---- evaluation: principals, actions, resources, effects -----------------------------------
@pytest.mark.parametrize(
    ("statements", "request_", "expected"),
    [
        # public read: anyone, signed or not
        ([stmt()], req(None), ALLOW),
        ([stmt()], req(BOB), ALLOW),
        ([stmt(principal={"AWS": "*"})], req(None), ALLOW),
        # only GetObject was granted
        ([stmt()], req(None, "s3:PutObject"), NONE),
        ([stmt()], req(None, "s3:ListBucket", None), NONE),
        # a named user, by id, root ARN, user ARN, canonical id
        ([stmt(principal={"AWS": BOB.user_id})], req(BOB), ALLOW),
        ([stmt(principal={"AWS": f"arn:aws:iam::{BOB.user_id}:root"})], req(BOB), ALLOW),
        ([stmt(principal={"AWS": f"arn:aws:iam::{BOB.user_id}:user/bob"})], req(BOB), ALLOW),
        ([stmt(principal={"CanonicalUser": BOB.user_id})], req(BOB), ALLOW),
        ([stmt(principal={"AWS": [ALICE.user_id, BOB.user_id]})], req(BOB), ALLOW),
        ([stmt(principal={"AWS": BOB.user_id})], req(ALICE), NONE),
        ([stmt(principal={"AWS": BOB.user_id})], req(None), NONE),
        ([stmt(principal={"AWS": f"arn:aws:iam::{BOB.user_id}:user/eve"})], req(BOB), NONE),
        # explicit deny beats allow, whatever the order
        ([stmt(), stmt("Deny")], req(BOB), DENY),
        ([stmt("Deny"), stmt()], req(BOB), DENY),
        ([stmt("Deny", principal={"AWS": BOB.user_id})], req(ALICE), NONE),
        # NotPrincipal: deny everyone but alice
        (
            [stmt("Deny", principal=None, NotPrincipal={"AWS": ALICE.user_id}, action="s3:*")],
            req(BOB),
            DENY,
        ),
        (
            [stmt("Deny", principal=None, NotPrincipal={"AWS": ALICE.user_id}, action="s3:*")],
            req(ALICE),
            NONE,
        ),
        # action wildcards, case-insensitive
        ([stmt(action="s3:Get*")], req(BOB, "s3:GetObjectVersion"), ALLOW),
        ([stmt(action="s3:get*")], req(BOB, "s3:GetObject"), ALLOW),
        ([stmt(action="s3:*Object")], req(BOB, "s3:PutObject"), ALLOW),
        ([stmt(action="s3:?etObject")], req(BOB, "s3:GetObject"), ALLOW),
        ([stmt(action="*")], req(BOB, "s3:DeleteObject"), ALLOW),
        ([stmt(action=["s3:PutObject", "s3:GetObject"])], req(BOB), ALLOW),
        # NotAction: everything but deleting
        ([stmt(action=None, NotAction="s3:DeleteObject")], req(BOB, "s3:PutObject"), ALLOW),
        ([stmt(action=None, NotAction="s3:DeleteObject")], req(BOB, "s3:DeleteObject"), NONE),
        # resources: prefixes, the bucket itself, NotResource
        ([stmt(resource=f"arn:aws:s3:::{BUCKET}/public/*")], req(BOB, key="public/x"), ALLOW),
        ([stmt(resource=f"arn:aws:s3:::{BUCKET}/public/*")], req(BOB, key="private/x"), NONE),
        ([stmt(resource=f"arn:aws:s3:::{BUCKET}/*.jpg")], req(BOB, key="a/b.jpg"), ALLOW),
        ([stmt(resource=f"arn:aws:s3:::{BUCKET}/?.txt")], req(BOB, key="ab.txt"), NONE),
        (
            [stmt(action="s3:ListBucket", resource=f"arn:aws:s3:::{BUCKET}")],
            req(BOB, "s3:ListBucket", None),
            ALLOW,
        ),
        (
            [stmt(action="s3:ListBucket", resource=f"arn:aws:s3:::{BUCKET}")],
            req(BOB, "s3:ListBucket", "x"),
            NONE,
        ),
        (
            [stmt(resource=None, NotResource=f"arn:aws:s3:::{BUCKET}/secret/*")],
            req(BOB, key="secret/x"),
            NONE,
        ),
        (
            [stmt(resource=None, NotResource=f"arn:aws:s3:::{BUCKET}/secret/*")],
            req(BOB, key="open/x"),
            ALLOW,
        ),
        ([stmt(resource="*")], req(BOB), ALLOW),
        ([stmt(resource=[f"arn:aws:s3:::{BUCKET}", f"arn:aws:s3:::{BUCKET}/*"])], req(BOB), ALLOW),
        # keys with characters a glob must not read as patterns
        ([stmt(resource=f"arn:aws:s3:::{BUCKET}/[a].txt")], req(BOB, key="[a].txt"), ALLOW),
        ([stmt(resource=f"arn:aws:s3:::{BUCKET}/[a].txt")], req(BOB, key="a.txt"), NONE),
    ],
)
def test_statements(
    statements: list[dict[str, Any]], request_: AccessRequest, expected: Decision
) -> None:
    cleaned = [{k: v for k, v in s.items() if v is not None} for s in statements]
    assert decide(doc(*cleaned), request_) is expected


def test_no_statement_matches_is_the_implicit_deny() -> None:
    assert decide(doc(stmt(principal={"AWS": ALICE.user_id})), req(BOB)) is NONE


def test_a_single_statement_object_and_strings_for_lists() -> None:
    policy = json.dumps(
        {"Version": "2012-10-17", "Statement": stmt(action="s3:GetObject", principal="*")}
    )
    assert decide(policy, req(None)) is ALLOW


# ---- conditions ------------------------------------------------------------------------------
def cond(condition: dict[str, Any], effect: str = "Allow") -> str:
    return doc(stmt(effect, Condition=condition))


@pytest.mark.parametrize(
    ("condition", "keys", "expected"),
    [
        # aws:SourceIp: CIDR v4 and v6, NotIpAddress, no such key
        ({"IpAddress": {"aws:SourceIp": "192.0.2.0/24"}}, {"aws:SourceIp": "192.0.2.7"}, ALLOW),
        ({"IpAddress": {"aws:SourceIp": "192.0.2.0/24"}}, {"aws:SourceIp": "198.51.100.1"}, NONE),
        (
            {"IpAddress": {"aws:SourceIp": ["10.0.0.0/8", "192.0.2.1"]}},
            {"aws:SourceIp": "192.0.2.1"},
            ALLOW,
        ),
        ({"IpAddress": {"aws:SourceIp": "2001:db8::/32"}}, {"aws:SourceIp": "2001:db8::5"}, ALLOW),
        (
            {"NotIpAddress": {"aws:SourceIp": "192.0.2.0/24"}},
            {"aws:SourceIp": "198.51.100.1"},
            ALLOW,
        ),
        ({"NotIpAddress": {"aws:SourceIp": "192.0.2.0/24"}}, {"aws:SourceIp": "192.0.2.9"}, NONE),
        ({"IpAddress": {"aws:SourceIp": "192.0.2.0/24"}}, {}, NONE),
        # Bool and aws:SecureTransport
        ({"Bool": {"aws:SecureTransport": "true"}}, {"aws:SecureTransport": "true"}, ALLOW),
        ({"Bool": {"aws:SecureTransport": "true"}}, {"aws:SecureTransport": "false"}, NONE),
        ({"Bool": {"aws:SecureTransport": True}}, {"aws:SecureTransport": "true"}, ALLOW),
        # Strings
        ({"StringEquals": {"s3:x-amz-acl": "public-read"}}, {"s3:x-amz-acl": "public-read"}, ALLOW),
        ({"StringEquals": {"s3:x-amz-acl": "public-read"}}, {"s3:x-amz-acl": "Public-Read"}, NONE),
        (
            {"StringEqualsIgnoreCase": {"s3:x-amz-acl": "public-read"}},
            {"s3:x-amz-acl": "Public-Read"},
            ALLOW,
        ),
        ({"StringNotEquals": {"s3:x-amz-acl": "private"}}, {"s3:x-amz-acl": "public-read"}, ALLOW),
        ({"StringNotEquals": {"s3:x-amz-acl": "private"}}, {"s3:x-amz-acl": "private"}, NONE),
        # a negated operator on a missing key holds; a positive one does not
        ({"StringNotEquals": {"s3:x-amz-acl": "private"}}, {}, ALLOW),
        ({"StringEquals": {"s3:x-amz-acl": "private"}}, {}, NONE),
        ({"StringLike": {"s3:prefix": "home/*"}}, {"s3:prefix": "home/alice/"}, ALLOW),
        ({"StringLike": {"s3:prefix": ["", "home/*"]}}, {"s3:prefix": ""}, ALLOW),
        ({"StringNotLike": {"s3:prefix": "home/*"}}, {"s3:prefix": "etc/"}, ALLOW),
        ({"StringEquals": {"s3:delimiter": "/"}}, {"s3:delimiter": "/"}, ALLOW),
        # condition keys are case-insensitive, values are not
        ({"StringEquals": {"S3:X-Amz-Acl": "private"}}, {"s3:x-amz-acl": "private"}, ALLOW),
        ({"stringequals": {"s3:x-amz-acl": "private"}}, {"s3:x-amz-acl": "private"}, ALLOW),
        # Numeric
        ({"NumericLessThanEquals": {"s3:max-keys": "10"}}, {"s3:max-keys": "10"}, ALLOW),
        ({"NumericLessThanEquals": {"s3:max-keys": "10"}}, {"s3:max-keys": "11"}, NONE),
        ({"NumericLessThan": {"s3:max-keys": 10}}, {"s3:max-keys": "9"}, ALLOW),
        ({"NumericGreaterThan": {"s3:max-keys": "10"}}, {"s3:max-keys": "11"}, ALLOW),
        ({"NumericGreaterThanEquals": {"s3:max-keys": "10"}}, {"s3:max-keys": "9"}, NONE),
        ({"NumericEquals": {"s3:max-keys": "10"}}, {"s3:max-keys": "10.0"}, ALLOW),
        ({"NumericNotEquals": {"s3:max-keys": "10"}}, {"s3:max-keys": "5"}, ALLOW),
        ({"NumericEquals": {"s3:max-keys": "10"}}, {"s3:max-keys": "ten"}, NONE),
        # Dates: ISO 8601 and epoch seconds
        (
            {"DateLessThan": {"aws:CurrentTime": "2030-01-01T00:00:00Z"}},
            {"aws:CurrentTime": "2029-12-31T23:59:59Z"},
            ALLOW,
        ),
        (
            {"DateGreaterThan": {"aws:CurrentTime": "2030-01-01T00:00:00Z"}},
            {"aws:CurrentTime": "2029-12-31T23:59:59Z"},
            NONE,
        ),
        (
            {"DateGreaterThanEquals": {"aws:CurrentTime": "1893456000"}},
            {"aws:CurrentTime": "2030-01-01T00:00:00Z"},
            ALLOW,
        ),
        (
            {"DateEquals": {"aws:CurrentTime": "2030-01-01"}},
            {"aws:CurrentTime": "2030-01-01T00:00:00Z"},
            ALLOW,
        ),
        (
            {"DateNotEquals": {"aws:CurrentTime": "2030-01-01T00:00:00Z"}},
            {"aws:CurrentTime": "2030-01-01T00:00:01Z"},
            ALLOW,
        ),
        (
            {"DateLessThanEquals": {"aws:CurrentTime": "2030-01-01T00:00:00+01:00"}},
            {"aws:CurrentTime": "2029-12-31T23:00:00Z"},
            ALLOW,
        ),
        # Null: the key is absent ("true") or present ("false")
        ({"Null": {"s3:x-amz-server-side-encryption": "true"}}, {}, ALLOW),
        (
            {"Null": {"s3:x-amz-server-side-encryption": "true"}},
            {"s3:x-amz-server-side-encryption": "AES256"},
            NONE,
        ),
        (
            {"Null": {"s3:x-amz-server-side-encryption": "false"}},
            {"s3:x-amz-server-side-encryption": "AES256"},
            ALLOW,
        ),
        # ...IfExists: true when the key is absent
        ({"StringEqualsIfExists": {"s3:x-amz-acl": "private"}}, {}, ALLOW),
        (
            {"StringEqualsIfExists": {"s3:x-amz-acl": "private"}},
            {"s3:x-amz-acl": "public-read"},
            NONE,
        ),
        ({"NumericLessThanIfExists": {"s3:max-keys": "5"}}, {}, ALLOW),
        # several keys AND, several operators AND, values OR
        (
            {"StringEquals": {"s3:prefix": "a/", "s3:delimiter": "/"}},
            {"s3:prefix": "a/", "s3:delimiter": "/"},
            ALLOW,
        ),
        (
            {"StringEquals": {"s3:prefix": "a/", "s3:delimiter": "/"}},
            {"s3:prefix": "a/"},
            NONE,
        ),
        (
            {"StringEquals": {"s3:prefix": "a/"}, "Bool": {"aws:SecureTransport": "true"}},
            {"s3:prefix": "a/", "aws:SecureTransport": "false"},
            NONE,
        ),
        # multi-valued keys: ForAnyValue / ForAllValues
        (
            {"ForAnyValue:StringEquals": {"s3:RequestObjectTagKeys": ["color", "size"]}},
            {"s3:RequestObjectTagKeys": ("size", "owner")},
            ALLOW,
        ),
        (
            {"ForAllValues:StringEquals": {"s3:RequestObjectTagKeys": ["color", "size"]}},
            {"s3:RequestObjectTagKeys": ("size", "owner")},
            NONE,
        ),
        (
            {"ForAllValues:StringEquals": {"s3:RequestObjectTagKeys": ["color", "size"]}},
            {"s3:RequestObjectTagKeys": ("size", "color")},
            ALLOW,
        ),
        # ForAllValues holds when the request has no values; ForAnyValue does not
        ({"ForAllValues:StringEquals": {"s3:RequestObjectTagKeys": ["color"]}}, {}, ALLOW),
        ({"ForAnyValue:StringEquals": {"s3:RequestObjectTagKeys": ["color"]}}, {}, NONE),
        (
            {"ForAnyValue:StringLike": {"s3:RequestObjectTagKeys": "c*"}},
            {"s3:RequestObjectTagKeys": ("size", "color")},
            ALLOW,
        ),
        # tags: existing and requested, tag names keep their case
        (
            {"StringEquals": {"s3:ExistingObjectTag/Class": "public"}},
            {"s3:ExistingObjectTag/Class": "public"},
            ALLOW,
        ),
        (
            {"StringEquals": {"s3:ExistingObjectTag/Class": "public"}},
            {"s3:ExistingObjectTag/class": "public"},
            NONE,
        ),
        (
            {"StringEquals": {"s3:RequestObjectTag/project": "x"}},
            {"s3:RequestObjectTag/project": "x"},
            ALLOW,
        ),
        # who and how: aws:username, aws:userid, s3:signatureversion, s3:authType
        ({"StringEquals": {"aws:username": "bob"}}, {"aws:username": "bob"}, ALLOW),
        ({"StringEquals": {"aws:userid": "b" * 64}}, {"aws:userid": "b" * 64}, ALLOW),
        (
            {"StringEquals": {"s3:signatureversion": "AWS4-HMAC-SHA256"}},
            {"s3:signatureversion": "AWS"},
            NONE,
        ),
        (
            {"StringEquals": {"s3:authType": "REST-HEADER"}},
            {"s3:authType": "REST-QUERY-STRING"},
            NONE,
        ),
        ({"StringEquals": {"s3:authType": "REST-HEADER"}}, {"s3:authType": "REST-HEADER"}, ALLOW),
        (
            {"StringEquals": {"s3:x-amz-server-side-encryption": "AES256"}},
            {"s3:x-amz-server-side-encryption": "AES256"},
            ALLOW,
        ),
        # Arn operators
        (
            {"ArnLike": {"aws:SourceArn": "arn:aws:s3:::other*"}},
            {"aws:SourceArn": "arn:aws:s3:::other-bucket"},
            ALLOW,
        ),
        ({"ArnNotLike": {"aws:SourceArn": "arn:aws:s3:::other*"}}, {}, ALLOW),
    ],
)
def test_conditions(condition: dict[str, Any], keys: dict[str, Any], expected: Decision) -> None:
    assert decide(cond(condition), ctx_req(**keys)) is expected


def test_policy_variables_in_resources_and_values() -> None:
    # AWS's home-folder example: each user reaches their own prefix.
    policy = doc(
        stmt(
            principal={"AWS": [ALICE.user_id, BOB.user_id]},
            resource=f"arn:aws:s3:::{BUCKET}/home/${{aws:username}}/*",
        ),
        stmt(
            principal={"AWS": [ALICE.user_id, BOB.user_id]},
            action="s3:ListBucket",
            resource=f"arn:aws:s3:::{BUCKET}",
            Condition={"StringLike": {"s3:prefix": ["home/${aws:username}/*"]}},
        ),
    )
    own = AccessRequest(
        BOB, "s3:GetObject", f"arn:aws:s3:::{BUCKET}/home/bob/x", {"aws:username": ("bob",)}
    )
    other = AccessRequest(
        BOB, "s3:GetObject", f"arn:aws:s3:::{BUCKET}/home/alice/x", {"aws:username": ("bob",)}
    )
    listing = AccessRequest(
        BOB,
        "s3:ListBucket",
        f"arn:aws:s3:::{BUCKET}",
        {"aws:username": ("bob",), "s3:prefix": ("home/bob/docs",)},
    )
    parsed = parse_policy(policy, BUCKET)
    assert parsed.evaluate(own) is ALLOW
    assert parsed.evaluate(other) is NONE
    assert parsed.evaluate(listing) is ALLOW
    # Without the key the variable names (anonymous), the statement does not match.
    assert parsed.evaluate(AccessRequest(None, "s3:GetObject", own.resource, {})) is NONE


def test_variables_are_literal_text_in_2008_policies() -> None:
    policy = doc(stmt(resource=f"arn:aws:s3:::{BUCKET}/${{aws:username}}/*"), version="2008-10-17")
    parsed = parse_policy(policy, BUCKET)
    literal = AccessRequest(
        BOB,
        "s3:GetObject",
        f"arn:aws:s3:::{BUCKET}/${{aws:username}}/x",
        {"aws:username": ("bob",)},
    )
    assert parsed.evaluate(literal) is ALLOW
    assert parsed.evaluate(req(BOB, key="bob/x", aws__username="bob")) is NONE


def test_substitute_escapes() -> None:
    assert substitute("a${*}b${?}c${$}", {}) == "a*b?c$"
    assert substitute("${aws:username}", {}) is None
    assert substitute("plain", {}) == "plain"


def test_glob_match_rules() -> None:
    assert glob_match("a*c", "abbbc")
    assert glob_match("a?c", "abc")
    assert not glob_match("a?c", "ac")
    assert glob_match("*", "")
    assert not glob_match("a.c", "abc")  # a dot is a dot
    assert glob_match("A*", "abc", ignore_case=True)


# ---- AWS documentation examples ------------------------------------------------------------
def test_aws_example_deny_insecure_transport() -> None:
    policy = doc(
        stmt(action="s3:GetObject"),
        stmt(
            "Deny",
            action="s3:*",
            resource=[f"arn:aws:s3:::{BUCKET}", f"arn:aws:s3:::{BUCKET}/*"],
            Condition={"Bool": {"aws:SecureTransport": "false"}},
        ),
    )
    assert decide(policy, ctx_req(None, **{"aws:SecureTransport": "false"})) is DENY
    assert decide(policy, ctx_req(None, **{"aws:SecureTransport": "true"})) is ALLOW


def test_aws_example_ip_allow_list_with_an_exception() -> None:
    policy = doc(
        stmt(
            action="s3:*",
            resource=[f"arn:aws:s3:::{BUCKET}", f"arn:aws:s3:::{BUCKET}/*"],
            Condition={
                "IpAddress": {"aws:SourceIp": "192.0.2.0/24"},
                "NotIpAddress": {"aws:SourceIp": "192.0.2.188/32"},
            },
        )
    )
    assert decide(policy, ctx_req(**{"aws:SourceIp": "192.0.2.5"})) is ALLOW
    assert decide(policy, ctx_req(**{"aws:SourceIp": "192.0.2.188"})) is NONE


def test_aws_example_require_encryption_on_upload() -> None:
    policy = doc(
        stmt(
            "Deny",
            action="s3:PutObject",
            Condition={"StringNotEquals": {"s3:x-amz-server-side-encryption": "AES256"}},
        ),
        stmt(
            "Deny",
            action="s3:PutObject",
            Condition={"Null": {"s3:x-amz-server-side-encryption": "true"}},
        ),
    )
    plain = req(ALICE, "s3:PutObject")
    encrypted = req(ALICE, "s3:PutObject", s3__x_amz_server_side_encryption="AES256")
    assert decide(policy, plain) is DENY
    assert decide(policy, encrypted) is NONE


def test_aws_example_object_tag_read() -> None:
    policy = doc(
        stmt(
            principal={"AWS": BOB.user_id},
            Condition={"StringEquals": {"s3:ExistingObjectTag/environment": "production"}},
        )
    )
    tagged = ctx_req(**{"s3:ExistingObjectTag/environment": "production"})
    assert decide(policy, tagged) is ALLOW
    assert decide(policy, ctx_req()) is NONE
    assert parse_policy(policy, BUCKET).uses_existing_tags


def test_aws_example_list_limited_by_max_keys_and_prefix() -> None:
    policy = doc(
        stmt(
            principal={"AWS": BOB.user_id},
            action="s3:ListBucket",
            resource=f"arn:aws:s3:::{BUCKET}",
            Condition={
                "StringEquals": {"s3:prefix": ["", "projects/"], "s3:delimiter": "/"},
                "NumericLessThanEquals": {"s3:max-keys": "100"},
            },
        )
    )

    def listing(**keys: str) -> AccessRequest:
        values = {k: (v,) for k, v in keys.items()}
        return AccessRequest(BOB, "s3:ListBucket", f"arn:aws:s3:::{BUCKET}", values)

    good = {"s3:prefix": "projects/", "s3:delimiter": "/", "s3:max-keys": "50"}
    assert decide(policy, listing(**good)) is ALLOW
    assert decide(policy, listing(**{**good, "s3:max-keys": "500"})) is NONE
    assert decide(policy, listing(**{**good, "s3:prefix": "secret/"})) is NONE


def test_aws_example_time_window() -> None:
    policy = doc(
        stmt(
            Condition={
                "DateGreaterThan": {"aws:CurrentTime": "2020-01-01T00:00:00Z"},
                "DateLessThan": {"aws:CurrentTime": "2020-06-30T00:00:00Z"},
            }
        )
    )
    assert decide(policy, ctx_req(**{"aws:CurrentTime": "2020-03-01T12:00:00Z"})) is ALLOW
    assert decide(policy, ctx_req(**{"aws:CurrentTime": "2021-03-01T12:00:00Z"})) is NONE


# ---- public or not ---------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("statement", "public"),
    [
        (stmt(), True),
        (stmt(principal={"AWS": "*"}), True),
        (stmt(principal={"AWS": BOB.user_id}), False),
        (stmt("Deny"), False),
        (stmt(Condition={"IpAddress": {"aws:SourceIp": "192.0.2.0/24"}}), False),
        (stmt(Condition={"IpAddress": {"aws:SourceIp": "0.0.0.0/0"}}), True),
        (stmt(Condition={"StringEquals": {"aws:SourceAccount": "123456789012"}}), False),
        (stmt(Condition={"StringLike": {"aws:SourceAccount": "*"}}), True),
        (stmt(Condition={"Bool": {"aws:SecureTransport": "true"}}), True),
        (stmt(principal=None, NotPrincipal={"AWS": BOB.user_id}), True),
    ],
)
def test_is_public(statement: dict[str, Any], public: bool) -> None:
    cleaned = {k: v for k, v in statement.items() if v is not None}
    assert parse_policy(doc(cleaned), BUCKET).is_public is public


# ---- malformed policies ----------------------------------------------------------------------
JSON_REASON = "Policies must be valid JSON and the first byte must be '{'"


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("", JSON_REASON),
        ("[]", JSON_REASON),
        ("{not json", JSON_REASON),
        ('{"Statement": []}', "Missing required field Statement"),
        ('{"Version": "2012-10-17"}', "Missing required field Statement"),
        (
            json.dumps({"Version": "2099-01-01", "Statement": [stmt()]}),
            "The policy must contain a valid version string",
        ),
        (
            json.dumps({"Version": "2012-10-17", "Statement": [stmt()], "Extra": 1}),
            "Unknown field Extra",
        ),
        (doc({**stmt(), "Effect": "Allowed"}), "Invalid effect: Allowed"),
        (doc({k: v for k, v in stmt().items() if k != "Effect"}), "Missing required field Effect"),
        (
            doc({k: v for k, v in stmt().items() if k != "Principal"}),
            "Missing required field Principal",
        ),
        (doc({k: v for k, v in stmt().items() if k != "Action"}), "Missing required field Action"),
        (
            doc({k: v for k, v in stmt().items() if k != "Resource"}),
            "Missing required field Resource",
        ),
        (doc(stmt(principal={"AWS": "bob"})), "Invalid principal in policy"),
        (doc(stmt(principal={"Service": "s3.amazonaws.com"})), "Invalid principal in policy"),
        (doc(stmt(principal="alice")), "Invalid principal in policy"),
        (doc(stmt(principal={"AWS": []})), "Invalid principal in policy"),
        (doc(stmt(action="s3:GetObjekt")), "Policy has invalid action"),
        (doc(stmt(action="s3:Frobnicate*")), "Policy has invalid action"),
        (doc(stmt(action="ec2:RunInstances")), "Policy has invalid action"),
        (doc(stmt(resource="arn:aws:s3:::other-bucket/*")), "Policy has invalid resource"),
        (doc(stmt(resource="photos/*")), "Policy has invalid resource"),
        (
            doc(stmt(action="s3:GetObject", resource=f"arn:aws:s3:::{BUCKET}")),
            "Action does not apply to any resource(s) in statement",
        ),
        (
            doc(stmt(action="s3:ListBucket", resource=f"arn:aws:s3:::{BUCKET}/*")),
            "Action does not apply to any resource(s) in statement",
        ),
        (
            doc(stmt(Condition={"StringEqualz": {"s3:prefix": "a"}})),
            "Invalid Condition type : StringEqualz",
        ),
        (
            doc(stmt(Condition={"StringEquals": {"s3:nonsense": "a"}})),
            "Policy has an invalid condition key",
        ),
        (
            doc(stmt(Condition={"IpAddress": {"aws:SourceIp": "not-an-ip"}})),
            "Invalid Condition value : not-an-ip",
        ),
        (
            doc(stmt(Condition={"NumericEquals": {"s3:max-keys": "ten"}})),
            "Invalid Condition value : ten",
        ),
        (
            doc(stmt(Condition={"DateLessThan": {"aws:CurrentTime": "someday"}})),
            "Invalid Condition value : someday",
        ),
        (
            doc(stmt(Condition={"Bool": {"aws:SecureTransport": "maybe"}})),
            "Invalid Condition value : maybe",
        ),
        (
            doc(stmt(Condition={"Sometimes:StringEquals": {"s3:prefix": "a"}})),
            "Invalid Condition type : Sometimes:StringEquals",
        ),
        (
            doc(stmt(Sid="x"), stmt(Sid="x")),
            "Statement IDs (SID) in a single policy must be unique",
        ),
        ('{"Statement": [], "Statement": []}', "Duplicate field Statement"),
        (doc({**stmt(), "Principals": "*"}), "Unknown field Principals"),
    ],
)
def test_malformed(text: str, reason: str) -> None:
    with pytest.raises(PolicyError) as caught:
        parse_policy(text, BUCKET)
    assert str(caught.value) == reason


def test_size_limit_counts_the_document_without_whitespace() -> None:
    def sized(n: int) -> str:
        return doc(*[stmt(Sid=f"s{i}") for i in range(n)])

    fits = next(n for n in range(1, 500) if len(sized(n + 1).replace(" ", "")) > MAX_POLICY_BYTES)
    assert parse_policy(sized(fits), BUCKET)
    # Indentation does not count against the limit.
    pretty = json.dumps(json.loads(sized(fits)), indent=8)
    assert len(pretty) > MAX_POLICY_BYTES
    assert parse_policy(pretty, BUCKET)
    with pytest.raises(PolicyError, match="maximum allowed document size"):
        parse_policy(sized(fits + 1), BUCKET)


def test_policy_text_is_kept_as_put() -> None:
    text = '{ "Version":"2012-10-17",\n "Statement": [' + json.dumps(stmt()) + "] }"
    assert parse_policy(text, BUCKET).text == text


# ---- the action table ------------------------------------------------------------------------
def test_every_action_of_the_table_is_known_to_validation() -> None:
    for action, versioned in ACTIONS.values():
        assert action.lower() in KNOWN_ACTIONS
        assert versioned.lower() in KNOWN_ACTIONS


def test_action_for_versions_and_unknown_operations() -> None:
    assert action_for("GetObject") == "s3:GetObject"
    assert action_for("GetObject", versioned=True) == "s3:GetObjectVersion"
    assert action_for("ListObjectsV2") == "s3:ListBucket"
    assert action_for("PutObject", versioned=True) == "s3:PutObject"
    assert action_for("ListBuckets") is None
    assert KNOWN_ACTIONS["s3:getobject"] == "object"
    assert KNOWN_ACTIONS["s3:listbucket"] == "bucket"
    assert KNOWN_ACTIONS["s3:getbucketobjectlockconfiguration"] == "bucket"


def test_every_bucket_subresource_operation_has_an_action() -> None:
    # A sub-resource the router names must say which action guards it (metadata tables and
    # ABAC are AWS features without a bucket-policy action here).
    skip = {"BucketAbac", "BucketMetadataConfiguration", "BucketMetadataTableConfiguration"}
    for noun in set(BUCKET_SUBRESOURCES.values()) - skip:
        assert action_for("Get" + noun) is not None, noun
