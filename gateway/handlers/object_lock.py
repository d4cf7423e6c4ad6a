"""Object Lock operations (gateway handlers): Get/PutObjectLockConfiguration,
Get/PutObjectRetention and Get/PutObjectLegalHold.

Contract: the coordinator keeps the rules (``coordinator/db/object_lock.py``); these handlers
speak S3. Every Put needs a Content-MD5 or an x-amz-checksum of its body, as AWS demands
(``InvalidRequest``). GetObjectLockConfiguration of a bucket without Object Lock is
``ObjectLockConfigurationNotFoundError``; the object calls on such a bucket are
``InvalidRequest`` "Bucket is missing Object Lock Configuration" (checked before the object,
as AWS does); GetObjectRetention / GetObjectLegalHold of a version that never had one is
``NoSuchObjectLockConfiguration``. PutObjectRetention honours
``x-amz-bypass-governance-retention`` only for a caller allowed
``s3:BypassGovernanceRetention`` (``may_bypass``); so does a delete by version id.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from wormfs.errors import NoObjectLockError
from wormfs.gateway.errors import (
    AccessDenied,
    NoSuchObjectLockConfiguration,
    ObjectLockConfigurationNotFoundError,
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
from wormfs.gateway.object_lock import (
    legal_hold_document,
    lock_configuration_document,
    parse_legal_hold,
    parse_lock_configuration,
    parse_retention,
    retention_document,
    wants_bypass,
)
from wormfs.wire.coordinator import ObjectLockConfig, ObjectManifest, ObjectRetention

BYPASS_ACTION = "s3:BypassGovernanceRetention"


async def may_bypass(ctx: S3Context, key: str | None) -> bool:
    """Whether the request asks to bypass GOVERNANCE retentions and its caller may."""
    if not wants_bypass(ctx.op.headers):
        return False
    try:
        await ctx.auth.principal_for(BYPASS_ACTION, bucket_of(ctx), key)
    except AccessDenied:
        return False
    return True


async def _config(ctx: S3Context) -> ObjectLockConfig:
    return await ctx.service.object_lock(ctx.principal, bucket_of(ctx))


async def get_object_lock_configuration(ctx: S3Context) -> S3Response:
    config = await _config(ctx)
    if not config.enabled:
        raise ObjectLockConfigurationNotFoundError(BucketName=bucket_of(ctx))
    return xml_response(lock_configuration_document(config))


async def put_object_lock_configuration(ctx: S3Context) -> S3Response:
    doc = await read_xml(ctx, checksum_required=True)
    assert doc is not None
    config = parse_lock_configuration(doc)
    await ctx.service.put_object_lock(ctx.principal, bucket_of(ctx), config)
    return empty_response()


async def _locked_version(ctx: S3Context) -> ObjectManifest:
    if not (await _config(ctx)).enabled:
        raise NoObjectLockError()
    return await ctx.service.head_object(
        ctx.principal, bucket_of(ctx), key_of(ctx), version_param(ctx)
    )


async def get_object_retention(ctx: S3Context) -> S3Response:
    attributes = (await _locked_version(ctx)).attributes
    if not attributes.lock_mode or attributes.retain_until is None:
        raise NoSuchObjectLockConfiguration()
    document = retention_document(attributes.lock_mode, attributes.retain_until)
    return xml_response(document, headers=version_echo(ctx))


async def put_object_retention(ctx: S3Context) -> S3Response:
    doc = await read_xml(ctx, optional=True, checksum_required=True)
    mode, until = parse_retention(doc)
    change = ObjectRetention(
        mode=mode, retain_until=until, bypass_governance=await may_bypass(ctx, key_of(ctx))
    )
    await ctx.service.put_object_retention(
        ctx.principal, bucket_of(ctx), key_of(ctx), version_param(ctx), change
    )
    return empty_response(200, version_echo(ctx))


async def get_object_legal_hold(ctx: S3Context) -> S3Response:
    attributes = (await _locked_version(ctx)).attributes
    if attributes.legal_hold is None:
        raise NoSuchObjectLockConfiguration()
    return xml_response(legal_hold_document(attributes.legal_hold), headers=version_echo(ctx))


async def put_object_legal_hold(ctx: S3Context) -> S3Response:
    doc = await read_xml(ctx, optional=True, checksum_required=True)
    on = parse_legal_hold(doc)
    await ctx.service.put_object_legal_hold(
        ctx.principal, bucket_of(ctx), key_of(ctx), version_param(ctx), on
    )
    return empty_response(200, version_echo(ctx))


HANDLERS: Mapping[str, Handler] = MappingProxyType(
    {
        "GetObjectLockConfiguration": get_object_lock_configuration,
        "PutObjectLockConfiguration": put_object_lock_configuration,
        "GetObjectRetention": get_object_retention,
        "PutObjectRetention": put_object_retention,
        "GetObjectLegalHold": get_object_legal_hold,
        "PutObjectLegalHold": put_object_legal_hold,
    }
)
