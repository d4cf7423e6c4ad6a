"""SigV4 verification against botocore's own signers and AWS's published examples."""

from __future__ import annotations

import asyncio
import calendar
import time
from urllib.parse import urlsplit

import pytest
from botocore.auth import HmacV1Auth, HmacV1QueryAuth, S3SigV4Auth, S3SigV4QueryAuth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from multidict import CIMultiDict, CIMultiDictProxy

from wormfs.errors import NoSuchAccessKeyError
from wormfs.gateway.errors import (
    AccessDenied,
    AuthorizationHeaderMalformed,
    AuthorizationQueryParametersError,
    InvalidAccessKeyId,
    InvalidArgument,
    InvalidRequest,
    RequestTimeTooSkewed,
    SignatureDoesNotMatch,
)
from wormfs.gateway.router import parse_query, split_target
from wormfs.gateway.sigv4 import (
    ChunkSigning,
    PayloadMode,
    RequestView,
    SigV4Verifier,
    derive_signing_key,
    parse_amz_date,
)
from wormfs.wire.coordinator import AccessKeyInfo

AK, SK = "AKIDEXAMPLE0001", "secret/key+0001"
REGION = "us-east-1"
BASE = "http://127.0.0.1:9000"


async def lookup(access_key: str) -> AccessKeyInfo:
    keys = {
        AK: AccessKeyInfo(AK, SK, "user-1", "alice"),
        "AKIAIOSFODNN7EXAMPLE": AccessKeyInfo(
            "AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", "u", "aws"
        ),
    }
    try:
        return keys[access_key]
    except KeyError:
        raise NoSuchAccessKeyError() from None


def signed(
    method: str,
    url: str,
    body: bytes = b"",
    headers: dict[str, str] | None = None,
    secret: str = SK,
    access_key: str = AK,
) -> AWSRequest:
    request = AWSRequest(method=method, url=url, data=body, headers=headers or {})
    S3SigV4Auth(Credentials(access_key, secret), "s3", REGION).add_auth(request)
    return request


def presigned(method: str, url: str, expires: int = 3600) -> str:
    request = AWSRequest(method=method, url=url)
    S3SigV4QueryAuth(Credentials(AK, SK), "s3", REGION, expires=expires).add_auth(request)
    return str(request.url)


def view(request: AWSRequest | str, method: str = "GET", **replace: str) -> RequestView:
    if isinstance(request, str):
        url, items = request, {}
    else:
        url, items, method = request.url, dict(request.headers.items()), request.method
    parts = urlsplit(url)
    headers: CIMultiDict[str] = CIMultiDict(items)
    headers.setdefault("Host", parts.netloc)
    for name, value in replace.items():
        headers[name.replace("_", "-")] = value
    path, query = split_target(parts.path + ("?" + parts.query if parts.query else ""))
    return RequestView(method, path, parse_query(query), CIMultiDictProxy(headers))


def verify(request_view: RequestView, verifier: SigV4Verifier | None = None):  # type: ignore[no-untyped-def]
    return asyncio.run((verifier or SigV4Verifier(REGION)).authenticate(request_view, lookup))


def test_header_signed_get_verifies() -> None:
    result = verify(view(signed("GET", f"{BASE}/bkt/key?list-type=2&prefix=a%2Fb")))
    assert result.principal.user_id == "user-1"
    assert result.payload is PayloadMode.SHA256
    assert not result.presigned


def test_put_with_body_carries_payload_hash() -> None:
    result = verify(view(signed("PUT", f"{BASE}/bkt/key", body=b"hello")))
    import hashlib

    assert result.payload_sha256 == hashlib.sha256(b"hello").hexdigest()


@pytest.mark.parametrize(
    "key",
    ["a b", "plus+sign", "tilde~x", "quote'paren()", "star*bang!", "üñí©ødé", "a//b/./c", "%41"],
)
def test_odd_keys_verify(key: str) -> None:
    from urllib.parse import quote

    url = f"{BASE}/bkt/{quote(key, safe='/~')}"
    verify(view(signed("GET", url)))


def test_query_values_with_spaces_and_slashes() -> None:
    verify(view(signed("GET", f"{BASE}/bkt?prefix=a%20b%2Fc&delimiter=%2F&encoding-type=url")))


