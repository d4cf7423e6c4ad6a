"""Default encryption operations (gateway handlers): Put/Get/DeleteBucketEncryption.

Contract: PutBucketEncryption needs a Content-MD5 or an x-amz-checksum of its body, as AWS
demands (``InvalidRequest``), and replaces the bucket's default encryption with the document
``wormfs.gateway.bucket_encryption`` checked; GetBucketEncryption answers it,
``ServerSideEncryptionConfigurationNotFoundError`` (404) without one; DeleteBucketEncryption
removes it (204, also when there was none). Ownership is checked by the coordinator
(``AccessDenied``). The configuration is also part of the bucket facts the app caches
(``BucketAccess.encryption``): a change is seen by this worker's next request.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from wormfs.gateway.bucket_encryption import encryption_document, parse_encryption
from wormfs.gateway.errors import ServerSideEncryptionConfigurationNotFoundError
from wormfs.gateway.handlers.base import (
    Handler,
    S3Context,
    S3Response,
    bucket_of,
    empty_response,
    read_xml,
    xml_response,
)


async def get_bucket_encryption(ctx: S3Context) -> S3Response:
    config = await ctx.service.bucket_encryption(ctx.principal, bucket_of(ctx))
    if config is None:
        raise ServerSideEncryptionConfigurationNotFoundError(BucketName=bucket_of(ctx))
    return xml_response(encryption_document(config))


async def put_bucket_encryption(ctx: S3Context) -> S3Response:
    doc = await read_xml(ctx, checksum_required=True)
    assert doc is not None
    config = parse_encryption(doc)
    await ctx.service.put_bucket_encryption(ctx.principal, bucket_of(ctx), config)
    ctx.auth.settings_changed(bucket_of(ctx))
    return empty_response()


async def delete_bucket_encryption(ctx: S3Context) -> S3Response:
    await ctx.service.put_bucket_encryption(ctx.principal, bucket_of(ctx), None)
    ctx.auth.settings_changed(bucket_of(ctx))
    return empty_response(204)


HANDLERS: Mapping[str, Handler] = MappingProxyType(
    {
        "GetBucketEncryption": get_bucket_encryption,
        "PutBucketEncryption": put_bucket_encryption,
        "DeleteBucketEncryption": delete_bucket_encryption,
    }
)
