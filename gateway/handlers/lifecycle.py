"""Lifecycle operations (gateway handlers): Put/Get/DeleteBucketLifecycleConfiguration (the
deprecated PutBucketLifecycle / GetBucketLifecycle share their requests).

Contract: PutBucketLifecycleConfiguration needs a Content-MD5 or an x-amz-checksum of its
body, as AWS demands (``InvalidRequest``), and replaces the bucket's rules whole with the
document ``wormfs.gateway.lifecycle`` checked; GetBucketLifecycleConfiguration answers them,
``NoSuchLifecycleConfiguration`` (404) when there are none; DeleteBucketLifecycle removes
them (204). Ownership is checked by the coordinator (``AccessDenied``); a change is seen by
this worker's next request (the ``x-amz-expiration`` header reads the rules from the bucket
facts it caches).
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from wormfs.gateway.errors import NoSuchLifecycleConfiguration
from wormfs.gateway.handlers.base import (
    Handler,
    S3Context,
    S3Response,
    bucket_of,
    empty_response,
    read_xml,
    xml_response,
)
from wormfs.gateway.lifecycle import lifecycle_document, parse_lifecycle


async def get_bucket_lifecycle(ctx: S3Context) -> S3Response:
    config = await ctx.service.bucket_lifecycle(ctx.principal, bucket_of(ctx))
    if config is None:
        raise NoSuchLifecycleConfiguration(BucketName=bucket_of(ctx))
    return xml_response(lifecycle_document(config))


async def put_bucket_lifecycle(ctx: S3Context) -> S3Response:
    doc = await read_xml(ctx, checksum_required=True)
    assert doc is not None
    config = parse_lifecycle(doc)
    await ctx.service.put_bucket_lifecycle(ctx.principal, bucket_of(ctx), config)
    ctx.auth.settings_changed(bucket_of(ctx))
    return empty_response()


async def delete_bucket_lifecycle(ctx: S3Context) -> S3Response:
    await ctx.service.put_bucket_lifecycle(ctx.principal, bucket_of(ctx), None)
    ctx.auth.settings_changed(bucket_of(ctx))
    return empty_response(204)


HANDLERS: Mapping[str, Handler] = MappingProxyType(
    {
        "GetBucketLifecycleConfiguration": get_bucket_lifecycle,
        "PutBucketLifecycleConfiguration": put_bucket_lifecycle,
        "DeleteBucketLifecycle": delete_bucket_lifecycle,
    }
)
