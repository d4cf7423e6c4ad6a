"""Daemon log records as JSON objects or text lines, each with the request id it belongs to."""

from __future__ import annotations

import asyncio
import io
import json
import logging

import pytest

from wormfs.internal import requestid
from wormfs.internal.auth import sign
from wormfs.runtime.logs import JsonFormatter, RequestIdFilter, TextFormatter


def capture(formatter: logging.Formatter) -> tuple[logging.Logger, io.StringIO]:
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.addFilter(RequestIdFilter())
    handler.setFormatter(formatter)
    logger = logging.getLogger(f"test.daemon_logs.{id(out)}")
    logger.handlers = [handler]
    logger.propagate = False
    logger.setLevel(logging.DEBUG)
    return logger, out


def test_json_lines_carry_the_bound_request_id() -> None:
    logger, out = capture(JsonFormatter("gateway"))
    logger.info("outside")
    with requestid.bound("ABCDEF0123456789"):
        logger.warning("inside %s", "a request")
        try:
            raise RuntimeError("boom")
        except RuntimeError:
            logger.exception("failed")
    logger.info("named", extra={"request_id": "LATE0001"})
    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    assert [entry["request_id"] for entry in lines] == [
        "",
        "ABCDEF0123456789",
        "ABCDEF0123456789",
        "LATE0001",
    ]
    second = lines[1]
    assert second["message"] == "inside a request"
    assert (second["level"], second["process"], second["logger"]) == (
        "WARNING",
        "gateway",
        logger.name,
    )
    assert second["time"].endswith("Z") and "T" in second["time"]
    assert "RuntimeError: boom" in lines[2]["exception"]


def test_text_lines_name_the_request_after_the_first_line() -> None:
    logger, out = capture(TextFormatter("coordinator"))
    with requestid.bound("R1"):
        try:
            raise ValueError("bad")
        except ValueError:
            logger.exception("it failed")
    first, *rest = out.getvalue().splitlines()
    assert first.endswith("it failed [request R1]")
    assert " coordinator[" in first and " ERROR " in first
    assert rest[0].startswith("Traceback")


def test_tasks_inherit_the_id_and_requests_do_not_share_it() -> None:
    async def one(request_id: str) -> list[str]:
        with requestid.bound(request_id):
            await asyncio.sleep(0)
            inner = await asyncio.create_task(asyncio.sleep(0, requestid.current()))
            return [requestid.current(), inner]

    async def both() -> list[list[str]]:
        return list(await asyncio.gather(one("A1"), one("B2")))

    assert asyncio.run(both()) == [["A1", "A1"], ["B2", "B2"]]
    assert requestid.current() == ""


@pytest.mark.parametrize("value", ["", "a b", "x" * 65, "id\nforged"])
def test_an_odd_incoming_id_is_not_bound(value: str) -> None:
    with requestid.bound(value):
        assert requestid.current() == ""


def test_signed_internal_requests_carry_the_id() -> None:
    assert requestid.REQUEST_ID_HEADER not in sign(b"secret", "GET", "/v1/health")
    with requestid.bound("ABC123"):
        assert sign(b"secret", "GET", "/v1/health")[requestid.REQUEST_ID_HEADER] == "ABC123"
