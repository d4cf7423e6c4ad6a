"""zfec Reed-Solomon: the portable codec (pure C extension, no ISA-L).

A stripe is split into ``k`` blocks of ``ceil(len / k)`` bytes, the last zero-padded; zfec adds
``m`` parity blocks. Fragments carry no header: the stripe length comes from the chunk format.
"""

from __future__ import annotations

from collections.abc import Mapping

import zfec

from wormfs.erasure.base import Codec


class ZfecCodec(Codec):
    codec_id = "zfec"

    def __init__(self, k: int, m: int) -> None:
        super().__init__(k, m)
        self._encoder = zfec.Encoder(k, k + m)
        self._decoder = zfec.Decoder(k, k + m)

    def fragment_size(self, stripe_len: int) -> int:
        return -(-stripe_len // self.k)

    def encode(self, stripe: bytes | memoryview) -> list[bytes]:
        size = self.fragment_size(len(stripe))
        view = memoryview(stripe)
        # Every block is padded to ``size``: the last (or, for tiny stripes, several) run short.
        blocks = [bytes(view[i * size : (i + 1) * size]).ljust(size, b"\0") for i in range(self.k)]
        return [bytes(b) for b in self._encoder.encode(blocks)]

    def _decode(self, fragments: Mapping[int, bytes], stripe_len: int) -> bytes:
        nums = sorted(fragments)
        primary = self._decoder.decode([fragments[i] for i in nums], nums)
        return b"".join(primary)[:stripe_len]
