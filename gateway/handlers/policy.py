"""Bucket policies and public access blocks (gateway handlers): Put/Get/DeleteBucketPolicy,
GetBucketPolicyStatus, Put/Get/DeletePublicAccessBlock.

Contract: ``wormfs.gateway.access`` has decided who may call these (the owner may always
manage the policy) and the principal is the bucket's owner. PutBucketPolicy takes the JSON
document as the body (Content-MD5 / x-amz-checksum-* checked), validates it for this bucket
(``wormfs.gateway.policy``: ``MalformedPolicy`` with AWS's reason) and refuses a public policy
while the bucket's public access block has ``BlockPublicPolicy`` (``AccessDenied``); it
answers 204, as AWS does. GetBucketPolicy answers the text as it was put;
GetBucketPolicyStatus whether it is public; both ``NoSuchBucketPolicy`` without one.
PutPublicAccessBlock takes a ``PublicAccessBlockConfiguration`` whose four flags are
``true``/``false`` (absent: false); GetPublicAccessBlock answers it,
``NoSuchPublicAccessBlockConfiguration`` without one. Deletes answer 204. Every change is
read anew by this worker's next request (``RequestAuth.settings_changed``).
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from wormfs.gateway.body import read_all
from wormfs.gateway.errors import (
    AccessDenied,
    MalformedPolicy,
    MalformedXML,
    NoSuchBucketPolicy,
    NoSuchPublicAccessBlockConfiguration,
)
from wormfs.gateway.handlers.base import (
    Handler,
    S3Context,
    S3Response,
    bucket_of,
    empty_response,
    read_xml,
    xml_response,
)
from wormfs.gateway.handlers.headers import verify_small_body
from wormfs.gateway.policy import parse_policy
from wormfs.gateway.policy_conditions import PolicyError
from wormfs.gateway.xml import Elem, child_text
from wormfs.wire.coordinator import BucketAccess, PublicAccessBlock

# Read up to this much: past 20 KB of JSON without whitespace a policy is refused anyway, but
# indentation does not count, so the body may be larger.
MAX_POLICY_BODY = 1024 * 1024
_FLAGS = (
    ("BlockPublicAcls", "block_public_acls"),
    ("IgnorePublicAcls", "ignore_public_acls"),
    ("BlockPublicPolicy", "block_public_policy"),
    ("RestrictPublicBuckets", "restrict_public_buckets"),
)


async def _access(ctx: S3Context) -> BucketAccess:
    # Read through to the coordinator, not the cache: a GET answers what is stored now.
    return await ctx.service.bucket_access(bucket_of(ctx))


async def put_bucket_policy(ctx: S3Context) -> S3Response:
    bucket = bucket_of(ctx)
    data = await read_all(ctx.body, MAX_POLICY_BODY)
    verify_small_body(ctx.op.headers, data, ctx.body.trailing_checksums())
    try:
        policy = parse_policy(data, bucket)
    except PolicyError as exc:
        raise MalformedPolicy(str(exc)) from None
    block = (await _access(ctx)).public_access_block
    if block is not None and block.block_public_policy and policy.is_public:
        raise AccessDenied()
    await ctx.service.put_bucket_policy(ctx.principal, bucket, policy.text)
    ctx.auth.settings_changed(bucket)
    return empty_response(204)


async def get_bucket_policy(ctx: S3Context) -> S3Response:
    access = await _access(ctx)
    if access.policy is None:
        raise NoSuchBucketPolicy(BucketName=access.name)
    return S3Response(
        headers={"Content-Type": "application/json"}, body=access.policy.encode("utf-8")
    )


async def delete_bucket_policy(ctx: S3Context) -> S3Response:
    bucket = bucket_of(ctx)
    await ctx.service.put_bucket_policy(ctx.principal, bucket, None)
    ctx.auth.settings_changed(bucket)
    return empty_response(204)


async def get_bucket_policy_status(ctx: S3Context) -> S3Response:
    access = await _access(ctx)
    if access.policy is None:
        raise NoSuchBucketPolicy(BucketName=access.name)
    public = parse_policy(access.policy, access.name).is_public
    doc = Elem("PolicyStatus")
    doc.leaf("IsPublic", public)
    return xml_response(doc)


def _flag(text: str | None) -> bool:
    if text is None:
        return False
    value = text.strip().lower()
    if value not in ("true", "false"):
        raise MalformedXML()
    return value == "true"


async def put_public_access_block(ctx: S3Context) -> S3Response:
    bucket = bucket_of(ctx)
    doc = await read_xml(ctx)
    assert doc is not None
    if doc.tag != "PublicAccessBlockConfiguration":
        raise MalformedXML()
    block = PublicAccessBlock(**{field: _flag(child_text(doc, tag)) for tag, field in _FLAGS})
    await ctx.service.put_public_access_block(ctx.principal, bucket, block)
    ctx.auth.settings_changed(bucket)
    return empty_response()


async def get_public_access_block(ctx: S3Context) -> S3Response:
    access = await _access(ctx)
    block = access.public_access_block
    if block is None:
        raise NoSuchPublicAccessBlockConfiguration(BucketName=access.name)
    doc = Elem("PublicAccessBlockConfiguration")
    for tag, field in _FLAGS:
        doc.leaf(tag, bool(getattr(block, field)))
    return xml_response(doc)


async def delete_public_access_block(ctx: S3Context) -> S3Response:
    bucket = bucket_of(ctx)
    await ctx.service.put_public_access_block(ctx.principal, bucket, None)
    ctx.auth.settings_changed(bucket)
    return empty_response(204)


HANDLERS: Mapping[str, Handler] = MappingProxyType(
    {
        "PutBucketPolicy": put_bucket_policy,
        "GetBucketPolicy": get_bucket_policy,
        "DeleteBucketPolicy": delete_bucket_policy,
        "GetBucketPolicyStatus": get_bucket_policy_status,
        "PutPublicAccessBlock": put_public_access_block,
        "GetPublicAccessBlock": get_public_access_block,
        "DeletePublicAccessBlock": delete_public_access_block,
    }
)
