"""What every S3 handler takes and returns (gateway layer, handlers sub-layer).

Contract: a handler is ``async def handler(ctx: S3Context) -> S3Response``. ``S3Context``
holds the routed ``Operation``, the ``Principal`` to act as (the bucket's owner once
``wormfs.gateway.access`` let the request in; ``auth`` says who really called), the
``ObjectServiceProtocol`` and the decoded request body; handlers call the service and
describe the answer as an ``S3Response`` (status, headers, and either bytes or a stream of
pieces of at most 1 MiB).
The app writes it; handlers never touch aiohttp. Errors are raised: ``S3Error`` subclasses
directly, domain errors from the service are mapped by the app.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from wormfs.dataplane.reader import Piece
from wormfs.gateway.access import RequestAuth
from wormfs.gateway.body import read_all
from wormfs.gateway.encryption import SseAsk, requested
from wormfs.gateway.errors import InvalidArgument, MalformedXML, S3Error
from wormfs.gateway.handlers.headers import verify_small_body
from wormfs.gateway.router import Operation
from wormfs.gateway.service import BodyReader, ObjectServiceProtocol, Principal
from wormfs.gateway.sigv4 import PayloadMode
from wormfs.gateway.xml import Elem, XmlError, parse_xml, render
from wormfs.ids import is_id

MAX_XML_BODY = 1024 * 1024
XML_CONTENT_TYPE = "application/xml"


@dataclass
class S3Context:
    op: Operation
    principal: Principal
    service: ObjectServiceProtocol
    body: BodyReader
    # Decoded payload length (x-amz-decoded-content-length for aws-chunked, else
    # Content-Length); None when the client sent neither.
    body_length: int | None
    payload_mode: PayloadMode
    region: str
    request_id: str
    auth: RequestAuth


@dataclass
class S3Response:
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    # A streamed body (GET): pieces of at most 1 MiB, ``content_length`` bytes in all.
    stream: AsyncIterator[Piece] | None = None
    # For HEAD and streamed answers: the Content-Length to announce.
    content_length: int | None = None


Handler = Callable[[S3Context], Awaitable[S3Response]]


def xml_response(
    root: Elem, status: int = 200, headers: dict[str, str] | None = None
) -> S3Response:
    out = dict(headers or {})
    out["Content-Type"] = XML_CONTENT_TYPE
    return S3Response(status=status, headers=out, body=render(root))


def empty_response(status: int = 200, headers: dict[str, str] | None = None) -> S3Response:
    return S3Response(status=status, headers=dict(headers or {}))


async def read_xml(
    ctx: S3Context,
    *,
    optional: bool = False,
    checksum_required: bool = False,
    object_checksum_headers: bool = False,
) -> ET.Element | None:
    """Read, check (Content-MD5 / x-amz-checksum-*) and parse the small XML request body;
    None if ``optional`` and the body is empty. ``object_checksum_headers``: the request's
    x-amz-checksum-* headers describe an object, not this body (CompleteMultipartUpload)."""
    data = await read_all(ctx.body, MAX_XML_BODY)
    verify_small_body(
        ctx.op.headers,
        data,
        ctx.body.trailing_checksums(),
        checksum_required,
        header_checksums=not object_checksum_headers,
    )
    if optional and not data.strip():
        return None
    try:
        return parse_xml(data, MAX_XML_BODY)
    except XmlError:
        raise MalformedXML() from None


def bucket_of(ctx: S3Context) -> str:
    assert ctx.op.bucket is not None, "the router gives bucket operations a bucket"
    return ctx.op.bucket


def key_of(ctx: S3Context) -> str:
    assert ctx.op.key is not None, "the router gives object operations a key"
    return ctx.op.key


def int_param(
    ctx: S3Context,
    name: str,
    default: int,
    *,
    low: int = 0,
    high: int | None = None,
    clamp: int | None = None,
) -> int:
    """An integer query parameter: ``InvalidArgument`` if not an integer in ``[low, high]``;
    values above ``clamp`` are lowered to it (AWS caps max-keys at 1000 silently)."""
    raw = ctx.op.query.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise InvalidArgument(
            f"Provided {name} not an integer or within integer range",
            ArgumentName=name,
            ArgumentValue=raw,
        ) from None
    if value < low or (high is not None and value > high):
        upper = high if high is not None else 2147483647
        raise InvalidArgument(
            f"Argument {name} must be an integer between {low} and {upper}",
            ArgumentName=name,
            ArgumentValue=raw,
        )
    if clamp is not None:
        value = min(value, clamp)
    return value


def version_param(ctx: S3Context) -> str | None:
    """``versionId``: None when absent, ``"null"`` for the null version, else an id."""
    value = ctx.op.query.get("versionId")
    if value is None:
        return None
    return checked_version_id(value, "versionId")


def version_echo(ctx: S3Context) -> dict[str, str]:
    """``x-amz-version-id`` echoing the request's ``versionId`` (the per-version calls)."""
    version = ctx.op.query.get("versionId")
    return {"x-amz-version-id": version} if version else {}


def checked_version_id(value: str, name: str) -> str:
    """A version id as a client gave it: ``"null"`` or one of ours (``InvalidArgument``)."""
    if value == "":
        raise InvalidArgument(
            "Version id cannot be the empty string", ArgumentName=name, ArgumentValue=""
        )
    if value != "null" and not is_id(value):
        raise InvalidArgument(
            "Invalid version id specified", ArgumentName=name, ArgumentValue=value
        )
    return value


async def write_encryption(ctx: S3Context) -> SseAsk | None:
    """What a write (PUT, copy, CreateMultipartUpload) of ``ctx`` asks for, the bucket's
    default encryption standing in for headers that ask for none."""
    return requested(ctx.op.headers, await ctx.auth.encryption(bucket_of(ctx)))


def document_handlers(
    name: str,
    read: Callable[[ObjectServiceProtocol, Principal, str], Awaitable[Any]],
    write: Callable[[ObjectServiceProtocol, Principal, str, Any], Awaitable[None]],
    parse: Callable[[ET.Element], Any],
    render_doc: Callable[[Any], Elem],
    missing: type[S3Error],
    get_name: str | None = None,
    put_name: str | None = None,
    delete_name: str | None = None,
) -> dict[str, Handler]:
    """Get/Put/Delete``name`` for a bucket setting kept as one document (CORS, lifecycle,
    default encryption): Put needs a Content-MD5 or checksum and replaces it whole, Get
    answers it or ``missing`` (404), Delete removes it (204); the cached bucket facts are
    forgotten after a change, so this worker's next request sees it."""

    async def get(ctx: S3Context) -> S3Response:
        config = await read(ctx.service, ctx.principal, bucket_of(ctx))
        if config is None:
            raise missing(BucketName=bucket_of(ctx))
        return xml_response(render_doc(config))

    async def put(ctx: S3Context) -> S3Response:
        doc = await read_xml(ctx, checksum_required=True)
        assert doc is not None
        config = parse(doc)
        await write(ctx.service, ctx.principal, bucket_of(ctx), config)
        ctx.auth.settings_changed(bucket_of(ctx))
        return empty_response()

    async def delete(ctx: S3Context) -> S3Response:
        await write(ctx.service, ctx.principal, bucket_of(ctx), None)
        ctx.auth.settings_changed(bucket_of(ctx))
        return empty_response(204)

    return {
        get_name or f"Get{name}": get,
        put_name or f"Put{name}": put,
        delete_name or f"Delete{name}": delete,
    }
