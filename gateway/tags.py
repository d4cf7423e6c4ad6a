"""S3 tag sets as AWS validates them (gateway layer, pure functions).

Contract: ``parse_tagging_header`` reads ``x-amz-tagging`` (URL-encoded query parameters,
``k1=v1&k2=v2``; PutObject, CopyObject with REPLACE, CreateMultipartUpload) and
``parse_tagging_xml`` a ``<Tagging><TagSet><Tag>`` document (PutObjectTagging,
PutBucketTagging); both answer the tags as a dict in the client's order, checked by
``check_tags`` against AWS's limits: at most 10 tags on an object and 50 on a bucket, keys
of 1 to 128 and values of at most 256 Unicode characters, made of letters, digits, spaces
and ``+ - = . _ : / @``, no key twice, none starting with ``aws:`` (reserved).
A tag set that breaks them is ``InvalidTag`` (more than 10 on an object: ``BadRequest``,
as AWS answers); a header that is not such a query string is
``InvalidArgument``, an XML document without its elements ``MalformedXML``.
``tagging_document`` renders a tag set as GetObjectTagging / GetBucketTagging answer it.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from urllib.parse import parse_qsl

from wormfs.gateway.errors import BadRequest, InvalidArgument, InvalidTag, MalformedXML
from wormfs.gateway.xml import Elem, child_text

MAX_OBJECT_TAGS = 10
MAX_BUCKET_TAGS = 50
MAX_KEY_LENGTH = 128
MAX_VALUE_LENGTH = 256
_PUNCTUATION = frozenset("+-=._:/@")
_HEADER = "x-amz-tagging"


def _valid_text(text: str) -> bool:
    return all(ch.isalnum() or ch.isspace() or ch in _PUNCTUATION for ch in text)


def check_tags(pairs: list[tuple[str, str]], limit: int) -> dict[str, str]:
    """``pairs`` as a tag set, or ``InvalidTag`` naming the first rule broken."""
    if len(pairs) > limit:
        # AWS's answer for an object, seen in the wild with its request ids: BadRequest.
        if limit == MAX_OBJECT_TAGS:
            raise BadRequest(f"Object tags cannot be greater than {limit}")
        raise InvalidTag(f"Bucket tags cannot be greater than {limit}")
    tags: dict[str, str] = {}
    for key, value in pairs:
        if not key or len(key) > MAX_KEY_LENGTH:
            raise InvalidTag(f"The TagKey you have provided is too long, max {MAX_KEY_LENGTH}")
        if len(value) > MAX_VALUE_LENGTH:
            raise InvalidTag(f"The TagValue you have provided is too long, max {MAX_VALUE_LENGTH}")
        if not _valid_text(key):
            raise InvalidTag("The TagKey you have provided is invalid")
        if not _valid_text(value):
            raise InvalidTag("The TagValue you have provided is invalid")
        if key.lower().startswith("aws:"):
            raise InvalidTag("Your TagKey cannot be prefixed with aws:")
        if key in tags:
            raise InvalidTag("Cannot provide multiple Tags with the same key")
        tags[key] = value
    return tags


def parse_tagging_header(value: str | None) -> dict[str, str]:
    """The tags of an ``x-amz-tagging`` header ({} when absent or empty)."""
    if value is None or not value.strip():
        return {}
    try:
        pairs = parse_qsl(value, keep_blank_values=True, strict_parsing=True, errors="strict")
    except (ValueError, UnicodeDecodeError):
        raise InvalidArgument(
            "The header 'x-amz-tagging' shall be encoded as UTF-8 then URLEncoded URL query "
            "parameters without tag name duplicates.",
            ArgumentName=_HEADER,
            ArgumentValue=value,
        ) from None
    if len({key for key, _ in pairs}) != len(pairs):
        raise InvalidArgument(
            "The header 'x-amz-tagging' shall be encoded as UTF-8 then URLEncoded URL query "
            "parameters without tag name duplicates.",
            ArgumentName=_HEADER,
            ArgumentValue=value,
        )
    return check_tags(pairs, MAX_OBJECT_TAGS)


def parse_tagging_xml(doc: ET.Element | None, limit: int) -> dict[str, str]:
    """The tags of a ``Tagging`` document (``MalformedXML`` when it is none)."""
    if doc is None or doc.tag != "Tagging":
        raise MalformedXML()
    tag_set = next((child for child in doc if child.tag == "TagSet"), None)
    if tag_set is None:
        raise MalformedXML()
    pairs = []
    for tag in tag_set:
        if tag.tag != "Tag":
            raise MalformedXML()
        key = child_text(tag, "Key")
        value = child_text(tag, "Value")
        if key is None or value is None:
            raise MalformedXML()
        pairs.append((key, value))
    return check_tags(pairs, limit)


def tagging_document(tags: dict[str, str]) -> Elem:
    root = Elem("Tagging")
    tag_set = root.add("TagSet")
    for key, value in tags.items():
        tag = tag_set.add("Tag")
        tag.leaf("Key", key)
        tag.leaf("Value", value)
    return root
