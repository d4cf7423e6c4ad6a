"""ACLs and Object Ownership (gateway handlers): Get/PutBucketAcl, Get/PutObjectAcl,
Get/Put/DeleteBucketOwnershipControls, and the ACL a write (PUT, copy, CreateMultipartUpload,
CreateBucket) gives what it creates.

Contract: with Object Ownership ``BucketOwnerEnforced`` (the default of a new bucket, as AWS's
since April 2023) ACLs are disabled: every ACL reads as the owner's FULL_CONTROL, and a put
(or a write's ``x-amz-acl`` / ``x-amz-grant-*``) succeeds, changing nothing, only for the
ACL already in force (``private``, ``bucket-owner-full-control``, a document granting the
owner FULL_CONTROL and nobody anything); anything else is ``AccessControlListNotSupported``.
With ``BucketOwnerPreferred`` or ``ObjectWriter`` (or after DeleteBucketOwnershipControls,
which AWS treats as ObjectWriter) ACLs are real: canned ACLs, grant headers and
``AccessControlPolicy`` documents are checked (``wormfs.gateway.acl``), stored, answered and
enforced by the authorizer. An object's owner, as its ACL names it, is its writer under
ObjectWriter, and under BucketOwnerPreferred the bucket owner when the writer gives it
``bucket-owner-full-control``; ``BlockPublicAcls`` refuses any ACL that grants everyone or
every signed user (``AccessDenied``). Setting BucketOwnerEnforced while the bucket's ACL
grants others is ``InvalidBucketAclWithObjectOwnership``, as AWS answers.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

from wormfs.gateway.acl import (
    GRANT_HEADERS,
    acl_document,
    acl_from_request,
    canned_acl,
    is_public,
    parse_acl_xml,
)
from wormfs.gateway.errors import (
    AccessControlListNotSupported,
    AccessDenied,
    InvalidBucketAclWithObjectOwnership,
    InvalidRequest,
    MalformedACLError,
    MalformedXML,
    S3Error,
)
from wormfs.gateway.handlers.base import (
    Handler,
    S3Context,
    S3Response,
    bucket_of,
    empty_response,
    key_of,
    read_xml,
    version_echo,
    version_param,
    xml_response,
)
from wormfs.gateway.handlers.headers import Headers, check_acl, owner_only_acl
from wormfs.gateway.service import ObjectServiceProtocol, Principal
from wormfs.gateway.xml import Elem, child_text
from wormfs.wire.acl import (
    BUCKET_OWNER_ENFORCED,
    BUCKET_OWNER_PREFERRED,
    CANONICAL_USER,
    OWNERSHIPS,
    Acl,
)
from wormfs.wire.coordinator import BucketAccess


class OwnershipControlsNotFoundError(S3Error):
    status = 404
    message = "The bucket ownership controls were not found"


def acls_enabled(access: BucketAccess) -> bool:
    return access.ownership != BUCKET_OWNER_ENFORCED


@dataclass(frozen=True)
class Directory:
    """Who grants may name: canonical id -> display name, e-mail address -> canonical id."""

    names: Mapping[str, str]
    emails: Mapping[str, str]

    def resolve_email(self, address: str) -> str | None:
        return self.emails.get(address.strip().lower())

    def exists(self, user_id: str) -> bool:
        return user_id in self.names


async def directory(service: ObjectServiceProtocol) -> Directory:
    return Directory(await service.users(), await service.emails())


async def _request_acl(ctx: S3Context, owner_id: str, bucket_owner_id: str) -> Acl | None:
    """The ACL the request's x-amz-acl / x-amz-grant-* headers give (None: neither)."""
    return _headers_acl(ctx.op.headers, owner_id, bucket_owner_id, await directory(ctx.service))


def _headers_acl(
    headers: Mapping[str, str], owner_id: str, bucket_owner_id: str, users: Directory
) -> Acl | None:
    return acl_from_request(
        headers, owner_id, bucket_owner_id, users.resolve_email, user_exists=users.exists
    )


def _check_public(access: BucketAccess, acl: Acl) -> None:
    block = access.public_access_block
    if block is not None and block.block_public_acls and is_public(acl):
        raise AccessDenied()


