"""Load test: a locust S3 user with a realistic mix, against any S3 endpoint (WormFS by default).

Each simulated user is a ``FastHttpUser`` that signs its own requests (AWS SigV4, header auth,
``UNSIGNED-PAYLOAD``) and runs, by weight, GetObject 45 %, HeadObject 30 %, PutObject 15 % and
DeleteObject 10 % over its own pool of ``S3_KEYS`` keys (``locust/u<random id>/k<n>`` in one shared
bucket). A user only reads or deletes keys it has written and not deleted since, so with a
store that keeps S3's read-after-write consistency no request of the mix may fail; when a user
holds no object yet, a GET, HEAD or DELETE turns into a PUT. On start, every user creates the
bucket (an already-owned bucket is fine) and writes ``S3_SEED_KEYS`` objects (reported apart,
as ``PUT object (seed)``).

Configuration, all from the environment (locust's own options, such as ``--host``, as usual):

===================== =============================================================
``S3_ACCESS_KEY``     access key (else ``AWS_ACCESS_KEY_ID``, else the file below)
``S3_SECRET_KEY``     secret key (else ``AWS_SECRET_ACCESS_KEY``, else the file below)
``S3_CREDENTIALS``    a WormFS ``credentials.json`` (default ``data/credentials.json``,
                      where ``make run`` writes the generated root keys)
``S3_BUCKET``         bucket name (default ``locust``)
``S3_OBJECT_SIZE``    object size: bytes or ``4KiB``, ``1MiB`` (default 4 KiB)
``S3_KEYS``           keys per user (default 50)
``S3_SEED_KEYS``      objects each user writes on start (default 5)
``S3_REGION``         signing region (default ``us-east-1``)
===================== =============================================================

Run it headless against ``make run`` for 60 s (bounded in time by ``-t``)::

    .venv/bin/locust -f loadtests/locustfile.py --headless -u 16 -r 4 -t 60s \\
        --host http://127.0.0.1:9000

locust exits non-zero when any request failed. Install it with
``.venv/bin/pip install -c constraints.txt -e '.[load]'``.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import random
import time
import uuid
from pathlib import Path
from typing import Any, cast
from urllib.parse import quote, urlsplit

from locust import FastHttpUser, between, task

UNSIGNED_PAYLOAD = "UNSIGNED-PAYLOAD"
DEFAULT_CREDENTIALS = "data/credentials.json"
KIB = 1024
MIB = 1024 * KIB


def parse_size(text: str) -> int:
    """``4096``, ``4KiB``, ``1MiB`` (``k``/``m`` too) to bytes."""
    value = text.strip().lower()
    for suffix, unit in (("kib", KIB), ("mib", MIB), ("k", KIB), ("m", MIB)):
        if value.endswith(suffix):
            return int(float(value[: -len(suffix)]) * unit)
    return int(value)


def credentials() -> tuple[str, str]:
    """Keys from ``S3_ACCESS_KEY``/``S3_SECRET_KEY``, the AWS variables, or a credentials file."""
    access = os.environ.get("S3_ACCESS_KEY") or os.environ.get("AWS_ACCESS_KEY_ID", "")
    secret = os.environ.get("S3_SECRET_KEY") or os.environ.get("AWS_SECRET_ACCESS_KEY", "")
    if access and secret:
        return access, secret
    path = Path(os.environ.get("S3_CREDENTIALS", DEFAULT_CREDENTIALS))
    if path.exists():
        stored = json.loads(path.read_text())
        return str(stored["access_key"]), str(stored["secret_key"])
    raise RuntimeError(
        "no S3 keys: set S3_ACCESS_KEY and S3_SECRET_KEY, or S3_CREDENTIALS to a "
        f"credentials.json (default {DEFAULT_CREDENTIALS}, as make run writes it)"
    )


class SigV4:
    """AWS Signature Version 4 header auth for S3 (the payload is not hashed)."""

    def __init__(self, access_key: str, secret_key: str, region: str) -> None:
        self.access_key = access_key
        self.secret_key = secret_key
        self.region = region
        self._keys: dict[str, bytes] = {}

    def _signing_key(self, date: str) -> bytes:
        key = self._keys.get(date)
        if key is None:
            key = ("AWS4" + self.secret_key).encode()
            for part in (date, self.region, "s3", "aws4_request"):
                key = hmac.new(key, part.encode(), hashlib.sha256).digest()
            self._keys = {date: key}
        return key

    def headers(self, method: str, host: str, path: str) -> dict[str, str]:
        """Headers for a request with no query; ``path`` is already URI-encoded."""
        amz_date = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
        scope = f"{amz_date[:8]}/{self.region}/s3/aws4_request"
        signed = "host;x-amz-content-sha256;x-amz-date"
        canonical = "\n".join(
            (
                method,
                path,
                "",
                f"host:{host}\nx-amz-content-sha256:{UNSIGNED_PAYLOAD}\nx-amz-date:{amz_date}\n",
                signed,
                UNSIGNED_PAYLOAD,
            )
        )
        to_sign = "\n".join(
            ("AWS4-HMAC-SHA256", amz_date, scope, hashlib.sha256(canonical.encode()).hexdigest())
        )
        signature = hmac.new(
            self._signing_key(amz_date[:8]), to_sign.encode(), hashlib.sha256
        ).hexdigest()
        return {
            "x-amz-content-sha256": UNSIGNED_PAYLOAD,
            "x-amz-date": amz_date,
            "Authorization": (
                f"AWS4-HMAC-SHA256 Credential={self.access_key}/{scope}, "
                f"SignedHeaders={signed}, Signature={signature}"
            ),
        }


class S3User(FastHttpUser):
    """One S3 client: 45 % GET, 30 % HEAD, 15 % PUT, 10 % DELETE over its own keys."""

    wait_time = between(0.0, 0.05)

    def on_start(self) -> None:
        access, secret = credentials()
        self.signer = SigV4(access, secret, os.environ.get("S3_REGION", "us-east-1"))
        self.bucket = os.environ.get("S3_BUCKET", "locust")
        self.size = parse_size(os.environ.get("S3_OBJECT_SIZE", "4KiB"))
        self.body = os.urandom(self.size)
        # Random, so that users of several locust processes (or runs) never share keys.
        user = uuid.uuid4().hex[:12]
        self.slots = [f"locust/u{user}/k{n}" for n in range(int(os.environ.get("S3_KEYS", "50")))]
        self.present: list[str] = []  # keys this user wrote and has not deleted
        self.netloc = urlsplit(self.host or "").netloc
        self.create_bucket()
        for _ in range(int(os.environ.get("S3_SEED_KEYS", "5"))):
            self.write("PUT object (seed)")

    def request(
        self, method: str, key: str, name: str, ok: tuple[int, ...], body: bytes | None = None
    ) -> int:
        path = quote(f"/{self.bucket}/{key}" if key else f"/{self.bucket}", safe="/-_.~")
        headers = self.signer.headers(method, self.netloc, path)
        if body is not None:
            headers["Content-Length"] = str(len(body))
        # locust annotates ``data`` as str | dict, but sends bytes as they are.
        data = cast(Any, body)
        with self.client.request(
            method, path, headers=headers, data=data, name=name, catch_response=True
        ) as resp:
            if resp.status_code in ok:
                resp.success()
            else:
                resp.failure(f"HTTP {resp.status_code}: {(resp.text or '')[:200]}")
            return int(resp.status_code or 0)

    def create_bucket(self) -> None:
        # 409 BucketAlreadyOwnedByYou: another user (or an earlier run) made it first.
        self.request("PUT", "", "PUT bucket", (200, 409))

    def write(self, name: str) -> None:
        key = random.choice(self.slots)
        stored = self.request("PUT", key, name, (200,), self.body) == 200
        if stored and key not in self.present:
            self.present.append(key)

    @task(15)
    def put(self) -> None:
        self.write("PUT object")

    @task(45)
    def get(self) -> None:
        if not self.present:
            self.put()
            return
        self.request("GET", random.choice(self.present), "GET object", (200,))

    @task(30)
    def head(self) -> None:
        if not self.present:
            self.put()
            return
        self.request("HEAD", random.choice(self.present), "HEAD object", (200,))

    @task(10)
    def delete(self) -> None:
        if not self.present:
            self.put()
            return
        key = self.present.pop(random.randrange(len(self.present)))
        self.request("DELETE", key, "DELETE object", (204,))
