"""Erasure codecs: ``get_codec(codec_id, k, m)`` and the start-up self-test.

Codec ids (stored with every object): ``isal_rs_vand`` (default, ISA-L through pyeclib) and
``zfec`` (portable). The numeric ids are the ones written into chunk headers.
"""

from __future__ import annotations

import functools
import hashlib

from wormfs.erasure.base import Codec
from wormfs.erasure.isal import IsalCodec
from wormfs.erasure.zfec_codec import ZfecCodec

CODECS: dict[str, type[Codec]] = {IsalCodec.codec_id: IsalCodec, ZfecCodec.codec_id: ZfecCodec}
CODEC_NUMBERS: dict[str, int] = {IsalCodec.codec_id: 1, ZfecCodec.codec_id: 2}
CODEC_BY_NUMBER: dict[int, str] = {v: k for k, v in CODEC_NUMBERS.items()}
DEFAULT_CODEC = IsalCodec.codec_id


@functools.lru_cache(maxsize=32)
def get_codec(codec_id: str, k: int, m: int) -> Codec:
    """A codec instance for (codec_id, k, m); instances are stateless and cached."""
    try:
        cls = CODECS[codec_id]
    except KeyError:
        raise ValueError(f"unknown codec {codec_id!r}; known: {sorted(CODECS)}") from None
    return cls(k, m)


# Fixed input and the SHA-256 of the concatenated 4+2 fragments each codec must produce. A
# process whose codec library disagrees would write data that other processes cannot read, so
# it refuses to start (``self_test``).
_SELF_TEST_INPUT = bytes((i * 7 + 3) % 251 for i in range(10_007))
SELF_TEST_DIGESTS: dict[str, str] = {
    "isal_rs_vand": "926d6ce47b7a7a990c8aa37daa3026173ddebd686b461c52f9466b965b0f8652",
    "zfec": "102b7a8fc1d04dc8a7f561158c6c72945bfdc9f5dbfec1a7a4a49f15aa99eada",
}


def self_test_digest(codec_id: str) -> str:
    codec = get_codec(codec_id, 4, 2)
    h = hashlib.sha256()
    for fragment in codec.encode(_SELF_TEST_INPUT):
        h.update(fragment)
    return h.hexdigest()


def self_test(codec_ids: tuple[str, ...] = tuple(CODECS)) -> None:
    """Encode a fixed input, compare with pinned digests, decode from parity, and check that
    the data fragments' payloads are the input (reads pass them through undecoded).

    Raises ``RuntimeError`` naming the codec that disagrees.
    """
    for codec_id in codec_ids:
        digest = self_test_digest(codec_id)
        if digest != SELF_TEST_DIGESTS[codec_id]:
            raise RuntimeError(
                f"codec {codec_id} self-test failed: fragments hash to {digest}, "
                f"expected {SELF_TEST_DIGESTS[codec_id]}; refusing to start"
            )
        codec = get_codec(codec_id, 4, 2)
        fragments = codec.encode(_SELF_TEST_INPUT)
        survivors = {i: fragments[i] for i in (1, 3, 4, 5)}
        if codec.decode(survivors, len(_SELF_TEST_INPUT)) != _SELF_TEST_INPUT:
            raise RuntimeError(f"codec {codec_id} self-test failed to decode from parity")
        pieces = codec.data_pieces(dict(enumerate(fragments)), len(_SELF_TEST_INPUT))
        if pieces is None or b"".join(pieces) != _SELF_TEST_INPUT:
            raise RuntimeError(f"codec {codec_id} self-test: data fragments are not the data")


__all__ = [
    "CODECS",
    "CODEC_BY_NUMBER",
    "CODEC_NUMBERS",
    "DEFAULT_CODEC",
    "Codec",
    "get_codec",
    "self_test",
]
