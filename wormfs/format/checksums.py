"""Object checksums as S3 defines them: pure math over bytes (shared: gateway, data plane).

Contract:

* ``new_checksum(algorithm)`` returns an incremental hasher (``update``, ``digest`` raw bytes,
  ``b64``) for the S3 algorithms CRC32, CRC32C, CRC64NVME, SHA1 and SHA256 (and MD5, for
  Content-MD5 and ETags). ``update`` may run in an executor thread for large buffers (every
  backend releases the GIL on large inputs); one hasher is never fed from two threads at once.
* ``check_b64(algorithm, value)`` / ``parse_content_md5(value)`` validate header values and
  raise ``ChecksumFormatError`` (a ``ValueError``; the gateway maps it to its own error).
* Multipart objects: ``composite_checksum`` (the digest of the concatenated part digests,
  shown with ``-N``) and ``full_object_crc`` (the CRC of the whole object, combined from the
  part CRCs and lengths without the data, as zlib's ``crc32_combine`` does), plus
  ``multipart_etag``.
* The multipart checksum rule, in one place for the gateway (which checks what a client
  claims) and the coordinator (which stores it): ``multipart_checksum(algorithm, type,
  parts)`` is the ``ObjectChecksum`` a completed upload gets, ``default_type`` the type an
  upload gets when it names none, ``type_supported`` which (algorithm, type) pairs exist, and
  ``same_checksum`` compares values across a ``-N`` suffix. AWS defines two kinds:

  - COMPOSITE (CRC32, CRC32C, SHA1, SHA256): the algorithm applied to the concatenation of
    the parts' raw (decoded) checksums, base64, then ``-N`` for N parts. Example: two parts
    whose CRC32s are AAAAAA== and AAAAAQ== -> base64(crc32(00000000 00000001)) + "-2".
  - FULL_OBJECT (CRC32, CRC32C, CRC64NVME): the CRC of the whole object's bytes, which
    follows from the parts' CRCs and lengths (CRC combination), base64, no suffix.

  CRC64NVME is FULL_OBJECT only, the others default to COMPOSITE. When a value cannot be
  computed (a part without a checksum, a malformed value, or an unsupported pair such as a
  full-object SHA256) the result is None and the object is stored without a checksum. Only
  part checksums (a few bytes each) are combined, so nothing large is hashed.

CRC combination uses awscrt's C functions (``combine_crc32`` and friends), which compute
``crc(A || B) = (crc(A) * x^(8*len(B)) mod P) xor crc(B)`` in the reflected bit order.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import zlib
from collections.abc import Callable, Iterable, Sequence
from typing import Literal, Protocol

import crc32c as _crc32c
import msgspec
from awscrt import checksums as _awscrt

ALGORITHMS: tuple[str, ...] = ("CRC32", "CRC32C", "CRC64NVME", "SHA1", "SHA256")
CRC_ALGORITHMS: tuple[str, ...] = ("CRC32", "CRC32C", "CRC64NVME")
DIGEST_SIZES = {"CRC32": 4, "CRC32C": 4, "CRC64NVME": 8, "SHA1": 20, "SHA256": 32, "MD5": 16}

ChecksumAlgorithm = Literal["CRC32", "CRC32C", "CRC64NVME", "SHA1", "SHA256"]
ChecksumType = Literal["FULL_OBJECT", "COMPOSITE"]


class ObjectChecksum(msgspec.Struct, frozen=True):
    """An object's (or a part's) checksum, as S3 shows it; the wire schemas carry it."""

    algorithm: ChecksumAlgorithm
    value: str  # base64 as S3 shows it; COMPOSITE values end in "-N"
    type: ChecksumType = "FULL_OBJECT"


class ChecksumFormatError(ValueError):
    """A checksum value is not base64 of the digest size, or the algorithm is unknown."""


class Checksum(Protocol):
    """An incremental checksum."""

    def update(self, data: bytes | memoryview) -> None: ...

    def digest(self) -> bytes: ...

    def b64(self) -> str: ...


class _Crc:
    """Common part of the CRCs: an integer register, a big-endian digest of ``size`` bytes."""

    size = 4

    def __init__(self) -> None:
        self.value = 0

    def digest(self) -> bytes:
        return self.value.to_bytes(self.size, "big")

    def b64(self) -> str:
        return base64.b64encode(self.digest()).decode("ascii")


class Crc32(_Crc):
    def update(self, data: bytes | memoryview) -> None:
        self.value = zlib.crc32(data, self.value)


class Crc32c(_Crc):
    def update(self, data: bytes | memoryview) -> None:
        self.value = _crc32c.crc32c(data, self.value)


class Crc64Nvme(_Crc):
    size = 8

    def update(self, data: bytes | memoryview) -> None:
        self.value = _awscrt.crc64nvme(
            bytes(data) if isinstance(data, memoryview) else data, self.value
        )


class HashlibChecksum:
    """SHA1, SHA256 or MD5 through hashlib."""

    def __init__(self, name: str) -> None:
        self._hash = hashlib.new(name)

    def update(self, data: bytes | memoryview) -> None:
        self._hash.update(data)

    def digest(self) -> bytes:
        return self._hash.digest()

    def b64(self) -> str:
        return base64.b64encode(self._hash.digest()).decode("ascii")


def new_checksum(algorithm: str) -> Checksum:
    """A fresh hasher for an S3 algorithm name (case-insensitive) or MD5."""
    name = algorithm.upper()
    if name == "CRC32":
        return Crc32()
    if name == "CRC32C":
        return Crc32c()
    if name == "CRC64NVME":
        return Crc64Nvme()
    if name in ("SHA1", "SHA256", "MD5"):
        return HashlibChecksum(name.lower())
    raise ChecksumFormatError(f"unknown checksum algorithm {algorithm!r}")


def new_hasher(algorithm: str) -> Checksum:
    """Alias of ``new_checksum`` (the name the data plane uses)."""
    return new_checksum(algorithm)


def checksum_b64(algorithm: str, data: bytes) -> str:
    """The base64 checksum of ``data`` in one call."""
    hasher = new_checksum(algorithm)
    hasher.update(data)
    return hasher.b64()


def decode_b64(algorithm: str, value: str) -> bytes:
    """The raw digest in a base64 header value; ``ChecksumFormatError`` if malformed."""
    name = algorithm.upper()
    if name not in DIGEST_SIZES:
        raise ChecksumFormatError(f"unknown checksum algorithm {algorithm!r}")
    try:
        raw = base64.b64decode(value.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise ChecksumFormatError(f"{algorithm} value {value!r} is not base64") from None
    if len(raw) != DIGEST_SIZES[name]:
        raise ChecksumFormatError(f"{algorithm} value {value!r} has the wrong length")
    return raw


def check_b64(algorithm: str, value: str) -> str:
    """Validate a base64 checksum header value and return it stripped."""
    decode_b64(algorithm, value)
    return value.strip()


def parse_content_md5(value: str) -> bytes:
    """The 16 raw bytes of a Content-MD5 header; ``ChecksumFormatError`` if malformed."""
    return decode_b64("MD5", value)


def content_md5(data: bytes) -> str:
    """The Content-MD5 header value for ``data``."""
    return base64.b64encode(hashlib.md5(data).digest()).decode("ascii")


def multipart_etag(part_etags: Sequence[str]) -> str:
    """S3's multipart ETag: MD5 of the concatenated binary part MD5s, ``-N``, quoted."""
    joined = b"".join(bytes.fromhex(e.strip('"')) for e in part_etags)
    return f'"{hashlib.md5(joined).hexdigest()}-{len(part_etags)}"'


