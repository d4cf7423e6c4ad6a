"""S3 access control lists as S3 speaks them and as AWS decides with them: canned ACLs and grant
headers read, the ``AccessControlPolicy`` of PutBucketAcl / PutObjectAcl checked, the one
GetBucketAcl / GetObjectAcl answers, and which permission an ACL gives a caller.

Layer: gateway (pure: S3 syntax and AWS's rules, no I/O; finding a user by email address, or
whether a canonical id names a user, is the caller's, through the callables it passes; the
coordinator only stores ACLs, ``wormfs.wire.acl``).
Contract:

* ``canned_acl(name, owner_id, bucket_owner_id)`` is the ACL a canned name stands for: the
  owner's FULL_CONTROL plus AllUsers READ (``public-read``), AllUsers READ and WRITE
  (``public-read-write``), AuthenticatedUsers READ (``authenticated-read``), the bucket owner's
  READ or FULL_CONTROL (``bucket-owner-read``, ``bucket-owner-full-control``; nothing more when
  the owner is the bucket owner, so on a bucket both are ``private``, as AWS ignores them
  there), LogDelivery WRITE and READ_ACP (``log-delivery-write``). ``aws-exec-read`` gives
  Amazon EC2 READ on AWS; WormFS has no EC2, so it is ``private``. Another name is
  ``InvalidArgument`` naming ``x-amz-acl``.
* ``grant_headers`` reads ``x-amz-grant-{read,write,read-acp,write-acp,full-control}``: each a
  comma-separated list of ``id=...``, ``uri=...`` or ``emailAddress=...`` (the value quoted or
  not, spaces around anything, the kind in any case). A blank header counts as absent; None
  when no header is left. An item that is not ``kind=value`` of those kinds is
  ``InvalidArgument`` "Argument format not recognized" naming the header; a group URI other
  than the three is "Invalid group uri", an id that is not a canonical id (64 lowercase hex) or
  that ``user_exists`` refuses is "Invalid id" (both ``InvalidArgument``); an address
  ``resolve_email`` does not know is ``UnresolvableGrantByEmailAddress``. Grants by email are
  kept as grants to the user's canonical id, as AWS stores them.
* ``acl_from_request`` is the ACL of a write's headers: ``x-amz-acl`` or the grant headers,
  never both (``InvalidRequest``), None when neither is sent. Grant headers replace the whole
  ACL: the owner's FULL_CONTROL is not added (the owner keeps READ_ACP and WRITE_ACP anyway,
  see ``permits``).
* ``parse_acl_xml`` reads an ``AccessControlPolicy``: an ``Owner`` and an
  ``AccessControlList`` are required and the list holds ``Grant`` elements only, each a
  ``Grantee`` whose ``xsi:type`` is ``CanonicalUser`` (``ID``), ``Group`` (``URI``) or
  ``AmazonCustomerByEmail`` (``EmailAddress``) and a ``Permission`` of the five; anything else,
  and more than 100 grants, is ``MalformedACLError``. The owner's ``ID`` must be a canonical id
  (else ``InvalidArgument`` "Invalid id") and the resource owner's: an ACL never gives a
  resource away (``AccessDenied``, as AWS answers). Ids, URIs and addresses are checked as in
  headers (``CanonicalUser/ID``, ``Group/URI`` name the argument). ``DisplayName`` elements
  are ignored: AWS shows the names it knows, not the ones it was sent.
* ``acl_document`` renders an ACL as AWS does: ``Owner`` (``ID``, ``DisplayName``), then each
  ``Grant`` as a ``Grantee`` with its ``xmlns:xsi`` declaration and ``xsi:type`` (``ID`` and
  ``DisplayName`` for a user, ``URI`` for a group) and its ``Permission``.
* ``is_public`` says whether an ACL grants anything to AllUsers or AuthenticatedUsers, the
  grants Block Public Access's ``BlockPublicAcls`` refuses and ``IgnorePublicAcls`` ignores.
* ``permits(acl, user_id, permission)`` decides as AWS's ACL evaluation does: a grant of the
  permission or of FULL_CONTROL to the caller's canonical id, to AllUsers (everyone, anonymous
  callers too: ``user_id`` None) or to AuthenticatedUsers (every signed caller) allows; the
  ACL's owner always has READ_ACP and WRITE_ACP; LogDelivery (AWS's log delivery service)
  matches no WormFS caller; FULL_CONTROL asked for is READ, WRITE, READ_ACP and WRITE_ACP
  together; no ACL permits nothing. ``ignore_public`` makes grants to the two public groups
  count for nothing.
* ``PERMISSION_OF`` maps an operation, as ``wormfs.gateway.router`` names it, to the ACL that
  decides it (the bucket's or the object's) and the permission it needs, after AWS's table of
  ACL permissions and the S3 actions they allow: bucket READ lists (objects, versions,
  uploads, parts; HeadBucket), bucket WRITE creates, overwrites and deletes any object (plain,
  copied, browser and multipart uploads, aborts included), READ_ACP / WRITE_ACP read and write
  the ACL; object READ reads the object (GetObject, HeadObject, GetObjectAttributes,
  GetObjectTorrent). A copy's source is an object READ of the source, the caller's business.
  Operations absent (tagging, retention, bucket configuration, GetBucketLocation, ...) are
  granted by no ACL, only by ownership and policies.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Literal

from wormfs.gateway.errors import (
    AccessDenied,
    BadRequest,
    InvalidArgument,
    InvalidRequest,
    MalformedACLError,
)
from wormfs.gateway.xml import Elem, child_text
from wormfs.wire.acl import (
    ALL_USERS,
    AUTHENTICATED_USERS,
    CANONICAL_USER,
    FULL_CONTROL,
    GROUP,
    GROUPS,
    LOG_DELIVERY,
    PERMISSIONS,
    READ,
    READ_ACP,
    WRITE,
    WRITE_ACP,
    Acl,
    Grant,
)

AclResource = Literal["bucket", "object"]
EmailResolver = Callable[[str], str | None]
UserCheck = Callable[[str], bool]

MAX_GRANTS = 100
XSI_NAMESPACE = "http://www.w3.org/2001/XMLSchema-instance"
EMAIL_GRANTEE = "AmazonCustomerByEmail"
PUBLIC_GROUPS = (ALL_USERS, AUTHENTICATED_USERS)
CANNED_ACLS = frozenset(
    {
        "private",
        "public-read",
        "public-read-write",
        "authenticated-read",
        "aws-exec-read",
        "bucket-owner-read",
        "bucket-owner-full-control",
        "log-delivery-write",
    }
)
# header -> the permission its grantees get
GRANT_HEADERS: Mapping[str, str] = MappingProxyType(
    {
        "x-amz-grant-full-control": FULL_CONTROL,
        "x-amz-grant-read": READ,
        "x-amz-grant-read-acp": READ_ACP,
        "x-amz-grant-write": WRITE,
        "x-amz-grant-write-acp": WRITE_ACP,
    }
)
BOTH_KINDS = "Specifying both Canned ACLs and Header Grants is not allowed"
_CANONICAL_ID = re.compile(r"[0-9a-f]{64}")
_TYPE_ATTRIBUTES = ("type", f"{{{XSI_NAMESPACE}}}type", "xsi:type")


class UnresolvableGrantByEmailAddress(BadRequest):
    message = "The e-mail address you provided does not match any account on record."


# ---- canned ACLs --------------------------------------------------------------------------------
def _user(user_id: str, permission: str) -> Grant:
    return Grant(CANONICAL_USER, user_id, permission)


def _group(uri: str, permission: str) -> Grant:
    return Grant(GROUP, uri, permission)


def canned_acl(name: str, owner_id: str, bucket_owner_id: str) -> Acl:
    value = name.strip()
    if value not in CANNED_ACLS:
        raise InvalidArgument(None, ArgumentName="x-amz-acl", ArgumentValue=name)
    grants = [_user(owner_id, FULL_CONTROL)]
    if value == "public-read":
        grants.append(_group(ALL_USERS, READ))
    elif value == "public-read-write":
        grants += [_group(ALL_USERS, READ), _group(ALL_USERS, WRITE)]
    elif value == "authenticated-read":
        grants.append(_group(AUTHENTICATED_USERS, READ))
    elif value == "log-delivery-write":
        grants += [_group(LOG_DELIVERY, WRITE), _group(LOG_DELIVERY, READ_ACP)]
    elif value.startswith("bucket-owner-") and bucket_owner_id != owner_id:
        permission = READ if value == "bucket-owner-read" else FULL_CONTROL
        grants.append(_user(bucket_owner_id, permission))
    return Acl(owner_id=owner_id, grants=grants)


# ---- grantees -----------------------------------------------------------------------------------
def _check_id(user_id: str, argument: str, user_exists: UserCheck | None) -> str:
    valid = _CANONICAL_ID.fullmatch(user_id) is not None
    if not valid or (user_exists is not None and not user_exists(user_id)):
        raise InvalidArgument("Invalid id", ArgumentName=argument, ArgumentValue=user_id)
    return user_id


def _check_group(uri: str, argument: str) -> str:
    if uri not in GROUPS:
        raise InvalidArgument("Invalid group uri", ArgumentName=argument, ArgumentValue=uri)
    return uri


def _resolve(address: str, resolve_email: EmailResolver) -> str:
    user_id = resolve_email(address)
    if user_id is None:
        raise UnresolvableGrantByEmailAddress(EmailAddress=address)
    return user_id


# ---- grant headers ------------------------------------------------------------------------------
def _present_grant_headers(headers: Mapping[str, str]) -> list[tuple[str, str, str]]:
    """(header, permission, value) of every grant header sent with a non-blank value."""
    present = []
    for header, permission in GRANT_HEADERS.items():
        value = headers.get(header)
        if value is not None and value.strip():
            present.append((header, permission, value))
    return present


def _header_grant(
    header: str,
    item: str,
    permission: str,
    resolve_email: EmailResolver,
    user_exists: UserCheck | None,
) -> Grant:
    kind, equals, raw = item.partition("=")
    value = raw.strip()
    if len(value) >= 2 and value[0] == value[-1] == '"':
        value = value[1:-1].strip()
    kind = kind.strip().lower()
    if not equals or not value or '"' in value or kind not in ("id", "uri", "emailaddress"):
        raise InvalidArgument(
            "Argument format not recognized", ArgumentName=header, ArgumentValue=item
        )
    if kind == "id":
        return _user(_check_id(value, "id", user_exists), permission)
    if kind == "uri":
        return _group(_check_group(value, "uri"), permission)
    return _user(_resolve(value, resolve_email), permission)


def grant_headers(
    headers: Mapping[str, str],
    resolve_email: EmailResolver,
    *,
    user_exists: UserCheck | None = None,
) -> list[Grant] | None:
    present = _present_grant_headers(headers)
    if not present:
        return None
    grants = [
        _header_grant(header, item.strip(), permission, resolve_email, user_exists)
        for header, permission, value in present
        for item in value.split(",")
    ]
    if len(grants) > MAX_GRANTS:
        raise MalformedACLError()
    return grants


def acl_from_request(
    headers: Mapping[str, str],
    owner_id: str,
    bucket_owner_id: str,
    resolve_email: EmailResolver,
    *,
    user_exists: UserCheck | None = None,
) -> Acl | None:
    canned = headers.get("x-amz-acl")
    if canned is not None and _present_grant_headers(headers):
        raise InvalidRequest(BOTH_KINDS)
    if canned is not None:
        return canned_acl(canned, owner_id, bucket_owner_id)
    grants = grant_headers(headers, resolve_email, user_exists=user_exists)
    return None if grants is None else Acl(owner_id=owner_id, grants=grants)


# ---- the AccessControlPolicy document -----------------------------------------------------------
def _xsi_type(grantee: ET.Element) -> str | None:
    # parse_xml keeps local names (``type``); ElementTree's own parser gives ``{ns}type``.
    for name in _TYPE_ATTRIBUTES:
        value = grantee.attrib.get(name)
        if value is not None:
            return value.strip()
    return None


def _required(elem: ET.Element, name: str) -> str:
    text = child_text(elem, name)
    if text is None:
        raise MalformedACLError()
    return text.strip()


def _xml_grant(
    elem: ET.Element, resolve_email: EmailResolver, user_exists: UserCheck | None
) -> Grant:
    grantee = elem.find("Grantee")
    permission = (child_text(elem, "Permission") or "").strip()
    if grantee is None or permission not in PERMISSIONS:
        raise MalformedACLError()
    kind = _xsi_type(grantee)
    if kind == CANONICAL_USER:
        user_id = _check_id(_required(grantee, "ID"), "CanonicalUser/ID", user_exists)
        return _user(user_id, permission)
    if kind == GROUP:
        return _group(_check_group(_required(grantee, "URI"), "Group/URI"), permission)
    if kind == EMAIL_GRANTEE:
        return _user(_resolve(_required(grantee, "EmailAddress"), resolve_email), permission)
    raise MalformedACLError()


def parse_acl_xml(
    doc: ET.Element,
    resolve_email: EmailResolver,
    owner_id: str,
    *,
    user_exists: UserCheck | None = None,
) -> Acl:
    if doc.tag != "AccessControlPolicy":
        raise MalformedACLError()
    owner, container = doc.find("Owner"), doc.find("AccessControlList")
    if owner is None or container is None:
        raise MalformedACLError()
    given = _check_id((child_text(owner, "ID") or "").strip(), "CanonicalUser/ID", None)
    if given != owner_id:
        raise AccessDenied()
    elems = list(container)
    if any(e.tag != "Grant" for e in elems) or len(elems) > MAX_GRANTS:
        raise MalformedACLError()
    return Acl(owner_id=owner_id, grants=[_xml_grant(e, resolve_email, user_exists) for e in elems])


def acl_document(acl: Acl, display_names: Callable[[str], str]) -> Elem:
    root = Elem("AccessControlPolicy")
    owner = root.add("Owner")
    owner.leaf("ID", acl.owner_id)
    owner.leaf("DisplayName", display_names(acl.owner_id))
    container = root.add("AccessControlList")
    for grant in acl.grants:
        elem = container.add("Grant")
        grantee = elem.add("Grantee")
        grantee.attrs = {"xmlns:xsi": XSI_NAMESPACE, "xsi:type": grant.grantee_type}
        if grant.grantee_type == CANONICAL_USER:
            grantee.leaf("ID", grant.grantee)
            grantee.leaf("DisplayName", display_names(grant.grantee) or grant.display_name)
        else:
            grantee.leaf("URI", grant.grantee)
        elem.leaf("Permission", grant.permission)
    return root


# ---- decisions ----------------------------------------------------------------------------------
def is_public(acl: Acl) -> bool:
    return any(g.grantee_type == GROUP and g.grantee in PUBLIC_GROUPS for g in acl.grants)


def _grantee_matches(grant: Grant, user_id: str | None, ignore_public: bool) -> bool:
    if grant.grantee_type == CANONICAL_USER:
        return user_id is not None and grant.grantee == user_id
    if grant.grantee_type != GROUP or (ignore_public and grant.grantee in PUBLIC_GROUPS):
        return False
    if grant.grantee == ALL_USERS:
        return True
    if grant.grantee == AUTHENTICATED_USERS:
        return user_id is not None
    return False  # LogDelivery: AWS's log delivery service, never a WormFS caller


def permits(
    acl: Acl | None, user_id: str | None, permission: str, *, ignore_public: bool = False
) -> bool:
    if permission not in PERMISSIONS:
        raise ValueError(f"not an ACL permission: {permission!r}")
    if acl is None:
        return False
    if permission == FULL_CONTROL:
        return all(
            permits(acl, user_id, p, ignore_public=ignore_public)
            for p in (READ, WRITE, READ_ACP, WRITE_ACP)
        )
    if user_id is not None and user_id == acl.owner_id and permission in (READ_ACP, WRITE_ACP):
        return True
    return any(
        g.permission in (permission, FULL_CONTROL) and _grantee_matches(g, user_id, ignore_public)
        for g in acl.grants
    )


# operation -> (the ACL that decides it, the permission it needs)
PERMISSION_OF: Mapping[str, tuple[AclResource, str]] = MappingProxyType(
    {
        # ---- bucket READ: listing ------------------------------------------------------------
        "HeadBucket": ("bucket", READ),
        "ListObjects": ("bucket", READ),
        "ListObjectsV2": ("bucket", READ),
        "ListObjectVersions": ("bucket", READ),
        "ListMultipartUploads": ("bucket", READ),
        "ListParts": ("bucket", READ),
        # ---- bucket WRITE: creating, overwriting and deleting objects -------------------------
        "PutObject": ("bucket", WRITE),
        "PostObject": ("bucket", WRITE),
        "CopyObject": ("bucket", WRITE),
        "CreateMultipartUpload": ("bucket", WRITE),
        "UploadPart": ("bucket", WRITE),
        "UploadPartCopy": ("bucket", WRITE),
        "CompleteMultipartUpload": ("bucket", WRITE),
        "AbortMultipartUpload": ("bucket", WRITE),
        "DeleteObject": ("bucket", WRITE),
        "DeleteObjects": ("bucket", WRITE),
        # ---- the bucket's ACL ----------------------------------------------------------------
        "GetBucketAcl": ("bucket", READ_ACP),
        "PutBucketAcl": ("bucket", WRITE_ACP),
        # ---- object READ: the object's data and metadata -------------------------------------
        "GetObject": ("object", READ),
        "HeadObject": ("object", READ),
        "GetObjectAttributes": ("object", READ),
        "GetObjectTorrent": ("object", READ),
        # ---- the object's ACL ----------------------------------------------------------------
        "GetObjectAcl": ("object", READ_ACP),
        "PutObjectAcl": ("object", WRITE_ACP),
    }
)