@pytest.mark.parametrize(
    "tamper",
    [
        lambda v: view_with(v, raw_path="/bkt/other"),
        lambda v: view_with(v, query=[("list-type", "1")]),
        lambda v: view_with(v, header=("x-amz-meta-a", "2")),
        lambda v: view_with(v, method="DELETE"),
    ],
)
def test_tampering_is_detected(tamper) -> None:  # type: ignore[no-untyped-def]
    request = signed("PUT", f"{BASE}/bkt/key?list-type=2", headers={"x-amz-meta-a": "1"})
    with pytest.raises(SignatureDoesNotMatch) as info:
        verify(tamper(view(request, "PUT")))
    assert "CanonicalRequest" in info.value.fields
    assert info.value.status == 403


def view_with(
    v: RequestView,
    *,
    raw_path: str | None = None,
    query: list[tuple[str, str]] | None = None,
    header: tuple[str, str] | None = None,
    method: str | None = None,
) -> RequestView:
    headers = CIMultiDict(v.headers)
    if header:
        headers[header[0]] = header[1]
    return RequestView(
        method or v.method,
        raw_path or v.raw_path,
        query if query is not None else v.query,
        CIMultiDictProxy(headers),
    )


def test_wrong_secret_and_unknown_key() -> None:
    with pytest.raises(SignatureDoesNotMatch):
        verify(view(signed("GET", f"{BASE}/bkt", secret="nope")))
    with pytest.raises(InvalidAccessKeyId):
        verify(view(signed("GET", f"{BASE}/bkt", access_key="AKIDUNKNOWN")))


def test_clock_skew() -> None:
    request = view(signed("GET", f"{BASE}/bkt"))
    with pytest.raises(RequestTimeTooSkewed):
        verify(request, SigV4Verifier(REGION, clock=lambda: time.time() + 16 * 60))
    verify(request, SigV4Verifier(REGION, clock=lambda: time.time() + 14 * 60))


def test_missing_content_sha256_header() -> None:
    request = signed("GET", f"{BASE}/bkt")
    del request.headers["X-Amz-Content-SHA256"]
    with pytest.raises(InvalidRequest, match="x-amz-content-sha256"):
        verify(view(request))


def test_bad_content_sha256_value() -> None:
    request = view(signed("GET", f"{BASE}/bkt"), x_amz_content_sha256="nonsense")
    with pytest.raises(InvalidArgument):
        verify(request)


def test_wrong_region_is_malformed() -> None:
    request = AWSRequest(method="GET", url=f"{BASE}/bkt")
    S3SigV4Auth(Credentials(AK, SK), "s3", "eu-west-1").add_auth(request)
    with pytest.raises(AuthorizationHeaderMalformed) as info:
        verify(view(request))
    assert info.value.fields["Region"] == REGION


def test_anonymous_and_double_auth() -> None:
    anonymous = verify(view(f"{BASE}/bkt"))
    assert anonymous.principal is None
    assert anonymous.payload is PayloadMode.UNSIGNED
    url = presigned("GET", f"{BASE}/bkt/key")
    request = signed("GET", url)
    with pytest.raises(InvalidArgument):
        verify(view(request))


# ---- SigV2 (botocore's HmacV1 signers) -------------------------------------------------------
def signed_v2(
    method: str, url: str, headers: dict[str, str] | None = None, secret: str = SK
) -> AWSRequest:
    request = AWSRequest(method=method, url=url, headers=headers or {})
    HmacV1Auth(Credentials(AK, secret)).add_auth(request)
    return request


@pytest.mark.parametrize(
    "target",
    ["/bkt", "/bkt/a%20b?acl", "/bkt/k?uploadId=u%2B1&partNumber=2", "/bkt?list-type=2&prefix=x"],
)
def test_sigv2_header(target: str) -> None:
    request = signed_v2("PUT", BASE + target, {"x-amz-meta-a": "1", "Content-Type": "text/x"})
    result = verify(view(request))
    assert result.principal.user_id == "user-1"
    assert result.payload is PayloadMode.UNSIGNED
    with pytest.raises(SignatureDoesNotMatch) as info:
        verify(view_with(view(request), header=("x-amz-meta-a", "2")))
    assert "StringToSign" in info.value.fields
    with pytest.raises(SignatureDoesNotMatch):
        verify(view(signed_v2("PUT", BASE + target, secret="other")))


def test_sigv2_header_skew() -> None:
    request = view(signed_v2("GET", f"{BASE}/bkt"))
    with pytest.raises(RequestTimeTooSkewed):
        verify(request, SigV4Verifier(REGION, clock=lambda: time.time() + 3600))


def test_sigv2_presigned() -> None:
    request = AWSRequest(method="GET", url=f"{BASE}/bkt/some%20key?response-content-type=a%2Fb")
    HmacV1QueryAuth(Credentials(AK, SK), expires=60).add_auth(request)
    result = verify(view(str(request.url)))
    assert result.presigned
    with pytest.raises(AccessDenied, match="expired"):
        verify(view(str(request.url)), SigV4Verifier(REGION, clock=lambda: time.time() + 120))
    with pytest.raises(SignatureDoesNotMatch):
        verify(view(str(request.url).replace("some%20key", "other")))


