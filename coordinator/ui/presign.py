"""Short-lived presigned S3 URLs, so the UI's object browser downloads through the gateway.

Layer: coordinator UI (pure: no I/O). Contract:

* ``presign(method, endpoint, bucket, key, access_key, secret_key, now, expires)`` answers
  the URL of a SigV4 query-signed request (AWS "Authenticating requests: using query
  parameters"): path-style ``endpoint/bucket/key``, region ``us-east-1``, payload
  ``UNSIGNED-PAYLOAD``, only the ``host`` header signed, valid ``expires`` seconds from
  ``now``. Any SigV4 verifier (the gateway's, AWS's) accepts it within that window.

Why presigned URLs: the coordinator has no data plane, and the bytes of an object must not
pass through it; the browser fetches them from the gateway itself with a link that is good
for a minute and for that one object and method only.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from urllib.parse import quote, urlsplit

REGION = "us-east-1"
UNRESERVED = "-_.~"


def _q(value: str) -> str:
    return quote(value, safe=UNRESERVED)


def _hmac(key: bytes, text: str) -> bytes:
    return hmac.new(key, text.encode(), hashlib.sha256).digest()


def presign(
    method: str,
    endpoint: str,
    bucket: str,
    key: str,
    access_key: str,
    secret_key: str,
    now: float,
    expires: int = 60,
) -> str:
    split = urlsplit(endpoint.rstrip("/"))
    host = split.netloc
    path = "/" + _q(bucket) + "/" + quote(key, safe=UNRESERVED + "/")
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(now))
    day = stamp[:8]
    scope = f"{day}/{REGION}/s3/aws4_request"
    params = {
        "X-Amz-Algorithm": "AWS4-HMAC-SHA256",
        "X-Amz-Credential": f"{access_key}/{scope}",
        "X-Amz-Date": stamp,
        "X-Amz-Expires": str(expires),
        "X-Amz-SignedHeaders": "host",
    }
    query = "&".join(f"{_q(k)}={_q(v)}" for k, v in sorted(params.items()))
    canonical = "\n".join([method, path, query, f"host:{host}\n", "host", "UNSIGNED-PAYLOAD"])
    to_sign = "\n".join(
        ["AWS4-HMAC-SHA256", stamp, scope, hashlib.sha256(canonical.encode()).hexdigest()]
    )
    signing_key = _hmac(
        _hmac(_hmac(_hmac(f"AWS4{secret_key}".encode(), day), REGION), "s3"), "aws4_request"
    )
    signature = hmac.new(signing_key, to_sign.encode(), hashlib.sha256).hexdigest()
    return f"{split.scheme}://{host}{path}?{query}&X-Amz-Signature={signature}"
