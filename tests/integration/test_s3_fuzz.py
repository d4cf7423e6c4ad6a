"""Hostile input at the S3 port: a fuzzer over a real gateway process on a real cluster.

Raw bytes over sockets (``integration.s3fuzz``) for what no client would send: request lines,
headers, query strings, SigV4 fields (Authorization header and presigned query); requests
signed with the suite's own signer (``s3compat.support.sign_v4``) for "valid signature,
hostile body": XML documents of every operation that reads one, aws-chunked framing
(signed chunks, and unsigned chunks with trailers), multipart form POSTs. Then slowloris and
stalled-body clients, huge headers and many connections, with the gateway's client timeouts
shortened through its environment (``wormfs.gateway.limits``).

Every answer must be a 4xx with an S3 error document (or 501 ``NotImplemented``), never a 5xx
or a hang; the gateway must stay up, log no error or traceback (the log scan) and keep its
resident memory bounded (measured from ``/proc``, printed). A failure prints what was sent and
what came back; such a case goes, byte for byte, into ``fuzz_corpus/`` (replayed by
``test_corpus_case``).
"""

from __future__ import annotations

import base64
import hashlib
import os
import socket
import time
import zlib
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from integration.cluster import Cluster
from integration.s3fuzz import Exchange, exchange, host_port, load_corpus, rss_bytes, verdict
from s3compat.support import UNSIGNED, sign_v4, unique
from waiting import wait_until

from wormfs.gateway.limits import BODY_TIMEOUT_ENV, IDLE_TIMEOUT_ENV

pytestmark = pytest.mark.integration

CORPUS = Path(__file__).with_name("fuzz_corpus")
IDLE_TIMEOUT = 3.0  # the gateway's, shortened for the test (default 60 s)
BODY_TIMEOUT = 3.0
MEMORY_GROWTH_LIMIT = 150 * 1024 * 1024
# The module's cluster (tests/integration/conftest.py) with the client timeouts shortened.
CLUSTER_EXTRA_ENV = {IDLE_TIMEOUT_ENV: str(IDLE_TIMEOUT), BODY_TIMEOUT_ENV: str(BODY_TIMEOUT)}
# Examples per fuzzer: 500 in `make test` (the module runs in about 40 s); more for a long
# local hunt with WORMFS_FUZZ_EXAMPLES=20000.
FUZZ = settings(
    max_examples=int(os.environ.get("WORMFS_FUZZ_EXAMPLES", "500")),
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


@pytest.fixture(scope="module")
def target(cluster: Cluster) -> dict[str, Any]:
    """A bucket with an object and an open multipart upload, and the gateway's first RSS."""
    s3 = cluster.s3()
    bucket = unique("fuzz")
    s3.create_bucket(Bucket=bucket)
    s3.put_object(Bucket=bucket, Key="obj", Body=b"fuzz target")
    upload = s3.create_multipart_upload(Bucket=bucket, Key="mp")["UploadId"]
    s3.upload_part(Bucket=bucket, Key="mp", UploadId=upload, PartNumber=1, Body=b"part")
    pid = gateway_pid(cluster)
    return {"bucket": bucket, "upload": upload, "rss": rss_bytes(pid), "s3": s3}


def gateway_pid(cluster: Cluster) -> int:
    process = cluster.procs["gateway"].process
    assert process is not None and process.poll() is None, "the gateway is not running"
    return process.pid


def check(cluster: Cluster, answer: Exchange, closed_ok: bool = False) -> None:
    problem = verdict(answer, closed_ok)
    assert not problem, f"{problem}\n{answer.describe()}"
    gateway_pid(cluster)


def raw_request(
    method: bytes,
    target: bytes,
    headers: list[tuple[bytes, bytes]],
    body: bytes = b"",
    version: bytes = b"HTTP/1.1",
) -> bytes:
    lines = [method + b" " + target + b" " + version]
    lines += [name + b": " + value for name, value in headers]
    return b"\r\n".join(lines) + b"\r\n\r\n" + body


def signed_raw(
    cluster: Cluster, method: str, path: str, body: bytes, headers: dict[str, str], payload: str
) -> bytes:
    """``method path`` signed as an SDK would (``payload``: the x-amz-content-sha256)."""
    signed = sign_v4(method, cluster.s3_url + path, dict(headers), payload)
    host = cluster.s3_url.split("://", 1)[1]
    fields = [(b"Host", host.encode())]
    fields += [(k.encode(), v.encode()) for k, v in signed.headers.items()]
    fields.append((b"Content-Length", str(len(body)).encode()))
    return raw_request(method.encode(), path.encode(), fields, body)


# ---- strategies -------------------------------------------------------------------------------
_ANY_BYTES = st.binary(max_size=64)
_TEXT = st.text(max_size=40)
_PRINTABLE = st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=40)
METHODS = st.one_of(
    st.sampled_from([b"GET", b"PUT", b"POST", b"DELETE", b"HEAD", b"OPTIONS", b"PATCH"]),
    st.sampled_from([b"G\x00T", b"", b"get", b"PRI", b"CONNECT", b"TRACE"]),
    st.binary(min_size=1, max_size=12).filter(lambda m: b" " not in m and b"\r" not in m),
)
VERSIONS = st.sampled_from(
    [b"HTTP/1.1", b"HTTP/1.0", b"HTTP/2.0", b"HTTP/1.x", b"HTTP/0.9", b"HTTP/11", b"FOO", b""]
)
QUERY_NAMES = st.sampled_from(
    [
        "uploads", "uploadId", "partNumber", "versionId", "delete", "list-type", "max-keys",
        "continuation-token", "delimiter", "prefix", "encoding-type", "start-after", "marker",
        "max-uploads", "max-parts", "part-number-marker", "acl", "tagging", "location",
        "versioning", "response-content-type", "X-Amz-Algorithm", "X-Amz-Credential",
        "X-Amz-Date", "X-Amz-Expires", "X-Amz-SignedHeaders", "X-Amz-Signature", "Signature",
        "AWSAccessKeyId", "Expires", "x-id", "fetch-owner", "attributes", "",
    ]
)  # fmt: skip
QUERY_VALUES = st.one_of(
    _PRINTABLE,
    st.sampled_from(["%zz", "%ff%fe", "%00", "-1", "99999999999999999999", "1e3", "%", "+"]),
    st.integers(-(2**70), 2**70).map(str),
)


