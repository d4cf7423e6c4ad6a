"""Internal request signatures: valid ones pass; tampering, staleness and replays do not."""

from __future__ import annotations

import pytest

from wormfs.errors import AuthError, ForbiddenError
from wormfs.internal.auth import AUTH_HEADER, Verifier, sign

SECRET = b"cluster-secret"


def _check(verifier: Verifier, headers: dict[str, str], **kw: object) -> None:
    args: dict[str, object] = {
        "method": "PUT",
        "path": "/v1/disks/d/chunks/c",
        "query": [("first", "0")],
    }
    args.update(kw)
    verifier.verify(headers.get(AUTH_HEADER), **args)  # type: ignore[arg-type]


def test_valid_signature_passes_once() -> None:
    verifier = Verifier(SECRET)
    headers = sign(SECRET, "PUT", "/v1/disks/d/chunks/c", [("first", "0")])
    _check(verifier, headers)
    with pytest.raises(ForbiddenError, match="nonce"):
        _check(verifier, headers)


@pytest.mark.parametrize(
    "change",
    [
        {"method": "GET"},
        {"path": "/v1/disks/d/chunks/other"},
        {"query": [("first", "1")]},
        {"query": []},
    ],
)
def test_tampering_is_rejected(change: dict[str, object]) -> None:
    headers = sign(SECRET, "PUT", "/v1/disks/d/chunks/c", [("first", "0")])
    with pytest.raises(ForbiddenError, match="signature"):
        _check(Verifier(SECRET), headers, **change)


def test_wrong_secret() -> None:
    headers = sign(b"other", "PUT", "/v1/disks/d/chunks/c", [("first", "0")])
    with pytest.raises(ForbiddenError):
        _check(Verifier(SECRET), headers)


def test_stale_request() -> None:
    headers = sign(SECRET, "PUT", "/v1/disks/d/chunks/c", [("first", "0")], now=1000.0)
    with pytest.raises(ForbiddenError, match="window"):
        _check(Verifier(SECRET), headers, now=2000.0)


@pytest.mark.parametrize("header", [None, "", "v1 abc", "v2 1 2 3", "v1 x n s"])
def test_missing_or_malformed(header: str | None) -> None:
    with pytest.raises(AuthError):
        Verifier(SECRET).verify(header, "GET", "/v1/health", [])


def test_nonce_memory_is_bounded() -> None:
    verifier = Verifier(SECRET, max_nonces=10)
    for _ in range(50):
        h = sign(SECRET, "GET", "/v1/health")
        verifier.verify(h[AUTH_HEADER], "GET", "/v1/health", [])
    assert len(verifier._seen) <= 10
