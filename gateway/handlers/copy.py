"""Server-side copies (gateway handlers): CopyObject and UploadPartCopy.

Contract: ``x-amz-copy-source`` (``[/]bucket/key[?versionId=V]``, URL-encoded) names the
source; read access is checked with ``service.head_object``; ``x-amz-copy-source-if-*``
conditions fail with 412; CopyObject resolves the metadata directive (COPY keeps the source's
metadata, REPLACE takes the request's) and refuses a copy onto itself that changes nothing,
as AWS does; UploadPartCopy takes ``x-amz-copy-source-range: bytes=first-last``.
"""

from __future__ import annotations

import re
import time
from collections.abc import Mapping
from types import MappingProxyType
from urllib.parse import unquote_to_bytes

import msgspec

from wormfs.errors import DeleteMarkerError, NoSuchBucketError, NoSuchKeyError, NoSuchVersionError
from wormfs.gateway.encryption import (
    answer_headers,
    check_customer_key,
    customer_key,
)
from wormfs.gateway.errors import (
    InvalidArgument,
    InvalidRange,
    InvalidRequest,
    NoSuchBucket,
    NoSuchKey,
    NoSuchVersion,
)
from wormfs.gateway.handlers.acl import write_acl
from wormfs.gateway.handlers.base import (
    Handler,
    S3Context,
    S3Response,
    bucket_of,
    checked_version_id,
    key_of,
    write_encryption,
    xml_response,
)
from wormfs.gateway.handlers.conditional import check_conditions
from wormfs.gateway.handlers.headers import (
    checksum_algorithm_header,
    object_attributes,
    put_conditions,
    reject_unsupported,
    storage_class,
    version_header,
)
from wormfs.gateway.handlers.multipart import part_checksum_elem, upload_part_args
from wormfs.gateway.object_lock import with_lock_headers
from wormfs.gateway.router import MAX_KEY_BYTES
from wormfs.gateway.tags import parse_tagging_header
from wormfs.gateway.xml import Elem, iso8601
from wormfs.wire.coordinator import ObjectChecksum, ObjectManifest

MAX_COPY_SOURCE = 5 * 1024**3
_COPY_RANGE = re.compile(r"^bytes=(\d+)-(\d+)$")


def parse_copy_source(value: str) -> tuple[str, str, str | None]:
    """``(bucket, key, version id)`` from an ``x-amz-copy-source`` header."""
    raw, _, query = value.strip().partition("?")
    version = None
    if query:
        name, _, version_value = query.partition("=")
        if name != "versionId":
            raise InvalidArgument(
                "Unsupported copy source parameter.",
                ArgumentName="x-amz-copy-source",
                ArgumentValue=value,
            )
        version = checked_version_id(version_value, "x-amz-copy-source")
    try:
        path = unquote_to_bytes(raw.lstrip("/")).decode("utf-8")
    except UnicodeDecodeError:
        path = ""
    bucket, slash, key = path.partition("/")
    if not bucket or not slash or not key:
        raise InvalidArgument(
            "Copy Source must mention the source bucket and key: sourcebucket/sourcekey",
            ArgumentName="x-amz-copy-source",
            ArgumentValue=value,
        )
    if len(key.encode()) > MAX_KEY_BYTES:
        raise InvalidArgument(
            "The specified copy source key is too long",
            ArgumentName="x-amz-copy-source",
            ArgumentValue=value,
        )
    return bucket, key, version


async def copy_source(ctx: S3Context) -> ObjectManifest:
    """The source object, read access checked, ``x-amz-copy-source-if-*`` evaluated."""
    bucket, key, version = parse_copy_source(ctx.op.headers["x-amz-copy-source"])
    action = "s3:GetObjectVersion" if version is not None else "s3:GetObject"
    try:
        # The caller must be let read the source (its bucket's owner and policy decide),
        # whoever it acts as on the destination.
        reader = await ctx.auth.principal_for(action, bucket, key)
        source = await ctx.service.head_object(reader, bucket, key, version)
    except DeleteMarkerError:
        raise InvalidRequest(
            "The source of a copy request may not specifically refer to a delete marker by "
            "version id."
        ) from None
    except NoSuchVersionError:
        raise NoSuchVersion(Key=key, VersionId=version) from None
    except NoSuchKeyError:
        raise NoSuchKey(Key=key) from None
    except NoSuchBucketError:
        raise NoSuchBucket(BucketName=bucket) from None
    check_conditions(ctx.op.headers, source.etag, source.last_modified, copy=True)
    return source


def _checksum_leaves(parent: Elem, checksum: ObjectChecksum | None) -> None:
    if checksum is not None:
        parent.leaf("Checksum" + checksum.algorithm, checksum.value)
        parent.leaf("ChecksumType", checksum.type)


