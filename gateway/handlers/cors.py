"""CORS configuration operations (gateway handlers): Put/Get/DeleteBucketCors.

Contract: PutBucketCors needs a Content-MD5 or an x-amz-checksum of its body, as AWS demands
(``InvalidRequest``), and replaces the bucket's rules whole with the document
``wormfs.gateway.cors`` checked; GetBucketCors answers them, ``NoSuchCORSConfiguration`` (404)
without any; DeleteBucketCors removes them (204). Ownership is checked by the coordinator
(``AccessDenied``). Browsers are answered from the rules by the app (preflights and the
``Access-Control-*`` headers), which reads them from the bucket facts it caches: a change is
seen by this worker's next request.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from wormfs.gateway.cors import cors_document, parse_cors
from wormfs.gateway.errors import NoSuchCORSConfiguration
from wormfs.gateway.handlers.base import Handler, document_handlers

HANDLERS: Mapping[str, Handler] = MappingProxyType(
    document_handlers(
        "BucketCors",
        lambda service, principal, bucket: service.bucket_cors(principal, bucket),
        lambda service, principal, bucket, config: service.put_bucket_cors(
            principal, bucket, config
        ),
        parse_cors,
        cors_document,
        NoSuchCORSConfiguration,
    )
)
