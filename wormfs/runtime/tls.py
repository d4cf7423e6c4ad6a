"""TLS for the S3 front door: the server context a gateway serves HTTPS with.

Layer: runtime (process plumbing; stdlib ``ssl`` only, no I/O beyond reading the two PEM
files). Contract: ``server_context(cert, key)`` returns the ``ssl.SSLContext`` a gateway serves
HTTPS with (TLS 1.2 or newer, HTTP/1.1 offered by ALPN since aiohttp speaks nothing else).
Checking the pair before start-up is configuration: ``wormfs.config.tls_problems``.

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