async def copy_object(ctx: S3Context) -> S3Response:
    headers = ctx.op.headers
    reject_unsupported(headers)
    acl = await write_acl(ctx)  # a copy's own, never its source's
    source = await copy_source(ctx)
    if source.size > MAX_COPY_SOURCE:
        raise InvalidRequest(
            "The specified copy source is larger than the maximum allowable size for a copy "
            f"source: {MAX_COPY_SOURCE}"
        )
    directive = headers.get("x-amz-metadata-directive", "COPY").upper()
    if directive not in ("COPY", "REPLACE"):
        raise InvalidArgument(
            "Unknown metadata directive.",
            ArgumentName="x-amz-metadata-directive",
            ArgumentValue=directive,
        )
    algorithm = checksum_algorithm_header(headers, "x-amz-checksum-algorithm")
    if directive == "REPLACE":
        attributes = object_attributes(headers)
    else:
        attributes = msgspec.structs.replace(
            source.attributes,
            storage_class=storage_class(headers, source.attributes.storage_class),
        )
    # Tags follow their own directive: the source's unless REPLACE gives x-amz-tagging's.
    tagging = headers.get("x-amz-tagging-directive", "COPY").upper()
    if tagging not in ("COPY", "REPLACE"):
        raise InvalidArgument(
            "Unknown tagging directive.",
            ArgumentName="x-amz-tagging-directive",
            ArgumentValue=tagging,
        )
    tags = (
        parse_tagging_header(headers.get("x-amz-tagging"))
        if tagging == "REPLACE"
        else source.attributes.tags
    )
    # A copy's lock is its own request's (and the bucket's default), never the source's.
    attributes = with_lock_headers(msgspec.structs.replace(attributes, tags=tags, acl=acl), headers)
    # An older version copied over its own key makes it current again: that is a change.
    named = parse_copy_source(headers["x-amz-copy-source"])[2]
    same = (source.bucket, source.key) == (bucket_of(ctx), key_of(ctx)) and named is None
    sse = await write_encryption(ctx)
    source_key = customer_key(headers, copy_source=True)
    check_customer_key(source.attributes.encryption, source_key)
    changes_something = (
        sse is not None
        or directive == "REPLACE"
        or attributes.storage_class != source.attributes.storage_class
        or (
            algorithm is not None
            and (source.checksum is None or source.checksum.algorithm != algorithm)
        )
    )
    if same and not changes_something:
        raise InvalidRequest(
            "This copy request is illegal because it is trying to copy an object to itself "
            "without changing the object's metadata, storage class, website redirect "
            "location or encryption attributes."
        )
    manifest = await ctx.service.copy_object(
        ctx.principal,
        source,
        bucket_of(ctx),
        key_of(ctx),
        attributes,
        algorithm,
        put_conditions(headers),
        sse,
        source_key,
    )
    root = Elem("CopyObjectResult")
    root.leaf("ETag", manifest.etag)
    root.leaf("LastModified", iso8601(manifest.last_modified))
    _checksum_leaves(root, manifest.checksum)
    return xml_response(
        root,
        headers={
            **source_version_header(source),
            **version_header(manifest),
            **answer_headers(manifest.attributes.encryption),
        },
    )


def source_version_header(source: ObjectManifest) -> dict[str, str]:
    """``x-amz-copy-source-version-id``: the source version's id, once its bucket versions."""
    version = source.s3_version_id
    return {} if version is None else {"x-amz-copy-source-version-id": version}


async def upload_part_copy(ctx: S3Context) -> S3Response:
    upload_id, part_number = upload_part_args(ctx)
    source = await copy_source(ctx)
    raw = ctx.op.headers.get("x-amz-copy-source-range")
    if raw is None:
        start, end = 0, source.size
    else:
        match = _COPY_RANGE.match(raw.strip())
        if match is None:
            raise InvalidArgument(
                "The x-amz-copy-source-range value must be of the form bytes=first-last where "
                "first and last are the zero-based offsets of the first and last bytes to copy",
                ArgumentName="x-amz-copy-source-range",
                ArgumentValue=raw,
            )
        start, last = int(match.group(1)), int(match.group(2))
        if start > last:
            raise InvalidArgument(
                f"Range specified is not valid for source object of size: {source.size}",
                ArgumentName="x-amz-copy-source-range",
                ArgumentValue=raw,
            )
        if last >= source.size:  # a well-formed range past the source's end
            raise InvalidRange(source.size, raw)
        end = last + 1
    if end - start > MAX_COPY_SOURCE:
        raise InvalidRequest(
            "The specified copy source is larger than the maximum allowable size for a copy "
            f"source: {MAX_COPY_SOURCE}"
        )
    source_key = customer_key(ctx.op.headers, copy_source=True)
    check_customer_key(source.attributes.encryption, source_key)
    part = await ctx.service.upload_part_copy(
        ctx.principal,
        bucket_of(ctx),
        key_of(ctx),
        upload_id,
        part_number,
        source,
        start,
        end,
        customer_key(ctx.op.headers),
        source_key,
    )
    root = Elem("CopyPartResult")
    root.leaf("ETag", part.etag)
    root.leaf("LastModified", iso8601(part.last_modified or time.time()))
    part_checksum_elem(root, part.checksum)
    return xml_response(root, headers=source_version_header(source))


HANDLERS: Mapping[str, Handler] = MappingProxyType(
    {"CopyObject": copy_object, "UploadPartCopy": upload_part_copy}
)
