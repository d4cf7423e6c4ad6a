"""Sub-resources WormFS never configures (gateway handlers), answered as AWS answers for a bucket
where nothing was ever configured, instead of 501: clients probe them routinely (s3cmd
``info``, ``ws-info`` and ``accesslog``, Terraform, SDK helpers) and treat AWS's "not
configured" answers as normal.

Contract: every handler first checks the bucket through the service (``NoSuchBucket``;
``AccessDenied`` for another user's bucket), or for object sub-resources the object
(``NoSuchKey``), then answers one fixed document or error:

* GET of a configuration that does not exist: AWS's 404 for it (``NoSuchCORSConfiguration``,
  ``NoSuchLifecycleConfiguration``, ...), or, for settings that always have a
  value, the document of the default (logging off, no notifications, acceleration never set,
  the owner pays, empty ``List*Configurations``).
* DELETE of such a configuration: 204, as AWS answers when there was nothing to delete;
  configurations kept by id (analytics, inventory, metrics, intelligent tiering) have no such
  id: ``NoSuchConfiguration``.
* ACLs: every bucket behaves like an AWS bucket with Object Ownership "bucket owner enforced"
  (AWS's default since April 2023): GetBucketOwnershipControls says so, and PutBucketAcl /
  PutObjectAcl succeed (changing nothing) only for the ACL already in force: the canned
  ``private`` or ``bucket-owner-full-control``, or a document granting the bucket owner
  FULL_CONTROL and nobody anything (what s3cmd copies after ``cp``); anything else is
  ``AccessControlListNotSupported``.

Writes of these configurations have no handler here and stay 501 ``NotImplemented``.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Awaitable, Callable, Mapping
from types import MappingProxyType

from wormfs.gateway.errors import (
    AccessControlListNotSupported,
    MalformedACLError,
    NoSuchConfiguration,
    NoSuchWebsiteConfiguration,
    ReplicationConfigurationNotFoundError,
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
    version_param,
    xml_response,
)
from wormfs.gateway.handlers.headers import GRANT_HEADERS, owner_only_acl
from wormfs.gateway.xml import Elem, child_text


async def _bucket(ctx: S3Context) -> None:
    await ctx.service.head_bucket(ctx.principal, bucket_of(ctx))


async def _object(ctx: S3Context) -> None:
    await ctx.service.head_object(ctx.principal, bucket_of(ctx), key_of(ctx), version_param(ctx))


def _missing(error: Callable[..., S3Error]) -> Handler:
    """GET of a bucket configuration that was never set: AWS's 404 for it."""

    async def handler(ctx: S3Context) -> S3Response:
        await _bucket(ctx)
        raise error(BucketName=bucket_of(ctx))

    return handler


async def _no_such_id(ctx: S3Context) -> S3Response:
    """GET or DELETE of a configuration kept by id: no bucket has any."""
    await _bucket(ctx)
    raise NoSuchConfiguration(BucketName=bucket_of(ctx))


def _document(build: Callable[[], Elem]) -> Handler:
    """GET of a setting that always has a value: the document of its default."""

    async def handler(ctx: S3Context) -> S3Response:
        await _bucket(ctx)
        return xml_response(build())

    return handler


def _empty_list(root: str) -> Callable[[], Elem]:
    def build() -> Elem:
        doc = Elem(root)
        doc.leaf("IsTruncated", False)
        return doc

    return build


def _request_payment() -> Elem:
    doc = Elem("RequestPaymentConfiguration")
    doc.leaf("Payer", "BucketOwner")
    return doc


def _ownership_controls() -> Elem:
    doc = Elem("OwnershipControls")
    doc.add("Rule").leaf("ObjectOwnership", "BucketOwnerEnforced")
    return doc


async def _delete_nothing(ctx: S3Context) -> S3Response:
    """DELETE of a configuration that does not exist: AWS answers 204 all the same."""
    await _bucket(ctx)
    return empty_response(204)


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


async def _put_acl(ctx: S3Context, check: Callable[[S3Context], Awaitable[None]]) -> S3Response:
    # The service lets only the bucket's owner past ``check``: the principal is the owner.
    await check(ctx)
    headers = ctx.op.headers
    doc = await read_xml(ctx, optional=True)
    if doc is None:
        # A canned ACL (or grant headers) alone; neither at all asks for nothing AWS accepts.
        unchanged = "x-amz-acl" in headers and owner_only_acl(headers)
    else:
        header_acl = "x-amz-acl" in headers or any(h in headers for h in GRANT_HEADERS)
        unchanged = not header_acl and _owner_only_document(doc, ctx.principal.user_id)
    if not unchanged:
        raise AccessControlListNotSupported()
    return empty_response()


async def put_bucket_acl(ctx: S3Context) -> S3Response:
    return await _put_acl(ctx, _bucket)


async def put_object_acl(ctx: S3Context) -> S3Response:
    return await _put_acl(ctx, _object)


HANDLERS: Mapping[str, Handler] = MappingProxyType(
    {
        # ---- never configured: 404 ----------------------------------------------------------
        "GetBucketWebsite": _missing(NoSuchWebsiteConfiguration),
        "GetBucketReplication": _missing(ReplicationConfigurationNotFoundError),
        "GetBucketAnalyticsConfiguration": _no_such_id,
        "GetBucketInventoryConfiguration": _no_such_id,
        "GetBucketMetricsConfiguration": _no_such_id,
        "GetBucketIntelligentTieringConfiguration": _no_such_id,
        # ---- settings with a default: its document ------------------------------------------
        "GetBucketLogging": _document(lambda: Elem("BucketLoggingStatus")),
        "GetBucketNotificationConfiguration": _document(lambda: Elem("NotificationConfiguration")),
        "GetBucketAccelerateConfiguration": _document(lambda: Elem("AccelerateConfiguration")),
        "GetBucketRequestPayment": _document(_request_payment),
        "GetBucketOwnershipControls": _document(_ownership_controls),
        "ListBucketAnalyticsConfigurations": _document(
            _empty_list("ListBucketAnalyticsConfigurationResult")
        ),
        "ListBucketInventoryConfigurations": _document(
            _empty_list("ListInventoryConfigurationsResult")
        ),
        "ListBucketMetricsConfigurations": _document(
            _empty_list("ListMetricsConfigurationsResult")
        ),
        "ListBucketIntelligentTieringConfigurations": _document(
            _empty_list("ListBucketIntelligentTieringConfigurationsOutput")
        ),
        # ---- deleting what does not exist ---------------------------------------------------
        "DeleteBucketWebsite": _delete_nothing,
        "DeleteBucketReplication": _delete_nothing,
        "DeleteBucketAnalyticsConfiguration": _no_such_id,
        "DeleteBucketInventoryConfiguration": _no_such_id,
        "DeleteBucketMetricsConfiguration": _no_such_id,
        "DeleteBucketIntelligentTieringConfiguration": _no_such_id,
        # ---- ACLs disabled (bucket owner enforced) ------------------------------------------
        "PutBucketAcl": put_bucket_acl,
        "PutObjectAcl": put_object_acl,
    }
)
