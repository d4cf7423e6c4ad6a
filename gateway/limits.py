"""What the S3 port grants one client connection (gateway layer, under the app).

Contract: ``ClientLimits`` holds the two client timeouts of a gateway worker:

* ``idle_timeout``: a connection with no complete request header section this long after it
  opened or after its last answer is closed. This bounds idle keep-alive connections and
  slowloris clients alike (aiohttp's ``keepalive_timeout`` timer runs from the connection's
  start and is not reset by bytes of an unfinished header section).
* ``body_timeout``: a request body that sends nothing for this long is answered 400
  ``RequestTimeout`` (AWS's code for a socket not read from or written to in time) and the
  connection is closed.

``TimedSource`` applies ``body_timeout`` to each read of a request body (the body readers of
``wormfs.gateway.body`` read through it). ``limits_from_environment`` reads
``WORMFS_GATEWAY_IDLE_TIMEOUT`` / ``WORMFS_GATEWAY_BODY_TIMEOUT`` (seconds), 60 s each by
default. ``ClientErrorLog`` is
the logger given to aiohttp's connection handler: a request the HTTP layer cannot parse is
the client's fault, so it is logged at INFO with its reason instead of an ERROR with a
traceback (a port scanner must not page anyone), while every other error keeps its level.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from aiohttp.http_exceptions import HttpProcessingError

from wormfs.gateway.body import ByteSource
from wormfs.gateway.errors import BadRequest

IDLE_TIMEOUT_ENV = "WORMFS_GATEWAY_IDLE_TIMEOUT"
BODY_TIMEOUT_ENV = "WORMFS_GATEWAY_BODY_TIMEOUT"
DEFAULT_TIMEOUT = 60.0


class RequestTimeout(BadRequest):
    message = (
        "Your socket connection to the server was not read from or written to within "
        "the timeout period."
    )


@dataclass(frozen=True)
class ClientLimits:
    idle_timeout: float = DEFAULT_TIMEOUT
    body_timeout: float = DEFAULT_TIMEOUT


def _seconds(environ: Mapping[str, str], name: str) -> float:
    raw = environ.get(name, "")
    if not raw:
        return DEFAULT_TIMEOUT
    try:
        value = float(raw)
    except ValueError:
        raise ValueError(f"{name}={raw!r} is not a number of seconds") from None
    if not value > 0:
        raise ValueError(f"{name}={raw!r} must be more than 0 seconds")
    return value


def limits_from_environment(environ: Mapping[str, str]) -> ClientLimits:
    return ClientLimits(
        idle_timeout=_seconds(environ, IDLE_TIMEOUT_ENV),
        body_timeout=_seconds(environ, BODY_TIMEOUT_ENV),
    )


class TimedSource:
    """A ``ByteSource`` whose every read fails with ``RequestTimeout`` after ``seconds``."""

    def __init__(self, source: ByteSource, seconds: float) -> None:
        self._source = source
        self._seconds = seconds

    async def readany(self) -> bytes:
        try:
            async with asyncio.timeout(self._seconds):
                return await self._source.readany()
        except TimeoutError:
            raise RequestTimeout() from None


class ClientErrorLog(logging.LoggerAdapter[logging.Logger]):
    """aiohttp's server logger, with unparseable requests demoted to INFO (see module doc)."""

    def log(self, level: int, msg: object, *args: object, **kwargs: Any) -> None:
        exc = kwargs.get("exc_info")
        if level >= logging.ERROR and isinstance(exc, HttpProcessingError):
            kwargs["exc_info"] = None
            # Parse errors' messages hold at most a bounded excerpt of the client's bytes.
            text = str(msg) % args if args else str(msg)
            super().log(logging.INFO, "%s: %s", text, exc, **kwargs)
            return
        super().log(level, msg, *args, **kwargs)
