"""CORS as S3 speaks it: the document of PutBucketCors checked, the one GetBucketCors
answers, and the rule that answers a browser.

Layer: gateway (S3 syntax and AWS's rules; the coordinator only stores the configuration).
Contract:

* ``parse_cors`` reads a ``CORSConfiguration`` of 1 to 100 ``CORSRule``: each needs an
  ``AllowedOrigin`` and an ``AllowedMethod`` (``MalformedXML`` otherwise); methods are GET,
  PUT, HEAD, POST and DELETE, origins and headers hold at most one ``*`` (``InvalidRequest``
  with AWS's words); ``MaxAgeSeconds`` is a number, an ``ID`` at most 255 characters.
* ``matching_rule`` is the first rule whose origins match the request's ``Origin`` (``*``
  stands for any run of characters), whose methods hold the method and whose allowed headers
  match every requested header (case-insensitive).
* ``allow_headers`` is what a matching rule answers: ``Access-Control-Allow-Origin`` (``*`` for
  a rule open to every origin, else the origin, with ``Access-Control-Allow-Credentials``),
  the rule's methods, the requested headers (preflights), its exposed headers and max age,
  and ``Vary``. ``preflight`` answers an OPTIONS request: 400 without ``Origin`` or
  ``Access-Control-Request-Method``, 403 ``AccessForbidden`` where no rule allows it.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Mapping

from wormfs.gateway.errors import AccessForbidden, BadRequest, InvalidRequest, MalformedXML
from wormfs.gateway.xml import Elem, child_text
from wormfs.wire.cors import CorsConfig, CorsRule

MAX_RULES = 100
METHODS = ("GET", "PUT", "HEAD", "POST", "DELETE")
VARY = "Origin, Access-Control-Request-Headers, Access-Control-Request-Method"
NOT_ALLOWED = (
    "CORSResponse: This CORS request is not allowed. This is usually because the evalution of "
    "Origin, request method / Access-Control-Request-Method or Access-Control-Request-Headers "
    "are not whitelisted by the resource's CORS spec."
)


def _texts(rule: ET.Element, name: str) -> list[str]:
    return [(e.text or "").strip() for e in rule.findall(name)]


def _one_wildcard(values: list[str], what: str) -> None:
    for value in values:
        if value.count("*") > 1:
            raise InvalidRequest(f'{what} "{value}" can not have more than one wildcard.')


def _rule(elem: ET.Element) -> CorsRule:
    origins, methods = _texts(elem, "AllowedOrigin"), _texts(elem, "AllowedMethod")
    if not origins or not methods:
        raise MalformedXML()
    for method in methods:
        if method not in METHODS:
            raise InvalidRequest(
                "Found unsupported HTTP method in CORS config. Unsupported method is " + method
            )
    headers = _texts(elem, "AllowedHeader")
    _one_wildcard(origins, "AllowedOrigin")
    _one_wildcard(headers, "AllowedHeader")
    age = child_text(elem, "MaxAgeSeconds")
    try:
        max_age = None if age is None else int(age.strip())
    except ValueError:
        raise MalformedXML() from None
    rule_id = child_text(elem, "ID")
    if rule_id is not None and len(rule_id) > 255:
        raise InvalidRequest("ID length should not exceed allowed limit of 255")
    return CorsRule(
        allowed_origins=origins,
        allowed_methods=methods,
        allowed_headers=headers,
        expose_headers=_texts(elem, "ExposeHeader"),
        max_age_seconds=max_age,
        id=rule_id,
    )


def parse_cors(doc: ET.Element) -> CorsConfig:
    if doc.tag != "CORSConfiguration":
        raise MalformedXML()
    rules = doc.findall("CORSRule")
    if not 1 <= len(rules) <= MAX_RULES:
        raise MalformedXML()
    return CorsConfig(rules=[_rule(r) for r in rules])


def cors_document(config: CorsConfig) -> Elem:
    root = Elem("CORSConfiguration")
    for rule in config.rules:
        elem = root.add("CORSRule")
        if rule.id is not None:
            elem.leaf("ID", rule.id)
        for name, values in (
            ("AllowedHeader", rule.allowed_headers),
            ("AllowedMethod", rule.allowed_methods),
            ("AllowedOrigin", rule.allowed_origins),
            ("ExposeHeader", rule.expose_headers),
        ):
            for value in values:
                elem.leaf(name, value)
        if rule.max_age_seconds is not None:
            elem.leaf("MaxAgeSeconds", rule.max_age_seconds)
    return root


def _matches(pattern: str, value: str, fold: bool = False) -> bool:
    if fold:
        pattern, value = pattern.lower(), value.lower()
    if "*" not in pattern:
        return pattern == value
    return re.fullmatch(".*".join(re.escape(p) for p in pattern.split("*")), value) is not None


def _requested_headers(value: str | None) -> list[str]:
    return [h.strip() for h in (value or "").split(",") if h.strip()]


def matching_rule(
    config: CorsConfig, origin: str, method: str, headers: list[str]
) -> CorsRule | None:
    for rule in config.rules:
        if method not in rule.allowed_methods:
            continue
        if not any(_matches(o, origin) for o in rule.allowed_origins):
            continue
        if all(any(_matches(a, h, fold=True) for a in rule.allowed_headers) for h in headers):
            return rule
    return None


def allow_headers(rule: CorsRule, origin: str, requested: list[str]) -> dict[str, str]:
    out = {"Vary": VARY, "Access-Control-Allow-Methods": ", ".join(rule.allowed_methods)}
    if "*" in rule.allowed_origins:
        out["Access-Control-Allow-Origin"] = "*"
    else:
        out["Access-Control-Allow-Origin"] = origin
        out["Access-Control-Allow-Credentials"] = "true"
    if requested:
        out["Access-Control-Allow-Headers"] = ", ".join(requested)
    if rule.expose_headers:
        out["Access-Control-Expose-Headers"] = ", ".join(rule.expose_headers)
    if rule.max_age_seconds is not None:
        out["Access-Control-Max-Age"] = str(rule.max_age_seconds)
    return out


def response_headers(
    config: CorsConfig | None, method: str, headers: Mapping[str, str]
) -> dict[str, str]:
    """The CORS headers of an actual (not preflight) request from a browser; {} for a request
    without ``Origin`` or one no rule allows (it is served all the same)."""
    origin = headers.get("Origin")
    if config is None or origin is None:
        return {}
    rule = matching_rule(config, origin, method, [])
    return {} if rule is None else allow_headers(rule, origin, [])


def preflight(config: CorsConfig | None, headers: Mapping[str, str]) -> dict[str, str]:
    """The headers of a 200 answer to an OPTIONS preflight, or the S3 error that refuses it."""
    origin = headers.get("Origin")
    if origin is None:
        raise BadRequest("Insufficient information. Origin request header needed.")
    method = headers.get("Access-Control-Request-Method")
    if method is None:
        raise BadRequest(f"Invalid Access-Control-Request-Method: {method}")
    if config is None:
        raise AccessForbidden(Method=method, ResourceType="BUCKET")
    requested = _requested_headers(headers.get("Access-Control-Request-Headers"))
    rule = matching_rule(config, origin, method, requested)
    if rule is None:
        raise AccessForbidden(NOT_ALLOWED, Method=method, ResourceType="OBJECT")
    return allow_headers(rule, origin, requested)
