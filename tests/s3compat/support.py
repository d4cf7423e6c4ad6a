"""Shared pieces of the S3 compatibility suite (test support, not installed).

Contract: the coding profile of the suite's clusters (``CODING``: 256 KiB stripes in 2 MiB
segments) and the object sizes that cross each boundary (``SIZES``); ``Target`` (which
endpoint a boto3 client talks to); ``boto3_client``; ``unique`` bucket names; ``outcome`` (the
HTTP status and S3 error code of a call); ``snapshot`` (a bucket's objects and uploads, to
prove that a refused request changed nothing); ``empty_bucket``; ``sign_v4`` / ``send``: raw
SigV4-signed requests (with aws-chunked chunk signatures), written independently of the
gateway's verifier, for requests no SDK would send (tampered, malformed, oversized);
``run_client`` (a client program with a timeout, its output shown on failure), ``write_files``.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import subprocess
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, quote, urlsplit

import boto3
import requests
from botocore.config import Config
from botocore.exceptions import ClientError
from integration.cluster import ACCESS_KEY, SECRET_KEY, Cluster

# 256 KiB stripes in 2 MiB segments: a 17 MiB multipart upload has 8 MiB parts of 4 segments
# of 8 stripes each.
STRIPE = 256 * 1024
SEGMENT = 2 * 1024 * 1024
CODING = f"[coding]\nstripe_size = {STRIPE}\nsegment_size = {SEGMENT}\n"
# Sizes that cross each boundary: empty, one byte, a stripe and a byte, a segment and a few
# bytes, and past the 8 MiB multipart threshold of boto3, aws-cli and minio (5 MiB) and
# s3cmd's 15 MiB.
SIZES = {
    "empty": 0,
    "one-byte": 1,
    "stripe-plus-one": STRIPE + 1,
    "segment-plus-three": SEGMENT + 3,
    "multipart": 17 * 1024 * 1024 + 5,
}
MOTO_KEY = MOTO_SECRET = "testing"
REGION = "us-east-1"


@dataclass(frozen=True)
class Target:
    """Where a client points: WormFS over http or https (``cluster``), or moto (no cluster)."""

    name: str
    cluster: Cluster | None
    moto_url: str = ""

    @property
    def is_moto(self) -> bool:
        return self.cluster is None


def boto3_client(target: Target, **config: Any) -> Any:
    """A boto3 S3 client with default settings (path-style addressing) for ``target``."""
    if target.cluster is not None:
        return target.cluster.s3(**config)
    return boto3.client(
        "s3",
        endpoint_url=target.moto_url,
        aws_access_key_id=MOTO_KEY,
        aws_secret_access_key=MOTO_SECRET,
        region_name=REGION,
        config=Config(s3={"addressing_style": "path"}, **config),
    )


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


def outcome(action: Callable[[], Any]) -> tuple[int, str]:
    """``(HTTP status, S3 error code)`` of a call; ``(status, "")`` when it succeeds."""
    try:
        answer = action()
    except ClientError as exc:
        return exc.response["ResponseMetadata"]["HTTPStatusCode"], exc.response["Error"]["Code"]
    return answer["ResponseMetadata"]["HTTPStatusCode"], ""


def snapshot(s3: Any, bucket: str) -> dict[str, Any]:
    """Everything a refused request must leave as it was: each object's bytes (SHA-256),
    ETag and metadata, and the open multipart uploads."""
    objects: dict[str, tuple[str, str, dict[str, str]]] = {}
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        for item in page.get("Contents", []):
            got = s3.get_object(Bucket=bucket, Key=item["Key"])
            digest = hashlib.sha256(got["Body"].read()).hexdigest()
            objects[item["Key"]] = (digest, got["ETag"], got["Metadata"])
    uploads = sorted(
        (u["Key"], u["UploadId"])
        for u in s3.list_multipart_uploads(Bucket=bucket).get("Uploads", [])
    )
    return {"objects": objects, "uploads": uploads}


def empty_bucket(s3: Any, bucket: str) -> None:
    """Remove every object version and upload of ``bucket``, then the bucket."""
    for upload in s3.list_multipart_uploads(Bucket=bucket).get("Uploads", []):
        s3.abort_multipart_upload(Bucket=bucket, Key=upload["Key"], UploadId=upload["UploadId"])
    # Every version and delete marker (an unversioned bucket's objects are null versions).
    for page in s3.get_paginator("list_object_versions").paginate(Bucket=bucket):
        for item in page.get("Versions", []) + page.get("DeleteMarkers", []):
            s3.delete_object(  # a GOVERNANCE retention yields to the owner's bypass
                Bucket=bucket,
                Key=item["Key"],
                VersionId=item["VersionId"],
                BypassGovernanceRetention=True,
            )
    s3.delete_bucket(Bucket=bucket)


# ---- raw signed requests (written here independently of the gateway's verifier) ----------------
EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()
UNSIGNED = "UNSIGNED-PAYLOAD"


def _uri_encode(value: str) -> str:
    return quote(value, safe="-_.~")


def signing_key(secret: str, date: str, region: str = REGION) -> bytes:
    key = hmac.new(f"AWS4{secret}".encode(), date.encode(), hashlib.sha256).digest()
    for part in (region, "s3", "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    return key


@dataclass(frozen=True)
class Signed:
    """A SigV4-signed request: its headers, and what chains aws-chunked signatures."""

    headers: dict[str, str]
    signature: str
    key: bytes
    amz_date: str
    scope: str

    def chunk_signature(self, previous: str, chunk: bytes) -> str:
        to_sign = "\n".join(
            [
                "AWS4-HMAC-SHA256-PAYLOAD",
                self.amz_date,
                self.scope,
                previous,
                EMPTY_SHA256,
                hashlib.sha256(chunk).hexdigest(),
            ]
        )
        return hmac.new(self.key, to_sign.encode(), hashlib.sha256).hexdigest()


def sign_v4(
    method: str,
    url: str,
    headers: dict[str, str],
    payload_hash: str,
    *,
    access_key: str = ACCESS_KEY,
    secret_key: str = SECRET_KEY,
    when: float | None = None,
) -> Signed:
    """Sign ``method url`` with every given header (plus host, x-amz-date and
    x-amz-content-sha256 = ``payload_hash``) as AWS's SigV4 for S3 does."""
    parts = urlsplit(url)
    amz_date = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(time.time() if when is None else when))
    signed_headers = {k.lower(): v for k, v in headers.items()}
    signed_headers.update(
        {"host": parts.netloc, "x-amz-date": amz_date, "x-amz-content-sha256": payload_hash}
    )
    names = sorted(signed_headers)
    query = sorted(
        (_uri_encode(k), _uri_encode(v)) for k, v in parse_qsl(parts.query, keep_blank_values=True)
    )
    canonical = "\n".join(
        [
            method,
            parts.path or "/",
            "&".join(f"{k}={v}" for k, v in query),
            "".join(f"{n}:{' '.join(signed_headers[n].split())}\n" for n in names),
            ";".join(names),
            payload_hash,
        ]
    )
    scope = f"{amz_date[:8]}/{REGION}/s3/aws4_request"
    to_sign = "\n".join(
        ["AWS4-HMAC-SHA256", amz_date, scope, hashlib.sha256(canonical.encode()).hexdigest()]
    )
    key = signing_key(secret_key, amz_date[:8])
    signature = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
    out = {**headers, "x-amz-date": amz_date, "x-amz-content-sha256": payload_hash}
    out["Authorization"] = (
        f"AWS4-HMAC-SHA256 Credential={access_key}/{scope}, "
        f"SignedHeaders={';'.join(names)}, Signature={signature}"
    )
    return Signed(out, signature, key, amz_date, scope)