@st.composite
def query_strings(draw: st.DrawFn) -> bytes:
    pairs = draw(st.lists(st.tuples(QUERY_NAMES, QUERY_VALUES, st.booleans()), max_size=6))
    items = [name if bare else f"{name}={value}" for name, value, bare in pairs]
    text = "&".join(items).replace(" ", "%20").replace("#", "%23")
    return text.encode("utf-8", "surrogateescape")


@st.composite
def targets(draw: st.DrawFn, bucket: str) -> bytes:
    path = draw(
        st.sampled_from(["/", f"/{bucket}", f"/{bucket}/obj", f"/{bucket}/mp", "//", "/a/../b"])
    )
    tail = draw(
        st.one_of(
            st.just(""),
            _PRINTABLE.map(lambda t: t.replace(" ", "%20").replace("#", "").replace("?", "")),
            st.sampled_from(["%zz", "%c0%af", "%ff", "/%2e%2e/", "x" * 1100, "%00", "\u00e9"]),
        )
    )
    query = draw(query_strings())
    raw = (path + tail).encode("utf-8", "surrogateescape")
    if draw(st.booleans()):
        raw = draw(st.sampled_from([b"*", b"http://evil/", b"bucket", b"/\x7f", b"/%"])) + raw
    return raw + (b"?" + query if query else b"")


HEADER_NAMES = st.sampled_from(
    [
        b"Authorization", b"x-amz-date", b"Date", b"x-amz-content-sha256", b"Content-MD5",
        b"Range", b"If-Match", b"If-None-Match", b"If-Modified-Since", b"x-amz-copy-source",
        b"x-amz-copy-source-range", b"x-amz-decoded-content-length", b"Content-Encoding",
        b"x-amz-checksum-crc32", b"x-amz-checksum-sha256", b"x-amz-sdk-checksum-algorithm",
        b"x-amz-trailer", b"x-amz-meta-a", b"x-amz-acl", b"x-amz-storage-class",
        b"x-amz-tagging", b"x-amz-metadata-directive", b"Expect", b"Content-Type",
        b"Transfer-Encoding", b"Content-Length", b"Host", b"Connection", b"x-amz-max-parts",
        b"x-amz-object-attributes", b"x-amz-expected-bucket-owner",
    ]
)  # fmt: skip
HEADER_VALUES = st.one_of(
    _PRINTABLE.map(str.encode),
    _ANY_BYTES.filter(lambda v: b"\r" not in v and b"\n" not in v),
    st.sampled_from(
        [
            b"", b"-1", b"abc", b"1, 2", b"bytes=", b"bytes=5-1", b"bytes=-", b"AWS4-HMAC-SHA256",
            b"AWS ", b"100-continue", b"aws-chunked", b"chunked", b"chunked, gzip", b"0x10",
            b"99999999999999999999999", b"STREAMING-AWS4-HMAC-SHA256-PAYLOAD", b"/a/b?x",
            b"STREAMING-UNSIGNED-PAYLOAD-TRAILER", b"UNSIGNED-PAYLOAD", b"\xff\xfe",
        ]
    ),
)  # fmt: skip
_FRAMING = (b"content-length", b"transfer-encoding")


