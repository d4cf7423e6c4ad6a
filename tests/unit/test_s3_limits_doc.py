"""docs/s3-compatibility.md's "Limits" table stays true: every number it documents is the
gateway's own constant (the behaviour past each is checked in tests/integration/test_s3_fuzz.py)."""

from __future__ import annotations

import asyncio
import logging
import re
from pathlib import Path

import pytest
from aiohttp.http_exceptions import BadStatusLine

from wormfs.gateway import app, body, limits
from wormfs.gateway.handlers import base, multipart, objects

DOC = Path(__file__).resolve().parents[2] / "docs" / "s3-compatibility.md"
_ROW = re.compile(r"^\| ([^|]+?) \| ([^|]+?) \| ([^|]+?) \|$", re.MULTILINE)
_UNITS = {"KiB": 1024, "MiB": 1024 * 1024}

# Documented limit -> the constant the gateway enforces it with.
CONSTANTS: dict[str, float] = {
    "header section (request line excluded)": app.MAX_HEADER_SECTION,
    "one header line (HTTP layer)": int(app.HANDLER_ARGS["max_field_size"]),
    "request line (HTTP layer)": int(app.HANDLER_ARGS["max_line_size"]),
    "headers per request (HTTP layer)": int(app.HANDLER_ARGS["max_headers"]),
    "XML request body": base.MAX_XML_BODY,
    "keys per `DeleteObjects`": objects.MAX_DELETE_KEYS,
    "parts per upload (part numbers)": multipart.MAX_PART_NUMBER,
    "aws-chunked chunk header line": body.MAX_CHUNK_HEADER,
    "aws-chunked trailer section": body.MAX_TRAILER_SECTION,
    "idle timeout (seconds)": limits.ClientLimits().idle_timeout,
    "body timeout (seconds)": limits.ClientLimits().body_timeout,
}


def documented() -> dict[str, float]:
    text = DOC.read_text()
    start = text.index("## Limits")
    section = text[start : text.index("\n## ", start + 1)]
    values = {}
    for name, value, _after in _ROW.findall(section):
        if name in ("limit", "---"):
            continue
        number, _, unit = value.partition(" ")
        values[name] = float(number) * _UNITS.get(unit, 1)
    return values


def test_every_documented_limit_is_the_gateways() -> None:
    assert documented() == CONSTANTS


def test_timeouts_come_from_the_environment() -> None:
    got = limits.limits_from_environment(
        {limits.IDLE_TIMEOUT_ENV: "2.5", limits.BODY_TIMEOUT_ENV: "7"}
    )
    assert got == limits.ClientLimits(idle_timeout=2.5, body_timeout=7.0)
    assert limits.limits_from_environment({}) == limits.ClientLimits()


def test_bad_timeouts_are_refused() -> None:
    for raw in ("soon", "0", "-1"):
        with pytest.raises(ValueError, match=limits.IDLE_TIMEOUT_ENV):
            limits.limits_from_environment({limits.IDLE_TIMEOUT_ENV: raw})


class _Stalled:
    async def readany(self) -> bytes:
        await asyncio.Event().wait()  # a client that never sends the rest
        return b""


async def test_a_stalled_read_is_request_timeout() -> None:
    with pytest.raises(limits.RequestTimeout):
        await limits.TimedSource(_Stalled(), 0.05).readany()


def test_unparseable_requests_are_logged_at_info(caplog: pytest.LogCaptureFixture) -> None:
    """A port scanner's bytes are the client's fault: INFO without a traceback; any other
    error of the HTTP layer keeps its level."""
    logger = limits.ClientErrorLog(logging.getLogger("test.http"), {})
    with caplog.at_level(logging.INFO, "test.http"):
        logger.exception("Error handling request from %s", "1.2.3.4", exc_info=BadStatusLine("x"))
        logger.exception("Error handling request from %s", "1.2.3.4", exc_info=OSError("disk"))
    first, second = caplog.records
    assert (first.levelno, first.exc_info) == (logging.INFO, None)
    assert "1.2.3.4" in first.getMessage() and "x" in first.getMessage()
    assert second.levelno == logging.ERROR and second.exc_info is not None
