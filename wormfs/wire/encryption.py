"""A bucket's default encryption as the gateway and the coordinator exchange it.

Layer: wire (the gateway parses and checks S3's ``ServerSideEncryptionConfiguration`` and
applies it to writes that ask for no encryption of their own; the coordinator stores it in the
bucket's settings). The fields are those of S3's ``ApplyServerSideEncryptionByDefault`` and the
rule's ``BucketKeyEnabled``.
"""

from __future__ import annotations

import msgspec


class BucketEncryption(msgspec.Struct, frozen=True):
    sse_algorithm: str  # "AES256" (SSE-S3) or "aws:kms" (SSE-KMS)
    kms_key_id: str = ""  # with aws:kms: the key's id or ARN ("": the default key)
    bucket_key: bool = False  # BucketKeyEnabled, echoed as S3 does


class EncryptionSetting(msgspec.Struct, frozen=True):
    """Put a bucket's default encryption; None removes it."""

    config: BucketEncryption | None = None