@st.composite
def header_lists(draw: st.DrawFn) -> list[tuple[bytes, bytes]]:
    headers: list[tuple[bytes, bytes]] = []
    if draw(st.integers(0, 9)):
        headers.append((b"Host", b"127.0.0.1"))
    for name, value in draw(st.lists(st.tuples(HEADER_NAMES, HEADER_VALUES), max_size=8)):
        if name.lower() in _FRAMING and value.strip().isdigit() and int(value) > 0:
            continue  # a declared body never sent is a legitimately waiting server
        if name.lower() == b"transfer-encoding" and b"chunked" in value.lower():
            continue  # likewise a chunked body that never ends
        headers.append((name, value))
    raw = draw(st.lists(st.tuples(_ANY_BYTES, _ANY_BYTES), max_size=2))
    headers += [(n, v) for n, v in raw if not ({ord("\r"), ord("\n")} & set(n + v)) and n.strip()]
    return headers


# ---- the fuzzers --------------------------------------------------------------------------------
def test_fuzz_request_line_headers_and_query(cluster: Cluster, target: dict[str, Any]) -> None:
    """Anything in the request line, header section and query: a clean 4xx, never a 5xx."""
    address = host_port(cluster.s3_url)

    @FUZZ
    @given(
        method=METHODS,
        path=targets(target["bucket"]),
        version=VERSIONS,
        headers=header_lists(),
    )
    def case(
        method: bytes, path: bytes, version: bytes, headers: list[tuple[bytes, bytes]]
    ) -> None:
        data = raw_request(method, path, [*headers, (b"Connection", b"close")], b"", version)
        # Bytes that are not HTTP may be dropped without an answer.
        check(cluster, exchange(address, data), closed_ok=True)

    case()


SIGV4_PARTS = st.sampled_from(["Credential", "SignedHeaders", "Signature", "algorithm", "whole"])


def test_fuzz_sigv4_authorization_header(cluster: Cluster, target: dict[str, Any]) -> None:
    """A valid SigV4 header with one field replaced: 400/403 with AWS's codes."""
    address = host_port(cluster.s3_url)
    path = f"/{target['bucket']}/obj"
    signed = sign_v4("GET", cluster.s3_url + path, {}, UNSIGNED)
    auth = signed.headers["Authorization"]
    algorithm, _, rest = auth.partition(" ")
    fields = dict(part.strip().split("=", 1) for part in rest.split(","))

    @FUZZ
    @given(part=SIGV4_PARTS, value=st.one_of(_PRINTABLE, QUERY_VALUES), date=st.booleans())
    def case(part: str, value: str, date: bool) -> None:
        changed = dict(fields)
        if part == "whole":
            header = value
        elif part == "algorithm":
            header = value + " " + ", ".join(f"{k}={v}" for k, v in changed.items())
        else:
            changed[part] = value
            header = algorithm + " " + ", ".join(f"{k}={v}" for k, v in changed.items())
        headers = dict(signed.headers, Authorization=header)
        if date:
            headers["x-amz-date"] = value
        host = cluster.s3_url.split("://", 1)[1]
        fields_ = [(b"Host", host.encode()), (b"Connection", b"close")]
        fields_ += [(k.encode(), v.encode()) for k, v in headers.items()]
        answer = exchange(address, raw_request(b"GET", path.encode(), fields_))
        check(cluster, answer)
        if answer.status != 200:  # a value equal to the real one still signs
            assert 400 <= answer.status < 500, answer.describe()

    case()


PRESIGN_FIELDS = st.sampled_from(
    [
        "X-Amz-Algorithm", "X-Amz-Credential", "X-Amz-Date", "X-Amz-Expires",
        "X-Amz-SignedHeaders", "X-Amz-Signature", "X-Amz-Security-Token",
    ]
)  # fmt: skip


