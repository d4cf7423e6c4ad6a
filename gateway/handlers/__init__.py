"""S3 operation handlers (gateway layer): one module per operation family.

Contract: ``HANDLERS`` maps an AWS operation name (as ``wormfs.gateway.router`` names it) to
its handler; a routed name missing here is answered 501 ``NotImplemented`` by the app.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from wormfs.gateway.handlers import (
    acl,
    bucket_encryption,
    buckets,
    copy,
    cors,
    lifecycle,
    listing,
    multipart,
    object_lock,
    objects,
    policy,
    tagging,
    unconfigured,
)
from wormfs.gateway.handlers.base import Handler, S3Context, S3Response
from wormfs.gateway.handlers.owner import expecting_owner

_ALL: dict[str, Handler] = {
    **buckets.HANDLERS,
    **objects.HANDLERS,
    **copy.HANDLERS,
    **listing.HANDLERS,
    **multipart.HANDLERS,
    **unconfigured.HANDLERS,
    **tagging.HANDLERS,
    **policy.HANDLERS,
    **object_lock.HANDLERS,
    **lifecycle.HANDLERS,
    **cors.HANDLERS,
    **bucket_encryption.HANDLERS,
    **acl.HANDLERS,
}
# Every operation on a bucket checks x-amz-expected-bucket-owner (ListBuckets and CreateBucket
# have no bucket owner to compare with).
HANDLERS: Mapping[str, Handler] = MappingProxyType(
    {
        name: handler if name in ("ListBuckets", "CreateBucket") else expecting_owner(handler)
        for name, handler in _ALL.items()
    }
)

__all__ = ["HANDLERS", "Handler", "S3Context", "S3Response"]