def composite_checksum(algorithm: str, part_values: Sequence[str]) -> str:
    """A COMPOSITE multipart checksum: the checksum of the concatenated raw part checksums,
    base64, followed by ``-N`` (the part count)."""
    hasher = new_checksum(algorithm)
    for value in part_values:
        hasher.update(decode_b64(algorithm, value))
    return f"{hasher.b64()}-{len(part_values)}"


# ---- CRC combination ---------------------------------------------------------------------------
# awscrt's C implementations: crc(A || B) from crc(A), crc(B) and len(B).
_COMBINE: dict[str, Callable[[int, int, int], int]] = {
    "CRC32": _awscrt.combine_crc32,
    "CRC32C": _awscrt.combine_crc32c,
    "CRC64NVME": _awscrt.combine_crc64nvme,
}


def combine_crc(algorithm: str, crc1: int, crc2: int, length2: int) -> int:
    """The CRC of ``A || B`` from ``crc(A)``, ``crc(B)`` and ``len(B)``."""
    combine = _COMBINE.get(algorithm.upper())
    if combine is None:
        raise ChecksumFormatError(f"{algorithm} values cannot be combined")
    return int(combine(crc1, crc2, length2))


def full_object_crc(algorithm: str, parts: Iterable[tuple[str, int]]) -> str:
    """A FULL_OBJECT multipart checksum (base64) from ``(part base64 CRC, part size)`` pairs."""
    name = algorithm.upper()
    if name not in _COMBINE:
        raise ChecksumFormatError(f"{algorithm} has no FULL_OBJECT multipart checksum")
    total = 0
    for value, size in parts:
        crc = int.from_bytes(decode_b64(name, value), "big")
        total = combine_crc(name, total, crc, size)
    return base64.b64encode(total.to_bytes(DIGEST_SIZES[name], "big")).decode("ascii")


# ---- the multipart checksum rule ---------------------------------------------------------------
def default_type(algorithm: ChecksumAlgorithm) -> ChecksumType:
    """The checksum type of an upload that names only its algorithm."""
    return "FULL_OBJECT" if algorithm == "CRC64NVME" else "COMPOSITE"


def type_supported(algorithm: ChecksumAlgorithm, checksum_type: ChecksumType) -> bool:
    """Whether S3 has a multipart checksum of ``checksum_type`` for ``algorithm``."""
    if checksum_type == "FULL_OBJECT":
        return algorithm in CRC_ALGORITHMS
    return algorithm != "CRC64NVME"


def same_checksum(a: str, b: str) -> bool:
    """Compare two base64 checksum values, ignoring a ``-N`` suffix on either side."""
    return a.split("-", 1)[0] == b.split("-", 1)[0]


def multipart_checksum(
    algorithm: ChecksumAlgorithm | None,
    checksum_type: ChecksumType | None,
    parts: Sequence[tuple[str | None, int]],
) -> ObjectChecksum | None:
    """The object checksum from ``parts`` = [(base64 part checksum or None, part size)]."""
    if algorithm is None or not parts:
        return None
    kind = checksum_type or default_type(algorithm)
    values: list[tuple[str, int]] = []
    for value, size in parts:
        if not value:
            return None
        values.append((value.split("-", 1)[0], size))
    try:
        if kind == "COMPOSITE":
            combined = composite_checksum(algorithm, [v for v, _ in values])
        else:
            combined = full_object_crc(algorithm, values)
    except ChecksumFormatError:
        return None
    return ObjectChecksum(algorithm=algorithm, value=combined, type=kind)