def test_fuzz_sigv4_presigned_query(cluster: Cluster, target: dict[str, Any]) -> None:
    """A presigned URL with one field replaced, dropped or doubled: 400/403, never a 5xx."""
    address = host_port(cluster.s3_url)
    url = target["s3"].generate_presigned_url(
        "get_object", Params={"Bucket": target["bucket"], "Key": "obj"}, ExpiresIn=600
    )
    path, _, query = url.split("://", 1)[1].partition("/")[2].partition("?")
    pairs = [item.split("=", 1) for item in query.split("&")]
    host = cluster.s3_url.split("://", 1)[1].encode()

    @FUZZ
    @given(name=PRESIGN_FIELDS, value=QUERY_VALUES, how=st.sampled_from(["set", "drop", "twice"]))
    def case(name: str, value: str, how: str) -> None:
        items = [(k, v) for k, v in pairs if not (how == "drop" and k == name)]
        if how == "set":
            items = [(k, value if k == name else v) for k, v in items]
        if how == "twice":
            items.append((name, value))
        text = "&".join(f"{k}={v.replace(' ', '%20').replace('#', '%23')}" for k, v in items)
        request = raw_request(
            b"GET", f"/{path}?{text}".encode(), [(b"Host", host), (b"Connection", b"close")]
        )
        answer = exchange(address, request)
        check(cluster, answer)

    case()


# XML documents: a small grammar over the element names the operations read, plus poison.
XML_NAMES = st.sampled_from(
    [
        "CompleteMultipartUpload", "Part", "PartNumber", "ETag", "ChecksumCRC32", "Delete",
        "Object", "Key", "VersionId", "Quiet", "CreateBucketConfiguration",
        "LocationConstraint", "AccessControlPolicy", "Owner", "ID", "AccessControlList",
        "Grant", "Grantee", "Permission", "Bucket", "x", "",
    ]
)  # fmt: skip
XML_POISON = st.sampled_from(
    [
        b'<?xml version="1.0"?><!DOCTYPE d [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;">'
        b"<!ENTITY c \"&b;&b;&b;&b;\">]><Delete>&c;</Delete>",
        b'<!DOCTYPE x SYSTEM "file:///etc/passwd"><x/>',
        b'<?xml version="1.0" encoding="UTF-7"?><x/>',
        b"<" * 5000,
        b"<a>" * 3000 + b"</a>" * 3000,
        b"\xef\xbb\xbf<Delete/>",
        b"\xff\xfe<\x00D\x00/\x00>\x00",
        b"<Delete>" + b"<Object><Key>k</Key></Object>" * 1001 + b"</Delete>",
        b"<CompleteMultipartUpload>"
        + b"<Part><PartNumber>1</PartNumber><ETag>x</ETag></Part>" * 10001
        + b"</CompleteMultipartUpload>",
        b"<Delete><Object><Key>" + b"k" * 2000 + b"</Key></Object></Delete>",
        b"<CompleteMultipartUpload><Part><PartNumber>99999999999999999999999</PartNumber>"
        b"<ETag>x</ETag></Part></CompleteMultipartUpload>",
        b"<CompleteMultipartUpload><Part><PartNumber>-1</PartNumber></Part>"
        b"</CompleteMultipartUpload>",
        b"<Delete><Object><Key>\x00</Key></Object></Delete>",
        b"x" * (1024 * 1024 + 1),
        b"",
    ]
)  # fmt: skip


def xml_elements(depth: int = 3) -> st.SearchStrategy[bytes]:
    leaf = st.one_of(_PRINTABLE, st.sampled_from(["1", "0", "-5", "10001", "&amp;", "]]>", "&x;"]))
    leaves = leaf.map(lambda t: t.replace("<", "&lt;").encode())

    def wrap(children: st.SearchStrategy[bytes]) -> st.SearchStrategy[bytes]:
        return st.tuples(XML_NAMES, st.lists(children, max_size=4)).map(
            lambda t: f"<{t[0]}>".encode() + b"".join(t[1]) + f"</{t[0]}>".encode()
        )

    return st.recursive(leaves, wrap, max_leaves=20)


