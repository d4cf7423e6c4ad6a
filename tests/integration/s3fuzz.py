"""Raw-socket exchanges with the S3 port and the verdict on each (test support, not installed).

Layer: test support for the hostile-input suite (``test_s3_fuzz.py``) and its corpus replay.
``exchange(address, data)`` sends ``data`` as is over one new TCP connection and reads one
HTTP answer (Content-Length or chunked framing, or up to the close) within a deadline; the
``Exchange`` it returns keeps what was sent and what came back, so a failing case prints both.
``verdict(exchange)`` says what is wrong with an answer to malformed input, or ``""``:

* no answer at all within the deadline is a hang;
* a 5xx is a failure, except 501 ``NotImplemented`` (features WormFS does not serve);
* a 4xx from the S3 layer (it carries ``x-amz-request-id``) must hold an S3 ``<Error>``
  document with a ``<Code>`` (HEAD answers carry no body);
* the HTTP layer's own refusals (a request it cannot parse: no request id) are a 400 with the
  connection closed, as documented in docs/s3-compatibility.md.

A closed connection without any answer is accepted only where ``closed_ok`` (bytes that are
not HTTP at all may be dropped).

Corpus files (``fuzz_corpus/*.http``) are such raw requests, kept byte for byte.
"""

from __future__ import annotations

import re
import socket
import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

ANSWER_TIMEOUT = 15.0
_ERROR_CODE = re.compile(rb"^<\?xml [^>]*>\s*<Error><Code>(\w+)</Code>")
# aiohttp answers in the version the client named (``GET / HTTP/2.0`` gets ``HTTP/2.0 403``).
_STATUS = re.compile(rb"^HTTP/\d\.\d (\d{3})")


def host_port(url: str) -> tuple[str, int]:
    parts = urlsplit(url)
    assert parts.hostname is not None and parts.port is not None, url
    return parts.hostname, parts.port


@dataclass
class Exchange:
    """One request's bytes and the answer's (``status`` 0: none came)."""

    sent: bytes
    raw: bytes = b""
    status: int = 0
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    closed: bool = False  # the server closed the connection
    timed_out: bool = False
    seconds: float = 0.0

    @property
    def code(self) -> str:
        """The S3 error code of the answer, or ``""``."""
        try:
            root = ET.fromstring(self.body)
        except ET.ParseError:
            # Control characters of a key are written as character references (``&#x0;``),
            # as AWS writes them, which XML 1.0 parsers refuse: read the code alone then.
            match = _ERROR_CODE.search(self.body)
            return match.group(1).decode() if match else ""
        return root.findtext("Code") or ""

    def describe(self, limit: int = 1500) -> str:
        sent = self.sent if len(self.sent) <= limit else self.sent[:limit] + b"...(cut)"
        raw = self.raw if len(self.raw) <= limit else self.raw[:limit] + b"...(cut)"
        return (
            f"sent ({len(self.sent)} bytes): {sent!r}\n"
            f"got ({len(self.raw)} bytes, {self.seconds:.2f} s, closed={self.closed}, "
            f"timed_out={self.timed_out}): {raw!r}"
        )


def _parse_head(head: bytes) -> tuple[int, dict[str, str]]:
    lines = head.split(b"\r\n")
    match = _STATUS.match(lines[0])
    status = int(match.group(1)) if match else -1
    headers: dict[str, str] = {}
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        headers[name.strip().lower().decode("latin-1")] = value.strip().decode("latin-1")
    return status, headers


def _dechunk(data: bytes) -> tuple[bytes, bool]:
    """The body of HTTP chunked framing, and whether it is complete."""
    out = b""
    while True:
        line, sep, rest = data.partition(b"\r\n")
        if not sep:
            return out, False
        size = int(line.split(b";")[0] or b"0", 16)
        if size == 0:
            return out, True
        if len(rest) < size + 2:
            return out, False
        out += rest[:size]
        data = rest[size + 2 :]


def _complete(exchange: Exchange, head_end: int, head_request: bool) -> bool:
    body = exchange.raw[head_end + 4 :]
    if head_request or exchange.status in (204, 304) or 100 <= exchange.status < 200:
        exchange.body = b""
        return True
    if exchange.headers.get("transfer-encoding", "").lower() == "chunked":
        exchange.body, done = _dechunk(body)
        return done
    length = exchange.headers.get("content-length")
    if length is not None and length.isdigit():
        exchange.body = body[: int(length)]
        return len(body) >= int(length)
    exchange.body = body
    return False  # up to the close


def exchange(
    address: tuple[str, int],
    data: bytes | list[bytes],
    timeout: float = ANSWER_TIMEOUT,
    pause: float = 0.0,
) -> Exchange:
    """Send ``data`` (or its pieces, ``pause`` seconds apart) and read one final answer."""
    pieces = data if isinstance(data, list) else [data]
    result = Exchange(sent=b"".join(pieces))
    head_request = result.sent.split(b" ", 1)[0] == b"HEAD"
    started = time.monotonic()
    deadline = started + timeout
    with socket.create_connection(address, timeout=timeout) as sock:
        try:
            for index, piece in enumerate(pieces):
                if index and pause:
                    # Pacing the client on purpose (a slow client), not waiting for the server.
                    time.sleep(pause)
                sock.sendall(piece)
        except OSError:
            pass  # the server may close early (an oversized request): read what it said
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                result.timed_out = True
                break
            sock.settimeout(remaining)
            try:
                got = sock.recv(65536)
            except TimeoutError:
                result.timed_out = True
                break
            except OSError:
                result.closed = True
                break
            if not got:
                result.closed = True
                break
            result.raw += got
            head_end = result.raw.find(b"\r\n\r\n")
            if head_end < 0:
                continue
            result.status, result.headers = _parse_head(result.raw[:head_end])
            if result.status == 100:
                result.raw = result.raw[head_end + 4 :]  # an interim answer; the final follows
                continue
            if _complete(result, head_end, head_request):
                break
    result.seconds = time.monotonic() - started
    if result.raw and result.status == 0:
        head_end = result.raw.find(b"\r\n\r\n")
        result.status, result.headers = _parse_head(result.raw[: max(head_end, 0)])
        _complete(result, head_end, head_request)
    return result


def verdict(answer: Exchange, closed_ok: bool = False) -> str:
    """What is wrong with ``answer`` to a malformed request ("" when nothing is)."""
    if answer.timed_out and not answer.raw:
        return "no answer within the deadline (a hang)"
    if not answer.raw:
        return "" if closed_ok and answer.closed else "the connection closed without an answer"
    if answer.status < 100:
        return "the answer is not HTTP"
    if answer.status >= 500 and not (answer.status == 501 and answer.code == "NotImplemented"):
        return f"a {answer.status} answer to malformed input"
    if answer.status < 400:
        return ""
    if "x-amz-request-id" not in answer.headers:
        # The HTTP layer's refusal of what it cannot parse.
        if answer.status != 400:
            return f"the HTTP layer answered {answer.status}, not 400"
        return ""
    if answer.sent.startswith(b"HEAD ") or answer.status == 304:
        return ""
    if not answer.code:
        return "an S3 error answer without an <Error><Code> document"
    return ""


def load_corpus(folder: Path) -> list[tuple[str, bytes]]:
    """The kept cases, by file name, as raw bytes."""
    return [(path.name, path.read_bytes()) for path in sorted(folder.glob("*.http"))]


def rss_bytes(pid: int) -> int:
    """A process's resident set size (``VmRSS`` of ``/proc/<pid>/status``)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError(f"no VmRSS for pid {pid}")
