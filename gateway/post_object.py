"""POST Object: a browser form upload (``multipart/form-data``) into a bucket.

Layer: gateway, beside the handlers: the app calls ``post_object`` before any header
authentication, since the form carries its own (``post_policy``). Contract:

* The form's fields are read up to the ``file`` field (names case-insensitive; at most
  ``MAX_FIELDS_BYTES`` of them, else ``MaxPostPreDataLengthExceeded``); fields after the file
  are ignored, as AWS ignores them. A form without ``key`` or without a file is
  ``InvalidArgument``; a body that is not ``multipart/form-data`` too.
* The policy, when there is one, is verified (signature, expiration, every condition, no
  field it does not name); without one the upload is anonymous. ``${filename}`` in the key
  is the file's name. The upload is then authorized as a PutObject of that key by that
  caller (the bucket owner, or a bucket policy).
* The file streams into a spooled temporary file (memory up to ``SPOOL_MEMORY``, then disk;
  never held whole in memory) and is held to the policy's ``content-length-range``
  (``EntityTooSmall`` / ``EntityTooLarge``) and to 5 GiB; then it is stored as a PUT of that
  size would be, with the form's Content-Type, ``x-amz-meta-*``, Cache-Control,
  Content-Disposition, Content-Encoding, Expires, storage class, ``acl`` and ``tagging``
  (an XML ``Tagging`` document).
* The answer: a ``success_action_redirect`` (or the older ``redirect``) is a 303 to it with
  ``bucket``, ``key`` and ``etag`` appended; else ``success_action_status`` 200 or 201 (a
  ``PostResponse`` document), and 204 for any other value or none.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import tempfile
import time
from collections.abc import Mapping
from dataclasses import replace
from typing import IO
from urllib.parse import quote, urlencode

import aiohttp
import msgspec
from aiohttp import BodyPartReader, web
from aiohttp.http_exceptions import HttpProcessingError
from multidict import CIMultiDict, CIMultiDictProxy

from wormfs.errors import NoSuchAccessKeyError
from wormfs.gateway.access import Authorizer, RequestFacts
from wormfs.gateway.encryption import requested
from wormfs.gateway.errors import (
    EntityTooLarge,
    EntityTooSmall,
    InvalidAccessKeyId,
    InvalidArgument,
    MalformedPOSTRequest,
    MalformedXML,
    MaxPostPreDataLengthExceeded,
    SignatureDoesNotMatch,
)
from wormfs.gateway.handlers.acl import acl_of_write, directory
from wormfs.gateway.handlers.base import S3Response, xml_response
from wormfs.gateway.handlers.headers import object_attributes
from wormfs.gateway.handlers.objects import MAX_PUT_SIZE
from wormfs.gateway.post_policy import check_fields, parse_policy, signed_by
from wormfs.gateway.router import Operation
from wormfs.gateway.service import DataChecks, ObjectServiceProtocol, Principal, PutConditions
from wormfs.gateway.sigv2 import sign as sign_v2
from wormfs.gateway.sigv4 import SigV4Verifier
from wormfs.gateway.tags import MAX_OBJECT_TAGS, parse_tagging_xml
from wormfs.gateway.xml import Elem, XmlError, parse_xml

MAX_FIELDS_BYTES = 20 * 1024
SPOOL_MEMORY = 8 * 1024 * 1024
PIECE = 1024 * 1024
# Form fields that are headers of a PUT (the rest of a PUT's headers are not taken from a form).
HEADER_FIELDS = frozenset(
    {
        "content-type",
        "cache-control",
        "content-disposition",
        "content-encoding",
        "expires",
        "x-amz-storage-class",
        "x-amz-website-redirect-location",
        "x-amz-server-side-encryption",
        "x-amz-server-side-encryption-aws-kms-key-id",
        "x-amz-server-side-encryption-context",
        "x-amz-server-side-encryption-bucket-key-enabled",
        "x-amz-server-side-encryption-customer-algorithm",
        "x-amz-server-side-encryption-customer-key",
        "x-amz-server-side-encryption-customer-key-md5",
    }
)


# What aiohttp's multipart reader raises for a broken form: a bad part header, a boundary line
# it did not expect (AssertionError), a body that ends early.
BROKEN_FORM = (
    ValueError,
    AssertionError,
    EOFError,
    aiohttp.ClientPayloadError,
    HttpProcessingError,
)


class SpooledBody:
    """A ``BodyReader`` over the spooled file (no trailers: a form carries none)."""

    def __init__(self, spool: IO[bytes]) -> None:
        self._spool = spool

    async def read(self) -> bytes:
        return await asyncio.to_thread(self._spool.read, PIECE)

    def trailing_checksums(self) -> Mapping[str, str]:
        return {}


async def _read_fields(request: web.Request) -> tuple[dict[str, str], BodyPartReader]:
    try:
        return await _form_fields(request)
    except BROKEN_FORM as exc:
        raise MalformedPOSTRequest() from exc


async def _form_fields(request: web.Request) -> tuple[dict[str, str], BodyPartReader]:
    if not request.content_type.startswith("multipart/form-data"):
        raise InvalidArgument(
            "Bucket POST must be of the enclosure-type multipart/form-data",
            ArgumentName="Content-Type",
            ArgumentValue=request.content_type,
        )
    reader = await request.multipart()
    fields: dict[str, str] = {}
    total = 0
    while True:
        part = await reader.next()
        if part is None:
            raise InvalidArgument("POST requires exactly one file upload per request.")
        if not isinstance(part, BodyPartReader):
            raise MalformedPOSTRequest()  # a nested multipart body is no form field
        name = (part.name or "").lower()
        if name == "file":
            return fields, part
        value = bytearray()
        while chunk := await part.read_chunk(4096):
            value += chunk
            total += len(chunk)
            if total > MAX_FIELDS_BYTES:
                raise MaxPostPreDataLengthExceeded(MaxPostPreDataLength=MAX_FIELDS_BYTES)
        fields[name] = value.decode("utf-8", "replace")


async def _caller(
    fields: dict[str, str], how: str, verifier: SigV4Verifier, service: ObjectServiceProtocol
) -> Principal | None:
    """Who signed the form (``how``: ``post_policy.signed_by``); None: anonymous."""
    if not how:
        return None
    policy = fields["policy"]
    if how == "v4":
        access_key, _, scope = fields["x-amz-credential"].partition("/")
        date, region = [*scope.split("/"), "", ""][:2]
    else:
        access_key, date, region = fields["awsaccesskeyid"], "", ""
    try:
        info = await service.credentials(access_key)
    except NoSuchAccessKeyError:
        raise InvalidAccessKeyId(AWSAccessKeyId=access_key) from None
    if how == "v4":
        key = verifier.signing_key(info.secret_key, date, region)
        expected = hmac.new(key, policy.encode(), hashlib.sha256).hexdigest()
        provided = fields["x-amz-signature"]
    else:
        expected, provided = sign_v2(info.secret_key, policy), fields["signature"]
    if not hmac.compare_digest(expected.encode(), provided.encode("utf-8", "replace")):
        raise SignatureDoesNotMatch(AWSAccessKeyId=access_key, StringToSign=policy)
    return Principal(
        user_id=info.user_id, display_name=info.display_name, access_key=info.access_key
    )


def _as_headers(fields: dict[str, str]) -> CIMultiDictProxy[str]:
    """The form's fields that a PUT would send as headers."""
    headers: CIMultiDict[str] = CIMultiDict()
    for name, value in fields.items():
        if name in HEADER_FIELDS or name.startswith("x-amz-meta-"):
            headers[name] = value
        if name.startswith("x-amz-object-lock-"):
            headers[name] = value
    if "acl" in fields:
        headers["x-amz-acl"] = fields["acl"]
    return CIMultiDictProxy(headers)