XML_BODIES = st.one_of(
    xml_elements(),
    XML_POISON,
    st.binary(max_size=200),
    xml_elements().map(lambda b: b[: len(b) // 2]),  # cut short
)


def test_fuzz_signed_xml_bodies(cluster: Cluster, target: dict[str, Any]) -> None:
    """Every operation that reads an XML body, signed properly, with a hostile document."""
    address = host_port(cluster.s3_url)
    bucket, upload = target["bucket"], target["upload"]
    operations = [
        ("POST", f"/{bucket}/mp?uploadId={upload}"),  # CompleteMultipartUpload
        ("POST", f"/{bucket}?delete"),  # DeleteObjects (Content-MD5 added below)
        ("PUT", f"/{unique('fz')}"),  # CreateBucket with a configuration
        ("PUT", f"/{bucket}?acl"),  # PutBucketAcl
        ("PUT", f"/{bucket}/obj?acl"),  # PutObjectAcl
    ]

    @FUZZ
    @given(operation=st.sampled_from(operations), body=XML_BODIES, md5=st.booleans())
    def case(operation: tuple[str, str], body: bytes, md5: bool) -> None:
        method, path = operation
        headers = {"Connection": "close"}
        if md5:
            headers["Content-MD5"] = base64.b64encode(hashlib.md5(body).digest()).decode()
        data = signed_raw(cluster, method, path, body, headers, hashlib.sha256(body).hexdigest())
        answer = exchange(address, data)
        check(cluster, answer)

    case()
    # The upload the documents were aimed at is still there (no malformed one completed it).
    parts = target["s3"].list_parts(Bucket=bucket, Key="mp", UploadId=upload)["Parts"]
    assert [p["PartNumber"] for p in parts] == [1]


CHUNK_MUTATIONS = st.sampled_from(
    [
        "none", "size-garbage", "size-bigger", "size-smaller", "size-negative", "no-crlf",
        "long-header", "bad-signature", "no-final", "trailer-garbage", "trailer-long",
        "decoded-mismatch", "extension-junk", "size-huge",
    ]
)  # fmt: skip


def _frame(chunks: list[tuple[bytes, str]], final: str, trailer: bytes) -> bytes:
    out = b""
    for data, extension in chunks:
        out += f"{len(data):x}{extension}\r\n".encode() + data + b"\r\n"
    return out + final.encode() + b"\r\n" + trailer + b"\r\n"


def _mutate(body: bytes, mutation: str, junk: bytes) -> bytes:
    first_line = body.index(b"\r\n")
    size, rest = body[:first_line], body[first_line:]
    head, _, ext = size.partition(b";")
    ext = b";" + ext if ext else b""
    edits = {
        "size-garbage": lambda: junk.replace(b"\r", b"") + ext + rest,
        "size-bigger": lambda: f"{int(head, 16) + 7:x}".encode() + ext + rest,
        "size-smaller": lambda: f"{max(int(head, 16) - 7, 1):x}".encode() + ext + rest,
        "size-negative": lambda: b"-" + size + rest,
        "size-huge": lambda: b"ffffffffffffffffffff" + ext + rest,
        "no-crlf": lambda: body.replace(b"\r\n", b"\n", 2),
        "long-header": lambda: size + b";x=" + b"a" * 8000 + rest,
        "extension-junk": lambda: head + b";" + junk.replace(b"\r\n", b"") + rest,
        "no-final": lambda: body[: body.rfind(b"0", 0, len(body) - 2)],
        "trailer-garbage": lambda: body[:-2] + junk.replace(b"\r\n", b"") + b"\r\n\r\n",
        "trailer-long": lambda: body[:-2] + b"x-amz-meta-t:" + b"t" * 20000 + b"\r\n\r\n",
    }
    edit = edits.get(mutation)
    return edit() if edit is not None else body


def test_fuzz_aws_chunked_framing(cluster: Cluster, target: dict[str, Any]) -> None:
    """aws-chunked PUTs, signed chunks and unsigned chunks with trailers, framing mangled."""
    address = host_port(cluster.s3_url)
    bucket = target["bucket"]

    @FUZZ
    @given(
        data=st.binary(min_size=0, max_size=3000),
        split=st.integers(1, 3000),
        signed_chunks=st.booleans(),
        mutation=CHUNK_MUTATIONS,
        junk=st.binary(min_size=1, max_size=30),
    )
    def case(data: bytes, split: int, signed_chunks: bool, mutation: str, junk: bytes) -> None:
        path = f"/{bucket}/chunked"
        url = cluster.s3_url + path
        pieces = [data[:split], data[split:]] if data else []
        pieces = [p for p in pieces if p]
        decoded = len(data) + (5 if mutation == "decoded-mismatch" else 0)
        headers = {
            "Content-Encoding": "aws-chunked",
            "x-amz-decoded-content-length": str(decoded),
            "Connection": "close",
        }
        if signed_chunks:
            signed = sign_v4("PUT", url, headers, "STREAMING-AWS4-HMAC-SHA256-PAYLOAD")
            chunks, previous = [], signed.signature
            for piece in pieces:
                previous = signed.chunk_signature(previous, piece)
                chunks.append((piece, f";chunk-signature={previous}"))
            final = f"0;chunk-signature={signed.chunk_signature(previous, b'')}"
            if mutation == "bad-signature" and chunks:
                chunks[0] = (chunks[0][0], ";chunk-signature=" + "0" * 64)
            body = _frame(chunks, final, b"")
        else:
            headers["x-amz-trailer"] = "x-amz-checksum-crc32"
            signed = sign_v4("PUT", url, headers, "STREAMING-UNSIGNED-PAYLOAD-TRAILER")
            crc = base64.b64encode(zlib.crc32(data).to_bytes(4, "big")).decode()
            trailer = f"x-amz-checksum-crc32:{crc}\r\n".encode()
            body = _frame([(p, "") for p in pieces], "0", trailer)
        body = _mutate(body, mutation, junk)
        host = cluster.s3_url.split("://", 1)[1]
        fields = [(b"Host", host.encode()), (b"Content-Length", str(len(body)).encode())]
        fields += [(k.encode(), v.encode()) for k, v in signed.headers.items()]
        answer = exchange(address, raw_request(b"PUT", path.encode(), fields, body))
        check(cluster, answer)

    case()


def test_multipart_form_post_is_refused_cleanly(cluster: Cluster, target: dict[str, Any]) -> None:
    """Browser-form POST uploads (POST Object) without a policy into a bucket no policy opens,
    whole, cut short or broken: a clean 4xx, nothing stored."""
    address = host_port(cluster.s3_url)
    boundary = b"----fuzzboundary"
    form = (
        b"--" + boundary + b'\r\nContent-Disposition: form-data; name="key"\r\n\r\nform-key\r\n'
        b"--" + boundary + b'\r\nContent-Disposition: form-data; name="file"; filename="f"\r\n'
        b"Content-Type: application/octet-stream\r\n\r\nform bytes\r\n--" + boundary + b"--\r\n"
    )
    host = cluster.s3_url.split("://", 1)[1].encode()
    for body in (form, form[: len(form) // 2], b"--" + boundary + b"\r\n" * 500):
        headers = [
            (b"Host", host),
            (b"Content-Type", b"multipart/form-data; boundary=" + boundary),
            (b"Content-Length", str(len(body)).encode()),
            (b"Connection", b"close"),
        ]
        answer = exchange(
            address, raw_request(b"POST", f"/{target['bucket']}".encode(), headers, body)
        )
        check(cluster, answer)
        assert 400 <= answer.status < 500, answer.describe()
    keys = target["s3"].list_objects_v2(Bucket=target["bucket"]).get("Contents", [])
    assert "form-key" not in {k["Key"] for k in keys}


# ---- oversized and slow clients ------------------------------------------------------------------
def test_huge_headers(cluster: Cluster, target: dict[str, Any]) -> None:
    """Header sections past the limits: 400 (XML up to the HTTP layer's limits), closed."""
    address = host_port(cluster.s3_url)
    path = f"/{target['bucket']}/obj".encode()
    host = (b"Host", b"127.0.0.1")
    cases = {
        # Over AWS's 8 KiB section, within the HTTP layer's: S3's own XML answer.
        "section": ([host, *[(f"x-amz-meta-{i}".encode(), b"v" * 400) for i in range(30)]], True),
        "one-16KiB-header": ([host, (b"x-amz-meta-big", b"b" * 16_500)], False),
        "one-1MiB-header": ([host, (b"x-amz-meta-big", b"b" * (1024 * 1024))], False),
        "10000-headers": ([host, *[(f"x-h{i}".encode(), b"1") for i in range(10_000)]], False),
    }
    for name, (headers, s3_answer) in cases.items():
        answer = exchange(address, raw_request(b"GET", path, headers))
        check(cluster, answer)
        assert answer.status == 400, f"{name}: {answer.describe()}"
        if s3_answer:
            assert answer.code == "RequestHeaderSectionTooLarge", answer.describe()
    long_line = raw_request(b"GET", b"/" + b"a" * (1024 * 1024), [host])
    answer = exchange(address, long_line)
    check(cluster, answer)
    assert answer.status == 400, answer.describe()
    # A header section that never ends, 32 MiB of it: refused at the limit, memory bounded.
    endless = [b"GET / HTTP/1.1\r\nx-a: "] + [b"a" * 65536] * 512
    answer = exchange(address, endless)
    check(cluster, answer, closed_ok=True)
    assert rss_bytes(gateway_pid(cluster)) - target["rss"] < MEMORY_GROWTH_LIMIT


def _open(address: tuple[str, int], first: bytes) -> socket.socket:
    sock = socket.create_connection(address, timeout=10)
    if first:
        sock.sendall(first)
    sock.setblocking(False)
    return sock


def _closed_by_server(sock: socket.socket) -> bool:
    try:
        data = sock.recv(65536)
    except BlockingIOError:
        return False
    except OSError:
        return True
    return data == b"" or data.startswith(b"HTTP/")


def test_slowloris_and_idle_connections_are_closed(
    cluster: Cluster, target: dict[str, Any]
) -> None:
    """Connections trickling a header section (or sending nothing) are closed after the idle
    timeout, however often they send a byte; the port serves others meanwhile."""
    address = host_port(cluster.s3_url)
    slow = [_open(address, b"GET / HTTP/1.1\r\nHost: x\r\n") for _ in range(40)]
    idle = [_open(address, b"") for _ in range(40)]
    started = time.monotonic()
    try:
        # Others are served while those connections are open.
        assert target["s3"].head_object(Bucket=target["bucket"], Key="obj")["ContentLength"] == 11
        open_slow = list(slow)

        def all_closed() -> bool:
            for sock in list(open_slow):
                if _closed_by_server(sock):
                    open_slow.remove(sock)
                    continue
                try:
                    sock.send(b"x")  # one more byte of a header that never ends
                except OSError:
                    open_slow.remove(sock)
            return not open_slow and all(_closed_by_server(s) for s in idle)

        wait_until(all_closed, IDLE_TIMEOUT + 20, interval=0.5, message="slow clients closed")
        elapsed = time.monotonic() - started
        assert elapsed >= IDLE_TIMEOUT - 0.5, f"closed after {elapsed:.1f} s, before the timeout"
    finally:
        for sock in slow + idle:
            sock.close()


def test_stalled_body_is_answered_request_timeout(cluster: Cluster, target: dict[str, Any]) -> None:
    """A signed PUT whose body stops coming: 400 RequestTimeout after the body timeout, the
    connection closed, nothing stored."""
    address = host_port(cluster.s3_url)
    path = f"/{target['bucket']}/stalled"
    signed = sign_v4("PUT", cluster.s3_url + path, {}, UNSIGNED)
    host = cluster.s3_url.split("://", 1)[1].encode()
    fields = [(b"Host", host), (b"Content-Length", b"100000")]
    fields += [(k.encode(), v.encode()) for k, v in signed.headers.items()]
    request = raw_request(b"PUT", path.encode(), fields, b"only a little of the body")
    answer = exchange(address, request, timeout=BODY_TIMEOUT + 20)
    check(cluster, answer)
    assert (answer.status, answer.code) == (400, "RequestTimeout"), answer.describe()
    assert answer.closed or answer.headers.get("connection", "").lower() == "close"
    assert answer.seconds >= BODY_TIMEOUT - 0.5, answer.describe()
    listed = target["s3"].list_objects_v2(Bucket=target["bucket"], Prefix="stalled")
    assert listed["KeyCount"] == 0


def test_slow_body_within_the_timeout_is_stored(cluster: Cluster, target: dict[str, Any]) -> None:
    """A slow client that keeps sending (each piece within the body timeout) is served."""
    address = host_port(cluster.s3_url)
    path = f"/{target['bucket']}/slow"
    body = b"0123456789" * 4
    signed = sign_v4("PUT", cluster.s3_url + path, {}, hashlib.sha256(body).hexdigest())
    host = cluster.s3_url.split("://", 1)[1].encode()
    fields = [(b"Host", host), (b"Content-Length", str(len(body)).encode())]
    fields += [(k.encode(), v.encode()) for k, v in signed.headers.items()]
    head = raw_request(b"PUT", path.encode(), fields)
    pieces = [head] + [body[i : i + 10] for i in range(0, len(body), 10)]
    answer = exchange(address, pieces, timeout=60, pause=BODY_TIMEOUT / 3)
    assert answer.status == 200, answer.describe()
    got = target["s3"].get_object(Bucket=target["bucket"], Key="slow")["Body"].read()
    assert got == body


def test_many_connections(cluster: Cluster, target: dict[str, Any]) -> None:
    """1000 open connections at once: requests on others are still answered, memory bounded."""
    address = host_port(cluster.s3_url)
    before = rss_bytes(gateway_pid(cluster))
    socks = [_open(address, b"") for _ in range(1000)]
    try:
        for _ in range(5):
            got = target["s3"].get_object(Bucket=target["bucket"], Key="obj")["Body"].read()
            assert got == b"fuzz target"
        during = rss_bytes(gateway_pid(cluster))
        print(
            f"gateway RSS: {before / 2**20:.1f} MiB, with 1000 connections {during / 2**20:.1f} MiB"
        )
        assert during - before < MEMORY_GROWTH_LIMIT
    finally:
        for sock in socks:
            sock.close()


def test_memory_stays_bounded(cluster: Cluster, target: dict[str, Any]) -> None:
    """After every fuzzer above, the gateway's RSS grew by less than the limit (printed)."""
    now = rss_bytes(gateway_pid(cluster))
    print(f"gateway RSS: first {target['rss'] / 2**20:.1f} MiB, now {now / 2**20:.1f} MiB")
    assert now - target["rss"] < MEMORY_GROWTH_LIMIT


# ---- the corpus of found cases ------------------------------------------------------------------
def corpus_request(cluster: Cluster, target: dict[str, Any], raw: bytes) -> bytes:
    """A corpus file as bytes to send: ``{bucket}``, ``{upload}``, ``{host}`` filled in and,
    when it names ``x-fuzz-sign: 1``, signed (that header dropped, Content-Length set)."""
    host = cluster.s3_url.split("://", 1)[1]
    for name, value in (("bucket", target["bucket"]), ("upload", target["upload"]), ("host", host)):
        raw = raw.replace(b"{" + name.encode() + b"}", value.encode())
    head, _, body = raw.partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    if b"x-fuzz-sign: 1" not in (line.lower() for line in lines):
        return raw
    method, path, _ = lines[0].decode().split(" ", 2)
    headers = {}
    for line in lines[1:]:
        name, _, value = line.decode().partition(":")
        if name.lower() not in ("x-fuzz-sign", "host", "content-length"):
            headers[name] = value.strip()
    return signed_raw(cluster, method, path, body, headers, hashlib.sha256(body).hexdigest())


@pytest.mark.parametrize("name", [name for name, _ in load_corpus(CORPUS)])
def test_corpus_case(cluster: Cluster, target: dict[str, Any], name: str) -> None:
    """Each case the fuzzer found, replayed: a clean 4xx now."""
    raw = dict(load_corpus(CORPUS))[name]
    answer = exchange(host_port(cluster.s3_url), corpus_request(cluster, target, raw))
    check(cluster, answer)
    assert 400 <= answer.status < 500, answer.describe()


def test_documented_limits_hold(cluster: Cluster, target: dict[str, Any]) -> None:
    """The numbers of docs/s3-compatibility.md "Limits", at and just past each, on the wire."""
    address = host_port(cluster.s3_url)
    bucket, upload = target["bucket"], target["upload"]

    def send(method: str, path: str, body: bytes, md5: bool = False) -> Exchange:
        headers = {"Connection": "close"}
        if md5:
            headers["Content-MD5"] = base64.b64encode(hashlib.md5(body).digest()).decode()
        digest = hashlib.sha256(body).hexdigest()
        return exchange(address, signed_raw(cluster, method, path, body, headers, digest))

    def delete(count: int) -> bytes:
        keys = b"".join(b"<Object><Key>gone-%d</Key></Object>" % i for i in range(count))
        return b"<Delete><Quiet>true</Quiet>" + keys + b"</Delete>"

    assert send("POST", f"/{bucket}?delete", delete(1000), md5=True).status == 200
    answer = send("POST", f"/{bucket}?delete", delete(1001), md5=True)
    assert (answer.status, answer.code) == (400, "MalformedXML"), answer.describe()
    answer = send("POST", f"/{bucket}?delete", b" " * (1024 * 1024 + 1), md5=True)
    assert (answer.status, answer.code) == (400, "MaxMessageLengthExceeded"), answer.describe()
    part = f"/{bucket}/mp?uploadId={upload}&partNumber="
    assert send("PUT", part + "10000", b"last part").status == 200
    answer = send("PUT", part + "10001", b"one too many")
    assert (answer.status, answer.code) == (400, "InvalidArgument"), answer.describe()
    target["s3"].abort_multipart_upload(Bucket=bucket, Key="mp", UploadId=upload)
    target["upload"] = target["s3"].create_multipart_upload(Bucket=bucket, Key="mp")["UploadId"]