def _owner_only_document(doc: ET.Element, owner_id: str) -> bool:
    """Does an AccessControlPolicy grant FULL_CONTROL to ``owner_id`` and nothing else?"""
    if doc.tag != "AccessControlPolicy" or doc.find("AccessControlList") is None:
        raise MalformedACLError()
    owner = doc.find("Owner")
    if owner is not None and (child_text(owner, "ID") or "").strip() != owner_id:
        return False
    grants = doc.findall("AccessControlList/Grant")
    for grant in grants:
        grantee = grant.find("Grantee")
        if grantee is None or (child_text(grant, "Permission") or "").strip() == "":
            raise MalformedACLError()
        if (child_text(grantee, "ID") or "").strip() != owner_id:
            return False
        if (child_text(grant, "Permission") or "").strip() != "FULL_CONTROL":
            return False
    return bool(grants)


def _has_acl_headers(ctx: S3Context) -> bool:
    headers = ctx.op.headers
    return "x-amz-acl" in headers or any(h in headers for h in GRANT_HEADERS)


async def _put_disabled(ctx: S3Context, owner_id: str) -> S3Response:
    """A put while ACLs are disabled: accepted only when it asks for what is in force."""
    doc = await read_xml(ctx, optional=True)
    if doc is None:
        unchanged = "x-amz-acl" in ctx.op.headers and owner_only_acl(ctx.op.headers)
    else:
        unchanged = not _has_acl_headers(ctx) and _owner_only_document(doc, owner_id)
    if not unchanged:
        raise AccessControlListNotSupported()
    return empty_response(headers=version_echo(ctx))


async def _acl_put(ctx: S3Context, owner_id: str, bucket_owner_id: str) -> Acl:
    """The ACL a Put*Acl asks for: its headers or its document, never both."""
    doc = await read_xml(ctx, optional=True)
    if doc is not None:
        if _has_acl_headers(ctx):
            raise InvalidRequest("Specifying both Canned ACLs and Header Grants is not allowed")
        users = await directory(ctx.service)
        return parse_acl_xml(doc, users.resolve_email, owner_id, user_exists=users.exists)
    acl = await _request_acl(ctx, owner_id, bucket_owner_id)
    if acl is None:
        raise MalformedACLError()
    return acl


async def _render(ctx: S3Context, acl: Acl) -> S3Response:
    users = await ctx.service.users()
    return xml_response(acl_document(acl, lambda user_id: users.get(user_id, "")))


# ---- bucket ACL ---------------------------------------------------------------------------------
async def get_bucket_acl(ctx: S3Context) -> S3Response:
    await ctx.service.head_bucket(ctx.principal, bucket_of(ctx))
    access = await ctx.auth.access(bucket_of(ctx))
    acl = access.acl if acls_enabled(access) else None
    return await _render(ctx, acl or canned_acl("private", access.owner_id, access.owner_id))


async def put_bucket_acl(ctx: S3Context) -> S3Response:
    await ctx.service.head_bucket(ctx.principal, bucket_of(ctx))
    access = await ctx.auth.access(bucket_of(ctx))
    if not acls_enabled(access):
        return await _put_disabled(ctx, access.owner_id)
    acl = await _acl_put(ctx, access.owner_id, access.owner_id)
    _check_public(access, acl)
    await ctx.service.put_bucket_acl(ctx.principal, bucket_of(ctx), acl)
    ctx.auth.settings_changed(bucket_of(ctx))
    return empty_response()


# ---- object ACL ---------------------------------------------------------------------------------
async def get_object_acl(ctx: S3Context) -> S3Response:
    manifest = await ctx.service.head_object(
        ctx.principal, bucket_of(ctx), key_of(ctx), version_param(ctx)
    )
    access = await ctx.auth.access(bucket_of(ctx))
    acl = manifest.attributes.acl if acls_enabled(access) else None
    answer = await _render(ctx, acl or canned_acl("private", access.owner_id, access.owner_id))
    answer.headers.update(version_echo(ctx))
    return answer


async def put_object_acl(ctx: S3Context) -> S3Response:
    manifest = await ctx.service.head_object(
        ctx.principal, bucket_of(ctx), key_of(ctx), version_param(ctx)
    )
    access = await ctx.auth.access(bucket_of(ctx))
    if not acls_enabled(access):
        return await _put_disabled(ctx, access.owner_id)
    current = manifest.attributes.acl
    owner_id = current.owner_id if current is not None else access.owner_id
    acl = await _acl_put(ctx, owner_id, access.owner_id)
    _check_public(access, acl)
    done = await ctx.service.put_object_acl(
        ctx.principal, bucket_of(ctx), key_of(ctx), version_param(ctx), acl
    )
    return empty_response(headers={"x-amz-version-id": done.version_id} if done.version_id else {})


