"""Object listings (gateway handlers): ListObjectsV2, ListObjects (V1), ListObjectVersions.

Contract: each handler turns S3's paging parameters into one ``service.list_objects`` call
(``start_after`` + ``max_keys``) and renders AWS's document. Quirks kept from AWS:

* max-keys defaults to 1000 and is silently capped there; max-keys=0 answers an empty page.
* V2's continuation token is opaque to clients: here the URL-safe base64 of a format tag and
  the marker the service returned (the last key or common prefix of the page).
  ``start-after`` is ignored once a token is given.
* ``encoding-type=url`` URL-encodes Key, Prefix, Delimiter, StartAfter/Marker/NextMarker and
  CommonPrefixes; tokens stay as they are.
* V1 returns NextMarker only when a delimiter was given (clients continue from the last key
  otherwise); V1 always shows Owner, V2 only with fetch-owner=true.
* ListObjectVersions lists every version and delete marker (``service.list_versions``):
  keys ascending, each key's newest first, a ``DeleteMarker`` element for a marker; an
  unversioned bucket's objects are its null versions. ``version-id-marker`` needs a
  ``key-marker`` and is an id or ``null``.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from urllib.parse import quote_plus

from wormfs.gateway.errors import InvalidArgument
from wormfs.gateway.handlers.base import (
    Handler,
    S3Context,
    S3Response,
    bucket_of,
    checked_version_id,
    int_param,
    xml_response,
)
from wormfs.gateway.xml import Elem, iso8601
from wormfs.wire.coordinator import ObjectList, ObjectSummary, VersionList, VersionSummary

MAX_KEYS = 1000


@dataclass(frozen=True)
class ListParams:
    prefix: str
    delimiter: str
    encoding_type: str | None


def list_params(ctx: S3Context) -> ListParams:
    encoding = ctx.op.query.get("encoding-type")
    if encoding is not None and encoding.lower() != "url":
        raise InvalidArgument(
            "Invalid Encoding Method specified in Request",
            ArgumentName="encoding-type",
            ArgumentValue=encoding,
        )
    return ListParams(
        prefix=ctx.op.query.get("prefix", ""),
        delimiter=ctx.op.query.get("delimiter", ""),
        encoding_type="url" if encoding is not None else None,
    )


def encoder(encoding_type: str | None) -> Callable[[str], str]:
    if encoding_type == "url":
        # Clients decode with unquote_plus: spaces as "+", a literal "+" as %2B.
        return lambda value: quote_plus(value, safe="/")
    return lambda value: value


_TOKEN_PREFIX = "1:"  # a format version, so that garbage tokens are told apart


def encode_token(marker: str) -> str:
    raw = (_TOKEN_PREFIX + marker).encode("utf-8")
    return base64.urlsafe_b64encode(raw).decode("ascii")


def decode_token(token: str) -> str:
    try:
        raw = base64.b64decode(token.encode("ascii"), altchars=b"-_", validate=True)
        text = raw.decode("utf-8")
        if not text.startswith(_TOKEN_PREFIX):
            raise ValueError("unknown token format")
        return text[len(_TOKEN_PREFIX) :]
    except (binascii.Error, UnicodeError, ValueError):
        raise InvalidArgument(
            "The continuation token provided is incorrect",
            ArgumentName="continuation-token",
            ArgumentValue=token,
        ) from None


async def _list(ctx: S3Context, params: ListParams, start_after: str, max_keys: int) -> ObjectList:
    if max_keys == 0:
        return ObjectList(objects=[], common_prefixes=[], is_truncated=False)
    return await ctx.service.list_objects(
        ctx.principal, bucket_of(ctx), params.prefix, params.delimiter, start_after, max_keys
    )


def _owner(ctx: S3Context, parent: Elem, owner_id: str) -> None:
    owner = parent.add("Owner")
    owner.leaf("ID", owner_id)
    owner.leaf(
        "DisplayName", ctx.principal.display_name if owner_id == ctx.principal.user_id else ""
    )


def _contents(
    ctx: S3Context,
    root: Elem,
    item: ObjectSummary,
    enc: Callable[[str], str],
    with_owner: bool,
) -> Elem:
    entry = root.add("Contents")
    entry.leaf("Key", enc(item.key))
    entry.leaf("LastModified", iso8601(item.last_modified))
    entry.leaf("ETag", item.etag)
    if item.checksum_algorithm:
        entry.leaf("ChecksumAlgorithm", item.checksum_algorithm)
    entry.leaf("Size", item.size)
    if with_owner:
        _owner(ctx, entry, item.owner_id)
    entry.leaf("StorageClass", item.storage_class)
    return entry


async def list_objects_v2(ctx: S3Context) -> S3Response:
    params = list_params(ctx)
    query = ctx.op.query
    max_keys = int_param(ctx, "max-keys", MAX_KEYS, low=0, clamp=MAX_KEYS)
    token = query.get("continuation-token")
    start_after = query.get("start-after", "")
    # An empty token lists from the start (and is echoed), as S3 answers it.
    marker = decode_token(token) if token else start_after
    fetch_owner = query.get("fetch-owner", "").lower() == "true"
    page = await _list(ctx, params, marker, max_keys)
    enc = encoder(params.encoding_type)

    root = Elem("ListBucketResult")
    root.leaf("Name", bucket_of(ctx))
    root.leaf("Prefix", enc(params.prefix))
    if params.delimiter:
        root.leaf("Delimiter", enc(params.delimiter))
    root.leaf("MaxKeys", max_keys)
    root.leaf("EncodingType", params.encoding_type)
    root.leaf("KeyCount", len(page.objects) + len(page.common_prefixes))
    root.leaf("IsTruncated", page.is_truncated)
    if token is not None:
        root.leaf("ContinuationToken", token)
    if page.is_truncated and page.next_marker is not None:
        root.leaf("NextContinuationToken", encode_token(page.next_marker))
    if "start-after" in query:
        root.leaf("StartAfter", enc(start_after))
    for item in page.objects:
        _contents(ctx, root, item, enc, fetch_owner)
    for prefix in page.common_prefixes:
        root.add("CommonPrefixes").leaf("Prefix", enc(prefix))
    return xml_response(root)


async def list_objects(ctx: S3Context) -> S3Response:
    params = list_params(ctx)
    max_keys = int_param(ctx, "max-keys", MAX_KEYS, low=0, clamp=MAX_KEYS)
    marker = ctx.op.query.get("marker", "")
    page = await _list(ctx, params, marker, max_keys)
    enc = encoder(params.encoding_type)

    root = Elem("ListBucketResult")
    root.leaf("Name", bucket_of(ctx))
    root.leaf("Prefix", enc(params.prefix))
    root.leaf("Marker", enc(marker))
    if page.is_truncated and params.delimiter and page.next_marker is not None:
        root.leaf("NextMarker", enc(page.next_marker))
    root.leaf("MaxKeys", max_keys)
    if params.delimiter:
        root.leaf("Delimiter", enc(params.delimiter))
    root.leaf("EncodingType", params.encoding_type)
    root.leaf("IsTruncated", page.is_truncated)
    for item in page.objects:
        _contents(ctx, root, item, enc, with_owner=True)
    for prefix in page.common_prefixes:
        root.add("CommonPrefixes").leaf("Prefix", enc(prefix))
    return xml_response(root)


async def list_object_versions(ctx: S3Context) -> S3Response:
    params = list_params(ctx)
    query = ctx.op.query
    max_keys = int_param(ctx, "max-keys", MAX_KEYS, low=0, clamp=MAX_KEYS)
    key_marker = query.get("key-marker", "")
    version_marker = query.get("version-id-marker")
    if version_marker and not key_marker:
        raise InvalidArgument(
            "A version-id marker cannot be specified without a key marker.",
            ArgumentName="version-id-marker",
            ArgumentValue=version_marker,
        )
    if version_marker:
        checked_version_id(version_marker, "version-id-marker")
    if max_keys == 0:
        page = VersionList(versions=[], common_prefixes=[], is_truncated=False)
    else:
        page = await ctx.service.list_versions(
            ctx.principal,
            bucket_of(ctx),
            params.prefix,
            params.delimiter,
            key_marker,
            version_marker or "",
            max_keys,
        )
    enc = encoder(params.encoding_type)

    root = Elem("ListVersionsResult")
    root.leaf("Name", bucket_of(ctx))
    root.leaf("Prefix", enc(params.prefix))
    root.leaf("KeyMarker", enc(key_marker))
    root.leaf("VersionIdMarker", version_marker or "")
    if page.is_truncated and page.next_key_marker is not None:
        root.leaf("NextKeyMarker", enc(page.next_key_marker))
        if page.next_version_id_marker is not None:
            root.leaf("NextVersionIdMarker", page.next_version_id_marker)
    root.leaf("MaxKeys", max_keys)
    if params.delimiter:
        root.leaf("Delimiter", enc(params.delimiter))
    root.leaf("EncodingType", params.encoding_type)
    root.leaf("IsTruncated", page.is_truncated)
    for version in page.versions:
        _version(ctx, root, version, enc)
    for prefix in page.common_prefixes:
        root.add("CommonPrefixes").leaf("Prefix", enc(prefix))
    return xml_response(root)


def _version(ctx: S3Context, root: Elem, item: VersionSummary, enc: Callable[[str], str]) -> None:
    """A ``Version`` element, or a ``DeleteMarker`` (no ETag, size or storage class)."""
    entry = root.add("DeleteMarker" if item.is_delete_marker else "Version")
    entry.leaf("Key", enc(item.key))
    entry.leaf("VersionId", item.version_id)
    entry.leaf("IsLatest", item.is_latest)
    entry.leaf("LastModified", iso8601(item.last_modified))
    if not item.is_delete_marker:
        entry.leaf("ETag", item.etag)
        if item.checksum_algorithm:
            entry.leaf("ChecksumAlgorithm", item.checksum_algorithm)
        entry.leaf("Size", item.size)
    _owner(ctx, entry, item.owner_id)
    if not item.is_delete_marker:
        entry.leaf("StorageClass", item.storage_class)


HANDLERS: Mapping[str, Handler] = MappingProxyType(
    {
        "ListObjectsV2": list_objects_v2,
        "ListObjects": list_objects,
        "ListObjectVersions": list_object_versions,
    }
)
