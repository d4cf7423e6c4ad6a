"""What CompleteMultipartUpload's headers say about the finished object, checked before the
commit (``wormfs.gateway.object_service.verify_completion``): pure arithmetic over the part
records, so it is tested against checksums of the whole data computed directly."""

from __future__ import annotations

import base64
import hashlib
import zlib

import pytest

from wormfs.errors import BadDigestError, InvalidInputError
from wormfs.format.checksums import checksum_b64
from wormfs.format.layout import Profile
from wormfs.gateway.object_service import multipart_checksum, verify_completion
from wormfs.gateway.service import CompletionChecks
from wormfs.wire.coordinator import (
    ChecksumAlgorithm,
    ChecksumType,
    ObjectChecksum,
    PartRecord,
    UploadInfo,
)

PARTS = [b"a" * 70_000, b"b" * 5_000, b"tail"]
PROFILE = Profile(codec="zfec", k=4, m=2, stripe_size=65536)


def upload(algorithm: ChecksumAlgorithm | None, kind: ChecksumType | None) -> UploadInfo:
    return UploadInfo(
        upload_id="u",
        bucket="b",
        key="k",
        owner_id="o",
        initiated=0.0,
        profile=PROFILE,
        checksum_algorithm=algorithm,
        checksum_type=kind,
    )


def records(algorithm: ChecksumAlgorithm) -> list[PartRecord]:
    return [
        PartRecord(
            part_number=n,
            size=len(data),
            etag=f'"{hashlib.md5(data).hexdigest()}"',
            segments=[],
            checksum=ObjectChecksum(algorithm, checksum_b64(algorithm, data), "FULL_OBJECT"),
        )
        for n, data in enumerate(PARTS, start=1)
    ]


def test_full_object_crc_is_the_crc_of_the_whole() -> None:
    whole = base64.b64encode(zlib.crc32(b"".join(PARTS)).to_bytes(4, "big")).decode()
    assert multipart_checksum(upload("CRC32", "FULL_OBJECT"), records("CRC32")) == whole
    verify_completion(
        upload("CRC32", "FULL_OBJECT"),
        records("CRC32"),
        CompletionChecks("CRC32", whole, "FULL_OBJECT", sum(map(len, PARTS))),
    )


def test_composite_is_the_checksum_of_the_part_checksums() -> None:
    joined = b"".join(hashlib.sha256(p).digest() for p in PARTS)
    expected = base64.b64encode(hashlib.sha256(joined).digest()).decode()
    # SHA256 defaults to COMPOSITE; the "-N" suffix is not part of the value compared.
    assert multipart_checksum(upload("SHA256", None), records("SHA256")) == expected
    verify_completion(
        upload("SHA256", None), records("SHA256"), CompletionChecks("SHA256", expected)
    )


@pytest.mark.parametrize(
    ("checks", "error"),
    [
        (CompletionChecks("CRC32", "AAAAAA=="), BadDigestError),
        (CompletionChecks(checksum_type="COMPOSITE"), InvalidInputError),
        (CompletionChecks(object_size=1), InvalidInputError),
        (CompletionChecks("CRC32C", "AAAAAA=="), InvalidInputError),
    ],
)
def test_mismatches_are_refused(checks: CompletionChecks, error: type[Exception]) -> None:
    with pytest.raises(error):
        verify_completion(upload("CRC32", "FULL_OBJECT"), records("CRC32"), checks)


def test_nothing_claimed_nothing_checked() -> None:
    verify_completion(upload(None, None), records("CRC32"), CompletionChecks())
    assert multipart_checksum(upload(None, None), records("CRC32")) is None
