"""Sub-resources WormFS never configures (gateway handlers), answered as AWS answers for a bucket
where nothing was ever configured, instead of 501: clients probe them routinely (s3cmd
``info``, ``ws-info`` and ``accesslog``, Terraform, SDK helpers) and treat AWS's "not
configured" answers as normal.

Contract: every handler first checks the bucket through the service (``NoSuchBucket``;
``AccessDenied`` for another user's bucket), then answers one fixed document or error:

* GET of a configuration that does not exist: AWS's 404 for it (``NoSuchCORSConfiguration``,
  ``NoSuchLifecycleConfiguration``, ...), or, for settings that always have a
  value, the document of the default (logging off, no notifications, acceleration never set,
  the owner pays, empty ``List*Configurations``).
* DELETE of such a configuration: 204, as AWS answers when there was nothing to delete;
  configurations kept by id (analytics, inventory, metrics, intelligent tiering) have no such
  id: ``NoSuchConfiguration``.

Writes of these configurations have no handler here and stay 501 ``NotImplemented``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from types import MappingProxyType

from wormfs.gateway.errors import (
    NoSuchConfiguration,
    NoSuchWebsiteConfiguration,
    ReplicationConfigurationNotFoundError,
    S3Error,
)
from wormfs.gateway.handlers.base import (
    Handler,
    S3Context,
    S3Response,
    bucket_of,
    empty_response,
    xml_response,
)
from wormfs.gateway.xml import Elem


async def _bucket(ctx: S3Context) -> None:
    await ctx.service.head_bucket(ctx.principal, bucket_of(ctx))


def _missing(error: Callable[..., S3Error]) -> Handler:
    """GET of a bucket configuration that was never set: AWS's 404 for it."""

    async def handler(ctx: S3Context) -> S3Response:
        await _bucket(ctx)
        raise error(BucketName=bucket_of(ctx))

    return handler


async def _no_such_id(ctx: S3Context) -> S3Response:
    """GET or DELETE of a configuration kept by id: no bucket has any."""
    await _bucket(ctx)
    raise NoSuchConfiguration(BucketName=bucket_of(ctx))


def _document(build: Callable[[], Elem]) -> Handler:
    """GET of a setting that always has a value: the document of its default."""

    async def handler(ctx: S3Context) -> S3Response:
        await _bucket(ctx)
        return xml_response(build())

    return handler


def _empty_list(root: str) -> Callable[[], Elem]:
    def build() -> Elem:
        doc = Elem(root)
        doc.leaf("IsTruncated", False)
        return doc

    return build


def _request_payment() -> Elem:
    doc = Elem("RequestPaymentConfiguration")
    doc.leaf("Payer", "BucketOwner")
    return doc


async def _delete_nothing(ctx: S3Context) -> S3Response:
    """DELETE of a configuration that does not exist: AWS answers 204 all the same."""
    await _bucket(ctx)
    return empty_response(204)


HANDLERS: Mapping[str, Handler] = MappingProxyType(
    {
        # ---- never configured: 404 ----------------------------------------------------------
        "GetBucketWebsite": _missing(NoSuchWebsiteConfiguration),
        "GetBucketReplication": _missing(ReplicationConfigurationNotFoundError),
        "GetBucketAnalyticsConfiguration": _no_such_id,
        "GetBucketInventoryConfiguration": _no_such_id,
        "GetBucketMetricsConfiguration": _no_such_id,
        "GetBucketIntelligentTieringConfiguration": _no_such_id,
        # ---- settings with a default: its document ------------------------------------------
        "GetBucketLogging": _document(lambda: Elem("BucketLoggingStatus")),
        "GetBucketNotificationConfiguration": _document(lambda: Elem("NotificationConfiguration")),
        "GetBucketAccelerateConfiguration": _document(lambda: Elem("AccelerateConfiguration")),
        "GetBucketRequestPayment": _document(_request_payment),
        "ListBucketAnalyticsConfigurations": _document(
            _empty_list("ListBucketAnalyticsConfigurationResult")
        ),
        "ListBucketInventoryConfigurations": _document(
            _empty_list("ListInventoryConfigurationsResult")
        ),
        "ListBucketMetricsConfigurations": _document(
            _empty_list("ListMetricsConfigurationsResult")
        ),
        "ListBucketIntelligentTieringConfigurations": _document(
            _empty_list("ListBucketIntelligentTieringConfigurationsOutput")
        ),
        # ---- deleting what does not exist ---------------------------------------------------
        "DeleteBucketWebsite": _delete_nothing,
        "DeleteBucketReplication": _delete_nothing,
        "DeleteBucketAnalyticsConfiguration": _no_such_id,
        "DeleteBucketInventoryConfiguration": _no_such_id,
        "DeleteBucketMetricsConfiguration": _no_such_id,
        "DeleteBucketIntelligentTieringConfiguration": _no_such_id,
    }
)
