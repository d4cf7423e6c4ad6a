"""Request bodies: aws-chunked decoding (signed, signed with trailer, unsigned trailer) and
plain bodies with a payload hash."""

from __future__ import annotations

import asyncio
import calendar
import hashlib
import io
import random

import pytest
from botocore.httpchecksum import AwsChunkedWrapper, Crc32Checksum
from multidict import CIMultiDict, CIMultiDictProxy

from wormfs.errors import IncompleteBodyError, NoSuchAccessKeyError
from wormfs.format.checksums import checksum_b64
from wormfs.gateway.body import AwsChunkedBody, PlainBody
from wormfs.gateway.errors import (
    InvalidRequest,
    MalformedTrailerError,
    SignatureDoesNotMatch,
    XAmzContentSHA256Mismatch,
)
from wormfs.gateway.sigv4 import (
    ChunkSigning,
    PayloadMode,
    RequestView,
    SigV4Verifier,
    derive_signing_key,
)
from wormfs.wire.coordinator import AccessKeyInfo

AWS_SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
SCOPE = "20130524/us-east-1/s3/aws4_request"
AMZ_DATE = "20130524T000000Z"
SEED = "4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9"


class Source:
    """``readany()`` over bytes cut at random places (network reads never align to chunks)."""

    def __init__(self, data: bytes, seed: int = 1, max_piece: int = 70000) -> None:
        rng = random.Random(seed)
        self.pieces: list[bytes] = []
        offset = 0
        while offset < len(data):
            size = rng.randint(1, max_piece)
            self.pieces.append(data[offset : offset + size])
            offset += size

    async def readany(self) -> bytes:
        return self.pieces.pop(0) if self.pieces else b""


async def drain(body: AwsChunkedBody | PlainBody) -> bytes:
    out = []
    while True:
        piece = await body.read()
        if not piece:
            return b"".join(out)
        assert len(piece) <= 1024 * 1024
        out.append(piece)


def signing() -> ChunkSigning:
    return ChunkSigning(
        derive_signing_key(AWS_SECRET, "20130524", "us-east-1"), AMZ_DATE, SCOPE, SEED
    )


def encode_signed(
    chunks: list[bytes],
    trailers: list[tuple[str, str]] | None = None,
    lf_trailers: bool = False,
    tamper_chunk: int | None = None,
    tamper_trailer: bool = False,
) -> bytes:
    """An aws-chunked body signed as AWS specifies (a test-side signer)."""
    sign = signing()
    previous = SEED
    out = io.BytesIO()
    for index, chunk in enumerate([*chunks, b""]):
        signature = sign.chunk_signature(previous, hashlib.sha256(chunk).hexdigest())
        previous = signature
        if index == tamper_chunk:
            signature = "0" * 64
        out.write(b"%x;chunk-signature=%s\r\n" % (len(chunk), signature.encode()))
        if chunk or trailers is None:
            out.write(chunk + b"\r\n")
    if trailers is not None:
        canonical = "".join(f"{k}:{v}\n" for k, v in trailers).encode()
        signature = sign.trailer_signature(previous, hashlib.sha256(canonical).hexdigest())
        if tamper_trailer:
            signature = "f" * 64
        end = b"\n" if lf_trailers else b"\r\n"  # minio-go ends trailer lines with a bare LF
        for name, value in trailers:
            out.write(f"{name}:{value}".encode() + end)
        out.write(b"\r\n" if lf_trailers else b"")
        out.write(b"x-amz-trailer-signature:" + signature.encode() + b"\r\n\r\n")
    return out.getvalue()


def chunked(
    data: bytes, decoded: int, mode: PayloadMode, trailers: tuple[str, ...] = ()
) -> AwsChunkedBody:
    sign = signing() if mode.signed_chunks else None
    return AwsChunkedBody(Source(data), decoded, mode, sign, trailers)


