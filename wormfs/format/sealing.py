"""Sealed parts: the byte layout of an encrypted part, and a version's encryption record.

Layer: pure format (no I/O; AES-GCM from ``cryptography``). Contract: the plaintext of one
part (a whole PUT is part 1) is cut into packages of ``PACKAGE`` bytes (the last one shorter,
never empty; a part of 0 bytes has no package), and each package is stored as

    offset  size  field
    0       12    nonce: random, drawn for this package alone
    12      n     ciphertext: AES-256-GCM of the n plaintext bytes under the data key
    12 + n  16    tag: the GCM tag over the ciphertext and the associated data

with the associated data ``b"WSEAL1" || part_number (u32 BE) || package index (u64 BE)``,
so a package moved to another place of the part, or into another part, fails to open. The
part's stored bytes are its packages back to back: ``sealed_size(n)`` bytes for ``n`` of
plaintext, and the chunks, their CRCs, the erasure coding and the inline copy all hold the
sealed bytes, never the plaintext. A range of plaintext is read by opening only the packages
it overlaps (``package_span``), so a ranged GET decrypts at most two packages it does not
return. Truncation cannot pass unseen: the manifest's plaintext size fixes how many packages
there are and how long each is.

Random nonces, not counters: a part number may be uploaded again under the same data key
(multipart uploads), and a random 96-bit nonce never repeats in practice within the 2^32
packages NIST allows per key (a 5 TB object has 2^26.3 of them).

``Encryption`` is what a version keeps to open its packages again: the S3 algorithm, and
either the data key wrapped by a master key (SSE-S3) or by a KMS key (SSE-KMS), or, for
SSE-C, a salted HMAC of the customer's key (which is the data key and is never stored).
"""

from __future__ import annotations

import os
import struct
from collections.abc import Iterator
from dataclasses import dataclass

import msgspec
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

PACKAGE = 64 * 1024
NONCE = 12
TAG = 16
OVERHEAD = NONCE + TAG
STORED_PACKAGE = PACKAGE + OVERHEAD
KEY_BYTES = 32
_AAD = struct.Struct(">6sIQ")
_MAGIC = b"WSEAL1"

# The S3 names of the algorithms (x-amz-server-side-encryption), and SSE-C's marker.
SSE_S3 = "AES256"
SSE_KMS = "aws:kms"
SSE_C = "SSE-C"


class Encryption(msgspec.Struct, frozen=True, omit_defaults=True):
    """How one version (or one upload's parts) is sealed; stored beside its attributes."""

    algorithm: str  # SSE_S3, SSE_KMS or SSE_C
    # SSE-S3 and SSE-KMS: the data key, sealed (nonce || ciphertext || tag) by the key that
    # ``wrapping_key_id`` names in the master keyring (SSE-KMS: the KMS key derived from it).
    wrapped_key: bytes = b""
    wrapping_key_id: str = ""
    kms_key_id: str = ""  # SSE-KMS: the key named by the request (or the default)
    kms_context: str = ""  # SSE-KMS: the encryption context as sent (base64 JSON)
    bucket_key: bool = False  # BucketKeyEnabled, echoed as S3 does
    # SSE-C: the MD5 the client sent (base64, echoed back) and salt(16) || HMAC-SHA256 of the
    # customer key under that salt, to tell a wrong key from a right one before decrypting.
    customer_key_md5: str = ""
    key_check: bytes = b""


class SealError(ValueError):
    """A package did not open: another key, or bytes changed since they were sealed."""


