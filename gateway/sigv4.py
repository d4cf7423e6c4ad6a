"""AWS Signature Version 4 verification for S3 (gateway layer, between router and handlers).

Contract: ``SigV4Verifier.authenticate(request, lookup)`` checks the ``Authorization`` header
(``AWS4-HMAC-SHA256 Credential=AKID/DATE/REGION/s3/aws4_request, SignedHeaders=..,
Signature=..``) or presigned query parameters (``X-Amz-Algorithm``, ``X-Amz-Credential``,
``X-Amz-Date``, ``X-Amz-Expires``, ``X-Amz-SignedHeaders``, ``X-Amz-Signature``) and returns an
``AuthResult``: who signed (nobody, for an unsigned request), and how the payload is
protected (a hex SHA-256 that the body reader must verify, ``UNSIGNED-PAYLOAD``, or one of
the aws-chunked ``STREAMING-*`` modes with the ``ChunkSigning`` context that chains chunk
signatures from the seed signature). It raises ``S3Error`` subclasses exactly as AWS answers:
``AccessDenied`` (expired presign), ``InvalidAccessKeyId``, ``SignatureDoesNotMatch`` (with
the canonical request and string to sign), ``RequestTimeTooSkewed`` (more than 15 minutes),
``AuthorizationHeaderMalformed`` / ``AuthorizationQueryParametersError``, ``InvalidRequest``
for a missing ``x-amz-content-sha256``.

The canonical request follows AWS's S3 rules: the URI path is *not* normalised or
double-encoded: it is the path as sent, percent-decoded once and re-encoded with AWS's
unreserved set (a client that encoded differently but signed the bytes it sent is also
accepted); the query is sorted by encoded key, then value; header values are trimmed with
runs of whitespace collapsed; repeated headers joined with commas. All comparisons are
constant-time; signing keys are cached per (secret, date, region) in the verifier instance.

Signature Version 2 (``Authorization: AWS AKID:sig`` and ``AWSAccessKeyId``/``Signature``
query parameters, which boto3 still uses to presign by default) is delegated to
``wormfs.gateway.sigv2``; such requests carry no payload hash (``UNSIGNED-PAYLOAD``).
"""

from __future__ import annotations

import calendar
import datetime
import enum
import functools
import hashlib
import hmac
import re
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from urllib.parse import quote, unquote_to_bytes

from multidict import CIMultiDictProxy, MultiMapping

from wormfs.errors import NoSuchAccessKeyError
from wormfs.gateway import sigv2
from wormfs.gateway.errors import (
    AccessDenied,
    AuthorizationHeaderMalformed,
    AuthorizationQueryParametersError,
    InvalidAccessKeyId,
    InvalidArgument,
    InvalidRequest,
    RequestTimeTooSkewed,
    S3NotImplemented,
    SignatureDoesNotMatch,
)
from wormfs.gateway.service import Principal
from wormfs.gateway.xml import iso8601, parse_http_date
from wormfs.wire.coordinator import AccessKeyInfo

ALGORITHM = "AWS4-HMAC-SHA256"
UNSIGNED_PAYLOAD = "UNSIGNED-PAYLOAD"
EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()
MAX_SKEW_SECONDS = 15 * 60
MAX_PRESIGN_EXPIRES = 7 * 24 * 3600
_HEX64 = re.compile(r"^[0-9a-fA-F]{64}$")
_AMZ_DATE = re.compile(r"^\d{8}T\d{6}Z$")

CredentialLookup = Callable[[str], Awaitable[AccessKeyInfo]]


class PayloadMode(enum.Enum):
    """How ``x-amz-content-sha256`` says the payload is protected."""

    SHA256 = "sha256"  # a hex digest the whole body must hash to
    UNSIGNED = "UNSIGNED-PAYLOAD"
    STREAMING_SIGNED = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"
    STREAMING_SIGNED_TRAILER = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER"
    STREAMING_UNSIGNED_TRAILER = "STREAMING-UNSIGNED-PAYLOAD-TRAILER"

    @property
    def chunked(self) -> bool:
        return self.value.startswith("STREAMING-")

    @property
    def signed_chunks(self) -> bool:
        return self in (PayloadMode.STREAMING_SIGNED, PayloadMode.STREAMING_SIGNED_TRAILER)


