"""TLS for the S3 front door: checking certificate files and building the server context.

Layer: shared process plumbing (stdlib ``ssl`` only, no I/O beyond reading the two PEM files).
Contract: ``tls_problems(cert, key)`` lists what is wrong with a certificate/key pair as
configuration problems (both or neither given, files readable, key matching the certificate),
so that ``wormfs.config.validate`` can report them with every other problem at start-up;
``server_context(cert, key)`` returns the ``ssl.SSLContext`` a gateway serves HTTPS with
(TLS 1.2 or newer, HTTP/1.1 offered by ALPN since aiohttp speaks nothing else).

The certificate file may hold a chain (server certificate first, then intermediates), as
``SSLContext.load_cert_chain`` reads it.
"""

from __future__ import annotations

import ssl
from pathlib import Path


def server_context(cert: str | Path, key: str | Path) -> ssl.SSLContext:
    """An ``SSLContext`` serving ``cert`` (PEM, chain allowed) with ``key`` (PEM).

    Raises ``OSError`` for unreadable files and ``ssl.SSLError`` for bad or mismatched PEM.
    """
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.set_alpn_protocols(["http/1.1"])
    context.load_cert_chain(certfile=str(cert), keyfile=str(key))
    return context


def tls_problems(cert: str, key: str, prefix: str = "") -> list[str]:
    """Configuration problems of a (``cert``, ``key``) pair; none when both are empty."""
    if not cert and not key:
        return []
    if not cert or not key:
        return [f"{prefix}tls_cert and {prefix}tls_key must be given together"]
    problems = [
        f"{prefix}{name} {path!r} is not a readable file"
        for name, path in (("tls_cert", cert), ("tls_key", key))
        if not Path(path).is_file()
    ]
    if problems:
        return problems
    try:
        server_context(cert, key)
    except (OSError, ssl.SSLError) as exc:
        problems.append(f"{prefix}tls_cert/tls_key cannot be loaded: {exc}")
    return problems
