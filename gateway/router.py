"""The S3 router (gateway layer): one HTTP request -> one ``Operation`` named as AWS names it.

Contract: ``route(method, target, headers, ...)`` parses the request target (path + query) and
the Host header once and returns an ``Operation``: its AWS name (``PutObject``,
``ListObjectsV2``, ``GetBucketTagging``, ...), bucket, key, decoded query and headers. Path-style
(``/bucket/key``) and virtual-hosted-style (``bucket.<virtual_host_domain>/key``) addressing
are both understood. Every request gets a name, including sub-resources WormFS does not serve
(``?tagging``, ``?policy``, ...); the app dispatches on the name and answers 501
``NotImplemented`` for names without a handler. Bad targets raise ``InvalidURI``; keys longer
than 1024 UTF-8 bytes raise ``KeyTooLongError``; methods S3 does not accept on a resource
raise ``MethodNotAllowed``. A PUT, POST or DELETE with a value-less query flag that names no
known sub-resource (AWS's sub-resources are all such flags) is refused with 501
``NotImplemented`` rather than taken for PutObject, CreateBucket or DeleteObject: a
sub-resource added to S3 later must never overwrite or delete data here.

The query is decoded here, once (``+`` is a space, as in forms; invalid UTF-8 is refused),
and the SigV4 verifier signs the same decoded pairs, so what is authenticated is what is
routed.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from urllib.parse import unquote_to_bytes

from multidict import CIMultiDictProxy, MultiDict, MultiDictProxy

from wormfs.gateway.errors import InvalidURI, KeyTooLongError, MethodNotAllowed, S3NotImplemented

MAX_KEY_BYTES = 1024

# Bucket sub-resources: query parameter -> the noun in AWS's operation names
# (GET -> Get<noun>, PUT -> Put<noun>, DELETE -> Delete<noun>).
BUCKET_SUBRESOURCES = MappingProxyType(
    {
        "abac": "BucketAbac",
        "accelerate": "BucketAccelerateConfiguration",
        "acl": "BucketAcl",
        "analytics": "BucketAnalyticsConfiguration",
        "cors": "BucketCors",
        "encryption": "BucketEncryption",
        "intelligent-tiering": "BucketIntelligentTieringConfiguration",
        "inventory": "BucketInventoryConfiguration",
        "lifecycle": "BucketLifecycleConfiguration",
        "logging": "BucketLogging",
        "metadataConfiguration": "BucketMetadataConfiguration",
        "metadataTable": "BucketMetadataTableConfiguration",
        "metrics": "BucketMetricsConfiguration",
        "notification": "BucketNotificationConfiguration",
        "object-lock": "ObjectLockConfiguration",
        "ownershipControls": "BucketOwnershipControls",
        "policy": "BucketPolicy",
        "policyStatus": "BucketPolicyStatus",
        "publicAccessBlock": "PublicAccessBlock",
        "replication": "BucketReplication",
        "requestPayment": "BucketRequestPayment",
        "tagging": "BucketTagging",
        "versioning": "BucketVersioning",
        "website": "BucketWebsite",
    }
)
OBJECT_SUBRESOURCES = MappingProxyType(
    {
        "acl": "ObjectAcl",
        "attributes": "ObjectAttributes",
        "legal-hold": "ObjectLegalHold",
        "retention": "ObjectRetention",
        "tagging": "ObjectTagging",
        "torrent": "ObjectTorrent",
    }
)
# Sub-resources written with one method only: (method, operation).
BUCKET_UPDATES = MappingProxyType(
    {
        "metadataAnnotationTable": ("PUT", "UpdateBucketMetadataAnnotationTableConfiguration"),
        "metadataInventoryTable": ("PUT", "UpdateBucketMetadataInventoryTableConfiguration"),
        "metadataJournalTable": ("PUT", "UpdateBucketMetadataJournalTableConfiguration"),
    }
)
OBJECT_UPDATES = MappingProxyType(
    {
        "renameObject": ("PUT", "RenameObject"),
        "encryption": ("PUT", "UpdateObjectEncryption"),
    }
)
# Query flags that are not sub-resources but may come without a value on writes.
_PLAIN_FLAGS = frozenset({"uploads", "uploadId", "partNumber", "versionId", "delete", "x-id"})
_VERBS = MappingProxyType({"GET": "Get", "PUT": "Put", "DELETE": "Delete"})
# Configurations kept by id: GET without ``id`` lists them (ListBucketMetricsConfigurations).
_LISTED_BY_ID = MappingProxyType(
    {
        "analytics": "ListBucketAnalyticsConfigurations",
        "intelligent-tiering": "ListBucketIntelligentTieringConfigurations",
        "inventory": "ListBucketInventoryConfigurations",
        "metrics": "ListBucketMetricsConfigurations",
    }
)


@dataclass(frozen=True)
class Operation:
    """A request as the handlers see it."""

    name: str
    method: str
    bucket: str | None
    key: str | None
    query: MultiDictProxy[str]
    query_items: tuple[tuple[str, str], ...]
    headers: CIMultiDictProxy[str]
    raw_path: str  # the path as sent, for SigV4
    host: str
    scheme: str
    virtual_host: bool = False

    @property
    def resource(self) -> str:
        """What error documents show as ``Resource``."""
        if self.bucket is None:
            return "/"
        if self.key is None:
            return f"/{self.bucket}"
        return f"/{self.bucket}/{self.key}"

    @property
    def is_head(self) -> bool:
        return self.method == "HEAD"


def _decode(component: str, plus_is_space: bool) -> str:
    if plus_is_space:
        component = component.replace("+", " ")
    try:
        return unquote_to_bytes(component).decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidURI() from None


def parse_query(raw: str) -> list[tuple[str, str]]:
    """Decoded ``(name, value)`` pairs in order; ``?uploads`` gives ``("uploads", "")``."""
    pairs = []
    for item in raw.split("&"):
        if not item:
            continue
        name, _, value = item.partition("=")
        pairs.append((_decode(name, True), _decode(value, True)))
    return pairs


def split_target(target: str) -> tuple[str, str]:
    """``(raw path, raw query)`` of a request target (origin-form or absolute-form)."""
    if target.startswith(("http://", "https://")):
        rest = target.split("://", 1)[1]
        slash = rest.find("/")
        target = rest[slash:] if slash >= 0 else "/"
    path, _, query = target.partition("?")
    return path, query


def bucket_from_host(host: str, domain: str) -> str | None:
    """The bucket named by a virtual-hosted-style Host header, or None for path style."""
    if not domain:
        return None
    name = host.rsplit(":", 1)[0] if not host.endswith("]") else host
    name = name.lower().rstrip(".")
    domain = domain.lower().strip(".")
    if name.endswith("." + domain):
        return name[: -len(domain) - 1]
    return None


def route(
    method: str,
    target: str,
    headers: CIMultiDictProxy[str],
    *,
    virtual_host_domain: str = "",
    scheme: str = "http",
) -> Operation:
    raw_path, raw_query = split_target(target)
    if not raw_path.startswith("/"):
        raise InvalidURI()
    path = _decode(raw_path, False)
    items = tuple(parse_query(raw_query))
    query = MultiDictProxy(MultiDict(items))
    host = headers.get("host", "")

    vhost_bucket = bucket_from_host(host, virtual_host_domain)
    bucket: str | None
    key: str | None
    if vhost_bucket is not None:
        bucket = vhost_bucket
        key = path[1:] or None
    else:
        first, slash, rest = path[1:].partition("/")
        bucket = first or None
        key = rest if slash and rest else None
    if key is not None and len(key.encode("utf-8")) > MAX_KEY_BYTES:
        raise KeyTooLongError(Size=len(key.encode("utf-8")), MaxSizeAllowed=MAX_KEY_BYTES)
    if method in ("PUT", "POST", "DELETE"):
        _refuse_unknown_flags(raw_query, bucket is not None and key is None)

    if bucket is None:
        name = _service_operation(method)
    elif key is None:
        name = _bucket_operation(method, query, headers)
    else:
        name = _object_operation(method, query, headers)
    return Operation(
        name=name,
        method=method,
        bucket=bucket,
        key=key,
        query=query,
        query_items=items,
        headers=headers,
        raw_path=raw_path,
        host=host,
        scheme=scheme,
        virtual_host=vhost_bucket is not None,
    )


def _not_allowed(method: str, resource_type: str) -> MethodNotAllowed:
    return MethodNotAllowed(Method=method, ResourceType=resource_type)


def _refuse_unknown_flags(raw_query: str, on_bucket: bool) -> None:
    known = (
        {*BUCKET_SUBRESOURCES, *BUCKET_UPDATES}
        if on_bucket
        else {*OBJECT_SUBRESOURCES, *OBJECT_UPDATES, "annotation", "restore", "select"}
    )
    for item in raw_query.split("&"):
        if item and "=" not in item:
            name = _decode(item, True)
            if name not in known and name not in _PLAIN_FLAGS:
                raise S3NotImplemented(f"The ?{name} sub-resource is not implemented")


def _service_operation(method: str) -> str:
    if method in ("GET", "HEAD"):
        return "ListBuckets"
    raise _not_allowed(method, "SERVICE")


def _subresource(query: MultiDictProxy[str], table: Mapping[str, object]) -> str | None:
    for name in query:
        if name in table:
            return name
    return None


def _bucket_operation(
    method: str, query: MultiDictProxy[str], headers: CIMultiDictProxy[str]
) -> str:
    if method == "HEAD":
        return "HeadBucket"
    if method == "POST":
        if "delete" in query:
            return "DeleteObjects"
        if "metadataTable" in query:
            return "CreateBucketMetadataTableConfiguration"
        if "metadataConfiguration" in query:
            return "CreateBucketMetadataConfiguration"
        # Browser-form uploads (POST policy) are not served.
        return "PostObject"
    if method == "OPTIONS":
        return "PreflightRequest"
    if method not in _VERBS:
        raise _not_allowed(method, "BUCKET")
    if method == "GET":
        if "uploads" in query:
            return "ListMultipartUploads"
        if "location" in query:
            return "GetBucketLocation"
        if "versions" in query:
            return "ListObjectVersions"
        if "session" in query:
            return "CreateSession"
    update = _subresource(query, BUCKET_UPDATES)
    if update is not None:
        verb, name = BUCKET_UPDATES[update]
        if method != verb:
            raise _not_allowed(method, "BUCKET")
        return name
    sub = _subresource(query, BUCKET_SUBRESOURCES)
    if sub is not None:
        noun = BUCKET_SUBRESOURCES[sub]
        if method == "DELETE" and sub == "lifecycle":
            return "DeleteBucketLifecycle"
        if method == "GET" and sub in _LISTED_BY_ID and "id" not in query:
            return _LISTED_BY_ID[sub]
        return _VERBS[method] + noun
    if method == "GET":
        return "ListObjectsV2" if query.get("list-type") == "2" else "ListObjects"
    if method == "PUT":
        return "CreateBucket"
    return "DeleteBucket"


def _object_operation(
    method: str, query: MultiDictProxy[str], headers: CIMultiDictProxy[str]
) -> str:
    if method == "HEAD":
        return "HeadObject"
    if method == "OPTIONS":
        return "PreflightRequest"
    if method == "POST":
        if "uploads" in query:
            return "CreateMultipartUpload"
        if "uploadId" in query:
            return "CompleteMultipartUpload"
        if "restore" in query:
            return "RestoreObject"
        if "select" in query:
            return "SelectObjectContent"
        raise _not_allowed(method, "OBJECT")
    if method not in _VERBS:
        raise _not_allowed(method, "OBJECT")
    if method == "PUT" and "partNumber" in query and "uploadId" in query:
        return "UploadPartCopy" if "x-amz-copy-source" in headers else "UploadPart"
    if method == "GET" and "uploadId" in query:
        return "ListParts"
    if method == "DELETE" and "uploadId" in query:
        return "AbortMultipartUpload"
    update = _subresource(query, OBJECT_UPDATES)
    if update is not None:
        verb, name = OBJECT_UPDATES[update]
        if method != verb:
            raise _not_allowed(method, "OBJECT")
        return name
    if "annotation" in query:
        if method == "GET" and "annotationName" not in query:
            return "ListObjectAnnotations"
        return _VERBS[method] + "ObjectAnnotation"
    sub = _subresource(query, OBJECT_SUBRESOURCES)
    if sub is not None:
        return _VERBS[method] + OBJECT_SUBRESOURCES[sub]
    if method == "GET":
        return "GetObject"
    if method == "PUT":
        return "CopyObject" if "x-amz-copy-source" in headers else "PutObject"
    return "DeleteObject"