# ---- AWS's published example -------------------------------------------------------------------
def test_aws_documented_streaming_example() -> None:
    """AWS's chunked PUT example: 66560 bytes of "a" in chunks of 64 KiB and 1 KiB."""
    headers = CIMultiDict(
        {
            "Host": "s3.amazonaws.com",
            "x-amz-date": AMZ_DATE,
            "x-amz-storage-class": "REDUCED_REDUNDANCY",
            "x-amz-content-sha256": "STREAMING-AWS4-HMAC-SHA256-PAYLOAD",
            "Content-Encoding": "aws-chunked",
            "x-amz-decoded-content-length": "66560",
            "Content-Length": "66824",
            "Authorization": (
                "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/"
                "aws4_request,SignedHeaders=content-encoding;content-length;host;"
                "x-amz-content-sha256;x-amz-date;x-amz-decoded-content-length;"
                "x-amz-storage-class,Signature=" + SEED
            ),
        }
    )

    async def lookup(access_key: str) -> AccessKeyInfo:
        if access_key != "AKIAIOSFODNN7EXAMPLE":
            raise NoSuchAccessKeyError()
        return AccessKeyInfo(access_key, AWS_SECRET, "u", "aws")

    when = float(calendar.timegm((2013, 5, 24, 0, 0, 0)))
    verifier = SigV4Verifier("us-east-1", clock=lambda: when)
    view = RequestView("PUT", "/examplebucket/chunkObject.txt", [], CIMultiDictProxy(headers))
    auth = asyncio.run(verifier.authenticate(view, lookup))
    assert auth.payload is PayloadMode.STREAMING_SIGNED
    assert auth.chunk_signing is not None and auth.chunk_signing.seed_signature == SEED

    signatures = [
        b"ad80c730a21e5b8d04586a2213dd63b9a0e99e0e2307b0ade35a65485a288648",
        b"0055627c9e194cb4542bae2aa5492e3c1575bbb81b612b7d234b86a503ef5497",
        b"b6c6ea8a5354eaf15b3cb7646744f4275b71ea724fed81ceb9323e279d449df9",
    ]
    wire = (
        b"10000;chunk-signature=" + signatures[0] + b"\r\n" + b"a" * 65536 + b"\r\n"
        b"400;chunk-signature=" + signatures[1] + b"\r\n" + b"a" * 1024 + b"\r\n"
        b"0;chunk-signature=" + signatures[2] + b"\r\n\r\n"
    )
    assert len(wire) == 66824
    body = AwsChunkedBody(Source(wire), 66560, auth.payload, auth.chunk_signing)
    assert asyncio.run(drain(body)) == b"a" * 66560
    assert body.trailing_checksums() == {}


# ---- signed ------------------------------------------------------------------------------------
@pytest.mark.parametrize("sizes", [[], [1], [8192, 8192, 5], [3 * 1024 * 1024 + 7, 10]])
def test_signed_chunks_round_trip(sizes: list[int]) -> None:
    chunks = [bytes([i % 251]) * n for i, n in enumerate(sizes)]
    wire = encode_signed(chunks)
    data = asyncio.run(drain(chunked(wire, sum(sizes), PayloadMode.STREAMING_SIGNED)))
    assert data == b"".join(chunks)


def test_bad_chunk_signature() -> None:
    wire = encode_signed([b"x" * 9000, b"y" * 10], tamper_chunk=1)
    with pytest.raises(SignatureDoesNotMatch):
        asyncio.run(drain(chunked(wire, 9010, PayloadMode.STREAMING_SIGNED)))


def test_bad_final_chunk_signature_fails_before_the_last_piece() -> None:
    wire = encode_signed([b"x" * 100], tamper_chunk=1)
    body = chunked(wire, 100, PayloadMode.STREAMING_SIGNED)
    with pytest.raises(SignatureDoesNotMatch):
        asyncio.run(body.read())  # the only data piece is withheld


def test_missing_chunk_signature() -> None:
    wire = b"5\r\nhello\r\n0\r\n\r\n"
    with pytest.raises(InvalidRequest):
        asyncio.run(drain(chunked(wire, 5, PayloadMode.STREAMING_SIGNED)))


@pytest.mark.parametrize("lf_trailers", [False, True])
def test_signed_trailer(lf_trailers: bool) -> None:
    data = b"hello world" * 1000
    crc = checksum_b64("CRC32C", data)
    wire = encode_signed([data], [("x-amz-checksum-crc32c", crc)], lf_trailers=lf_trailers)
    body = chunked(
        wire, len(data), PayloadMode.STREAMING_SIGNED_TRAILER, ("x-amz-checksum-crc32c",)
    )
    assert asyncio.run(drain(body)) == data
    assert body.trailing_checksums() == {"crc32c": crc}


def test_bad_trailer_signature() -> None:
    wire = encode_signed([b"abc"], [("x-amz-checksum-crc32", "NSRBwg==")], tamper_trailer=True)
    with pytest.raises(SignatureDoesNotMatch):
        asyncio.run(drain(chunked(wire, 3, PayloadMode.STREAMING_SIGNED_TRAILER)))


def test_tampered_trailer_value() -> None:
    wire = encode_signed([b"abc"], [("x-amz-checksum-crc32", "NSRBwg==")])
    wire = wire.replace(b"NSRBwg==", b"AAAAAA==")
    with pytest.raises(SignatureDoesNotMatch):
        asyncio.run(drain(chunked(wire, 3, PayloadMode.STREAMING_SIGNED_TRAILER)))


def test_missing_trailer_signature() -> None:
    wire = encode_signed([b"abc"]).replace(b"0;", b"0;", 1)
    body = chunked(wire, 3, PayloadMode.STREAMING_SIGNED_TRAILER)
    with pytest.raises(MalformedTrailerError):
        asyncio.run(drain(body))


