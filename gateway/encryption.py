"""Server-side encryption as S3 speaks it: the request headers checked, the answer headers.

Layer: gateway (S3 syntax and AWS's rules; the sealing itself is the data plane's,
``wormfs.dataplane.sealing``, the keys the keyring's, ``wormfs.internal.keyring``). Contract:

* ``requested`` reads what a write asks for: ``x-amz-server-side-encryption`` (``AES256``:
  SSE-S3, ``aws:kms``: SSE-KMS with ``...-aws-kms-key-id``, ``...-context``,
  ``...-bucket-key-enabled``) or the three SSE-C headers (``...-customer-algorithm``,
  ``...-customer-key``, ``...-customer-key-MD5``), each refused as AWS refuses it
  (``InvalidArgument``, ``InvalidEncryptionAlgorithmError``); none of them: the bucket's
  default encryption (``BucketEncryption``), else None (plaintext).
* ``customer_key`` reads the SSE-C key of a read, an UploadPart, or (``copy_source``) the
  ``x-amz-copy-source-server-side-encryption-customer-*`` key of a copy's source.
* ``check_customer_key`` refuses a read that does not bring the key an SSE-C version needs
  (``InvalidRequest``), brings another (``AccessDenied``), or brings one to a version that
  has none (``InvalidRequest``), before any byte is read.
* ``answer_headers`` are the ``x-amz-server-side-encryption*`` headers of an answer.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass

from wormfs.format.sealing import SSE_C, SSE_KMS, SSE_S3, Encryption
from wormfs.gateway.errors import AccessDenied, InvalidArgument, InvalidRequest
from wormfs.internal.keyring import DEFAULT_KMS_KEY, customer_key_matches
from wormfs.wire.encryption import BucketEncryption

Headers = Mapping[str, str]

SSE = "x-amz-server-side-encryption"
KMS_KEY = "x-amz-server-side-encryption-aws-kms-key-id"
KMS_CONTEXT = "x-amz-server-side-encryption-context"
BUCKET_KEY = "x-amz-server-side-encryption-bucket-key-enabled"
CUSTOMER = "x-amz-server-side-encryption-customer-"
COPY_CUSTOMER = "x-amz-copy-source-server-side-encryption-customer-"


@dataclass(frozen=True)
class CustomerKey:
    """An SSE-C key as a request brought it (checked against the MD5 it sent)."""

    key: bytes
    key_md5: str  # base64, as sent and as echoed


@dataclass(frozen=True)
class SseAsk:
    """The encryption a write asks for (or the bucket's default gives it)."""

    algorithm: str  # SSE_S3, SSE_KMS or SSE_C
    kms_key_id: str = ""
    kms_context: str = ""
    bucket_key: bool = False
    customer: CustomerKey | None = None


class InvalidEncryptionAlgorithmError(InvalidArgument):
    code = "InvalidEncryptionAlgorithmError"


class KmsKeyNotFound(InvalidArgument):
    """SSE-KMS named a key the keyring does not allow (``[gateway] kms_keys``)."""

    code = "KMS.NotFoundException"


def customer_key(headers: Headers, copy_source: bool = False) -> CustomerKey | None:
    """The SSE-C key the headers bring (None when they bring none)."""
    prefix = COPY_CUSTOMER if copy_source else CUSTOMER
    algorithm = headers.get(prefix + "algorithm")
    encoded = headers.get(prefix + "key")
    md5 = headers.get(prefix + "key-md5")
    if algorithm is None and encoded is None and md5 is None:
        return None
    if algorithm is None or encoded is None or md5 is None:
        raise InvalidArgument(
            "Requests specifying Server Side Encryption with Customer provided keys must "
            "provide an appropriate secret key.",
            ArgumentName=prefix + ("algorithm" if algorithm is None else "key"),
        )
    if algorithm != "AES256":
        raise InvalidEncryptionAlgorithmError(
            "The Encryption request you specified is not valid. Supported value: AES256.",
            ArgumentName=prefix + "algorithm",
            ArgumentValue=algorithm,
        )
    try:
        key = base64.b64decode(encoded, validate=True)
    except binascii.Error:
        key = b""
    if len(key) != 32:
        raise InvalidArgument(
            "The secret key was invalid for the specified algorithm.",
            ArgumentName=prefix + "key",
        )
    if base64.b64encode(hashlib.md5(key, usedforsecurity=False).digest()).decode() != md5:
        raise InvalidArgument(
            "The calculated MD5 hash of the key did not match the hash that was provided.",
            ArgumentName=prefix + "key-MD5",
        )
    return CustomerKey(key=key, key_md5=md5)


def _context(raw: str | None) -> str:
    """The SSE-KMS encryption context: base64 of a JSON object of strings."""
    if raw is None:
        return ""
    try:
        value = json.loads(base64.b64decode(raw, validate=True))
    except (binascii.Error, ValueError):
        value = None
    if not isinstance(value, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in value.items()
    ):
        raise InvalidArgument(
            "The header 'x-amz-server-side-encryption-context' shall be Base64-encoded UTF-8 "
            "string holding JSON which represents a string-string map",
            ArgumentName=KMS_CONTEXT,
        )
    return raw


def requested(headers: Headers, default: BucketEncryption | None) -> SseAsk | None:
    """The encryption a write's headers ask for, else the bucket's default, else None."""
    algorithm = headers.get(SSE)
    customer = customer_key(headers)
    if customer is not None:
        if algorithm is not None:
            raise InvalidArgument(
                "Server Side Encryption with Customer provided key is incompatible with the "
                "encryption method specified",
                ArgumentName=SSE,
                ArgumentValue=algorithm,
            )
        return SseAsk(SSE_C, customer=customer)
    if algorithm is None:
        if KMS_KEY in headers or KMS_CONTEXT in headers:
            raise InvalidArgument(
                "Server Side Encryption with AWS KMS managed key requires HTTP header "
                "x-amz-server-side-encryption : aws:kms",
                ArgumentName=SSE,
            )
        if default is None:
            return None
        return SseAsk(
            default.sse_algorithm,
            kms_key_id=(default.kms_key_id or DEFAULT_KMS_KEY)
            if default.sse_algorithm == SSE_KMS
            else "",
            bucket_key=default.bucket_key,
        )
    if algorithm not in (SSE_S3, SSE_KMS):
        raise InvalidArgument(
            "The encryption method specified is not supported",
            ArgumentName=SSE,
            ArgumentValue=algorithm,
        )
    bucket_key = headers.get(BUCKET_KEY, "").strip().lower() == "true"
    if algorithm == SSE_S3:
        if KMS_KEY in headers or KMS_CONTEXT in headers:
            raise InvalidArgument(
                "Server Side Encryption with AWS KMS managed key requires HTTP header "
                "x-amz-server-side-encryption : aws:kms",
                ArgumentName=SSE,
                ArgumentValue=algorithm,
            )
        return SseAsk(SSE_S3, bucket_key=bucket_key)
    key_id = headers.get(KMS_KEY, "").strip()
    if not key_id and default is not None and default.sse_algorithm == SSE_KMS:
        key_id = default.kms_key_id
    return SseAsk(
        SSE_KMS,
        kms_key_id=key_id or DEFAULT_KMS_KEY,
        kms_context=_context(headers.get(KMS_CONTEXT)),
        bucket_key=bucket_key or (default is not None and default.bucket_key),
    )


def check_customer_key(enc: Encryption | None, key: CustomerKey | None) -> None:
    """Refuse a read whose SSE-C key does not fit the version (see the module's contract)."""
    if enc is None or enc.algorithm != SSE_C:
        if key is not None:
            raise InvalidRequest("The encryption parameters are not applicable to this object.")
        return
    if key is None:
        raise InvalidRequest(
            "The object was stored using a form of Server Side Encryption. The correct "
            "parameters must be provided to retrieve the object."
        )
    if not customer_key_matches(key.key, enc.key_check):
        raise AccessDenied(
            "The provided encryption key does not match the key the object was encrypted with."
        )


def answer_headers(enc: Encryption | None) -> dict[str, str]:
    """The encryption headers of an answer about a version sealed as ``enc``."""
    if enc is None:
        return {}
    if enc.algorithm == SSE_C:
        return {
            CUSTOMER + "algorithm": "AES256",
            CUSTOMER + "key-MD5": enc.customer_key_md5,
        }
    headers = {SSE: enc.algorithm}
    if enc.algorithm == SSE_KMS:
        headers[KMS_KEY] = enc.kms_key_id
        if enc.kms_context:
            headers[KMS_CONTEXT] = enc.kms_context
    if enc.bucket_key:
        headers[BUCKET_KEY] = "true"
    return headers
