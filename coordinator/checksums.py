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

from collections.abc import Sequence

from wormfs.format.checksums import ChecksumFormatError, composite_checksum, full_object_crc
from wormfs.wire.coordinator import ChecksumAlgorithm, ChecksumType, ObjectChecksum


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
