"""Default encryption operations (gateway handlers): Put/Get/DeleteBucketEncryption.

Contract: PutBucketEncryption needs a Content-MD5 or an x-amz-checksum of its body, as AWS
demands (``InvalidRequest``), and replaces the bucket's default encryption with the document
``wormfs.gateway.bucket_encryption`` checked; GetBucketEncryption answers it,
``ServerSideEncryptionConfigurationNotFoundError`` (404) without one; DeleteBucketEncryption
removes it (204, also when there was none). Ownership is checked by the coordinator
(``AccessDenied``). The configuration is also part of the bucket facts the app caches
(``BucketAccess.encryption``): a change is seen by this worker's next request.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from wormfs.gateway.bucket_encryption import encryption_document, parse_encryption
from wormfs.gateway.errors import ServerSideEncryptionConfigurationNotFoundError
from wormfs.gateway.handlers.base import Handler, document_handlers

HANDLERS: Mapping[str, Handler] = MappingProxyType(
    document_handlers(
        "BucketEncryption",
        lambda service, principal, bucket: service.bucket_encryption(principal, bucket),
        lambda service, principal, bucket, config: service.put_bucket_encryption(
            principal, bucket, config
        ),
        parse_encryption,
        encryption_document,
        ServerSideEncryptionConfigurationNotFoundError,
    )
)
