"""The request id of the work in hand, carried across processes: one S3 request, one id.

Layer: internal plumbing (below the clients, which send it; above nothing but the stdlib).
Contract:

* ``current()`` is the request id of the task running now ("" outside a request). It lives in
  a ``contextvars.ContextVar``, so every task and callback that asyncio starts inside a request
  inherits it, and concurrent requests never see each other's.
* ``bound(request_id)`` sets it for the duration of a ``with`` block (the gateway binds its
  ``x-amz-request-id`` around each S3 request; the internal middleware binds the id an
  incoming internal request carries).
* ``REQUEST_ID_HEADER`` is the header an internal request carries it in: ``auth.sign`` adds it
  to the headers of every signed request, so the coordinator's and the storage nodes' log
  lines of that work carry the id the client saw. A value that is not a short token of
  letters, digits and dashes is ignored (it is copied into log lines).
"""

from __future__ import annotations

import contextvars
import re
from collections.abc import Iterator
from contextlib import contextmanager

REQUEST_ID_HEADER = "X-Wormfs-Request-Id"
_SHAPE = re.compile(r"^[A-Za-z0-9-]{1,64}$")

_CURRENT: contextvars.ContextVar[str] = contextvars.ContextVar("wormfs_request_id", default="")


def current() -> str:
    """The request id bound in this context, or ""."""
    return _CURRENT.get()


def valid(value: str | None) -> bool:
    return value is not None and _SHAPE.match(value) is not None


@contextmanager
def bound(request_id: str) -> Iterator[None]:
    """Bind ``request_id`` for the block (an invalid one binds "")."""
    token = _CURRENT.set(request_id if valid(request_id) else "")
    try:
        yield
    finally:
        _CURRENT.reset(token)