async def _chunk(part: BodyPartReader) -> bytes:
    try:
        return await part.read_chunk(PIECE)
    except BROKEN_FORM as exc:
        raise MalformedPOSTRequest() from exc  # the form ends before its file does


async def _spool(part: BodyPartReader, low: int, high: int) -> tuple[IO[bytes], int]:
    spool: IO[bytes] = tempfile.SpooledTemporaryFile(max_size=SPOOL_MEMORY)  # noqa: SIM115
    size = 0
    try:
        while chunk := await _chunk(part):
            size += len(chunk)
            if size > high:
                raise EntityTooLarge(ProposedSize=size, MaxSizeAllowed=high)
            await asyncio.to_thread(spool.write, chunk)
        if size < low:
            raise EntityTooSmall(ProposedSize=size, MinSizeAllowed=low)
        spool.seek(0)
    except BaseException:
        spool.close()
        raise
    return spool, size


def _answer(fields: dict[str, str], bucket: str, key: str, etag: str, base: str) -> S3Response:
    location = f"{base}/{quote(bucket)}/{quote(key)}"
    headers = {"ETag": etag, "Location": location}
    redirect = fields.get("success_action_redirect") or fields.get("redirect")
    if redirect:
        query = urlencode({"bucket": bucket, "key": key, "etag": etag})
        headers["Location"] = redirect + ("&" if "?" in redirect else "?") + query
        return S3Response(status=303, headers=headers)
    status = fields.get("success_action_status", "")
    if status == "201":
        doc = Elem("PostResponse")
        for name, value in (("Location", location), ("Bucket", bucket), ("Key", key)):
            doc.leaf(name, value)
        doc.leaf("ETag", etag)
        return xml_response(doc, status=201, headers=headers)
    return S3Response(status=200 if status == "200" else 204, headers=headers)


