"""ISA-L Reed-Solomon (Vandermonde) through pyeclib, whose wheel bundles liberasurecode + ISA-L.

pyeclib prefixes every fragment with an 80-byte header of its own (fragment index, sizes,
checksum); WormFS stores fragments as pyeclib returns them, so the header is part of the
fragment and ``fragment_size`` includes it.
"""

from __future__ import annotations

from collections.abc import Mapping

from pyeclib.ec_iface import ECDriver

from wormfs.erasure.base import Codec
from wormfs.errors import NotEnoughFragmentsError

_PYECLIB_TYPE = "isa_l_rs_vand"


class IsalCodec(Codec):
    codec_id = "isal_rs_vand"
    fragment_header = 80  # pyeclib's; the self-test checks that the payloads are the data

    def __init__(self, k: int, m: int) -> None:
        super().__init__(k, m)
        self._driver = ECDriver(k=k, m=m, ec_type=_PYECLIB_TYPE)

    def fragment_size(self, stripe_len: int) -> int:
        info = self._driver.get_segment_info(stripe_len, max(stripe_len, 1))
        return int(info["fragment_size"])

    def encode(self, stripe: bytes | memoryview) -> list[bytes]:
        return list(
            self._driver.encode(bytes(stripe) if isinstance(stripe, memoryview) else stripe)
        )

    def reconstruct(
        self, fragments: Mapping[int, bytes], stripe_len: int, wanted: list[int]
    ) -> dict[int, bytes]:
        """Rebuild only the ``wanted`` fragments (repair): pyeclib's own reconstruct solves
        for those indexes directly, many times faster than a decode and a full re-encode."""
        if len(fragments) < self.k:
            raise NotEnoughFragmentsError(
                f"{len(fragments)} fragments available, {self.k} needed to reconstruct"
            )
        chosen = [fragments[i] for i in sorted(fragments)[: self.k]]
        rebuilt = self._driver.reconstruct(chosen, list(wanted))
        return {index: bytes(fragment) for index, fragment in zip(wanted, rebuilt, strict=True)}

    def _decode(self, fragments: Mapping[int, bytes], stripe_len: int) -> bytes:
        # pyeclib reads each fragment's index from its own header, so order does not matter.
        data: bytes = self._driver.decode(list(fragments.values()))
        if len(data) != stripe_len:
            raise ValueError(f"decoded {len(data)} bytes, expected {stripe_len}")
        return data