# ---- unsigned trailer (botocore's own encoder) -------------------------------------------------
def botocore_chunked(data: bytes, chunk_size: int = 65536) -> bytes:
    wrapper = AwsChunkedWrapper(
        io.BytesIO(data), Crc32Checksum, "x-amz-checksum-crc32", chunk_size=chunk_size
    )
    return wrapper.read()


@pytest.mark.parametrize("size", [0, 1, 65536, 200_001])
def test_unsigned_trailer_from_botocore(size: int) -> None:
    data = random.Random(size).randbytes(size)
    body = chunked(
        botocore_chunked(data),
        size,
        PayloadMode.STREAMING_UNSIGNED_TRAILER,
        ("x-amz-checksum-crc32",),
    )
    assert asyncio.run(drain(body)) == data
    assert body.trailing_checksums() == {"crc32": checksum_b64("CRC32", data)}


def test_announced_trailer_missing() -> None:
    wire = b"3\r\nabc\r\n0\r\n\r\n"
    body = chunked(wire, 3, PayloadMode.STREAMING_UNSIGNED_TRAILER, ("x-amz-checksum-crc32",))
    with pytest.raises(MalformedTrailerError):
        asyncio.run(drain(body))


# ---- framing and lengths -----------------------------------------------------------------------
def test_truncated_body() -> None:
    wire = botocore_chunked(b"x" * 100_000)
    for cut in (3, 70_000, len(wire) - 5):
        with pytest.raises((IncompleteBodyError, MalformedTrailerError)):
            asyncio.run(drain(chunked(wire[:cut], 100_000, PayloadMode.STREAMING_UNSIGNED_TRAILER)))


@pytest.mark.parametrize("declared", [99_999, 100_001, 0])
def test_wrong_decoded_length(declared: int) -> None:
    wire = botocore_chunked(b"x" * 100_000)
    with pytest.raises(IncompleteBodyError):
        asyncio.run(drain(chunked(wire, declared, PayloadMode.STREAMING_UNSIGNED_TRAILER)))


def test_oversized_chunk_header() -> None:
    wire = b"5;" + b"x" * 5000 + b"\r\nhello\r\n0\r\n\r\n"
    with pytest.raises(InvalidRequest, match="too long"):
        asyncio.run(drain(chunked(wire, 5, PayloadMode.STREAMING_UNSIGNED_TRAILER)))


@pytest.mark.parametrize("header", [b"zz", b"", b"-5", b"1" * 20])
def test_bad_chunk_size(header: bytes) -> None:
    wire = header + b"\r\nhello\r\n0\r\n\r\n"
    with pytest.raises((InvalidRequest, IncompleteBodyError)):
        asyncio.run(drain(chunked(wire, 5, PayloadMode.STREAMING_UNSIGNED_TRAILER)))


def test_chunk_without_crlf() -> None:
    wire = b"5\r\nhelloXX0\r\n\r\n"
    with pytest.raises(InvalidRequest):
        asyncio.run(drain(chunked(wire, 5, PayloadMode.STREAMING_UNSIGNED_TRAILER)))


def test_oversized_trailer_section() -> None:
    wire = b"3\r\nabc\r\n0\r\n" + b"x-amz-meta-junk:" + b"y" * 20000 + b"\r\n\r\n"
    with pytest.raises(MalformedTrailerError):
        asyncio.run(drain(chunked(wire, 3, PayloadMode.STREAMING_UNSIGNED_TRAILER)))


# ---- plain bodies ------------------------------------------------------------------------------
def test_plain_body_exact_length_and_hash() -> None:
    data = random.Random(7).randbytes(3 * 1024 * 1024 + 11)
    body = PlainBody(Source(data, max_piece=2_500_000), len(data), hashlib.sha256(data).hexdigest())
    assert asyncio.run(drain(body)) == data


def test_plain_body_hash_mismatch_withholds_last_piece() -> None:
    data = b"z" * 5000
    source = Source(b"")
    source.pieces = [data[:4000], data[4000:]]
    body = PlainBody(source, len(data), hashlib.sha256(b"other").hexdigest())
    assert asyncio.run(body.read()) == data[:4000]
    with pytest.raises(XAmzContentSHA256Mismatch):
        asyncio.run(body.read())  # the last 1000 bytes are withheld


def test_plain_body_short() -> None:
    body = PlainBody(Source(b"abc"), 10)
    with pytest.raises(IncompleteBodyError):
        asyncio.run(drain(body))


def test_plain_body_without_length_and_first_read_hook() -> None:
    calls: list[str] = []

    async def before() -> None:
        calls.append("continue")

    body = PlainBody(Source(b"abcdef"), None, None, before)
    assert calls == []
    assert asyncio.run(drain(body)) == b"abcdef"
    assert calls == ["continue"]
