"""Daemon log records as text lines or JSON objects, each with the request id it belongs to.

Layer: runtime (process start-up). Contract:

* ``configure(name, level, fmt)`` sets up the root logger on standard error, once per process:
  ``fmt`` is ``"text"`` (``<date> <time> <name>[<pid>] <LEVEL> <logger>: <message>``, the
  shape ``tests/logscan.py`` and operators read, with `` [request <id>]`` appended when the
  record belongs to a request) or ``"json"`` (one JSON object per line: ``time`` (RFC 3339,
  UTC, milliseconds), ``level``, ``logger``, ``message``, ``process`` (the daemon's name),
  ``pid``, ``request_id`` ("" outside a request) and, with a traceback, ``exception``).
* ``RequestIdFilter`` puts the bound request id (``wormfs.internal.requestid``) on every
  record as ``record.request_id``; it is attached to the handler, so records of every logger
  get it.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from typing import Literal

from wormfs.internal import requestid

LogFormat = Literal["text", "json"]
LOG_FORMATS: tuple[LogFormat, ...] = ("text", "json")


class RequestIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        # A record may name its request itself (``extra={"request_id": ...}``) when it is
        # logged after the request's context ended.
        if not getattr(record, "request_id", ""):
            record.request_id = requestid.current()
        return True


class TextFormatter(logging.Formatter):
    def __init__(self, name: str) -> None:
        super().__init__(f"%(asctime)s {name}[%(process)d] %(levelname)s %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        request_id = getattr(record, "request_id", "")
        if not request_id:
            return line
        # After the first line: a traceback's lines stay below their record's first line.
        first, newline, rest = line.partition("\n")
        return f"{first} [request {request_id}]{newline}{rest}"


class JsonFormatter(logging.Formatter):
    def __init__(self, name: str) -> None:
        super().__init__()
        self._name = name

    def format(self, record: logging.LogRecord) -> str:
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
        entry: dict[str, object] = {
            "time": f"{stamp}.{int(record.msecs):03d}Z",
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "process": self._name,
            "pid": record.process,
            "request_id": getattr(record, "request_id", ""),
        }
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        elif record.exc_text:
            entry["exception"] = record.exc_text
        return json.dumps(entry, ensure_ascii=False)


def configure(name: str, level: str = "INFO", fmt: LogFormat = "text") -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(RequestIdFilter())
    handler.setFormatter(JsonFormatter(name) if fmt == "json" else TextFormatter(name))
    logging.basicConfig(level=getattr(logging, level.upper(), logging.INFO), handlers=[handler])
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)
