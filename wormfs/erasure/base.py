"""Erasure codec interface: pure, synchronous, no I/O.

A codec turns one stripe (up to ``stripe_size`` bytes) into ``k + m`` fragments of equal size and
rebuilds the stripe from any ``k`` of them. Calls are CPU-bound: callers on an event loop run
them in an executor (invariant 5). Codec ids are stored with every object (in its profile), so
the default codec can change without changing how old data reads.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping

from wormfs.errors import NotEnoughFragmentsError


class Codec(ABC):
    """One (codec, k, m) combination."""

    codec_id: str
    # Bytes before a fragment's payload: the stripe's bytes are the k data fragments'
    # payloads in index order (systematic codes), which ``data_pieces`` relies on.
    fragment_header = 0

    def __init__(self, k: int, m: int) -> None:
        if k < 1 or m < 0 or k + m > 32:
            raise ValueError(f"unsupported geometry k={k} m={m}")
        self.k = k
        self.m = m

    @property
    def n(self) -> int:
        return self.k + self.m

    @abstractmethod
    def fragment_size(self, stripe_len: int) -> int:
        """Size in bytes of every fragment of a stripe holding ``stripe_len`` bytes (>= 1)."""

    @abstractmethod
    def encode(self, stripe: bytes | memoryview) -> list[bytes]:
        """Return the ``k + m`` fragments of ``stripe`` (index 0..k-1 hold data)."""

    @abstractmethod
    def _decode(self, fragments: Mapping[int, bytes], stripe_len: int) -> bytes:
        """Rebuild the stripe from exactly ``k`` fragments keyed by index."""

    def decode(self, fragments: Mapping[int, bytes], stripe_len: int) -> bytes:
        """Rebuild the stripe's ``stripe_len`` bytes from any ``k`` fragments keyed by index.

        Extra fragments are ignored (data fragments preferred); fewer than ``k`` raises
        ``NotEnoughFragmentsError``.
        """
        if len(fragments) < self.k:
            raise NotEnoughFragmentsError(
                f"{len(fragments)} fragments available, {self.k} needed to decode"
            )
        chosen = {i: fragments[i] for i in sorted(fragments)[: self.k]}
        return self._decode(chosen, stripe_len)

    def data_pieces(
        self, fragments: Mapping[int, bytes], stripe_len: int
    ) -> list[memoryview] | None:
        """The stripe's bytes as views into its k data fragments, in order, without decoding
        or copying; None unless every data fragment (index 0..k-1) is present."""
        if any(i not in fragments for i in range(self.k)):
            return None
        pieces = []
        left = stripe_len
        for i in range(self.k):
            if left <= 0:
                break
            payload = memoryview(fragments[i])[self.fragment_header :]
            piece = payload[: min(left, len(payload))]
            pieces.append(piece)
            left -= len(piece)
        if left > 0:
            raise ValueError(
                f"data fragments hold {stripe_len - left} bytes, expected {stripe_len}"
            )
        return pieces

    def reconstruct(
        self, fragments: Mapping[int, bytes], stripe_len: int, wanted: list[int]
    ) -> dict[int, bytes]:
        """Rebuild the fragments with indexes ``wanted`` from any ``k`` others (for repair)."""
        stripe = self.decode(fragments, stripe_len)
        full = self.encode(stripe)
        return {i: full[i] for i in wanted}
