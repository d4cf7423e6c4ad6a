"""Object operations (gateway handlers): PutObject, GetObject, HeadObject, DeleteObject,
DeleteObjects, GetObjectAttributes.

Contract: each handler takes an ``S3Context``, calls the ``ObjectServiceProtocol`` and renders
AWS's answer: ETag / Last-Modified / Content-* / x-amz-meta-* round-trip, ranges (206 with
Content-Range, 416 with ``bytes */size``), ``partNumber``, ``response-*`` overrides,
conditional GET/HEAD (304/412), conditional PUT, ``x-amz-checksum-*`` on PUT answers and on
whole-object GET/HEAD with ``x-amz-checksum-mode: ENABLED``. GET bodies are streamed from
``service.read_object`` (pieces of at most 1 MiB), never gathered. GetObjectAttributes answers
the attributes named by ``x-amz-object-attributes`` from the manifest alone. An object stored
inline (no part records) is answered as the one-part object it is.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping
from types import MappingProxyType

from msgspec.structs import replace

from wormfs.dataplane.reader import Piece
from wormfs.errors import WormError
from wormfs.gateway.encryption import (
    answer_headers,
    check_customer_key,
    customer_key,
)
from wormfs.gateway.errors import (
    EntityTooLarge,
    InvalidArgument,
    InvalidPartNumber,
    InvalidRequest,
    MalformedXML,
    MissingContentLength,
    S3Error,
    from_domain,
)
from wormfs.gateway.handlers.acl import write_acl
from wormfs.gateway.handlers.base import (
    Handler,
    S3Context,
    S3Response,
    bucket_of,
    checked_version_id,
    empty_response,
    key_of,
    read_xml,
    version_param,
    write_encryption,
    xml_response,
)
from wormfs.gateway.handlers.conditional import (
    check_conditions,
    content_range,
    delete_conditions,
    parse_range,
)
from wormfs.gateway.handlers.headers import (
    checksum_headers,
    data_checks,
    object_attributes,
    object_headers,
    put_conditions,
    reject_unsupported,
    version_header,
)
from wormfs.gateway.handlers.object_lock import may_bypass
from wormfs.gateway.lifecycle import expiration_header
from wormfs.gateway.xml import Elem, child_text, http_date
from wormfs.wire.coordinator import DeleteConditions, ObjectManifest

MAX_PUT_SIZE = 5 * 1024**3  # a single PUT (and a part) carries at most 5 GiB
MAX_DELETE_KEYS = 1000
DELETE_CONCURRENCY = 16

# response-* query parameters override these answer headers on GET/HEAD.
RESPONSE_OVERRIDES: Mapping[str, str] = MappingProxyType(
    {
        "response-content-type": "Content-Type",
        "response-content-language": "Content-Language",
        "response-expires": "Expires",
        "response-cache-control": "Cache-Control",
        "response-content-disposition": "Content-Disposition",
        "response-content-encoding": "Content-Encoding",
    }
)


async def expiration(ctx: S3Context, manifest: ObjectManifest) -> dict[str, str]:
    """``x-amz-expiration`` for a current version a lifecycle rule will expire."""
    rules = await ctx.auth.lifecycle(manifest.bucket)
    return expiration_header(
        rules, manifest.key, manifest.size, manifest.attributes.tags, manifest.last_modified
    )


def required_length(ctx: S3Context, limit: int = MAX_PUT_SIZE) -> int:
    """The payload size of a PUT: ``MissingContentLength`` if unknown, ``EntityTooLarge``."""
    if ctx.body_length is None:
        raise MissingContentLength()
    if ctx.body_length > limit:
        raise EntityTooLarge(ProposedSize=ctx.body_length, MaxSizeAllowed=limit)
    return ctx.body_length


async def put_object(ctx: S3Context) -> S3Response:
    headers = ctx.op.headers
    reject_unsupported(headers)
    size = required_length(ctx)
    attributes = replace(object_attributes(headers), acl=await write_acl(ctx))
    checks = data_checks(headers, ctx.payload_mode)
    conditions = put_conditions(headers)
    manifest = await ctx.service.put_object(
        ctx.principal,
        bucket_of(ctx),
        key_of(ctx),
        size,
        ctx.body,
        attributes,
        checks,
        conditions,
        await write_encryption(ctx),
    )
    answer = {
        "ETag": manifest.etag,
        **checksum_headers(manifest.checksum),
        **answer_headers(manifest.attributes.encryption),
    }
    answer.update(await expiration(ctx, manifest))
    return empty_response(headers={**answer, **version_header(manifest)})


def _part_number(ctx: S3Context) -> int | None:
    raw = ctx.op.query.get("partNumber")
    if raw is None:
        return None
    try:
        number = int(raw)
    except ValueError:
        number = 0
    if not 1 <= number <= 10000:
        raise InvalidArgument(
            "Part number must be an integer between 1 and 10000, inclusive",
            ArgumentName="partNumber",
            ArgumentValue=raw,
        )
    return number


def _is_multipart(manifest: ObjectManifest) -> bool:
    return "-" in manifest.etag


def _part_sizes(manifest: ObjectManifest) -> list[int]:
    """The sizes of the object's parts. An inline object keeps no part records (its bytes are
    in the manifest) and, like any plain PUT, is one part: the whole object."""
    return [p.size for p in manifest.parts] or [manifest.size]


async def _empty_stream() -> AsyncIterator[Piece]:
    return
    yield b""  # pragma: no cover - makes this an async generator


async def get_object(ctx: S3Context) -> S3Response:
    op = ctx.op
    part_number = _part_number(ctx)
    if part_number is not None and "range" in op.headers:
        raise InvalidRequest("Cannot specify both Range header and partNumber query parameter")
    manifest = await ctx.service.head_object(
        ctx.principal, bucket_of(ctx), key_of(ctx), version_param(ctx)
    )
    customer = customer_key(op.headers)
    check_customer_key(manifest.attributes.encryption, customer)
    check_conditions(op.headers, manifest.etag, manifest.last_modified)
    size = manifest.size
    headers = object_headers(manifest)
    if "versionId" not in op.query:
        headers.update(await expiration(ctx, manifest))
    status = 200
    start, end = 0, size
    if part_number is not None:
        sizes = _part_sizes(manifest)
        if part_number > len(sizes):
            raise InvalidPartNumber(PartNumberRequested=part_number, ActualPartCount=len(sizes))
        start = sum(sizes[: part_number - 1])
        end = start + sizes[part_number - 1]
        if _is_multipart(manifest):
            # A part of a multipart object is answered like a range; a plain object's only
            # "part" is the whole object (200).
            status = 206
            headers["x-amz-mp-parts-count"] = str(len(sizes))
            if end > start:
                headers["Content-Range"] = content_range(start, end, size)
    else:
        byte_range = parse_range(op.headers.get("range"), size)
        if byte_range is not None:
            start, end = byte_range
            status = 206
            headers["Content-Range"] = content_range(start, end, size)
    # The stored checksum covers the whole object only: never sent with a 206 (a range, even
    # one covering everything, or a part).
    if op.headers.get("x-amz-checksum-mode", "").upper() == "ENABLED" and status == 200:
        headers.update(checksum_headers(manifest.checksum))
    for param, header in RESPONSE_OVERRIDES.items():
        value = op.query.get(param)
        if value is not None:
            headers[header] = value
    if op.is_head:
        return S3Response(status=status, headers=headers, content_length=end - start)
    stream = (
        ctx.service.read_object(manifest, start, end, customer) if end > start else _empty_stream()
    )
    return S3Response(status=status, headers=headers, stream=stream, content_length=end - start)


async def delete_object(ctx: S3Context) -> S3Response:
    headers_in = ctx.op.headers
    conditions = delete_conditions(
        headers_in.get("if-match"),
        headers_in.get("x-amz-if-match-last-modified-time"),
        headers_in.get("x-amz-if-match-size"),
    )
    version = version_param(ctx)
    result = await ctx.service.delete_object(
        ctx.principal,
        bucket_of(ctx),
        key_of(ctx),
        version,
        conditions,
        bypass_governance=version is not None and await may_bypass(ctx, key_of(ctx)),
    )
    headers = {}
    if result.delete_marker:  # one made now, or the one deleted by its id
        headers["x-amz-delete-marker"] = "true"
    if result.version_id:
        headers["x-amz-version-id"] = result.version_id
    return empty_response(204, headers)


async def delete_objects(ctx: S3Context) -> S3Response:
    # AWS demands Content-MD5 or an x-amz-checksum-* header on this operation.
    doc = await read_xml(ctx, checksum_required=True)
    assert doc is not None
    if doc.tag != "Delete":
        raise MalformedXML()
    quiet = (child_text(doc, "Quiet") or "").strip().lower() == "true"
    wanted: list[tuple[str, str | None]] = []
    conditions: list[DeleteConditions | None] = []
    for item in doc.findall("Object"):
        key = child_text(item, "Key")
        if not key:
            raise MalformedXML()
        wanted.append((key, child_text(item, "VersionId") or None))
        conditions.append(
            delete_conditions(
                child_text(item, "ETag"),
                child_text(item, "LastModifiedTime"),
                child_text(item, "Size"),
                in_xml=True,
            )
        )
    if not wanted or len(wanted) > MAX_DELETE_KEYS:
        raise MalformedXML()
    bucket = bucket_of(ctx)
    limit = asyncio.Semaphore(DELETE_CONCURRENCY)

    async def delete_one(
        key: str, version: str | None, condition: DeleteConditions | None
    ) -> tuple[Elem | None, S3Error | None]:
        action = "s3:DeleteObjectVersion" if version is not None else "s3:DeleteObject"
        async with limit:
            try:
                # Authorized key by key, as AWS does: a refused key is that key's AccessDenied.
                if version is not None:
                    checked_version_id(version, "VersionId")
                principal = await ctx.auth.principal_for(action, bucket, key)
                bypass = version is not None and await may_bypass(ctx, key)
                result = await ctx.service.delete_object(
                    principal, bucket, key, version, condition, bypass_governance=bypass
                )
            except S3Error as exc:
                return None, exc
            except WormError as exc:
                error = from_domain(exc, bucket=bucket, key=key)
                if error is None:
                    raise
                return None, error
        done = Elem("Deleted")
        done.leaf("Key", key)
        done.leaf("VersionId", version)
        if result.delete_marker:
            done.leaf("DeleteMarker", True)
            done.leaf("DeleteMarkerVersionId", result.version_id)
        return done, None

    outcomes = await asyncio.gather(
        *(delete_one(k, v, c) for (k, v), c in zip(wanted, conditions, strict=True))
    )
    root = Elem("DeleteResult")
    for (key, version), (done, error) in zip(wanted, outcomes, strict=True):
        if error is not None:
            failed = root.add("Error")
            failed.leaf("Key", key)
            failed.leaf("VersionId", version)
            failed.leaf("Code", error.code)
            failed.leaf("Message", error.text)
        elif done is not None and not quiet:
            root.children.append(done)
    return xml_response(root)


OBJECT_ATTRIBUTES = ("ETag", "Checksum", "ObjectParts", "StorageClass", "ObjectSize")


def _header_int(ctx: S3Context, name: str, default: int, high: int) -> int:
    raw = ctx.op.headers.get(name)
    if raw is None or not raw.strip():
        return default
    try:
        value = int(raw)
    except ValueError:
        value = -1
    if not 0 <= value <= high:
        raise InvalidArgument(
            f"Argument {name} must be an integer between 0 and {high}",
            ArgumentName=name,
            ArgumentValue=raw,
        )
    return value


async def get_object_attributes(ctx: S3Context) -> S3Response:
    raw = ctx.op.headers.get("x-amz-object-attributes", "")
    wanted = {name.strip() for name in raw.split(",") if name.strip()}
    if not wanted or not wanted <= set(OBJECT_ATTRIBUTES):
        raise InvalidArgument(
            "Invalid attribute name specified.",
            ArgumentName="x-amz-object-attributes",
            ArgumentValue=raw,
        )
    max_parts = min(_header_int(ctx, "x-amz-max-parts", 1000, 2147483647), 1000)
    marker = _header_int(ctx, "x-amz-part-number-marker", 0, 10000)
    manifest = await ctx.service.head_object(
        ctx.principal, bucket_of(ctx), key_of(ctx), version_param(ctx)
    )
    root = Elem("GetObjectAttributesResponse")
    if "ETag" in wanted:
        # AWS's one quirk here: the ETag is shown without its quotes.
        root.leaf("ETag", manifest.etag.strip('"'))
    checksum = manifest.checksum
    if "Checksum" in wanted and checksum is not None:
        element = root.add("Checksum")
        element.leaf("Checksum" + checksum.algorithm, checksum.value)
        element.leaf("ChecksumType", checksum.type)
    if "ObjectParts" in wanted and _is_multipart(manifest):
        parts = root.add("ObjectParts")
        parts.leaf("PartsCount", len(manifest.parts))
        following = [p for p in manifest.parts if p.part_number > marker]
        page = following[:max_parts]
        parts.leaf("PartNumberMarker", marker)
        if page:
            parts.leaf("NextPartNumberMarker", page[-1].part_number)
        parts.leaf("MaxParts", max_parts)
        parts.leaf("IsTruncated", len(following) > len(page))
        # AWS lists the parts only of objects stored with an additional checksum.
        if checksum is not None:
            for record in page:
                item = parts.add("Part")
                item.leaf("PartNumber", record.part_number)
                item.leaf("Size", record.size)
                if record.checksum is not None:
                    item.leaf("Checksum" + record.checksum.algorithm, record.checksum.value)
    if "StorageClass" in wanted:
        root.leaf("StorageClass", manifest.attributes.storage_class)
    if "ObjectSize" in wanted:
        root.leaf("ObjectSize", manifest.size)
    return xml_response(root, headers={"Last-Modified": http_date(manifest.last_modified)})


HANDLERS: Mapping[str, Handler] = MappingProxyType(
    {
        "GetObjectAttributes": get_object_attributes,
        "PutObject": put_object,
        "GetObject": get_object,
        "HeadObject": get_object,
        "DeleteObject": delete_object,
        "DeleteObjects": delete_objects,
    }
)
