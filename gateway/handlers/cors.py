"""CORS configuration operations (gateway handlers): Put/Get/DeleteBucketCors.

Contract: PutBucketCors needs a Content-MD5 or an x-amz-checksum of its body, as AWS demands
(``InvalidRequest``), and replaces the bucket's rules whole with the document
``wormfs.gateway.cors`` checked; GetBucketCors answers them, ``NoSuchCORSConfiguration`` (404)
without any; DeleteBucketCors removes them (204). Ownership is checked by the coordinator
(``AccessDenied``). Browsers are answered from the rules by the app (preflights and the
``Access-Control-*`` headers), which reads them from the bucket facts it caches: a change is
seen by this worker's next request.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from wormfs.gateway.cors import cors_document, parse_cors
from wormfs.gateway.errors import NoSuchCORSConfiguration
from wormfs.gateway.handlers.base import (
    Handler,
    S3Context,
    S3Response,
    bucket_of,
    empty_response,
    read_xml,
    xml_response,
)


async def get_bucket_cors(ctx: S3Context) -> S3Response:
    config = await ctx.service.bucket_cors(ctx.principal, bucket_of(ctx))
    if config is None:
        raise NoSuchCORSConfiguration(BucketName=bucket_of(ctx))
    return xml_response(cors_document(config))


async def put_bucket_cors(ctx: S3Context) -> S3Response:
    doc = await read_xml(ctx, checksum_required=True)
    assert doc is not None
    config = parse_cors(doc)
    await ctx.service.put_bucket_cors(ctx.principal, bucket_of(ctx), config)
    ctx.auth.settings_changed(bucket_of(ctx))
    return empty_response()


async def delete_bucket_cors(ctx: S3Context) -> S3Response:
    await ctx.service.put_bucket_cors(ctx.principal, bucket_of(ctx), None)
    ctx.auth.settings_changed(bucket_of(ctx))
    return empty_response(204)


HANDLERS: Mapping[str, Handler] = MappingProxyType(
    {
        "GetBucketCors": get_bucket_cors,
        "PutBucketCors": put_bucket_cors,
        "DeleteBucketCors": delete_bucket_cors,
    }
)