def test_sigv2_virtual_host() -> None:
    request = AWSRequest(method="GET", url="http://bkt.s3.test:9000/key")
    request.auth_path = "/bkt/key"
    HmacV1Auth(Credentials(AK, SK)).add_auth(request)
    plain = view(request)
    virtual = RequestView(plain.method, plain.raw_path, plain.query, plain.headers, "bkt")
    assert verify(virtual).principal.user_id == "user-1"


def test_presigned_url_verifies_and_expires() -> None:
    url = presigned("GET", f"{BASE}/bkt/some%20key", expires=60)
    result = verify(view(url))
    assert result.presigned and result.payload is PayloadMode.UNSIGNED
    late = SigV4Verifier(REGION, clock=lambda: time.time() + 120)
    with pytest.raises(AccessDenied, match="Request has expired") as info:
        verify(view(url), late)
    assert "X-Amz-Expires" in info.value.fields


def test_presigned_tampered_and_too_long() -> None:
    url = presigned("GET", f"{BASE}/bkt/key")
    with pytest.raises(SignatureDoesNotMatch):
        verify(view(url.replace("/bkt/key", "/bkt/kez")))
    with pytest.raises(AuthorizationQueryParametersError):
        verify(view(presigned("GET", f"{BASE}/bkt/key", expires=604801)))


def test_aws_documented_get_object_example() -> None:
    """The GET Object example of AWS's "Signature Calculations for the Authorization Header"."""
    headers = CIMultiDict(
        {
            "Host": "examplebucket.s3.amazonaws.com",
            "Range": "bytes=0-9",
            "x-amz-content-sha256": (
                "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
            ),
            "x-amz-date": "20130524T000000Z",
            "Authorization": (
                "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/"
                "aws4_request,SignedHeaders=host;range;x-amz-content-sha256;x-amz-date,"
                "Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41"
            ),
        }
    )
    when = calendar.timegm((2013, 5, 24, 0, 0, 0))
    verifier = SigV4Verifier(REGION, clock=lambda: float(when))
    result = verify(RequestView("GET", "/test.txt", [], CIMultiDictProxy(headers)), verifier)
    assert result.principal.access_key == "AKIAIOSFODNN7EXAMPLE"


def test_aws_documented_chunk_signatures() -> None:
    """Seed and chunk signatures of AWS's "Transferring Payload in Multiple Chunks" example."""
    import hashlib

    key = derive_signing_key("wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", "20130524", REGION)
    seed = "4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9"
    signing = ChunkSigning(key, "20130524T000000Z", "20130524/us-east-1/s3/aws4_request", seed)
    first = signing.chunk_signature(seed, hashlib.sha256(b"a" * 65536).hexdigest())
    assert first == "ad80c730a21e5b8d04586a2213dd63b9a0e99e0e2307b0ade35a65485a288648"
    second = signing.chunk_signature(first, hashlib.sha256(b"a" * 1024).hexdigest())
    assert second == "0055627c9e194cb4542bae2aa5492e3c1575bbb81b612b7d234b86a503ef5497"
    final = signing.chunk_signature(second, hashlib.sha256(b"").hexdigest())
    assert final == "b6c6ea8a5354eaf15b3cb7646744f4275b71ea724fed81ceb9323e279d449df9"


def test_signing_key_cache_is_bounded() -> None:
    verifier = SigV4Verifier(REGION, cache_size=4)
    keys = [verifier.signing_key(f"s{i}", "20250101", REGION) for i in range(10)]
    assert len(set(keys)) == 10
    assert verifier.signing_key("s9", "20250101", REGION) == keys[9]
    assert len(verifier._keys) == 4


@pytest.mark.parametrize(
    "value",
    [
        "20261124T030405Z",
        "20240229T235960Z",  # a leap day and a leap second, as strptime allows
        "20250229T000000Z",  # no such day
        "20260230T000000Z",
        "20261324T030405Z",
        "20261124T240000Z",
        "20261124T236000Z",
        "2026112xT030405Z",
        "20261124T030405",
        "",
    ],
)
def test_parse_amz_date_agrees_with_strptime(value: str) -> None:
    try:
        expected: float | None = float(calendar.timegm(time.strptime(value, "%Y%m%dT%H%M%SZ")))
    except ValueError:
        expected = None
    assert parse_amz_date(value) == expected
