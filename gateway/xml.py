"""Safe XML for the S3 protocol layer (gateway layer): parsing request bodies, building answers.

Contract:

* ``parse_xml(data, limit)`` parses a request body of at most ``limit`` bytes with expat and
  returns a tree of ``xml.etree.ElementTree.Element`` whose tags are *local* names: clients
  send documents both with and without ``xmlns="http://s3.amazonaws.com/doc/2006-03-01/"``,
  so namespaces are dropped and ``root.find("Part")`` works for both. Any DTD (``<!DOCTYPE``,
  hence ``<!ENTITY``) is refused, so no entity is ever expanded ("billion laughs", external
  entities); any problem raises ``XmlError``, which handlers turn into ``MalformedXML``.
* ``Elem`` + ``render`` build answers: the XML declaration, the S3 namespace on the root, and
  text escaped so that any key (control characters, ``\\r``) round-trips.
* ``iso8601`` / ``http_date`` / ``parse_http_date`` format times as S3 shows them
  (``2026-01-02T03:04:05.000Z`` in XML, RFC 7231 dates in headers).
"""

from __future__ import annotations

import datetime
import email.utils
import re
import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from xml.parsers import expat

S3_NAMESPACE = "http://s3.amazonaws.com/doc/2006-03-01/"
DECLARATION = '<?xml version="1.0" encoding="UTF-8"?>\n'
MAX_DEPTH = 32


class XmlError(ValueError):
    """The document is not well-formed, too large, too deep, or declares a DTD."""


def _local(name: str) -> str:
    # expat with namespace_separator=" " reports "uri local"; keep the local part.
    return name.rsplit(" ", 1)[-1]


def parse_xml(data: bytes, limit: int = 1024 * 1024) -> ET.Element:
    """Parse ``data`` into a namespace-free element tree; ``XmlError`` on any problem."""
    if len(data) > limit:
        raise XmlError(f"document larger than {limit} bytes")
    if not data.strip():
        raise XmlError("empty document")
    parser = expat.ParserCreate(namespace_separator=" ")
    parser.SetParamEntityParsing(expat.XML_PARAM_ENTITY_PARSING_NEVER)
    stack: list[ET.Element] = []
    root: list[ET.Element] = []
    texts: list[list[str]] = []

    def refuse_dtd(*_: object) -> None:
        raise XmlError("DTDs and entity declarations are not allowed")

    def start(name: str, attrs: dict[str, str]) -> None:
        if len(stack) >= MAX_DEPTH:
            raise XmlError("document nested too deeply")
        elem = ET.Element(_local(name), {_local(k): v for k, v in attrs.items()})
        if stack:
            stack[-1].append(elem)
        else:
            root.append(elem)
        stack.append(elem)
        texts.append([])

    def end(_name: str) -> None:
        elem = stack.pop()
        elem.text = "".join(texts.pop())

    def chars(data: str) -> None:
        if texts:
            texts[-1].append(data)

    parser.StartDoctypeDeclHandler = refuse_dtd
    parser.EntityDeclHandler = refuse_dtd
    parser.UnparsedEntityDeclHandler = refuse_dtd
    parser.ExternalEntityRefHandler = refuse_dtd  # type: ignore[assignment]
    parser.StartElementHandler = start
    parser.EndElementHandler = end
    parser.CharacterDataHandler = chars
    try:
        parser.Parse(data, True)
    except expat.ExpatError as exc:
        raise XmlError(str(exc)) from None
    except ValueError as exc:
        # expat refuses a declared multi-byte encoding (encoding="UTF-7") with a ValueError.
        raise XmlError(str(exc)) from None
    if not root:
        raise XmlError("no root element")
    return root[0]


def child_text(elem: ET.Element, name: str) -> str | None:
    """The text of the first child called ``name`` (None if absent)."""
    child = elem.find(name)
    if child is None:
        return None
    return child.text or ""


