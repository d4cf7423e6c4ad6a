"""wormfs.format.checksums: known vectors, validation, multipart composite and full-object CRCs."""

from __future__ import annotations

import base64
import hashlib
import os
import zlib

import pytest

from wormfs.format import checksums
from wormfs.format.checksums import ChecksumFormatError


def b64_int(value: int, size: int) -> str:
    return base64.b64encode(value.to_bytes(size, "big")).decode()


@pytest.mark.parametrize(
    ("algorithm", "data", "expected"),
    [
        # The standard CRC check values (input "123456789").
        ("CRC32", b"123456789", b64_int(0xCBF43926, 4)),
        ("CRC32C", b"123456789", b64_int(0xE3069283, 4)),
        ("CRC64NVME", b"123456789", b64_int(0xAE8B14860A799888, 8)),
        ("CRC32", b"hello world", "DUoRhQ=="),
        ("CRC32C", b"hello world", "yZRlqg=="),
        ("SHA1", b"hello world", "Kq5sNclPz7QV2+lfQIuc6R7oRu0="),
        ("SHA256", b"hello world", "uU0nuZNNPgilLlLX2n2r+sSE7+N6U4DukIj3rOLvzek="),
        ("CRC32", b"", "AAAAAA=="),
        ("CRC64NVME", b"", "AAAAAAAAAAA="),
    ],
)
def test_known_vectors(algorithm: str, data: bytes, expected: str) -> None:
    assert checksums.checksum_b64(algorithm, data) == expected
    incremental = checksums.new_checksum(algorithm.lower())
    for i in range(len(data)):
        incremental.update(data[i : i + 1])
    assert incremental.b64() == expected


def test_unknown_algorithm() -> None:
    with pytest.raises(ChecksumFormatError):
        checksums.new_checksum("CRC16")


@pytest.mark.parametrize(
    ("algorithm", "value", "ok"),
    [
        ("CRC32", "DUoRhQ==", True),
        ("CRC32", "DUoRhQ", False),  # padding missing
        ("CRC32", "AAAAAAAAAAA=", False),  # 8 bytes for a 4-byte CRC
        ("CRC64NVME", "AAAAAAAAAAA=", True),
        ("SHA256", "uU0nuZNNPgilLlLX2n2r+sSE7+N6U4DukIj3rOLvzek=", True),
        ("SHA256", "not base64!!", False),
        ("SHA1", "", False),
    ],
)
def test_header_value_validation(algorithm: str, value: str, ok: bool) -> None:
    if ok:
        assert checksums.check_b64(algorithm, value) == value
    else:
        with pytest.raises(ChecksumFormatError):
            checksums.check_b64(algorithm, value)


def test_content_md5() -> None:
    value = checksums.content_md5(b"hello world")
    assert value == "XrY7u+Ae7tCTyyK7j1rNww=="
    assert checksums.parse_content_md5(value) == hashlib.md5(b"hello world").digest()
    with pytest.raises(ChecksumFormatError):
        checksums.parse_content_md5("abc")


@pytest.mark.parametrize("algorithm", checksums.CRC_ALGORITHMS)
@pytest.mark.parametrize(
    ("len_a", "len_b"), [(0, 0), (0, 7), (7, 0), (1, 1), (1000, 3333), (5 * 2**20 + 3, 65537)]
)
def test_crc_combine_matches_concatenation(algorithm: str, len_a: int, len_b: int) -> None:
    a, b = os.urandom(len_a), os.urandom(len_b)

    def crc(data: bytes) -> int:
        return int.from_bytes(base64.b64decode(checksums.checksum_b64(algorithm, data)), "big")

    assert checksums.combine_crc(algorithm, crc(a), crc(b), len_b) == crc(a + b)


@pytest.mark.parametrize("algorithm", checksums.CRC_ALGORITHMS)
def test_full_object_crc_of_parts(algorithm: str) -> None:
    parts = [os.urandom(n) for n in (5 * 2**20, 5 * 2**20, 12345)]
    values = [(checksums.checksum_b64(algorithm, p), len(p)) for p in parts]
    assert checksums.full_object_crc(algorithm, values) == checksums.checksum_b64(
        algorithm, b"".join(parts)
    )


def test_full_object_needs_a_crc() -> None:
    with pytest.raises(ChecksumFormatError):
        checksums.full_object_crc("SHA256", [])


def test_composite_checksum() -> None:
    # Two parts whose CRC32s are 0 and 1: CRC32 of the 8 raw bytes, then "-2".
    expected = b64_int(zlib.crc32(bytes(4) + (1).to_bytes(4, "big")), 4) + "-2"
    assert checksums.composite_checksum("CRC32", ["AAAAAA==", "AAAAAQ=="]) == expected
    parts = [b"x" * 10, b"y" * 20]
    sha = [checksums.checksum_b64("SHA256", p) for p in parts]
    raw = b"".join(base64.b64decode(v) for v in sha)
    assert checksums.composite_checksum("SHA256", sha) == (
        base64.b64encode(hashlib.sha256(raw).digest()).decode() + "-2"
    )


def test_multipart_etag() -> None:
    etags = [f'"{hashlib.md5(p).hexdigest()}"' for p in (b"a", b"b")]
    joined = hashlib.md5(hashlib.md5(b"a").digest() + hashlib.md5(b"b").digest()).hexdigest()
    assert checksums.multipart_etag(etags) == f'"{joined}-2"'


def test_update_accepts_memoryview() -> None:
    for algorithm in (*checksums.ALGORITHMS, "MD5"):
        a = checksums.new_checksum(algorithm)
        a.update(memoryview(b"hello world"))
        assert a.b64() == checksums.checksum_b64(algorithm, b"hello world")
