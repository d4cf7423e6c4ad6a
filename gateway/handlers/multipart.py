"""Multipart uploads (gateway handlers): CreateMultipartUpload, UploadPart,
CompleteMultipartUpload, AbortMultipartUpload, ListParts, ListMultipartUploads.

Contract: each handler takes an ``S3Context``, calls the ``ObjectServiceProtocol`` and renders
AWS's answer. Part numbers are 1..10000 (``InvalidArgument``), a part carries at most 5 GiB
and needs a known length (``MissingContentLength``); the completion document is parsed
strictly (``MalformedXML``) and its ETags normalised to the quoted form; its x-amz-checksum-*,
x-amz-checksum-type and x-amz-mp-object-size headers describe the finished object and are
checked by the service before the commit (``CompletionChecks``), never against the XML.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import cast
from urllib.parse import quote

import msgspec

from wormfs.format.checksums import ALGORITHMS, ChecksumFormatError, check_b64, type_supported
from wormfs.gateway.encryption import CUSTOMER, answer_headers, customer_key
from wormfs.gateway.errors import InvalidArgument, InvalidRequest, MalformedXML
from wormfs.gateway.handlers.acl import write_acl
from wormfs.gateway.handlers.base import (
    Handler,
    S3Context,
    S3Response,
    bucket_of,
    empty_response,
    int_param,
    key_of,
    read_xml,
    write_encryption,
    xml_response,
)
from wormfs.gateway.handlers.buckets import owner_elem
from wormfs.gateway.handlers.headers import (
    checksum_algorithm_header,
    checksum_header,
    checksum_headers,
    data_checks,
    object_attributes,
    put_conditions,
    reject_unsupported,
    version_header,
)
from wormfs.gateway.handlers.listing import encoder, list_params
from wormfs.gateway.handlers.objects import required_length
from wormfs.gateway.service import CompletionChecks
from wormfs.gateway.xml import Elem, child_text, iso8601
from wormfs.wire.coordinator import ChecksumAlgorithm, ChecksumType, CompletedPart, ObjectChecksum

MAX_PART_NUMBER = 10000


def part_checksum_elem(parent: Elem, checksum: ObjectChecksum | None) -> None:
    if checksum is not None:
        parent.leaf("Checksum" + checksum.algorithm, checksum.value)


def upload_part_args(ctx: S3Context) -> tuple[str, int]:
    """``(uploadId, partNumber)`` of UploadPart / UploadPartCopy."""
    upload_id = ctx.op.query.get("uploadId", "")
    raw = ctx.op.query.get("partNumber", "")
    try:
        number = int(raw)
    except ValueError:
        number = 0
    if not 1 <= number <= MAX_PART_NUMBER:
        raise InvalidArgument(
            "Part number must be an integer between 1 and 10000, inclusive",
            ArgumentName="partNumber",
            ArgumentValue=raw,
        )
    return upload_id, number


async def create_multipart_upload(ctx: S3Context) -> S3Response:
    headers = ctx.op.headers
    reject_unsupported(headers)
    acl = await write_acl(ctx)
    algorithm = checksum_algorithm_header(headers, "x-amz-checksum-algorithm")
    raw_type = headers.get("x-amz-checksum-type")
    checksum_type: ChecksumType | None = None
    if raw_type is not None:
        if raw_type.upper() not in ("FULL_OBJECT", "COMPOSITE"):
            raise InvalidRequest("Value for x-amz-checksum-type header is invalid.")
        checksum_type = cast(ChecksumType, raw_type.upper())
        if algorithm is None:
            raise InvalidRequest(
                "The x-amz-checksum-type header can only be used with the "
                "x-amz-checksum-algorithm header."
            )
        if not type_supported(algorithm, checksum_type):
            raise InvalidRequest(
                f"The {checksum_type} checksum type cannot be used with the {algorithm.lower()} "
                "checksum algorithm."
            )
    upload = await ctx.service.create_upload(
        ctx.principal,
        bucket_of(ctx),
        key_of(ctx),
        msgspec.structs.replace(object_attributes(headers), acl=acl),
        algorithm,
        checksum_type,
        await write_encryption(ctx),
    )
    root = Elem("InitiateMultipartUploadResult")
    root.leaf("Bucket", upload.bucket)
    root.leaf("Key", upload.key)
    root.leaf("UploadId", upload.upload_id)
    answer = answer_headers(upload.attributes.encryption)
    if upload.checksum_algorithm:
        answer["x-amz-checksum-algorithm"] = upload.checksum_algorithm
    if upload.checksum_type:
        answer["x-amz-checksum-type"] = upload.checksum_type
    return xml_response(root, headers=answer)


async def upload_part(ctx: S3Context) -> S3Response:
    upload_id, part_number = upload_part_args(ctx)
    size = required_length(ctx)
    checks = data_checks(ctx.op.headers, ctx.payload_mode)
    customer = customer_key(ctx.op.headers)
    part = await ctx.service.upload_part(
        ctx.principal,
        bucket_of(ctx),
        key_of(ctx),
        upload_id,
        part_number,
        size,
        ctx.body,
        checks,
        customer,
    )
    headers = {"ETag": part.etag}
    if customer is not None:  # the key was checked against the upload's
        headers[CUSTOMER + "algorithm"] = "AES256"
        headers[CUSTOMER + "key-MD5"] = customer.key_md5
    if part.checksum is not None:
        headers.update(checksum_headers(part.checksum))
        # A part's checksum has no type of its own.
        headers.pop("x-amz-checksum-type", None)
    return empty_response(headers=headers)


def completion_checks(ctx: S3Context) -> CompletionChecks:
    """What CompleteMultipartUpload's headers say about the object it makes: x-amz-checksum-*
    (the whole object's checksum, which SDKs send with a full-object checksum the user gave;
    a COMPOSITE value may carry its ``-N``), x-amz-checksum-type and x-amz-mp-object-size."""
    headers = ctx.op.headers
    found = [(a, headers[checksum_header(a)]) for a in ALGORITHMS if checksum_header(a) in headers]
    if len(found) > 1:
        raise InvalidRequest(
            "Expecting a single x-amz-checksum- header. Multiple checksum Types are not allowed."
        )
    algorithm: ChecksumAlgorithm | None = None
    value = None
    if found:
        algorithm, raw = cast(ChecksumAlgorithm, found[0][0]), found[0][1]
        try:
            value = check_b64(algorithm, raw.strip().split("-", 1)[0])
        except ChecksumFormatError:
            raise InvalidRequest(
                f"Value for {checksum_header(algorithm)} header is invalid."
            ) from None
    raw_type = headers.get("x-amz-checksum-type")
    checksum_type: ChecksumType | None = None
    if raw_type is not None:
        if raw_type.strip().upper() not in ("FULL_OBJECT", "COMPOSITE"):
            raise InvalidRequest("Value for x-amz-checksum-type header is invalid.")
        checksum_type = cast(ChecksumType, raw_type.strip().upper())
    raw_size = headers.get("x-amz-mp-object-size")
    size = None
    if raw_size is not None:
        size = int(raw_size) if raw_size.strip().isdigit() else -1
        if size < 0:
            raise InvalidArgument(
                "x-amz-mp-object-size must be a non-negative integer",
                ArgumentName="x-amz-mp-object-size",
                ArgumentValue=raw_size,
            )
    return CompletionChecks(algorithm, value, checksum_type, size)


def _quoted(etag: str) -> str:
    etag = etag.strip()
    return etag if etag.startswith('"') else f'"{etag}"'


async def complete_multipart_upload(ctx: S3Context) -> S3Response:
    upload_id = ctx.op.query.get("uploadId", "")
    checks = completion_checks(ctx)
    doc = await read_xml(ctx, object_checksum_headers=True)
    assert doc is not None
    if doc.tag != "CompleteMultipartUpload":
        raise MalformedXML()
    parts: list[CompletedPart] = []
    for item in doc.findall("Part"):
        number_text, etag = child_text(item, "PartNumber"), child_text(item, "ETag")
        if number_text is None or etag is None:
            raise MalformedXML()
        try:
            number = int(number_text.strip())
        except ValueError:
            raise MalformedXML() from None
        checksum = None
        for algorithm in ALGORITHMS:
            value = child_text(item, "Checksum" + algorithm)
            if value:
                checksum = value.strip()
        parts.append(CompletedPart(part_number=number, etag=_quoted(etag), checksum=checksum))
    if not parts:
        raise MalformedXML()
    manifest = await ctx.service.complete_upload(
        ctx.principal,
        bucket_of(ctx),
        key_of(ctx),
        upload_id,
        parts,
        put_conditions(ctx.op.headers),
        checks,
    )
    root = Elem("CompleteMultipartUploadResult")
    op = ctx.op
    path = (
        f"/{quote(manifest.key, safe='/')}"
        if op.virtual_host
        else (f"/{manifest.bucket}/{quote(manifest.key, safe='/')}")
    )
    root.leaf("Location", f"{op.scheme}://{op.host}{path}")
    root.leaf("Bucket", manifest.bucket)
    root.leaf("Key", manifest.key)
    root.leaf("ETag", manifest.etag)
    if manifest.checksum is not None:
        root.leaf("Checksum" + manifest.checksum.algorithm, manifest.checksum.value)
        root.leaf("ChecksumType", manifest.checksum.type)
    return xml_response(
        root,
        headers={**version_header(manifest), **answer_headers(manifest.attributes.encryption)},
    )


async def abort_multipart_upload(ctx: S3Context) -> S3Response:
    await ctx.service.abort_upload(
        ctx.principal, bucket_of(ctx), key_of(ctx), ctx.op.query.get("uploadId", "")
    )
    return empty_response(204)


async def list_parts(ctx: S3Context) -> S3Response:
    upload_id = ctx.op.query.get("uploadId", "")
    marker = int_param(ctx, "part-number-marker", 0, low=0, high=MAX_PART_NUMBER)
    max_parts = int_param(ctx, "max-parts", 1000, low=0, clamp=1000)
    upload, page = await ctx.service.list_parts(
        ctx.principal, bucket_of(ctx), key_of(ctx), upload_id, marker, max_parts
    )
    root = Elem("ListPartsResult")
    root.leaf("Bucket", upload.bucket)
    root.leaf("Key", upload.key)
    root.leaf("UploadId", upload.upload_id)
    display = ctx.principal.display_name if upload.owner_id == ctx.principal.user_id else ""
    owner_elem(root, upload.owner_id, display, "Initiator")
    owner_elem(root, upload.owner_id, display)
    root.leaf("StorageClass", upload.attributes.storage_class)
    root.leaf("PartNumberMarker", marker)
    if page.is_truncated and page.next_marker is not None:
        root.leaf("NextPartNumberMarker", page.next_marker)
    elif page.parts:
        root.leaf("NextPartNumberMarker", page.parts[-1].part_number)
    root.leaf("MaxParts", max_parts)
    root.leaf("IsTruncated", page.is_truncated)
    for part in page.parts:
        item = root.add("Part")
        item.leaf("PartNumber", part.part_number)
        item.leaf("LastModified", iso8601(part.last_modified))
        item.leaf("ETag", part.etag)
        item.leaf("Size", part.size)
        part_checksum_elem(item, part.checksum)
    root.leaf("ChecksumAlgorithm", upload.checksum_algorithm)
    root.leaf("ChecksumType", upload.checksum_type)
    return xml_response(root)


async def list_multipart_uploads(ctx: S3Context) -> S3Response:
    params = list_params(ctx)
    key_marker = ctx.op.query.get("key-marker", "")
    upload_id_marker = ctx.op.query.get("upload-id-marker", "") if key_marker else ""
    max_uploads = int_param(ctx, "max-uploads", 1000, low=0, clamp=1000)
    page = await ctx.service.list_uploads(
        ctx.principal,
        bucket_of(ctx),
        params.prefix,
        params.delimiter,
        key_marker,
        upload_id_marker,
        max_uploads,
    )
    enc = encoder(params.encoding_type)
    root = Elem("ListMultipartUploadsResult")
    root.leaf("Bucket", bucket_of(ctx))
    root.leaf("KeyMarker", enc(key_marker))
    root.leaf("UploadIdMarker", upload_id_marker)
    if page.is_truncated:
        root.leaf("NextKeyMarker", enc(page.next_key_marker or ""))
        root.leaf("NextUploadIdMarker", page.next_upload_id_marker or "")
    root.leaf("Prefix", enc(params.prefix))
    if params.delimiter:
        root.leaf("Delimiter", enc(params.delimiter))
    root.leaf("MaxUploads", max_uploads)
    root.leaf("EncodingType", params.encoding_type)
    root.leaf("IsTruncated", page.is_truncated)
    for upload in page.uploads:
        item = root.add("Upload")
        item.leaf("Key", enc(upload.key))
        item.leaf("UploadId", upload.upload_id)
        display = ctx.principal.display_name if upload.owner_id == ctx.principal.user_id else ""
        owner_elem(item, upload.owner_id, display, "Initiator")
        owner_elem(item, upload.owner_id, display)
        item.leaf("StorageClass", upload.attributes.storage_class)
        item.leaf("Initiated", iso8601(upload.initiated))
        item.leaf("ChecksumAlgorithm", upload.checksum_algorithm)
        item.leaf("ChecksumType", upload.checksum_type)
    for prefix in page.common_prefixes:
        root.add("CommonPrefixes").leaf("Prefix", enc(prefix))
    return xml_response(root)


HANDLERS: Mapping[str, Handler] = MappingProxyType(
    {
        "CreateMultipartUpload": create_multipart_upload,
        "UploadPart": upload_part,
        "CompleteMultipartUpload": complete_multipart_upload,
        "AbortMultipartUpload": abort_multipart_upload,
        "ListParts": list_parts,
        "ListMultipartUploads": list_multipart_uploads,
    }
)
