"""Bucket operations (gateway handlers): ListBuckets, CreateBucket, HeadBucket, DeleteBucket,
GetBucketLocation, Get/PutBucketVersioning. CreateBucket takes x-amz-object-ownership and,
with ACLs enabled, the bucket's ACL headers (``wormfs.gateway.handlers.acl``).

Contract: each handler takes an ``S3Context``, calls one ``ObjectServiceProtocol`` method
(ownership is the service's business) and renders AWS's answer.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from wormfs.errors import BucketAlreadyOwnedByYouError
from wormfs.gateway.errors import (
    IllegalLocationConstraintException,
    IllegalVersioningConfigurationException,
    MalformedXML,
    S3NotImplemented,
)
from wormfs.gateway.handlers.acl import bucket_acl_at_creation, creation_ownership
from wormfs.gateway.handlers.base import (
    Handler,
    S3Context,
    S3Response,
    bucket_of,
    empty_response,
    int_param,
    read_xml,
    xml_response,
)
from wormfs.gateway.handlers.listing import decode_token, encode_token
from wormfs.gateway.xml import Elem, child_text, iso8601


def owner_elem(parent: Elem, user_id: str, display_name: str, name: str = "Owner") -> Elem:
    owner = parent.add(name)
    owner.leaf("ID", user_id)
    owner.leaf("DisplayName", display_name)
    return owner


async def list_buckets(ctx: S3Context) -> S3Response:
    # Since 2024 ListBuckets pages (max-buckets, continuation-token) and filters (prefix).
    prefix = ctx.op.query.get("prefix", "")
    max_buckets = int_param(ctx, "max-buckets", 10000, low=1, high=10000)
    token = ctx.op.query.get("continuation-token")
    after = decode_token(token) if token else ""
    buckets = sorted(await ctx.service.list_buckets(ctx.principal), key=lambda b: b.name)
    selected = [b for b in buckets if b.name.startswith(prefix) and b.name > after]
    page, rest = selected[:max_buckets], selected[max_buckets:]
    root = Elem("ListAllMyBucketsResult")
    owner_elem(root, ctx.principal.user_id, ctx.principal.display_name)
    container = root.add("Buckets")
    for bucket in page:
        item = container.add("Bucket")
        item.leaf("Name", bucket.name)
        item.leaf("CreationDate", iso8601(bucket.created))
        item.leaf("BucketRegion", bucket.region)
    if rest:
        root.leaf("ContinuationToken", encode_token(page[-1].name))
    if "prefix" in ctx.op.query:
        root.leaf("Prefix", prefix)
    return xml_response(root)


async def create_bucket(ctx: S3Context) -> S3Response:
    bucket = bucket_of(ctx)
    object_lock = ctx.op.headers.get("x-amz-bucket-object-lock-enabled", "").lower() == "true"
    ownership = creation_ownership(ctx)
    acl = await bucket_acl_at_creation(ctx, ownership)
    region = ctx.region
    doc = await read_xml(ctx, optional=True)
    if doc is not None:
        if doc.tag != "CreateBucketConfiguration":
            raise MalformedXML()
        constraint = child_text(doc, "LocationConstraint")
        # AWS: a LocationConstraint must name the endpoint's region (us-east-1 is also
        # accepted here when it is the gateway's region, which AWS itself refuses).
        if constraint and constraint != ctx.region:
            raise IllegalLocationConstraintException(
                f"The {constraint} location constraint is incompatible for the region "
                "specific endpoint this request was sent to.",
                LocationConstraint=constraint,
            )
    try:
        await ctx.service.create_bucket(ctx.principal, bucket, region, object_lock, ownership, acl)
    except BucketAlreadyOwnedByYouError:
        # AWS's legacy us-east-1 behaviour: re-creating your own bucket there succeeds.
        if region != "us-east-1":
            raise
    return empty_response(headers={"Location": f"/{bucket}"})


async def head_bucket(ctx: S3Context) -> S3Response:
    info = await ctx.service.head_bucket(ctx.principal, bucket_of(ctx))
    return empty_response(
        headers={"x-amz-bucket-region": info.region, "x-amz-access-point-alias": "false"}
    )


async def delete_bucket(ctx: S3Context) -> S3Response:
    await ctx.service.delete_bucket(ctx.principal, bucket_of(ctx))
    return empty_response(204)


async def get_bucket_location(ctx: S3Context) -> S3Response:
    info = await ctx.service.head_bucket(ctx.principal, bucket_of(ctx))
    # AWS answers an empty LocationConstraint for us-east-1.
    root = Elem("LocationConstraint", "" if info.region == "us-east-1" else info.region)
    return xml_response(root)


async def get_bucket_versioning(ctx: S3Context) -> S3Response:
    status = await ctx.service.bucket_versioning(ctx.principal, bucket_of(ctx))
    # A bucket that never had versioning enabled answers an empty configuration.
    root = Elem("VersioningConfiguration")
    if status:
        root.leaf("Status", status)
    return xml_response(root)


async def put_bucket_versioning(ctx: S3Context) -> S3Response:
    doc = await read_xml(ctx)
    assert doc is not None
    if doc.tag != "VersioningConfiguration":
        raise MalformedXML()
    status = child_text(doc, "Status")
    if child_text(doc, "MfaDelete") == "Enabled":
        raise S3NotImplemented("MFA delete is not implemented")
    if status not in ("Enabled", "Suspended"):
        # AWS's answer to a document without a valid Status.
        raise IllegalVersioningConfigurationException()
    await ctx.service.put_bucket_versioning(ctx.principal, bucket_of(ctx), status)
    return empty_response()


HANDLERS: Mapping[str, Handler] = MappingProxyType(
    {
        "ListBuckets": list_buckets,
        "CreateBucket": create_bucket,
        "HeadBucket": head_bucket,
        "DeleteBucket": delete_bucket,
        "GetBucketLocation": get_bucket_location,
        "GetBucketVersioning": get_bucket_versioning,
        "PutBucketVersioning": put_bucket_versioning,
    }
)
