"""A bucket's default encryption as S3 speaks it: the ``ServerSideEncryptionConfiguration`` of
PutBucketEncryption checked, and the one GetBucketEncryption answers.

Layer: gateway (S3 syntax and AWS's rules; the coordinator only stores the configuration).
Contract:

* ``parse_encryption`` reads a ``ServerSideEncryptionConfiguration`` of exactly one ``Rule``
  whose ``ApplyServerSideEncryptionByDefault`` names an ``SSEAlgorithm``, ``AES256`` (SSE-S3)
  or ``aws:kms`` (SSE-KMS); anything else (another count of rules, no algorithm, another
  algorithm, DSSE-KMS included, a ``BucketKeyEnabled`` that is not a boolean) is
  ``MalformedXML``, as values outside AWS's schema are. A ``KMSMasterKeyID`` with any algorithm
  but ``aws:kms`` is ``InvalidArgument`` with AWS's words; the key id itself is stored as given
  (AWS does not check it either). Other elements of the rule (``BlockedEncryptionTypes``) are
  ignored.
* ``encryption_document`` renders a configuration as AWS answers it: the algorithm, the key id
  when there is one, and ``BucketKeyEnabled`` always.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET

from wormfs.gateway.errors import InvalidArgument, MalformedXML
from wormfs.gateway.xml import Elem, child_text
from wormfs.wire.encryption import BucketEncryption

AES256 = "AES256"
KMS = "aws:kms"
ALGORITHMS = (AES256, KMS)
KEY_NOT_APPLICABLE = (
    "a KMSMasterKeyID is not applicable if the default sse algorithm is not aws:kms"
)


def _bucket_key(rule: ET.Element) -> bool:
    text = child_text(rule, "BucketKeyEnabled")
    if text is None:
        return False
    value = text.strip().lower()
    if value not in ("true", "false"):
        raise MalformedXML()
    return value == "true"


def parse_encryption(doc: ET.Element) -> BucketEncryption:
    if doc.tag != "ServerSideEncryptionConfiguration":
        raise MalformedXML()
    rules = doc.findall("Rule")
    if len(rules) != 1:
        raise MalformedXML()
    default = rules[0].find("ApplyServerSideEncryptionByDefault")
    if default is None:
        raise MalformedXML()
    algorithm = (child_text(default, "SSEAlgorithm") or "").strip()
    if algorithm not in ALGORITHMS:
        raise MalformedXML()
    key_id = child_text(default, "KMSMasterKeyID")
    if key_id is not None and algorithm != KMS:
        raise InvalidArgument(KEY_NOT_APPLICABLE, ArgumentName="ApplyServerSideEncryptionByDefault")
    return BucketEncryption(
        sse_algorithm=algorithm,
        kms_key_id=(key_id or "").strip(),
        bucket_key=_bucket_key(rules[0]),
    )


def encryption_document(config: BucketEncryption) -> Elem:
    root = Elem("ServerSideEncryptionConfiguration")
    rule = root.add("Rule")
    default = rule.add("ApplyServerSideEncryptionByDefault")
    default.leaf("SSEAlgorithm", config.sse_algorithm)
    if config.kms_key_id:
        default.leaf("KMSMasterKeyID", config.kms_key_id)
    rule.leaf("BucketKeyEnabled", config.bucket_key)
    return root
