"""Tagging operations (gateway handlers): Put/Get/DeleteObjectTagging and
Put/Get/DeleteBucketTagging.

Contract: an object's tags are those of one version (the current one, or ``versionId``'s):
GetObjectTagging reads them from its manifest, PutObjectTagging replaces them whole (a
``Tagging`` document, validated by ``wormfs.gateway.tags``: ``InvalidTag``,
``MalformedXML``), DeleteObjectTagging empties them (204); none of them changes the
object's ETag or Last-Modified. A bucket's tag set is replaced whole by PutBucketTagging
(204), read by GetBucketTagging (``NoSuchTagSet`` when none was put) and removed by
DeleteBucketTagging (204). Ownership is checked by the coordinator (``AccessDenied``).
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from wormfs.gateway.errors import NoSuchTagSet
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
from wormfs.gateway.tags import (
    MAX_BUCKET_TAGS,
    MAX_OBJECT_TAGS,
    parse_tagging_xml,
    tagging_document,
)


async def get_object_tagging(ctx: S3Context) -> S3Response:
    manifest = await ctx.service.head_object(
        ctx.principal, bucket_of(ctx), key_of(ctx), version_param(ctx)
    )
    return xml_response(tagging_document(manifest.attributes.tags), headers=version_echo(ctx))


async def put_object_tagging(ctx: S3Context) -> S3Response:
    tags = parse_tagging_xml(await read_xml(ctx, optional=True), MAX_OBJECT_TAGS)
    await ctx.service.put_object_tags(
        ctx.principal, bucket_of(ctx), key_of(ctx), version_param(ctx), tags
    )
    return empty_response(200, version_echo(ctx))


async def delete_object_tagging(ctx: S3Context) -> S3Response:
    await ctx.service.put_object_tags(
        ctx.principal, bucket_of(ctx), key_of(ctx), version_param(ctx), {}
    )
    return empty_response(204, version_echo(ctx))


async def get_bucket_tagging(ctx: S3Context) -> S3Response:
    tags = await ctx.service.bucket_tags(ctx.principal, bucket_of(ctx))
    if tags is None:
        raise NoSuchTagSet(BucketName=bucket_of(ctx))
    return xml_response(tagging_document(tags))


async def put_bucket_tagging(ctx: S3Context) -> S3Response:
    tags = parse_tagging_xml(await read_xml(ctx, optional=True), MAX_BUCKET_TAGS)
    await ctx.service.put_bucket_tags(ctx.principal, bucket_of(ctx), tags)
    return empty_response(204)


async def delete_bucket_tagging(ctx: S3Context) -> S3Response:
    await ctx.service.put_bucket_tags(ctx.principal, bucket_of(ctx), None)
    return empty_response(204)


HANDLERS: Mapping[str, Handler] = MappingProxyType(
    {
        "GetObjectTagging": get_object_tagging,
        "PutObjectTagging": put_object_tagging,
        "DeleteObjectTagging": delete_object_tagging,
        "GetBucketTagging": get_bucket_tagging,
        "PutBucketTagging": put_bucket_tagging,
        "DeleteBucketTagging": delete_bucket_tagging,
    }
)
