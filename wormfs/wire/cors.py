"""A bucket's CORS configuration as the gateway and the coordinator exchange it.

Layer: wire (the gateway parses and checks S3's document and answers browsers from it; the
coordinator stores it in the bucket's settings). The fields are S3's ``CORSRule``'s.
"""

from __future__ import annotations

import msgspec


class CorsRule(msgspec.Struct, frozen=True):
    allowed_origins: list[str]
    allowed_methods: list[str]
    allowed_headers: list[str] = []
    expose_headers: list[str] = []
    max_age_seconds: int | None = None
    id: str | None = None


class CorsConfig(msgspec.Struct, frozen=True):
    rules: list[CorsRule]


class CorsSetting(msgspec.Struct, frozen=True):
    """Put a bucket's CORS configuration; None removes it."""

    config: CorsConfig | None = None