async def post_object(
    request: web.Request,
    op: Operation,
    verifier: SigV4Verifier,
    service: ObjectServiceProtocol,
    authorizer: Authorizer,
    source_ip: str,
) -> S3Response:
    assert op.bucket is not None, "the router names PostObject on a bucket"
    fields, file_part = await _read_fields(request)
    how = signed_by(fields)
    caller = await _caller(fields, how, verifier, service)
    if "key" not in fields:
        raise InvalidArgument(
            "Bucket POST must contain a field named 'key'.  If it is specified, please check "
            "the order of the fields.",
            ArgumentName="key",
        )
    filename = file_part.filename or ""
    key = fields["key"].replace("${filename}", filename)
    low, high = 0, MAX_PUT_SIZE
    if "policy" in fields:
        policy = parse_policy(fields["policy"])
        # The bucket counts as a field the policy must name (the key as sent, before
        # ${filename} is filled in, as AWS checks it).
        limits = check_fields(policy, {**fields, "bucket": op.bucket}, time.time())
        if limits is not None:
            low, high = limits[0], min(limits[1], MAX_PUT_SIZE)
    headers = _as_headers(fields)
    put = replace(op, name="PutObject", key=key, headers=headers)
    facts = RequestFacts(
        source_ip=source_ip,
        secure=request.scheme == "https",
        auth_type="POST",
        signature_version={"v4": "SigV4", "v2": "SigV2"}.get(how, ""),
    )
    access = await authorizer.authorize(put, caller, facts)
    assert access.principal is not None, "authorize names whom the upload is stored as"
    bucket_facts = await access.access(op.bucket)
    attributes = msgspec.structs.replace(
        object_attributes(headers),
        acl=acl_of_write(bucket_facts, headers, caller, await directory(service)),
    )
    if "tagging" in fields:
        try:
            tagging = parse_xml(fields["tagging"].encode(), MAX_FIELDS_BYTES)
        except XmlError:
            raise MalformedXML() from None
        tags = parse_tagging_xml(tagging, MAX_OBJECT_TAGS)
        attributes = msgspec.structs.replace(attributes, tags=tags)
    # Encrypted as the form's fields ask, else as the bucket's default says.
    sse = requested(headers, await access.encryption(op.bucket))
    spool, size = await _spool(file_part, low, high)
    with spool:
        manifest = await service.put_object(
            access.principal,
            op.bucket,
            key,
            size,
            SpooledBody(spool),
            attributes,
            DataChecks(),
            PutConditions(),
            sse,
        )
    base = f"{request.scheme}://{request.host}"
    return _answer(fields, op.bucket, key, manifest.etag, base)
