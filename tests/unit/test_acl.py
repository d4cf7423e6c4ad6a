"""S3 ACLs apart from any server (wormfs.gateway.acl, wormfs.wire.acl): a table of ACLs x
callers x permissions -> decisions, what each canned ACL stands for, the grant headers and the
AccessControlPolicy document read (and refused with AWS's errors), the document written back,
whether an ACL is public, and which ACL permission each S3 operation needs."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Callable

import msgspec
import pytest
from multidict import CIMultiDict, CIMultiDictProxy

from wormfs.gateway.acl import (
    BOTH_KINDS,
    CANNED_ACLS,
    GRANT_HEADERS,
    MAX_GRANTS,
    PERMISSION_OF,
    UnresolvableGrantByEmailAddress,
    acl_document,
    acl_from_request,
    canned_acl,
    grant_headers,
    is_public,
    parse_acl_xml,
    permits,
)
from wormfs.gateway.errors import (
    AccessDenied,
    InvalidArgument,
    InvalidRequest,
    MalformedACLError,
    S3Error,
)
from wormfs.gateway.router import route
from wormfs.gateway.xml import parse_xml, render
from wormfs.wire.acl import (
    ALL_USERS,
    AUTHENTICATED_USERS,
    CANONICAL_USER,
    FULL_CONTROL,
    GROUP,
    LOG_DELIVERY,
    READ,
    READ_ACP,
    WRITE,
    WRITE_ACP,
    Acl,
    AclSetting,
    Grant,
    OwnershipSetting,
)

OWNER = "0" * 64
ALICE = "a" * 64
BOB = "b" * 64
BUCKET_OWNER = "c" * 64
EMAILS = {"alice@example.com": ALICE}
NAMES = {OWNER: "owner", ALICE: "alice"}
XSI = "http://www.w3.org/2001/XMLSchema-instance"


def resolve(address: str) -> str | None:
    return EMAILS.get(address)


def name_of(user_id: str) -> str:
    return NAMES.get(user_id, "")


def user(user_id: str, permission: str) -> Grant:
    return Grant(CANONICAL_USER, user_id, permission)


def group(uri: str, permission: str) -> Grant:
    return Grant(GROUP, uri, permission)


def headers(**values: str) -> CIMultiDictProxy[str]:
    h: CIMultiDict[str] = CIMultiDict()
    for name, value in values.items():
        h[name.replace("_", "-")] = value
    return CIMultiDictProxy(h)


def owned(*grants: Grant) -> Acl:
    return Acl(owner_id=OWNER, grants=list(grants))


# ---- permits ------------------------------------------------------------------------------------
PRIVATE = owned(user(OWNER, FULL_CONTROL))
NO_GRANTS = owned()
PUBLIC_READ = owned(user(OWNER, FULL_CONTROL), group(ALL_USERS, READ))
PUBLIC_WRITE = owned(group(ALL_USERS, WRITE))
SIGNED_READ = owned(group(AUTHENTICATED_USERS, READ))
ALICE_READ = owned(user(ALICE, READ))
ALICE_FULL = owned(user(ALICE, FULL_CONTROL))
ALICE_WRITE_ACP = owned(user(ALICE, WRITE_ACP))
ALICE_PIECEMEAL = owned(*(user(ALICE, p) for p in (READ, WRITE, READ_ACP, WRITE_ACP)))
LOGS = owned(group(LOG_DELIVERY, WRITE), group(LOG_DELIVERY, READ_ACP))

ANON = None
Y, N = True, False


@pytest.mark.parametrize(
    ("acl", "caller", "permission", "ignore_public", "expected"),
    [
        # The owner: FULL_CONTROL by grant; READ_ACP and WRITE_ACP whatever the grants say.
        (PRIVATE, OWNER, READ, N, Y),
        (PRIVATE, OWNER, WRITE, N, Y),
        (PRIVATE, OWNER, FULL_CONTROL, N, Y),
        (NO_GRANTS, OWNER, READ, N, N),
        (NO_GRANTS, OWNER, WRITE, N, N),
        (NO_GRANTS, OWNER, READ_ACP, N, Y),
        (NO_GRANTS, OWNER, WRITE_ACP, N, Y),
        (NO_GRANTS, OWNER, FULL_CONTROL, N, N),
        # Another user: only what is granted to it (or to a group it belongs to).
        (PRIVATE, ALICE, READ, N, N),
        (PRIVATE, ALICE, READ_ACP, N, N),
        (ALICE_READ, ALICE, READ, N, Y),
        (ALICE_READ, ALICE, WRITE, N, N),
        (ALICE_READ, ALICE, READ_ACP, N, N),
        (ALICE_READ, BOB, READ, N, N),
        (ALICE_READ, ANON, READ, N, N),
        (ALICE_WRITE_ACP, ALICE, WRITE_ACP, N, Y),
        (ALICE_WRITE_ACP, ALICE, READ_ACP, N, N),
        (ALICE_WRITE_ACP, ALICE, WRITE, N, N),
        (ALICE_FULL, ALICE, READ, N, Y),
        (ALICE_FULL, ALICE, WRITE, N, Y),
        (ALICE_FULL, ALICE, READ_ACP, N, Y),
        (ALICE_FULL, ALICE, WRITE_ACP, N, Y),
        (ALICE_FULL, ALICE, FULL_CONTROL, N, Y),
        (ALICE_FULL, BOB, READ, N, N),
        (ALICE_PIECEMEAL, ALICE, FULL_CONTROL, N, Y),
        (ALICE_READ, ALICE, FULL_CONTROL, N, N),
        # AllUsers: everyone, anonymous callers too.
        (PUBLIC_READ, ANON, READ, N, Y),
        (PUBLIC_READ, BOB, READ, N, Y),
        (PUBLIC_READ, ANON, WRITE, N, N),
        (PUBLIC_READ, ANON, READ_ACP, N, N),
        (PUBLIC_WRITE, ANON, WRITE, N, Y),
        (PUBLIC_WRITE, ANON, READ, N, N),
        # AuthenticatedUsers: every signed caller, never an anonymous one.
        (SIGNED_READ, BOB, READ, N, Y),
        (SIGNED_READ, ANON, READ, N, N),
        (SIGNED_READ, BOB, WRITE, N, N),
        # IgnorePublicAcls: the public groups count for nothing, users' grants still do.
        (PUBLIC_READ, ANON, READ, Y, N),
        (PUBLIC_READ, BOB, READ, Y, N),
        (PUBLIC_READ, OWNER, READ, Y, Y),
        (SIGNED_READ, BOB, READ, Y, N),
        (ALICE_READ, ALICE, READ, Y, Y),
        (NO_GRANTS, OWNER, WRITE_ACP, Y, Y),
        # LogDelivery is AWS's service: no caller here is in it.
        (LOGS, BOB, WRITE, N, N),
        (LOGS, ANON, WRITE, N, N),
        (LOGS, OWNER, READ_ACP, N, Y),
        # No ACL grants nothing, not even to an owner it cannot name.
        (None, OWNER, READ_ACP, N, N),
        (None, ANON, READ, N, N),
    ],
)
def test_permits(
    acl: Acl | None, caller: str | None, permission: str, ignore_public: bool, expected: bool
) -> None:
    assert permits(acl, caller, permission, ignore_public=ignore_public) is expected


def test_permits_refuses_an_unknown_permission() -> None:
    with pytest.raises(ValueError):
        permits(PRIVATE, OWNER, "DELETE")


# ---- canned ACLs --------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("name", "extra"),
    [
        ("private", []),
        ("public-read", [group(ALL_USERS, READ)]),
        ("public-read-write", [group(ALL_USERS, READ), group(ALL_USERS, WRITE)]),
        ("authenticated-read", [group(AUTHENTICATED_USERS, READ)]),
        ("aws-exec-read", []),
        ("bucket-owner-read", [user(BUCKET_OWNER, READ)]),
        ("bucket-owner-full-control", [user(BUCKET_OWNER, FULL_CONTROL)]),
        ("log-delivery-write", [group(LOG_DELIVERY, WRITE), group(LOG_DELIVERY, READ_ACP)]),
    ],
)
def test_canned_acl_contents(name: str, extra: list[Grant]) -> None:
    assert canned_acl(name, OWNER, BUCKET_OWNER) == owned(user(OWNER, FULL_CONTROL), *extra)
    assert canned_acl(f" {name} ", OWNER, BUCKET_OWNER) == canned_acl(name, OWNER, BUCKET_OWNER)


@pytest.mark.parametrize("name", ["bucket-owner-read", "bucket-owner-full-control"])
def test_bucket_owner_acls_add_nothing_for_the_bucket_owner(name: str) -> None:
    # Also what they are on a bucket, where AWS ignores them.
    assert canned_acl(name, OWNER, OWNER) == PRIVATE


def test_canned_names_are_every_name_and_only_those() -> None:
    assert len(CANNED_ACLS) == 8 and len(GRANT_HEADERS) == 5
    for name in ("public", "Private", "", "bucket-owner"):
        with pytest.raises(InvalidArgument) as caught:
            canned_acl(name, OWNER, OWNER)
        assert caught.value.fields == {"ArgumentName": "x-amz-acl", "ArgumentValue": name}


# ---- grant headers ------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ({"x-amz-grant-read": f'id="{ALICE}"'}, [user(ALICE, READ)]),
        ({"x-amz-grant-read": f"id={ALICE}"}, [user(ALICE, READ)]),
        ({"x-amz-grant-write": f'uri="{ALL_USERS}"'}, [group(ALL_USERS, WRITE)]),
        ({"x-amz-grant-read-acp": f"uri={LOG_DELIVERY}"}, [group(LOG_DELIVERY, READ_ACP)]),
        ({"x-amz-grant-write-acp": 'emailAddress="alice@example.com"'}, [user(ALICE, WRITE_ACP)]),
        # the AWS CLI's own examples write the kind in lower case
        (
            {"x-amz-grant-full-control": "emailaddress=alice@example.com"},
            [user(ALICE, FULL_CONTROL)],
        ),
        (
            {"x-amz-grant-read": f' id = "{ALICE}" ,uri="{AUTHENTICATED_USERS}",  id={BOB} '},
            [user(ALICE, READ), group(AUTHENTICATED_USERS, READ), user(BOB, READ)],
        ),
        ({"x-amz-grant-read": f'id=" {ALICE} "'}, [user(ALICE, READ)]),
        (
            {"x-amz-grant-write": f"id={BOB}", "x-amz-grant-full-control": f"id={ALICE}"},
            [user(ALICE, FULL_CONTROL), user(BOB, WRITE)],
        ),
    ],
)
def test_grant_headers(values: dict[str, str], expected: list[Grant]) -> None:
    assert grant_headers(headers(**values), resolve) == expected


def test_no_grant_header_is_none() -> None:
    assert grant_headers(headers(), resolve) is None
    assert grant_headers(headers(x_amz_acl="private", content_type="a/b"), resolve) is None
    assert grant_headers(headers(x_amz_grant_read="  "), resolve) is None


@pytest.mark.parametrize(
    ("value", "message", "argument"),
    [
        ("foo=bar", "Argument format not recognized", "x-amz-grant-read"),
        (ALICE, "Argument format not recognized", "x-amz-grant-read"),
        ("id=", "Argument format not recognized", "x-amz-grant-read"),
        ('id=""', "Argument format not recognized", "x-amz-grant-read"),
        (f'id="{ALICE}', "Argument format not recognized", "x-amz-grant-read"),
        (f'id="{ALICE}"x"', "Argument format not recognized", "x-amz-grant-read"),
        (f"id={ALICE},", "Argument format not recognized", "x-amz-grant-read"),
        ("id=_foo", "Invalid id", "id"),
        (f"id={ALICE.upper()}", "Invalid id", "id"),
        ("uri=http://acs.amazonaws.com/groups/global/Everyone", "Invalid group uri", "uri"),
    ],
)
def test_bad_grantees_are_invalid_arguments(value: str, message: str, argument: str) -> None:
    with pytest.raises(InvalidArgument) as caught:
        grant_headers(headers(x_amz_grant_read=value), resolve)
    assert caught.value.text == message
    assert caught.value.fields["ArgumentName"] == argument


def test_unknown_email_and_unknown_user() -> None:
    with pytest.raises(UnresolvableGrantByEmailAddress) as caught:
        grant_headers(headers(x_amz_grant_read='emailAddress="nobody@example.com"'), resolve)
    error: S3Error = caught.value
    assert (error.code, error.status) == ("UnresolvableGrantByEmailAddress", 400)
    assert error.text == "The e-mail address you provided does not match any account on record."
    assert error.fields == {"EmailAddress": "nobody@example.com"}
    known = {OWNER, ALICE}.__contains__
    assert grant_headers(headers(x_amz_grant_read=f"id={ALICE}"), resolve, user_exists=known)
    with pytest.raises(InvalidArgument, match="Invalid id"):
        grant_headers(headers(x_amz_grant_read=f"id={BOB}"), resolve, user_exists=known)


def test_grant_headers_hold_at_most_100_grants() -> None:
    many = ",".join(["uri=" + ALL_USERS] * MAX_GRANTS)
    assert len(grant_headers(headers(x_amz_grant_read=many), resolve) or []) == MAX_GRANTS
    with pytest.raises(MalformedACLError):
        grant_headers(headers(x_amz_grant_read=many, x_amz_grant_write=f"id={ALICE}"), resolve)


# ---- acl_from_request ---------------------------------------------------------------------------
def test_acl_from_request() -> None:
    def of(**values: str) -> Acl | None:
        return acl_from_request(headers(**values), OWNER, BUCKET_OWNER, resolve)

    assert of() is None
    assert of(x_amz_acl="public-read") == canned_acl("public-read", OWNER, BUCKET_OWNER)
    # Grants replace the ACL: the owner's FULL_CONTROL is not added.
    assert of(x_amz_grant_read=f"id={ALICE}") == owned(user(ALICE, READ))
    with pytest.raises(InvalidRequest) as caught:
        of(x_amz_acl="private", x_amz_grant_read=f"id={ALICE}")
    assert caught.value.text == BOTH_KINDS
    with pytest.raises(InvalidArgument):
        of(x_amz_acl="everyone")
    assert of(x_amz_acl="private", x_amz_grant_read="") == PRIVATE


# ---- the AccessControlPolicy document -----------------------------------------------------------
def policy(*grants: str, owner: str | None = f"<Owner><ID>{OWNER}</ID></Owner>") -> bytes:
    return (
        '<AccessControlPolicy xmlns="http://s3.amazonaws.com/doc/2006-03-01/" '
        f'xmlns:xsi="{XSI}">{owner or ""}'
        f"<AccessControlList>{''.join(grants)}</AccessControlList></AccessControlPolicy>"
    ).encode()


def grant_xml(kind: str, inner: str, permission: str = "READ") -> str:
    return (
        f'<Grant><Grantee xsi:type="{kind}">{inner}</Grantee>'
        f"<Permission>{permission}</Permission></Grant>"
    )


def parse(data: bytes, user_exists: Callable[[str], bool] | None = None) -> Acl:
    return parse_acl_xml(parse_xml(data), resolve, OWNER, user_exists=user_exists)


MIXED = owned(
    user(OWNER, FULL_CONTROL),
    user(ALICE, READ_ACP),
    user(BOB, WRITE),
    group(ALL_USERS, READ),
    group(AUTHENTICATED_USERS, WRITE_ACP),
    group(LOG_DELIVERY, WRITE),
)


def test_document_round_trip() -> None:
    data = render(acl_document(MIXED, name_of))
    assert parse(data) == MIXED
    text = data.decode()
    assert text.startswith('<?xml version="1.0" encoding="UTF-8"?>\n<AccessControlPolicy xmlns=')
    assert f"<Owner><ID>{OWNER}</ID><DisplayName>owner</DisplayName></Owner>" in text
    assert (
        f'<Grant><Grantee xmlns:xsi="{XSI}" xsi:type="CanonicalUser"><ID>{ALICE}</ID>'
        "<DisplayName>alice</DisplayName></Grantee><Permission>READ_ACP</Permission></Grant>"
    ) in text
    assert (
        f'<Grant><Grantee xmlns:xsi="{XSI}" xsi:type="Group"><URI>{ALL_USERS}</URI></Grantee>'
        "<Permission>READ</Permission></Grant>"
    ) in text
    # A tree from ElementTree's own parser (``{xsi}type`` attributes) reads the same.
    plain = render(acl_document(MIXED, name_of), namespace=False)
    assert parse_acl_xml(ET.fromstring(plain), resolve, OWNER) == MIXED


def test_document_display_names() -> None:
    acl = owned(Grant(CANONICAL_USER, BOB, READ, display_name="bob (recorded)"))
    text = render(acl_document(acl, name_of)).decode()
    assert "<DisplayName>bob (recorded)</DisplayName>" in text
    text = render(acl_document(owned(), name_of)).decode()
    assert "<AccessControlList></AccessControlList>" in text


def test_document_as_clients_send_it() -> None:
    data = policy(
        grant_xml(
            "CanonicalUser", f"<ID>{ALICE}</ID><DisplayName>whatever</DisplayName>", "FULL_CONTROL"
        ),
        grant_xml("AmazonCustomerByEmail", "<EmailAddress>alice@example.com</EmailAddress>"),
        grant_xml("Group", f"<URI> {ALL_USERS} </URI>", " READ "),
    )
    assert parse(data) == owned(
        user(ALICE, FULL_CONTROL), user(ALICE, READ), group(ALL_USERS, READ)
    )
    # An empty list revokes everything (the owner keeps READ_ACP and WRITE_ACP).
    assert parse(policy()) == NO_GRANTS


@pytest.mark.parametrize(
    "data",
    [
        b"<AccessControlList/>",
        policy(owner=None),
        f"<AccessControlPolicy><Owner><ID>{OWNER}</ID></Owner></AccessControlPolicy>".encode(),
        policy("<Grant><Permission>READ</Permission></Grant>"),
        policy(f'<Grant><Grantee xsi:type="CanonicalUser"><ID>{ALICE}</ID></Grantee></Grant>'),
        policy(grant_xml("CanonicalUser", f"<ID>{ALICE}</ID>", "READ_WRITE")),
        policy(grant_xml("CanonicalUser", f"<ID>{ALICE}</ID>", "read")),
        policy(grant_xml("Person", f"<ID>{ALICE}</ID>")),
        policy(f"<Grant><Grantee><ID>{ALICE}</ID></Grantee><Permission>READ</Permission></Grant>"),
        policy(grant_xml("CanonicalUser", f"<URI>{ALL_USERS}</URI>")),
        policy(grant_xml("Group", f"<ID>{ALICE}</ID>")),
        policy(grant_xml("AmazonCustomerByEmail", f"<ID>{ALICE}</ID>")),
        policy("<Something/>"),
        policy(*[grant_xml("Group", f"<URI>{ALL_USERS}</URI>")] * (MAX_GRANTS + 1)),
    ],
)
def test_malformed_documents(data: bytes) -> None:
    with pytest.raises(MalformedACLError):
        parse(data)


def test_at_most_100_grants() -> None:
    grants = [grant_xml("Group", f"<URI>{ALL_USERS}</URI>")] * MAX_GRANTS
    assert len(parse(policy(*grants)).grants) == MAX_GRANTS


@pytest.mark.parametrize(
    ("data", "message", "argument"),
    [
        (policy(grant_xml("CanonicalUser", "<ID>_foo</ID>")), "Invalid id", "CanonicalUser/ID"),
        (
            policy(grant_xml("Group", "<URI>http://acs.amazonaws.com/groups/global/All</URI>")),
            "Invalid group uri",
            "Group/URI",
        ),
        (policy(owner="<Owner></Owner>"), "Invalid id", "CanonicalUser/ID"),
        (policy(owner="<Owner><ID>me</ID></Owner>"), "Invalid id", "CanonicalUser/ID"),
    ],
)
def test_document_invalid_arguments(data: bytes, message: str, argument: str) -> None:
    with pytest.raises(InvalidArgument) as caught:
        parse(data)
    assert caught.value.text == message
    assert caught.value.fields["ArgumentName"] == argument


def test_document_users_and_owner() -> None:
    with pytest.raises(UnresolvableGrantByEmailAddress):
        parse(policy(grant_xml("AmazonCustomerByEmail", "<EmailAddress>x@y.z</EmailAddress>")))
    known = {OWNER, ALICE}.__contains__
    assert parse(policy(grant_xml("CanonicalUser", f"<ID>{ALICE}</ID>")), user_exists=known)
    with pytest.raises(InvalidArgument, match="Invalid id"):
        parse(policy(grant_xml("CanonicalUser", f"<ID>{BOB}</ID>")), user_exists=known)
    # An ACL never gives the resource away.
    with pytest.raises(AccessDenied):
        parse(policy(owner=f"<Owner><ID>{ALICE}</ID></Owner>"))


# ---- is_public ----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("name", "public"),
    [
        ("private", False),
        ("public-read", True),
        ("public-read-write", True),
        ("authenticated-read", True),
        ("aws-exec-read", False),
        ("bucket-owner-read", False),
        ("bucket-owner-full-control", False),
        ("log-delivery-write", False),
    ],
)
def test_is_public_canned(name: str, public: bool) -> None:
    assert is_public(canned_acl(name, OWNER, BUCKET_OWNER)) is public


def test_is_public_grants() -> None:
    assert is_public(owned(group(AUTHENTICATED_USERS, READ_ACP)))
    assert is_public(owned(group(ALL_USERS, WRITE_ACP)))
    assert not is_public(NO_GRANTS)
    assert not is_public(ALICE_FULL)


# ---- operations -> permissions ------------------------------------------------------------------
REQUESTS = {
    "HeadBucket": ("HEAD", "/bkt", {}),
    "ListObjects": ("GET", "/bkt", {}),
    "ListObjectsV2": ("GET", "/bkt?list-type=2", {}),
    "ListObjectVersions": ("GET", "/bkt?versions", {}),
    "ListMultipartUploads": ("GET", "/bkt?uploads", {}),
    "ListParts": ("GET", "/bkt/k?uploadId=u", {}),
    "PutObject": ("PUT", "/bkt/k", {}),
    "PostObject": ("POST", "/bkt", {}),
    "CopyObject": ("PUT", "/bkt/k", {"x-amz-copy-source": "/src/k"}),
    "CreateMultipartUpload": ("POST", "/bkt/k?uploads", {}),
    "UploadPart": ("PUT", "/bkt/k?partNumber=1&uploadId=u", {}),
    "UploadPartCopy": ("PUT", "/bkt/k?partNumber=1&uploadId=u", {"x-amz-copy-source": "/s/k"}),
    "CompleteMultipartUpload": ("POST", "/bkt/k?uploadId=u", {}),
    "AbortMultipartUpload": ("DELETE", "/bkt/k?uploadId=u", {}),
    "DeleteObject": ("DELETE", "/bkt/k", {}),
    "DeleteObjects": ("POST", "/bkt?delete", {}),
    "GetBucketAcl": ("GET", "/bkt?acl", {}),
    "PutBucketAcl": ("PUT", "/bkt?acl", {}),
    "GetObject": ("GET", "/bkt/k", {}),
    "HeadObject": ("HEAD", "/bkt/k", {}),
    "GetObjectAttributes": ("GET", "/bkt/k?attributes", {}),
    "GetObjectTorrent": ("GET", "/bkt/k?torrent", {}),
    "GetObjectAcl": ("GET", "/bkt/k?acl", {}),
    "PutObjectAcl": ("PUT", "/bkt/k?acl", {}),
}


def test_every_operation_is_a_router_name() -> None:
    assert set(PERMISSION_OF) == set(REQUESTS)
    for name, (method, target, extra) in REQUESTS.items():
        h = CIMultiDictProxy(CIMultiDict({"Host": "127.0.0.1:9000", **extra}))
        assert route(method, target, h).name == name


def test_permission_of() -> None:
    assert PERMISSION_OF["ListObjectsV2"] == ("bucket", READ)
    assert PERMISSION_OF["PutObject"] == ("bucket", WRITE)
    assert PERMISSION_OF["DeleteObjects"] == ("bucket", WRITE)
    assert PERMISSION_OF["GetBucketAcl"] == ("bucket", READ_ACP)
    assert PERMISSION_OF["PutBucketAcl"] == ("bucket", WRITE_ACP)
    assert PERMISSION_OF["GetObject"] == ("object", READ)
    assert PERMISSION_OF["GetObjectAcl"] == ("object", READ_ACP)
    assert PERMISSION_OF["PutObjectAcl"] == ("object", WRITE_ACP)
    # Granted by no ACL: ownership and policies only.
    for name in ("GetObjectTagging", "PutBucketPolicy", "GetBucketLocation", "DeleteBucket"):
        assert name not in PERMISSION_OF
    # FULL_CONTROL is never what an operation asks for: it stands for the other four.
    assert {permission for _, permission in PERMISSION_OF.values()} == {
        READ,
        WRITE,
        READ_ACP,
        WRITE_ACP,
    }


# ---- wire ---------------------------------------------------------------------------------------
def test_wire_round_trip() -> None:
    for value, kind in (
        (MIXED, Acl),
        (AclSetting(acl=MIXED), AclSetting),
        (AclSetting(), AclSetting),
        (OwnershipSetting("BucketOwnerPreferred"), OwnershipSetting),
        (OwnershipSetting(), OwnershipSetting),
    ):
        assert msgspec.json.decode(msgspec.json.encode(value), type=kind) == value
