"""IAM action names of S3 operations (gateway layer, pure), beside the router's operation names.

Contract: ``ACTIONS`` maps each operation name ``wormfs.gateway.router`` gives (``GetObject``,
``ListObjectsV2``, ...) to the IAM action a policy grants or denies for it (``s3:GetObject``,
``s3:ListBucket``, ...), as AWS's "Actions, resources, and condition keys for Amazon S3"
lists them; ``action_for(name, versioned)`` answers one, taking the ``*Version`` action of
requests that name a version id (GetObject with ``versionId`` is ``s3:GetObjectVersion``).
Operations absent from the table (ListBuckets, CreateBucket, browser POSTs, preflights) are
not authorized by bucket policies. ``KNOWN_ACTIONS`` is every action a bucket policy may name
(PutBucketPolicy refuses others), each with the resource type it applies to: ``object``
(``arn:aws:s3:::bucket/key``), ``bucket`` (``arn:aws:s3:::bucket``) or ``service`` (none a
bucket policy can name).
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Literal

ResourceType = Literal["bucket", "object", "service"]

# operation -> (action, action when a versionId is named)
ACTIONS: Mapping[str, tuple[str, str]] = MappingProxyType(
    {
        name: (action, versioned or action)
        for name, action, versioned in (
            # ---- buckets ----------------------------------------------------------------------
            ("HeadBucket", "s3:ListBucket", ""),
            ("ListObjects", "s3:ListBucket", ""),
            ("ListObjectsV2", "s3:ListBucket", ""),
            ("ListObjectVersions", "s3:ListBucketVersions", ""),
            ("ListMultipartUploads", "s3:ListBucketMultipartUploads", ""),
            ("DeleteBucket", "s3:DeleteBucket", ""),
            ("GetBucketLocation", "s3:GetBucketLocation", ""),
            ("GetBucketPolicy", "s3:GetBucketPolicy", ""),
            ("PutBucketPolicy", "s3:PutBucketPolicy", ""),
            ("DeleteBucketPolicy", "s3:DeleteBucketPolicy", ""),
            ("GetBucketPolicyStatus", "s3:GetBucketPolicyStatus", ""),
            ("GetPublicAccessBlock", "s3:GetBucketPublicAccessBlock", ""),
            ("PutPublicAccessBlock", "s3:PutBucketPublicAccessBlock", ""),
            ("DeletePublicAccessBlock", "s3:PutBucketPublicAccessBlock", ""),
            ("GetBucketOwnershipControls", "s3:GetBucketOwnershipControls", ""),
            ("PutBucketOwnershipControls", "s3:PutBucketOwnershipControls", ""),
            ("DeleteBucketOwnershipControls", "s3:PutBucketOwnershipControls", ""),
            ("GetBucketAcl", "s3:GetBucketAcl", ""),
            ("PutBucketAcl", "s3:PutBucketAcl", ""),
            ("GetBucketTagging", "s3:GetBucketTagging", ""),
            ("PutBucketTagging", "s3:PutBucketTagging", ""),
            ("DeleteBucketTagging", "s3:PutBucketTagging", ""),
            ("GetBucketVersioning", "s3:GetBucketVersioning", ""),
            ("PutBucketVersioning", "s3:PutBucketVersioning", ""),
            ("GetBucketCors", "s3:GetBucketCORS", ""),
            ("PutBucketCors", "s3:PutBucketCORS", ""),
            ("DeleteBucketCors", "s3:PutBucketCORS", ""),
            ("GetBucketLifecycleConfiguration", "s3:GetLifecycleConfiguration", ""),
            ("PutBucketLifecycleConfiguration", "s3:PutLifecycleConfiguration", ""),
            ("DeleteBucketLifecycle", "s3:PutLifecycleConfiguration", ""),
            ("GetBucketWebsite", "s3:GetBucketWebsite", ""),
            ("PutBucketWebsite", "s3:PutBucketWebsite", ""),
            ("DeleteBucketWebsite", "s3:DeleteBucketWebsite", ""),
            ("GetBucketEncryption", "s3:GetEncryptionConfiguration", ""),
            ("PutBucketEncryption", "s3:PutEncryptionConfiguration", ""),
            ("DeleteBucketEncryption", "s3:PutEncryptionConfiguration", ""),
            ("GetBucketLogging", "s3:GetBucketLogging", ""),
            ("PutBucketLogging", "s3:PutBucketLogging", ""),
            ("GetBucketNotificationConfiguration", "s3:GetBucketNotification", ""),
            ("PutBucketNotificationConfiguration", "s3:PutBucketNotification", ""),
            ("GetBucketAccelerateConfiguration", "s3:GetAccelerateConfiguration", ""),
            ("PutBucketAccelerateConfiguration", "s3:PutAccelerateConfiguration", ""),
            ("GetBucketRequestPayment", "s3:GetBucketRequestPayment", ""),
            ("PutBucketRequestPayment", "s3:PutBucketRequestPayment", ""),
            ("GetBucketReplication", "s3:GetReplicationConfiguration", ""),
            ("PutBucketReplication", "s3:PutReplicationConfiguration", ""),
            ("DeleteBucketReplication", "s3:PutReplicationConfiguration", ""),
            ("GetObjectLockConfiguration", "s3:GetBucketObjectLockConfiguration", ""),
            ("PutObjectLockConfiguration", "s3:PutBucketObjectLockConfiguration", ""),
            ("GetBucketAnalyticsConfiguration", "s3:GetAnalyticsConfiguration", ""),
            ("PutBucketAnalyticsConfiguration", "s3:PutAnalyticsConfiguration", ""),
            ("DeleteBucketAnalyticsConfiguration", "s3:PutAnalyticsConfiguration", ""),
            ("ListBucketAnalyticsConfigurations", "s3:GetAnalyticsConfiguration", ""),
            ("GetBucketInventoryConfiguration", "s3:GetInventoryConfiguration", ""),
            ("PutBucketInventoryConfiguration", "s3:PutInventoryConfiguration", ""),
            ("DeleteBucketInventoryConfiguration", "s3:PutInventoryConfiguration", ""),
            ("ListBucketInventoryConfigurations", "s3:GetInventoryConfiguration", ""),
            ("GetBucketMetricsConfiguration", "s3:GetMetricsConfiguration", ""),
            ("PutBucketMetricsConfiguration", "s3:PutMetricsConfiguration", ""),
            ("DeleteBucketMetricsConfiguration", "s3:PutMetricsConfiguration", ""),
            ("ListBucketMetricsConfigurations", "s3:GetMetricsConfiguration", ""),
            (
                "GetBucketIntelligentTieringConfiguration",
                "s3:GetIntelligentTieringConfiguration",
                "",
            ),
            (
                "PutBucketIntelligentTieringConfiguration",
                "s3:PutIntelligentTieringConfiguration",
                "",
            ),
            (
                "DeleteBucketIntelligentTieringConfiguration",
                "s3:PutIntelligentTieringConfiguration",
                "",
            ),
            (
                "ListBucketIntelligentTieringConfigurations",
                "s3:GetIntelligentTieringConfiguration",
                "",
            ),
            # ---- objects ----------------------------------------------------------------------
            ("GetObject", "s3:GetObject", "s3:GetObjectVersion"),
            ("HeadObject", "s3:GetObject", "s3:GetObjectVersion"),
            ("GetObjectAttributes", "s3:GetObjectAttributes", "s3:GetObjectVersionAttributes"),
            ("PutObject", "s3:PutObject", ""),
            ("CopyObject", "s3:PutObject", ""),
            ("CreateMultipartUpload", "s3:PutObject", ""),
            ("UploadPart", "s3:PutObject", ""),
            ("UploadPartCopy", "s3:PutObject", ""),
            ("CompleteMultipartUpload", "s3:PutObject", ""),
            ("AbortMultipartUpload", "s3:AbortMultipartUpload", ""),
            ("ListParts", "s3:ListMultipartUploadParts", ""),
            ("DeleteObject", "s3:DeleteObject", "s3:DeleteObjectVersion"),
            # DeleteObjects is authorized key by key, as s3:DeleteObject (its handler asks).
            ("DeleteObjects", "s3:DeleteObject", ""),
            ("GetObjectTagging", "s3:GetObjectTagging", "s3:GetObjectVersionTagging"),
            ("PutObjectTagging", "s3:PutObjectTagging", "s3:PutObjectVersionTagging"),
            ("DeleteObjectTagging", "s3:DeleteObjectTagging", "s3:DeleteObjectVersionTagging"),
            ("GetObjectAcl", "s3:GetObjectAcl", "s3:GetObjectVersionAcl"),
            ("PutObjectAcl", "s3:PutObjectAcl", "s3:PutObjectVersionAcl"),
            ("GetObjectRetention", "s3:GetObjectRetention", ""),
            ("PutObjectRetention", "s3:PutObjectRetention", ""),
            ("GetObjectLegalHold", "s3:GetObjectLegalHold", ""),
            ("PutObjectLegalHold", "s3:PutObjectLegalHold", ""),
            ("RestoreObject", "s3:RestoreObject", ""),
            ("SelectObjectContent", "s3:GetObject", ""),
        )
    }
)

# Actions on objects; every other known action applies to the bucket.
_OBJECT_ACTIONS = frozenset(
    {
        "s3:GetObject",
        "s3:GetObjectVersion",
        "s3:GetObjectAttributes",
        "s3:GetObjectVersionAttributes",
        "s3:PutObject",
        "s3:AbortMultipartUpload",
        "s3:ListMultipartUploadParts",
        "s3:DeleteObject",
        "s3:DeleteObjectVersion",
        "s3:GetObjectTagging",
        "s3:GetObjectVersionTagging",
        "s3:PutObjectTagging",
        "s3:PutObjectVersionTagging",
        "s3:DeleteObjectTagging",
        "s3:DeleteObjectVersionTagging",
        "s3:GetObjectAcl",
        "s3:GetObjectVersionAcl",
        "s3:PutObjectAcl",
        "s3:PutObjectVersionAcl",
        "s3:GetObjectRetention",
        "s3:PutObjectRetention",
        "s3:GetObjectLegalHold",
        "s3:PutObjectLegalHold",
        "s3:BypassGovernanceRetention",
        "s3:RestoreObject",
        "s3:GetObjectTorrent",
        "s3:GetObjectVersionTorrent",
        "s3:ReplicateObject",
        "s3:ReplicateDelete",
        "s3:ReplicateTags",
        "s3:ObjectOwnerOverrideToBucketOwner",
    }
)
_SERVICE_ACTIONS = frozenset({"s3:ListAllMyBuckets", "s3:CreateBucket"})
_MORE_BUCKET_ACTIONS = frozenset({"s3:ListBucketByTags", "s3:PutBucketTagging"})

_KINDS: tuple[tuple[frozenset[str], ResourceType], ...] = (
    (frozenset({a for pair in ACTIONS.values() for a in pair}) - _OBJECT_ACTIONS, "bucket"),
    (_MORE_BUCKET_ACTIONS, "bucket"),
    (_OBJECT_ACTIONS, "object"),
    # Known, so not "invalid", but no bucket policy resource is theirs.
    (_SERVICE_ACTIONS, "service"),
)
KNOWN_ACTIONS: Mapping[str, ResourceType] = MappingProxyType(
    {name.lower(): kind for names, kind in _KINDS for name in names}
)


def action_for(operation: str, versioned: bool = False) -> str | None:
    """The IAM action of ``operation``; None for operations bucket policies do not govern."""
    pair = ACTIONS.get(operation)
    if pair is None:
        return None
    return pair[1] if versioned else pair[0]
