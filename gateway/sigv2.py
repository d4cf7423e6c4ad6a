"""AWS Signature Version 2 verification for S3 (gateway layer, used by ``sigv4.SigV4Verifier``).

AWS deprecated SigV2, but boto3 still presigns S3 URLs with it by default in us-east-1
(``AWSAccessKeyId``/``Expires``/``Signature`` query parameters) and older tools sign headers
with it (``Authorization: AWS AKID:signature``), so both are accepted.

Contract: ``verify_header`` / ``verify_query`` return the ``AccessKeyInfo`` that signed the
request or raise ``S3Error``s as AWS does (``SignatureDoesNotMatch`` with the string to sign,
``InvalidAccessKeyId``, ``RequestTimeTooSkewed``, ``AccessDenied`` "Request has expired").
SigV2 carries no payload hash: bodies are checked only by Content-MD5 / x-amz-checksum-*.

String to sign::

    METHOD \\n Content-MD5 \\n Content-Type \\n Date (or Expires for query auth) \\n
    x-amz-* headers ("name:value\\n", lower-case, sorted, repeated values joined by ",")
    /bucket/key as sent [?sub-resources the signature covers, sorted, values decoded]

The Date line is empty when an x-amz-date header is present (AWS's rule).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Awaitable, Callable, Sequence

from multidict import CIMultiDictProxy, MultiMapping

from wormfs.errors import NoSuchAccessKeyError
from wormfs.gateway.errors import (
    AccessDenied,
    InvalidAccessKeyId,
    RequestTimeTooSkewed,
    SignatureDoesNotMatch,
)
from wormfs.gateway.xml import iso8601, parse_http_date
from wormfs.wire.coordinator import AccessKeyInfo

Headers = CIMultiDictProxy[str] | MultiMapping[str]
CredentialLookup = Callable[[str], Awaitable[AccessKeyInfo]]

# Query parameters that are part of the signed resource.
SIGNED_SUBRESOURCES = frozenset(
    {
        "accelerate", "acl", "analytics", "cors", "delete", "inventory", "lifecycle",
        "location", "logging", "metrics", "notification", "object-lock", "partNumber",
        "policy", "replication", "requestPayment", "response-cache-control",
        "response-content-disposition", "response-content-encoding",
        "response-content-language", "response-content-type", "response-expires", "restore",
        "select", "select-type", "storageClass", "tagging", "torrent", "uploadId", "uploads",
        "versionId", "versioning", "versions", "website",
    }
)  # fmt: skip


def canonical_resources(
    raw_path: str, query: Sequence[tuple[str, str]], virtual_bucket: str | None
) -> list[str]:
    """The resource as AWS signs it, then as some clients sign it: AWS writes a bucket as
    ``/bucket/`` however the path names it (botocore does too), other signers use the path
    as sent (``/bucket``)."""
    path = raw_path or "/"
    if virtual_bucket is not None:
        path = f"/{virtual_bucket}{path}"
    paths = [path]
    if virtual_bucket is None and path != "/" and path.count("/") == 1:
        paths.insert(0, path + "/")
    subresources = sorted((k, v) for k, v in query if k in SIGNED_SUBRESOURCES)
    if subresources:
        suffix = "?" + "&".join(f"{k}={v}" if v else k for k, v in subresources)
        paths = [p + suffix for p in paths]
    return paths


def string_to_sign(
    method: str,
    headers: Headers,
    date_line: str,
    resource: str,
) -> str:
    amz: dict[str, list[str]] = {}
    for name, value in headers.items():
        lower = name.lower()
        if lower.startswith("x-amz-"):
            amz.setdefault(lower, []).append(" ".join(value.split()))
    lines = [
        method,
        headers.get("content-md5", "").strip(),
        headers.get("content-type", "").strip(),
        date_line,
    ]
    lines += [f"{name}:{','.join(amz[name])}" for name in sorted(amz)]
    lines.append(resource)
    return "\n".join(lines)


def sign(secret: str, to_sign: str) -> str:
    """The base64 HMAC-SHA1 of ``to_sign`` (SigV2's signature; also a POST policy's)."""
    digest = hmac.new(secret.encode(), to_sign.encode("utf-8", "surrogateescape"), hashlib.sha1)
    return base64.b64encode(digest.digest()).decode("ascii")


async def _lookup(lookup: CredentialLookup, access_key: str) -> AccessKeyInfo:
    try:
        return await lookup(access_key)
    except NoSuchAccessKeyError:
        raise InvalidAccessKeyId(AWSAccessKeyId=access_key) from None


def _check(info: AccessKeyInfo, candidates: list[str], provided: str) -> None:
    for to_sign in candidates:
        expected = sign(info.secret_key, to_sign)
        if hmac.compare_digest(expected.encode(), provided.encode("utf-8", "replace")):
            return
    raise SignatureDoesNotMatch(
        AWSAccessKeyId=info.access_key, StringToSign=candidates[0], SignatureProvided=provided
    )


def _candidates(
    method: str,
    headers: Headers,
    date_line: str,
    raw_path: str,
    query: Sequence[tuple[str, str]],
    virtual_bucket: str | None,
) -> list[str]:
    return [
        string_to_sign(method, headers, date_line, resource)
        for resource in canonical_resources(raw_path, query, virtual_bucket)
    ]


async def verify_header(
    method: str,
    raw_path: str,
    query: Sequence[tuple[str, str]],
    headers: Headers,
    virtual_bucket: str | None,
    credential: str,
    lookup: CredentialLookup,
    now: float,
    max_skew: float,
) -> AccessKeyInfo:
    """``credential`` is what follows ``AWS `` in the Authorization header."""
    access_key, colon, provided = credential.strip().rpartition(":")
    if not colon or not access_key:
        raise AccessDenied("AWS authentication requires a valid Authorization header")
    amz_date = headers.get("x-amz-date")
    raw_date = amz_date if amz_date is not None else headers.get("date")
    when = parse_http_date(raw_date) if raw_date else None
    if when is None:
        raise AccessDenied("AWS authentication requires a valid Date or x-amz-date header")
    if abs(now - when) > max_skew:
        raise RequestTimeTooSkewed(
            RequestTime=raw_date,
            ServerTime=iso8601(now),
            MaxAllowedSkewMilliseconds=int(max_skew * 1000),
        )
    date_line = "" if amz_date is not None else (raw_date or "")
    candidates = _candidates(method, headers, date_line, raw_path, query, virtual_bucket)
    info = await _lookup(lookup, access_key)
    _check(info, candidates, provided)
    return info


async def verify_query(
    method: str,
    raw_path: str,
    query: Sequence[tuple[str, str]],
    headers: Headers,
    virtual_bucket: str | None,
    lookup: CredentialLookup,
    now: float,
) -> AccessKeyInfo:
    params = dict(query)
    access_key = params.get("AWSAccessKeyId", "")
    provided = params.get("Signature", "")
    expires = params.get("Expires", "")
    if not access_key or not provided or not expires.isdigit():
        raise AccessDenied(
            "Query-string authentication requires the Signature, Expires and AWSAccessKeyId "
            "parameters"
        )
    if now > int(expires):
        raise AccessDenied(
            "Request has expired",
            extra={"Expires": iso8601(int(expires)), "ServerTime": iso8601(now)},
        )
    candidates = _candidates(method, headers, expires, raw_path, query, virtual_bucket)
    info = await _lookup(lookup, access_key)
    _check(info, candidates, provided)
    return info
