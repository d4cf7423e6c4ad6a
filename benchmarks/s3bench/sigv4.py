"""Benchmark client, signing: a small AWS Signature Version 4 signer for S3 header auth.

Signs one request as the ``Authorization`` header (``AWS4-HMAC-SHA256``) over the method, the
path, the query, and the three headers ``host``, ``x-amz-content-sha256`` and ``x-amz-date``.
The payload is never hashed: every request says ``UNSIGNED-PAYLOAD`` (AWS allows it for S3;
the benchmark sends the same to every store, so no store pays for a hash the others skip).
The signing key depends only on the secret, the date, the region and the service, so it is
derived once per day and kept.

Reference: AWS "Signature Version 4 signing process" (canonical request, string to sign,
signing key); S3 encodes the path once (each byte outside ``A-Z a-z 0-9 - _ . ~`` and ``/``
as ``%XX``) and sorts the query by encoded name, then value.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from urllib.parse import quote

ALGORITHM = "AWS4-HMAC-SHA256"
UNSIGNED_PAYLOAD = "UNSIGNED-PAYLOAD"
UNRESERVED = "-_.~"


def encode_path(path: str) -> str:
    """The path as S3 wants it on the wire and in the canonical request (``/`` kept)."""
    return quote(path, safe="/" + UNRESERVED)


def canonical_query(query: Iterable[tuple[str, str]]) -> str:
    """Encoded ``name=value`` pairs sorted by name, then value, joined with ``&``."""
    pairs = sorted((quote(k, safe=UNRESERVED), quote(v, safe=UNRESERVED)) for k, v in query)
    return "&".join(f"{k}={v}" for k, v in pairs)


def _hmac(key: bytes, msg: str) -> bytes:
    return hmac.new(key, msg.encode(), hashlib.sha256).digest()


@dataclass
class SigV4Signer:
    """Signs S3 requests for one access key in one region."""

    access_key: str
    secret_key: str
    region: str = "us-east-1"
    service: str = "s3"
    _keys: dict[str, bytes] = field(default_factory=dict, repr=False)

    def signing_key(self, date: str) -> bytes:
        """``HMAC(HMAC(HMAC(HMAC("AWS4" + secret, date), region), service), "aws4_request")``."""
        key = self._keys.get(date)
        if key is None:
            key = _hmac(("AWS4" + self.secret_key).encode(), date)
            for part in (self.region, self.service, "aws4_request"):
                key = _hmac(key, part)
            self._keys = {date: key}  # one day at a time is enough
        return key

    def sign(
        self,
        method: str,
        host: str,
        encoded_path: str,
        query: str = "",
        now: float | None = None,
    ) -> dict[str, str]:
        """Headers to send with the request (``Host`` is left to the HTTP client).

        ``encoded_path`` is the path exactly as it goes on the wire (see ``encode_path``);
        ``query`` is the canonical query (see ``canonical_query``), sent as is too, so that
        what is signed is what is sent. ``host`` is the ``Host`` header the client will send
        (``127.0.0.1:9000``: with the port unless it is the scheme's default).
        """
        amz_date = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(now))
        date = amz_date[:8]
        canonical_headers = (
            f"host:{host}\nx-amz-content-sha256:{UNSIGNED_PAYLOAD}\nx-amz-date:{amz_date}\n"
        )
        signed_headers = "host;x-amz-content-sha256;x-amz-date"
        canonical_request = "\n".join(
            (method, encoded_path, query, canonical_headers, signed_headers, UNSIGNED_PAYLOAD)
        )
        scope = f"{date}/{self.region}/{self.service}/aws4_request"
        string_to_sign = "\n".join(
            (ALGORITHM, amz_date, scope, hashlib.sha256(canonical_request.encode()).hexdigest())
        )
        signature = hmac.new(
            self.signing_key(date), string_to_sign.encode(), hashlib.sha256
        ).hexdigest()
        return {
            "x-amz-content-sha256": UNSIGNED_PAYLOAD,
            "x-amz-date": amz_date,
            "Authorization": (
                f"{ALGORITHM} Credential={self.access_key}/{scope}, "
                f"SignedHeaders={signed_headers}, Signature={signature}"
            ),
        }