def send(
    cluster: Cluster,
    method: str,
    path: str,
    body: bytes = b"",
    headers: dict[str, str] | None = None,
    payload_hash: str | None = None,
    **sign_args: Any,
) -> requests.Response:
    """A signed request to the gateway (payload hash of ``body`` unless given)."""
    url = cluster.s3_url + path
    digest = hashlib.sha256(body).hexdigest() if payload_hash is None else payload_hash
    signed = sign_v4(method, url, dict(headers or {}), digest, **sign_args)
    return requests.request(
        method, url, data=body, headers=signed.headers, timeout=60, verify=cluster.ca_bundle
    )


def error_code(response: requests.Response) -> str:
    """The ``<Code>`` of an S3 error document ("" if the answer has none)."""
    start = response.content.find(b"<Code>")
    end = response.content.find(b"</Code>")
    return response.content[start + 6 : end].decode() if 0 <= start < end else ""


# ---- client programs ---------------------------------------------------------------------------
CLIENT_TIMEOUT = 120.0


def run_client(args: list[str], env: dict[str, str], timeout: float = CLIENT_TIMEOUT) -> str:
    """Run a client program; its output, or a failure showing everything it printed."""
    result = subprocess.run(args, env=env, capture_output=True, text=True, timeout=timeout)
    assert result.returncode == 0, (
        f"{' '.join(args)} exited {result.returncode}\n"
        f"stdout:\n{result.stdout[-5000:]}\nstderr:\n{result.stderr[-5000:]}"
    )
    return result.stdout


def write_files(folder: Path, sizes: dict[str, int]) -> dict[str, str]:
    """One file of random bytes per size (named after it); their SHA-256 by name."""
    folder.mkdir(parents=True, exist_ok=True)
    digests = {}
    for name, size in sizes.items():
        data = os.urandom(size)
        (folder / name).write_bytes(data)
        digests[name] = hashlib.sha256(data).hexdigest()
    return digests


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()
