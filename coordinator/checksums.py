"""The checksum of a completed multipart upload, from its parts' checksums. Pure functions.

Layer: coordinator, used by the upload repository. Only part checksums (a few bytes each) are
combined here, so nothing large is hashed on the event loop.

AWS defines two kinds:

* COMPOSITE (CRC32, CRC32C, SHA1, SHA256): the algorithm applied to the concatenation of the
  parts' raw (decoded) checksums, base64, then ``-N`` for N parts. Example: two parts whose
  CRC32s are AAAAAA== and AAAAAQ== -> base64(crc32(00000000 00000001)) + "-2".
* FULL_OBJECT (CRC32, CRC32C, CRC64NVME): the CRC of the whole object's bytes, which follows
  from the parts' CRCs and lengths (CRC combination), base64, no suffix.

A default type follows AWS: CRC64NVME is FULL_OBJECT only, the others default to COMPOSITE.
When a value cannot be computed (a part without a checksum, or an unsupported pair such as a
full-object SHA256) the result is None and the object is stored without a checksum.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import zlib
from collections.abc import Callable, Sequence

import crc32c
from awscrt import checksums as crt

from wormfs.wire.coordinator import ChecksumAlgorithm, ChecksumType, ObjectChecksum

_COMPOSITE: dict[str, Callable[[bytes], bytes]] = {
    "CRC32": lambda data: zlib.crc32(data).to_bytes(4, "big"),
    "CRC32C": lambda data: int(crc32c.crc32c(data)).to_bytes(4, "big"),
    "SHA1": lambda data: hashlib.sha1(data).digest(),
    "SHA256": lambda data: hashlib.sha256(data).digest(),
}

# algorithm -> (combine(crc1, crc2, len2), width in bytes)
_COMBINE: dict[str, tuple[Callable[[int, int, int], int], int]] = {
    "CRC32": (crt.combine_crc32, 4),
    "CRC32C": (crt.combine_crc32c, 4),
    "CRC64NVME": (crt.combine_crc64nvme, 8),
}


def default_type(algorithm: ChecksumAlgorithm) -> ChecksumType:
    return "FULL_OBJECT" if algorithm == "CRC64NVME" else "COMPOSITE"


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
    raw: list[bytes] = []
    for value, _ in parts:
        if not value:
            return None
        try:
            raw.append(base64.b64decode(value.split("-", 1)[0], validate=True))
        except (binascii.Error, ValueError):
            return None
    if kind == "COMPOSITE":
        digest = _COMPOSITE.get(algorithm)
        if digest is None:
            return None
        value = base64.b64encode(digest(b"".join(raw))).decode() + f"-{len(parts)}"
        return ObjectChecksum(algorithm=algorithm, value=value, type="COMPOSITE")
    combine = _COMBINE.get(algorithm)
    if combine is None:
        return None
    fn, width = combine
    if any(len(r) != width for r in raw):
        return None
    crc = int.from_bytes(raw[0], "big")
    for part_raw, (_, size) in zip(raw[1:], parts[1:], strict=True):
        crc = int(fn(crc, int.from_bytes(part_raw, "big"), size))
    value = base64.b64encode(crc.to_bytes(width, "big")).decode()
    return ObjectChecksum(algorithm=algorithm, value=value, type="FULL_OBJECT")
