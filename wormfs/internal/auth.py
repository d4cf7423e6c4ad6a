"""Internal request authentication with the cluster secret (HMAC-SHA256), both sides.

Every internal request carries ``X-Wormfs-Auth: v1 <unix-seconds> <nonce> <hex signature>``
where the signature is HMAC-SHA256(secret, "v1\\n" method "\\n" path "\\n" canonical query "\\n"
seconds "\\n" nonce). The canonical query is the query's (key, value) pairs, sorted, each
percent-encoded, joined with "&". A server accepts a request whose time is within
``window`` seconds of its own clock and whose nonce it has not seen within twice that window,
so a captured request cannot be replayed. The body is not signed: chunk bodies are verified by
their CRCs and JSON bodies are bounded and typed.

Missing or malformed header -> ``AuthError`` (401); wrong signature, stale time or replayed
nonce -> ``ForbiddenError`` (403). Comparisons are constant-time.

``sign`` also adds ``X-Wormfs-Request-Id`` when a request id is bound in the caller's context
(``wormfs.internal.requestid``): every internal request is signed, so this one place makes
every internal call carry the id of the S3 request it serves. It is not signed: it only
labels log lines.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import time
from collections import OrderedDict
from collections.abc import Iterable
from urllib.parse import quote

from wormfs.errors import AuthError, ForbiddenError
from wormfs.internal import requestid

AUTH_HEADER = "X-Wormfs-Auth"
DEFAULT_WINDOW = 300.0


def canonical_query(pairs: Iterable[tuple[str, str]]) -> str:
    return "&".join(f"{quote(k, safe='')}={quote(v, safe='')}" for k, v in sorted(pairs))


def _signature(secret: bytes, method: str, path: str, query: str, stamp: str, nonce: str) -> str:
    message = "\n".join(("v1", method.upper(), path, query, stamp, nonce)).encode()
    return hmac.new(secret, message, hashlib.sha256).hexdigest()


def sign(
    secret: bytes,
    method: str,
    path: str,
    query: Iterable[tuple[str, str]] = (),
    now: float | None = None,
) -> dict[str, str]:
    """Headers that authenticate one request (``path`` without the query string)."""
    stamp = str(int(time.time() if now is None else now))
    nonce = os.urandom(12).hex()
    sig = _signature(secret, method, path, canonical_query(query), stamp, nonce)
    headers = {AUTH_HEADER: f"v1 {stamp} {nonce} {sig}"}
    request_id = requestid.current()
    if request_id:
        headers[requestid.REQUEST_ID_HEADER] = request_id
    return headers


class Verifier:
    """Checks ``X-Wormfs-Auth`` headers and remembers recent nonces (per process)."""

    def __init__(self, secret: bytes, window: float = DEFAULT_WINDOW, max_nonces: int = 200_000):
        self._secret = secret
        self._window = window
        self._max_nonces = max_nonces
        self._seen: OrderedDict[str, float] = OrderedDict()

    def verify(
        self,
        header: str | None,
        method: str,
        path: str,
        query: Iterable[tuple[str, str]],
        now: float | None = None,
    ) -> None:
        if not header:
            raise AuthError("missing internal authentication header")
        parts = header.split(" ")
        if len(parts) != 4 or parts[0] != "v1" or not parts[1].isdigit():
            raise AuthError("malformed internal authentication header")
        _, stamp, nonce, sig = parts
        expected = _signature(self._secret, method, path, canonical_query(query), stamp, nonce)
        if not hmac.compare_digest(expected, sig):
            raise ForbiddenError("internal request signature does not match")
        current = time.time() if now is None else now
        if abs(current - int(stamp)) > self._window:
            raise ForbiddenError("internal request is outside the time window")
        self._expire(current)
        if nonce in self._seen:
            raise ForbiddenError("internal request nonce was already used")
        self._seen[nonce] = current

    def _expire(self, now: float) -> None:
        horizon = now - 2 * self._window
        while self._seen:
            _, seen_at = next(iter(self._seen.items()))
            if seen_at >= horizon and len(self._seen) < self._max_nonces:
                break
            self._seen.popitem(last=False)