def package_count(plain: int) -> int:
    return -(-plain // PACKAGE)


def sealed_size(plain: int) -> int:
    """Stored bytes of a part of ``plain`` plaintext bytes."""
    return plain + OVERHEAD * package_count(plain)


def stored_size(plain: int, sealed: bool) -> int:
    """Stored bytes of a part of ``plain`` plaintext bytes, sealed or not."""
    return sealed_size(plain) if sealed else plain


def plain_size(sealed: int) -> int:
    """Plaintext bytes of a part stored in ``sealed`` bytes (``ValueError`` if impossible)."""
    packages = -(-sealed // STORED_PACKAGE)
    plain = sealed - OVERHEAD * packages
    if sealed and (plain <= 0 or sealed_size(plain) != sealed):
        raise ValueError(f"{sealed} bytes cannot be a sealed part")
    return max(plain, 0)


@dataclass(frozen=True)
class PackageSpan:
    """The packages a plaintext range ``[start, end)`` of a part overlaps, where they are
    stored (``[stored_start, stored_end)`` of the part's sealed bytes), and how many bytes of
    the first package's plaintext precede the range (``skip``)."""

    first: int
    last: int
    stored_start: int
    stored_end: int
    skip: int


def package_span(part_size: int, start: int, end: int) -> PackageSpan:
    """The span of ``[start, end)`` (``0 <= start < end <= part_size``) of a part."""
    if not 0 <= start < end <= part_size:
        raise ValueError(f"range [{start}, {end}) outside a part of {part_size}")
    first, last = start // PACKAGE, (end - 1) // PACKAGE
    stored_end = min(sealed_size(part_size), (last + 1) * STORED_PACKAGE)
    return PackageSpan(first, last, first * STORED_PACKAGE, stored_end, start - first * PACKAGE)


def package_lengths(part_size: int, first: int, last: int) -> Iterator[int]:
    """Stored lengths of packages ``first..last`` of a part of ``part_size`` plaintext bytes."""
    for index in range(first, last + 1):
        yield min(PACKAGE, part_size - index * PACKAGE) + OVERHEAD


class Sealer:
    """Seals and opens the packages of one part under one data key."""

    def __init__(self, data_key: bytes, part_number: int) -> None:
        if len(data_key) != KEY_BYTES:
            raise ValueError(f"a data key is {KEY_BYTES} bytes, not {len(data_key)}")
        self._aead = AESGCM(data_key)
        self._part = part_number

    def _aad(self, index: int) -> bytes:
        return _AAD.pack(_MAGIC, self._part, index)

    def seal(self, index: int, plaintext: bytes | memoryview, nonce: bytes | None = None) -> bytes:
        """Package ``index``; ``nonce`` only for golden files (else a fresh random one)."""
        if not 0 < len(plaintext) <= PACKAGE:
            raise ValueError(f"a package holds 1..{PACKAGE} bytes, not {len(plaintext)}")
        nonce = os.urandom(NONCE) if nonce is None else nonce
        return nonce + self._aead.encrypt(nonce, bytes(plaintext), self._aad(index))

    def seal_run(self, first: int, plaintext: bytes | memoryview) -> bytearray:
        """Packages ``first, first + 1, ...`` of ``plaintext`` (whole packages but the last),
        sealed into one buffer (``encrypt_into`` releases the GIL and copies nothing)."""
        view = memoryview(plaintext)
        out = bytearray(sealed_size(len(view)))
        target = memoryview(out)
        at = 0
        for i, offset in enumerate(range(0, len(view), PACKAGE)):
            piece = view[offset : offset + PACKAGE]
            nonce = os.urandom(NONCE)
            target[at : at + NONCE] = nonce
            end = at + NONCE + len(piece) + TAG
            self._aead.encrypt_into(nonce, piece, self._aad(first + i), target[at + NONCE : end])
            at = end
        return out

    def open(self, index: int, package: bytes | memoryview) -> bytes:
        """The plaintext of stored package ``index`` (``SealError`` if it does not open)."""
        if len(package) <= OVERHEAD:
            raise SealError(f"package {index} of part {self._part} is cut short")
        view = memoryview(package)
        try:
            return self._aead.decrypt(bytes(view[:NONCE]), bytes(view[NONCE:]), self._aad(index))
        except InvalidTag:
            raise SealError(
                f"package {index} of part {self._part} does not open under this key"
            ) from None

    def open_run(self, first: int, stored: bytes | memoryview, part_size: int) -> bytearray:
        """The plaintext of the consecutive stored packages ``stored`` from ``first`` on, of a
        part of ``part_size`` plaintext bytes (``SealError`` if one does not open)."""
        view = memoryview(stored)
        lengths = list(package_lengths(part_size, first, first + package_count_of(view) - 1))
        if sum(lengths) != len(view):
            raise SealError(f"packages from {first} of part {self._part} are cut short")
        out = bytearray(len(view) - OVERHEAD * len(lengths))
        target = memoryview(out)
        at = offset = 0
        for i, length in enumerate(lengths):
            package = view[offset : offset + length]
            plain = length - OVERHEAD
            try:
                self._aead.decrypt_into(
                    bytes(package[:NONCE]),
                    package[NONCE:],
                    self._aad(first + i),
                    target[at : at + plain],
                )
            except InvalidTag:
                raise SealError(
                    f"package {first + i} of part {self._part} does not open under this key"
                ) from None
            offset += length
            at += plain
        return out


def package_count_of(stored: bytes | memoryview) -> int:
    """Packages in a run of stored bytes (whole packages but the last)."""
    return -(-len(stored) // STORED_PACKAGE)