@dataclass(frozen=True)
class RequestView:
    """What signing covers: method, the raw path as sent, the decoded query, the headers."""

    method: str
    raw_path: str
    query: Sequence[tuple[str, str]]
    headers: CIMultiDictProxy[str] | MultiMapping[str]
    # The bucket a virtual-hosted-style Host header names (SigV2 signs it as part of the path).
    virtual_bucket: str | None = None


@dataclass(frozen=True)
class ChunkSigning:
    """The context that chains aws-chunked signatures (seed -> chunk 1 -> ... -> trailer)."""

    signing_key: bytes
    amz_date: str
    scope: str
    seed_signature: str

    def chunk_signature(self, previous: str, chunk_sha256: str) -> str:
        to_sign = "\n".join(
            [
                "AWS4-HMAC-SHA256-PAYLOAD",
                self.amz_date,
                self.scope,
                previous,
                EMPTY_SHA256,
                chunk_sha256,
            ]
        )
        return hmac.new(self.signing_key, to_sign.encode(), hashlib.sha256).hexdigest()

    def trailer_signature(self, previous: str, trailer_sha256: str) -> str:
        to_sign = "\n".join(
            ["AWS4-HMAC-SHA256-TRAILER", self.amz_date, self.scope, previous, trailer_sha256]
        )
        return hmac.new(self.signing_key, to_sign.encode(), hashlib.sha256).hexdigest()


@dataclass(frozen=True)
class AuthResult:
    principal: Principal | None  # None: an anonymous (unsigned) request
    payload: PayloadMode
    payload_sha256: str | None = None  # lower-case hex when ``payload`` is SHA256
    chunk_signing: ChunkSigning | None = None
    presigned: bool = False


# ---- canonical forms ---------------------------------------------------------------------------
def uri_encode(value: str | bytes, safe: str = "") -> str:
    """AWS's URI encoding: everything but ``A-Za-z0-9-_.~`` (and ``safe``) as %XX, upper hex."""
    return quote(value, safe=safe)


def canonical_uri(raw_path: str) -> str:
    """The path as sent, decoded once and re-encoded (S3 does not normalise ``.``/``//``)."""
    if not raw_path:
        return "/"
    return uri_encode(unquote_to_bytes(raw_path), safe="/")


def canonical_query(query: Sequence[tuple[str, str]], skip: str | None = None) -> str:
    pairs = sorted((uri_encode(k), uri_encode(v)) for k, v in query if k != skip)
    return "&".join(f"{k}={v}" for k, v in pairs)


def canonical_headers(
    headers: CIMultiDictProxy[str] | MultiMapping[str], signed: Sequence[str]
) -> str:
    lines = []
    for name in signed:
        values = headers.getall(name, [])
        value = ",".join(" ".join(v.split()) for v in values)
        lines.append(f"{name}:{value}\n")
    return "".join(lines)


def canonical_request(
    request: RequestView,
    path: str,
    signed_headers: Sequence[str],
    payload_hash: str,
    skip_query: str | None = None,
) -> str:
    return "\n".join(
        [
            request.method,
            path,
            canonical_query(request.query, skip_query),
            canonical_headers(request.headers, signed_headers),
            ";".join(signed_headers),
            payload_hash,
        ]
    )


def string_to_sign(amz_date: str, scope: str, canonical: str) -> str:
    digest = hashlib.sha256(canonical.encode("utf-8", "surrogateescape")).hexdigest()
    return f"{ALGORITHM}\n{amz_date}\n{scope}\n{digest}"