# ---- the ACL of what a write creates ----------------------------------------------------------
async def write_acl(ctx: S3Context) -> Acl | None:
    """The ACL of the object a PUT, copy or CreateMultipartUpload makes (None: private to the
    bucket owner, what every object of a bucket with ACLs disabled is)."""
    access = await ctx.auth.access(bucket_of(ctx))
    if not acls_enabled(access):
        check_acl(ctx.op.headers)
        return None
    return acl_of_write(access, ctx.op.headers, ctx.auth.caller, await directory(ctx.service))


def acl_of_write(
    access: BucketAccess,
    headers: Headers,
    caller: Principal | None,
    users: Directory,
) -> Acl | None:
    """``write_acl`` for a write whose bucket facts, headers and caller are known (a browser
    form upload's fields stand for its headers)."""
    if not acls_enabled(access):
        check_acl(headers)
        return None
    writer = access.owner_id if caller is None else caller.user_id
    owner = writer
    if access.ownership == BUCKET_OWNER_PREFERRED and (
        headers.get("x-amz-acl", "").strip() == "bucket-owner-full-control"
    ):
        owner = access.owner_id
    acl = _headers_acl(headers, owner, access.owner_id, users)
    if acl is None:
        return None if owner == access.owner_id else canned_acl("private", owner, owner)
    _check_public(access, acl)
    return acl


async def bucket_acl_at_creation(ctx: S3Context, ownership: str) -> Acl | None:
    """The ACL CreateBucket's headers give the new bucket (None: private)."""
    if ownership in ("", BUCKET_OWNER_ENFORCED):
        check_acl(ctx.op.headers, creating_bucket=True)
        return None
    return await _request_acl(ctx, ctx.principal.user_id, ctx.principal.user_id)


def creation_ownership(ctx: S3Context) -> str:
    """``x-amz-object-ownership`` of a CreateBucket ("": the default)."""
    value = ctx.op.headers.get("x-amz-object-ownership")
    if value is None:
        return ""
    if value not in OWNERSHIPS:
        check_acl(ctx.op.headers, creating_bucket=True)  # its InvalidArgument for the value
    return value


# ---- Object Ownership -------------------------------------------------------------------------
async def get_ownership_controls(ctx: S3Context) -> S3Response:
    ownership = await ctx.service.bucket_ownership(ctx.principal, bucket_of(ctx))
    if ownership is None:
        raise OwnershipControlsNotFoundError(BucketName=bucket_of(ctx))
    doc = Elem("OwnershipControls")
    doc.add("Rule").leaf("ObjectOwnership", ownership)
    return xml_response(doc)


async def put_ownership_controls(ctx: S3Context) -> S3Response:
    doc = await read_xml(ctx, checksum_required=True)
    assert doc is not None
    rules = doc.findall("Rule")
    if doc.tag != "OwnershipControls" or len(rules) != 1:
        raise MalformedXML()
    ownership = (child_text(rules[0], "ObjectOwnership") or "").strip()
    if ownership not in OWNERSHIPS:
        raise MalformedXML()
    await ctx.service.head_bucket(ctx.principal, bucket_of(ctx))
    access = await ctx.auth.access(bucket_of(ctx))
    if ownership == BUCKET_OWNER_ENFORCED and access.acl is not None:
        others = [
            g
            for g in access.acl.grants
            if not (g.grantee_type == CANONICAL_USER and g.grantee == access.owner_id)
        ]
        if others:
            raise InvalidBucketAclWithObjectOwnership(
                "The Bucket ACL grants access to others: remove those grants before "
                "enforcing bucket ownership."
            )
    await ctx.service.put_bucket_ownership(ctx.principal, bucket_of(ctx), ownership)
    ctx.auth.settings_changed(bucket_of(ctx))
    return empty_response()


async def delete_ownership_controls(ctx: S3Context) -> S3Response:
    await ctx.service.put_bucket_ownership(ctx.principal, bucket_of(ctx), None)
    ctx.auth.settings_changed(bucket_of(ctx))
    return empty_response(204)


HANDLERS: Mapping[str, Handler] = MappingProxyType(
    {
        "GetBucketAcl": get_bucket_acl,
        "PutBucketAcl": put_bucket_acl,
        "GetObjectAcl": get_object_acl,
        "PutObjectAcl": put_object_acl,
        "GetBucketOwnershipControls": get_ownership_controls,
        "PutBucketOwnershipControls": put_ownership_controls,
        "DeleteBucketOwnershipControls": delete_ownership_controls,
    }
)
