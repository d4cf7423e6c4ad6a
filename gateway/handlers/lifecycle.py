"""Lifecycle operations (gateway handlers): Put/Get/DeleteBucketLifecycleConfiguration (the
deprecated PutBucketLifecycle / GetBucketLifecycle share their requests).

Contract: PutBucketLifecycleConfiguration needs a Content-MD5 or an x-amz-checksum of its
body, as AWS demands (``InvalidRequest``), and replaces the bucket's rules whole with the
document ``wormfs.gateway.lifecycle`` checked; GetBucketLifecycleConfiguration answers them,
``NoSuchLifecycleConfiguration`` (404) when there are none; DeleteBucketLifecycle removes
them (204). Ownership is checked by the coordinator (``AccessDenied``); a change is seen by
this worker's next request (the ``x-amz-expiration`` header reads the rules from the bucket
facts it caches).
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from wormfs.gateway.errors import NoSuchLifecycleConfiguration
from wormfs.gateway.handlers.base import Handler, document_handlers
from wormfs.gateway.lifecycle import lifecycle_document, parse_lifecycle

HANDLERS: Mapping[str, Handler] = MappingProxyType(
    document_handlers(
        "BucketLifecycleConfiguration",
        lambda service, principal, bucket: service.bucket_lifecycle(principal, bucket),
        lambda service, principal, bucket, config: service.put_bucket_lifecycle(
            principal, bucket, config
        ),
        parse_lifecycle,
        lifecycle_document,
        NoSuchLifecycleConfiguration,
        delete_name="DeleteBucketLifecycle",
    )
)