def derive_signing_key(secret: str, date: str, region: str, service: str = "s3") -> bytes:
    key = hmac.new(f"AWS4{secret}".encode(), date.encode(), hashlib.sha256).digest()
    for part in (region, service, "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    return key


@functools.lru_cache(maxsize=256)  # every request of a second carries the same value
def parse_amz_date(value: str) -> float | None:
    if not _AMZ_DATE.match(value):
        return None
    # By hand: time.strptime costs more than the rest of a small request's signature check.
    try:
        fields = (int(value[0:4]), int(value[4:6]), int(value[6:8]))
        clock = (int(value[9:11]), int(value[11:13]), int(value[13:15]))
        datetime.date(*fields)  # a real calendar day, or ValueError
        if not (clock[0] <= 23 and clock[1] <= 59 and clock[2] <= 60):
            return None
        return float(calendar.timegm((*fields, *clock, 0, 0, 0)))
    except ValueError:
        return None


@dataclass(frozen=True)
class _Credential:
    access_key: str
    date: str
    region: str
    service: str
    terminal: str

    @property
    def scope(self) -> str:
        return f"{self.date}/{self.region}/{self.service}/{self.terminal}"


def _parse_payload_mode(value: str) -> tuple[PayloadMode, str | None]:
    if _HEX64.match(value):
        return PayloadMode.SHA256, value.lower()
    for mode in PayloadMode:
        if mode is not PayloadMode.SHA256 and value == mode.value:
            return mode, None
    if value.startswith("STREAMING-AWS4-ECDSA-P256-SHA256-PAYLOAD"):
        raise S3NotImplemented("SigV4a (ECDSA) signing is not implemented")
    raise InvalidArgument(
        "x-amz-content-sha256 must be UNSIGNED-PAYLOAD, STREAMING-UNSIGNED-PAYLOAD-TRAILER, "
        "STREAMING-AWS4-HMAC-SHA256-PAYLOAD, STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER, "
        "or a valid sha256 value.",
        ArgumentName="x-amz-content-sha256",
        ArgumentValue=value,
    )


class SigV4Verifier:
    """Verifies SigV4-signed S3 requests for one region; holds the signing-key cache."""

    def __init__(
        self,
        region: str,
        clock: Callable[[], float] = time.time,
        max_skew: float = MAX_SKEW_SECONDS,
        cache_size: int = 512,
    ) -> None:
        self.region = region
        self.clock = clock
        self.max_skew = max_skew
        self._cache_size = cache_size
        self._keys: OrderedDict[tuple[str, str, str], bytes] = OrderedDict()

    def signing_key(self, secret: str, date: str, region: str) -> bytes:
        cache_key = (secret, date, region)
        key = self._keys.get(cache_key)
        if key is None:
            key = derive_signing_key(secret, date, region)
            self._keys[cache_key] = key
            if len(self._keys) > self._cache_size:
                self._keys.popitem(last=False)
        else:
            self._keys.move_to_end(cache_key)
        return key

    async def authenticate(self, request: RequestView, lookup: CredentialLookup) -> AuthResult:
        header = request.headers.get("authorization")
        names = {k for k, _ in request.query}
        if header is not None and ("X-Amz-Algorithm" in names or "Signature" in names):
            raise InvalidArgument(
                "Only one auth mechanism allowed; only the X-Amz-Algorithm query parameter, "
                "Signature query string parameter or the Authorization header should be "
                "specified",
                ArgumentName="Authorization",
                ArgumentValue=header,
            )
        if header is not None:
            return await self._header_auth(request, header, lookup)
        if "X-Amz-Algorithm" in names:
            return await self._query_auth(request, lookup)
        if "AWSAccessKeyId" in names and "Signature" in names:
            info = await sigv2.verify_query(
                request.method,
                request.raw_path,
                request.query,
                request.headers,
                request.virtual_bucket,
                lookup,
                self.clock(),
            )
            return AuthResult(_principal(info), PayloadMode.UNSIGNED, presigned=True)
        # Anonymous: no principal; ``wormfs.gateway.access`` lets it in where a policy allows.
        return AuthResult(None, PayloadMode.UNSIGNED)

    # ---- Authorization header ----------------------------------------------------------------
    async def _header_auth(
        self, request: RequestView, header: str, lookup: CredentialLookup
    ) -> AuthResult:
        algorithm, _, rest = header.strip().partition(" ")
        if algorithm == "AWS":
            info = await sigv2.verify_header(
                request.method,
                request.raw_path,
                request.query,
                request.headers,
                request.virtual_bucket,
                rest,
                lookup,
                self.clock(),
                self.max_skew,
            )
            return AuthResult(_principal(info), PayloadMode.UNSIGNED)
        if algorithm != ALGORITHM:
            raise AuthorizationHeaderMalformed(
                "The authorization header is malformed; Unsupported Authorization Type",
                Region=self.region,
            )
        parts: dict[str, str] = {}
        for item in rest.split(","):
            name, eq, value = item.strip().partition("=")
            if eq:
                parts[name] = value.strip()
        if not {"Credential", "SignedHeaders", "Signature"} <= parts.keys():
            raise AuthorizationHeaderMalformed(
                "The authorization header is malformed; the authorization header requires "
                "three components: Credential, SignedHeaders, and Signature.",
                Region=self.region,
            )
        amz_date = request.headers.get("x-amz-date")
        if amz_date is None:
            amz_date = self._date_from_date_header(request)
        when = parse_amz_date(amz_date)
        if when is None:
            raise AccessDenied("AWS authentication requires a valid Date or x-amz-date header")
        credential = self._parse_credential(parts["Credential"], amz_date, query=False)
        self._check_skew(when, amz_date)
        content_sha = request.headers.get("x-amz-content-sha256")
        if content_sha is None:
            raise InvalidRequest("Missing required header for this request: x-amz-content-sha256")
        mode, payload_sha = _parse_payload_mode(content_sha.strip())
        signed = self._parse_signed_headers(parts["SignedHeaders"], query=False)
        info = await self._lookup(lookup, credential.access_key)
        key = self.signing_key(info.secret_key, credential.date, credential.region)
        seed = self._verify(
            request, credential, amz_date, signed, content_sha.strip(), parts["Signature"], key
        )
        chunk_signing = None
        if mode.signed_chunks:
            chunk_signing = ChunkSigning(key, amz_date, credential.scope, seed)
        return AuthResult(_principal(info), mode, payload_sha, chunk_signing)

    def _date_from_date_header(self, request: RequestView) -> str:
        # SigV4 allows the Date header instead of x-amz-date; the string to sign still uses
        # the ISO 8601 basic form.
        raw = request.headers.get("date")
        when = parse_http_date(raw) if raw else None
        if when is None:
            raise AccessDenied("AWS authentication requires a valid Date or x-amz-date header")
        return time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(when))

    # ---- presigned query ---------------------------------------------------------------------
    async def _query_auth(self, request: RequestView, lookup: CredentialLookup) -> AuthResult:
        params = dict(request.query)
        if params.get("X-Amz-Algorithm") != ALGORITHM:
            raise AuthorizationQueryParametersError(
                'X-Amz-Algorithm only supports "AWS4-HMAC-SHA256"'
            )
        required = (
            "X-Amz-Credential",
            "X-Amz-Signature",
            "X-Amz-Date",
            "X-Amz-SignedHeaders",
            "X-Amz-Expires",
        )
        if any(name not in params for name in required):
            raise AuthorizationQueryParametersError(
                "Query-string authentication version 4 requires the X-Amz-Algorithm, "
                "X-Amz-Credential, X-Amz-Signature, X-Amz-Date, X-Amz-SignedHeaders, and "
                "X-Amz-Expires parameters."
            )
        amz_date = params["X-Amz-Date"]
        when = parse_amz_date(amz_date)
        if when is None:
            raise AuthorizationQueryParametersError(
                "X-Amz-Date must be in the ISO8601 Long Format \"yyyyMMdd'T'HHmmss'Z'\""
            )
        try:
            expires = int(params["X-Amz-Expires"])
        except ValueError:
            raise AuthorizationQueryParametersError("X-Amz-Expires should be a number") from None
        if expires < 0:
            raise AuthorizationQueryParametersError("X-Amz-Expires must be non-negative")
        if expires > MAX_PRESIGN_EXPIRES:
            raise AuthorizationQueryParametersError(
                "X-Amz-Expires must be less than a week (in seconds) that is 604800"
            )
        credential = self._parse_credential(params["X-Amz-Credential"], amz_date, query=True)
        now = self.clock()
        if now > when + expires:
            raise AccessDenied(
                "Request has expired",
                extra={
                    "X-Amz-Expires": str(expires),
                    "Expires": iso8601(when + expires),
                    "ServerTime": iso8601(now),
                },
            )
        if when > now + self.max_skew:
            raise AccessDenied("Request is not valid yet")
        signed = self._parse_signed_headers(params["X-Amz-SignedHeaders"], query=True)
        # Presigned URLs carry no payload hash unless the signer put one in the query.
        payload_value = params.get("X-Amz-Content-Sha256", UNSIGNED_PAYLOAD)
        mode, payload_sha = _parse_payload_mode(payload_value)
        if mode.chunked:
            raise InvalidRequest("aws-chunked payloads cannot be sent with a presigned URL")
        info = await self._lookup(lookup, credential.access_key)
        key = self.signing_key(info.secret_key, credential.date, credential.region)
        self._verify(
            request,
            credential,
            amz_date,
            signed,
            payload_value,
            params["X-Amz-Signature"],
            key,
            skip_query="X-Amz-Signature",
        )
        return AuthResult(_principal(info), mode, payload_sha, None, presigned=True)

    # ---- shared steps ------------------------------------------------------------------------
    def _parse_credential(self, value: str, amz_date: str, *, query: bool) -> _Credential:
        error = AuthorizationQueryParametersError if query else AuthorizationHeaderMalformed
        pieces = value.split("/")
        if len(pieces) != 5 or not pieces[0]:
            raise error(
                "The authorization header is malformed; the Credential is mal-formed; "
                'expecting "<YOUR-AKID>/YYYYMMDD/REGION/SERVICE/aws4_request".',
                Region=self.region,
            )
        credential = _Credential(*pieces)
        if credential.date != amz_date[:8]:
            raise error(
                "The authorization header is malformed; Invalid credential date. "
                "Date is not the same as X-Amz-Date.",
                Region=self.region,
            )
        if credential.region != self.region:
            raise error(
                f"The authorization header is malformed; the region '{credential.region}' "
                f"is wrong; expecting '{self.region}'",
                Region=self.region,
            )
        if credential.service != "s3":
            raise error(
                "The authorization header is malformed; incorrect service "
                f'"{credential.service}". This endpoint belongs to "s3".',
                Region=self.region,
            )
        if credential.terminal != "aws4_request":
            raise error(
                "The authorization header is malformed; incorrect terminal "
                f'"{credential.terminal}". This endpoint uses "aws4_request".',
                Region=self.region,
            )
        return credential

    def _parse_signed_headers(self, value: str, *, query: bool) -> list[str]:
        names = [n.strip().lower() for n in value.split(";") if n.strip()]
        if "host" not in names:
            error = AuthorizationQueryParametersError if query else AuthorizationHeaderMalformed
            raise error(
                "The authorization header is malformed; SignedHeaders must include host",
                Region=self.region,
            )
        return names

    def _check_skew(self, when: float, amz_date: str) -> None:
        now = self.clock()
        if abs(now - when) > self.max_skew:
            raise RequestTimeTooSkewed(
                RequestTime=amz_date,
                ServerTime=iso8601(now),
                MaxAllowedSkewMilliseconds=int(self.max_skew * 1000),
            )

    @staticmethod
    async def _lookup(lookup: CredentialLookup, access_key: str) -> AccessKeyInfo:
        try:
            return await lookup(access_key)
        except NoSuchAccessKeyError:
            raise InvalidAccessKeyId(AWSAccessKeyId=access_key) from None

    def _verify(
        self,
        request: RequestView,
        credential: _Credential,
        amz_date: str,
        signed: Sequence[str],
        payload_hash: str,
        provided: str,
        key: bytes,
        skip_query: str | None = None,
    ) -> str:
        """Check ``provided`` against the signature of the request; return it when it holds."""
        paths = [canonical_uri(request.raw_path)]
        raw = request.raw_path or "/"
        if raw != paths[0]:
            # A client that signed the path bytes it sent, encoded differently from AWS's
            # unreserved set (e.g. "!" left bare), still names the same resource.
            paths.append(raw)
        first: tuple[str, str] | None = None
        for path in paths:
            canonical = canonical_request(request, path, signed, payload_hash, skip_query)
            to_sign = string_to_sign(amz_date, credential.scope, canonical)
            expected = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
            if hmac.compare_digest(expected.encode(), provided.encode("utf-8", "replace")):
                return provided
            if first is None:
                first = (canonical, to_sign)
        assert first is not None
        raise SignatureDoesNotMatch(
            AWSAccessKeyId=credential.access_key,
            StringToSign=first[1],
            SignatureProvided=provided,
            CanonicalRequest=first[0],
        )


def _principal(info: AccessKeyInfo) -> Principal:
    return Principal(
        user_id=info.user_id, display_name=info.display_name, access_key=info.access_key
    )
