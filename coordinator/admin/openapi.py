"""The OpenAPI 3.1 document of the admin API, generated from the route table and its schemas.

Layer: coordinator admin package. Contract: ``document(routes, version)`` returns the whole
document as a dict: one operation per ``Route`` (operationId from the handler's name, the
summary, the tag, its path and query parameters, the JSON request body, the success answer
and ``ErrorBody`` as the default answer), the bearer security scheme on every route whose
scope is not ``none`` (and ``x-wormfs-scope`` naming the scope), and every schema under
``components/schemas``, produced by ``msgspec.json.schema_components`` from the very types
the server decodes and encodes with. Served at ``GET /admin/v1/openapi.json``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

import msgspec

from wormfs.coordinator.admin.errors import ErrorBody
from wormfs.coordinator.admin.routes import Route

REF = "#/components/schemas/{name}"
_PLACEHOLDER = re.compile(r"\{(\w+)\}")


def _query_parameters(schema: dict[str, Any], components: dict[str, Any]) -> list[Any]:
    if "$ref" in schema:
        schema = components[schema["$ref"].rsplit("/", 1)[-1]]
    required = set(schema.get("required", ()))
    return [
        {"name": name, "in": "query", "required": name in required, "schema": prop}
        for name, prop in schema.get("properties", {}).items()
    ]


def _operation(
    route: Route, schemas: dict[Any, dict[str, Any]], components: dict[str, Any]
) -> dict[str, Any]:
    parameters: list[Any] = [
        {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
        for name in _PLACEHOLDER.findall(route.path)
    ]
    if route.query is not None:
        parameters += _query_parameters(schemas[route.query], components)
    success: dict[str, Any] = {"description": "success"}
    if route.response is not None:
        success["content"] = {"application/json": {"schema": schemas[route.response]}}
    operation: dict[str, Any] = {
        "operationId": route.operation_id,
        "summary": route.summary,
        "tags": [route.tag] if route.tag else [],
        "parameters": parameters,
        "responses": {
            str(route.status if route.response is not None else 204): success,
            "default": {
                "description": "an error",
                "content": {"application/json": {"schema": schemas[ErrorBody]}},
            },
        },
        "security": [] if route.scope == "none" else [{"bearer": []}],
        "x-wormfs-scope": route.scope,
    }
    if route.request is not None:
        operation["requestBody"] = {
            "required": True,
            "content": {"application/json": {"schema": schemas[route.request]}},
        }
    if route.mutating:
        operation["x-wormfs-audit-action"] = route.audit_action
    return operation


def document(routes: Iterable[Route], version: str) -> dict[str, Any]:
    routes = list(routes)
    types: list[Any] = [ErrorBody]
    for route in routes:
        types += [t for t in (route.request, route.query, route.response) if t is not None]
    unique = list(dict.fromkeys(types))
    found, components = msgspec.json.schema_components(unique, ref_template=REF)
    schemas = dict(zip(unique, found, strict=True))
    paths: dict[str, dict[str, Any]] = {}
    for route in routes:
        operations = paths.setdefault(route.full_path, {})
        operations[route.method.lower()] = _operation(route, schemas, components)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "WormFS admin API",
            "version": version,
            "description": "The coordinator's admin plane: health, cluster, nodes, disks, "
            "buckets, users and keys, tokens, audit (and what other modules register).",
        },
        "servers": [{"url": "/"}],
        "paths": paths,
        "components": {
            "schemas": components,
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer", "description": "an admin token"}
            },
        },
    }
