"""wormfs.gateway.xml: safe parsing (no DTDs, no entities), namespaces, escaping, times."""

from __future__ import annotations

import pytest

from wormfs.gateway.xml import (
    Elem,
    XmlError,
    child_text,
    http_date,
    iso8601,
    parse_http_date,
    parse_xml,
    render,
)

COMPLETE = b"""<?xml version="1.0" encoding="UTF-8"?>
<CompleteMultipartUpload xmlns="http://s3.amazonaws.com/doc/2006-03-01/">
  <Part><PartNumber>1</PartNumber><ETag>"abc"</ETag></Part>
  <Part><PartNumber>2</PartNumber><ETag>&quot;def&quot;</ETag></Part>
</CompleteMultipartUpload>"""


def test_namespaced_and_plain_documents_parse_alike() -> None:
    for doc in (
        COMPLETE,
        COMPLETE.replace(b' xmlns="http://s3.amazonaws.com/doc/2006-03-01/"', b""),
    ):
        root = parse_xml(doc)
        assert root.tag == "CompleteMultipartUpload"
        parts = root.findall("Part")
        assert [child_text(p, "PartNumber") for p in parts] == ["1", "2"]
        assert child_text(parts[1], "ETag") == '"def"'
        assert child_text(parts[0], "Missing") is None


def test_prefixed_namespace() -> None:
    root = parse_xml(
        b'<s3:Delete xmlns:s3="http://s3.amazonaws.com/doc/2006-03-01/">'
        b"<s3:Object><s3:Key>k</s3:Key></s3:Object></s3:Delete>"
    )
    assert root.tag == "Delete"
    assert child_text(root.find("Object"), "Key") == "k"  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "doc",
    [
        b"",
        b"   ",
        b"<a><b></a>",
        b"not xml",
        b"<a>&undefined;</a>",
        # Billion laughs: refused at the DTD, nothing is expanded.
        b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 '
        b'"&lol;&lol;&lol;&lol;&lol;">]><lolz>&lol2;</lolz>',
        # External entity (XXE).
        b'<?xml version="1.0"?><!DOCTYPE foo [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>'
        b"<foo>&xxe;</foo>",
        b'<!DOCTYPE foo SYSTEM "http://example.com/foo.dtd"><foo/>',
        b"<a>" * 40 + b"</a>" * 40,
        # Found by the S3 port's fuzzer: expat raises ValueError (a 500) for these.
        b'<?xml version="1.0" encoding="UTF-7"?><x/>',
        b'<?xml version="1.0" encoding="UTF-16"?><x/>',
    ],
)
def test_malformed_and_hostile_documents_are_refused(doc: bytes) -> None:
    with pytest.raises(XmlError):
        parse_xml(doc)


def test_size_limit() -> None:
    with pytest.raises(XmlError):
        parse_xml(b"<a>" + b"x" * 100 + b"</a>", limit=50)


def test_render_escapes_and_namespaces() -> None:
    root = Elem("ListBucketResult")
    root.leaf("Key", "a<b>&c\r\x01\"'")
    root.leaf("IsTruncated", False)
    root.leaf("Skipped", None)
    root.leaf("Size", 12)
    root.add("Empty")
    out = render(root)
    assert out.startswith(b'<?xml version="1.0" encoding="UTF-8"?>\n<ListBucketResult xmlns="')
    assert b"<Key>a&lt;b&gt;&amp;c&#xD;&#x1;\"'</Key>" in out
    assert b"<IsTruncated>false</IsTruncated><Size>12</Size><Empty></Empty>" in out
    assert b"Skipped" not in out
    # What we write, we read back identically (the \r survives as a character reference).
    assert child_text(parse_xml(out.replace(b"&#x1;", b"")), "Key") == "a<b>&c\r\"'"


def test_render_without_namespace_and_with_attributes() -> None:
    root = Elem("Error")
    grant = root.add("Grantee")
    grant.attrs = {"xsi:type": 'Canonical"User'}
    out = render(root, namespace=False)
    assert b'<Error><Grantee xsi:type="Canonical&quot;User"></Grantee></Error>' in out


def test_times() -> None:
    assert iso8601(0) == "1970-01-01T00:00:00.000Z"
    assert iso8601(1767323045.25) == "2026-01-02T03:04:05.250Z"
    assert iso8601(1.9996) == "1970-01-01T00:00:02.000Z"
    assert http_date(1767323045.9) == "Fri, 02 Jan 2026 03:04:05 GMT"
    assert parse_http_date("Fri, 02 Jan 2026 03:04:05 GMT") == 1767323045
    assert parse_http_date("Friday, 02-Jan-26 03:04:05 GMT") == 1767323045
    assert parse_http_date("Fri Jan  2 03:04:05 2026") == 1767323045
    assert parse_http_date("yesterday") is None