# ---- building ----------------------------------------------------------------------------------
@dataclass
class Elem:
    """An element being built: a name, a text or children."""

    name: str
    text: str | None = None
    children: list[Elem] = field(default_factory=list)
    attrs: dict[str, str] = field(default_factory=dict)

    def add(self, name: str) -> Elem:
        """Append and return a new child element."""
        child = Elem(name)
        self.children.append(child)
        return child

    def leaf(self, name: str, value: str | int | bool | None) -> Elem:
        """Append ``<name>value</name>`` (booleans as ``true``/``false``); None is skipped."""
        if value is None:
            return self
        text = ("true" if value else "false") if isinstance(value, bool) else str(value)
        self.children.append(Elem(name, text))
        return self


_NEEDS_REFERENCE = re.compile("[\x00-\x08\x0b-\x1f]")  # control characters but \t and \n


def escape_text(text: str) -> str:
    """Escape for element content. Characters XML 1.0 cannot carry literally (control
    characters) and ``\\r`` (which parsers would normalise to ``\\n``) become character
    references, as AWS writes them, so that keys round-trip."""
    out = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    # A regex scan, not a per-character loop: listings escape thousands of values per page.
    if _NEEDS_REFERENCE.search(out):
        out = _NEEDS_REFERENCE.sub(lambda m: f"&#x{ord(m.group()):X};", out)
    return out


def _write(elem: Elem, out: list[str], xmlns: str | None) -> None:
    attr = ""
    if xmlns or elem.attrs:  # most elements have none: skip building the string
        attrs = {"xmlns": xmlns, **elem.attrs} if xmlns else elem.attrs
        attr = "".join(
            f' {k}="{escape_text(v).replace(chr(34), "&quot;")}"' for k, v in attrs.items()
        )
    if elem.children:
        out.append(f"<{elem.name}{attr}>")
        for child in elem.children:
            _write(child, out, None)
        out.append(f"</{elem.name}>")
    elif elem.text:
        out.append(f"<{elem.name}{attr}>{escape_text(elem.text)}</{elem.name}>")
    else:
        out.append(f"<{elem.name}{attr}></{elem.name}>")


def render(root: Elem, namespace: bool = True) -> bytes:
    """The document as UTF-8 bytes with the XML declaration (and the S3 namespace)."""
    out = [DECLARATION]
    _write(root, out, S3_NAMESPACE if namespace else None)
    return "".join(out).encode("utf-8", "replace")


# ---- times -------------------------------------------------------------------------------------
def iso8601(ts: float) -> str:
    """``2026-01-02T03:04:05.000Z`` (UTC, milliseconds), as S3 shows times in XML."""
    whole = int(ts)
    millis = round((ts - whole) * 1000)
    if millis >= 1000:
        whole, millis = whole + 1, millis - 1000
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(whole)) + f".{millis:03d}Z"


def http_date(ts: float) -> str:
    """An RFC 7231 IMF-fixdate (``Fri, 02 Jan 2026 03:04:05 GMT``) for headers."""
    return email.utils.formatdate(int(ts), usegmt=True)


def parse_iso8601(value: str) -> float | None:
    """Seconds since the epoch for an ISO 8601 time (one without a zone is UTC); None if
    unparsable."""
    try:
        when = datetime.datetime.fromisoformat(value.strip())
    except ValueError:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=datetime.UTC)
    return when.timestamp()


def parse_http_date(value: str) -> float | None:
    """Seconds since the epoch for an HTTP date (IMF-fixdate, RFC 850 or asctime); None if
    unparsable (a bad date in a conditional header is ignored, as HTTP says)."""
    try:
        parsed = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if parsed is None:
        return None
    if parsed.tzinfo is None:
        # RFC 850 and asctime dates carry no zone; HTTP dates are always GMT.
        parsed = parsed.replace(tzinfo=datetime.UTC)
    return parsed.timestamp()
