"""Codecs: every choice of k surviving fragments decodes, for several geometries and sizes."""

from __future__ import annotations

import itertools
import os

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from wormfs.erasure import CODECS, SELF_TEST_DIGESTS, get_codec, self_test, self_test_digest
from wormfs.errors import NotEnoughFragmentsError

GEOMETRIES = [(4, 2), (2, 1), (8, 4), (3, 3)]
SIZES = [1, 2, 15, 16, 17, 1000, 4096 + 3, 1024 * 1024]


@pytest.mark.parametrize("codec_id", sorted(CODECS))
@pytest.mark.parametrize(("k", "m"), GEOMETRIES)
@pytest.mark.parametrize("size", SIZES)
def test_every_k_subset_decodes(codec_id: str, k: int, m: int, size: int) -> None:
    codec = get_codec(codec_id, k, m)
    data = os.urandom(size)
    fragments = codec.encode(data)
    assert len(fragments) == k + m
    assert {len(f) for f in fragments} == {codec.fragment_size(size)}
    subsets = list(itertools.combinations(range(k + m), k))
    if len(subsets) > 40:  # 8+4 has 495; a spread sample keeps the test fast
        subsets = subsets[:: len(subsets) // 40]
    for subset in subsets:
        assert codec.decode({i: fragments[i] for i in subset}, size) == data


@pytest.mark.parametrize("codec_id", sorted(CODECS))
@settings(max_examples=30, deadline=None)
@given(data=st.binary(min_size=1, max_size=20_000), lost=st.sets(st.integers(0, 5), max_size=2))
def test_any_two_losses_survivable(codec_id: str, data: bytes, lost: set[int]) -> None:
    codec = get_codec(codec_id, 4, 2)
    fragments = codec.encode(data)
    survivors = {i: f for i, f in enumerate(fragments) if i not in lost}
    assert codec.decode(survivors, len(data)) == data


@pytest.mark.parametrize("codec_id", sorted(CODECS))
def test_too_few_fragments(codec_id: str) -> None:
    codec = get_codec(codec_id, 4, 2)
    fragments = codec.encode(b"x" * 100)
    with pytest.raises(NotEnoughFragmentsError):
        codec.decode({0: fragments[0], 1: fragments[1], 5: fragments[5]}, 100)


@pytest.mark.parametrize("codec_id", sorted(CODECS))
def test_reconstruct_missing_fragments(codec_id: str) -> None:
    codec = get_codec(codec_id, 4, 2)
    data = os.urandom(5000)
    fragments = codec.encode(data)
    rebuilt = codec.reconstruct({i: fragments[i] for i in (0, 2, 4, 5)}, 5000, [1, 3])
    assert rebuilt == {1: fragments[1], 3: fragments[3]}


@pytest.mark.parametrize("codec_id", sorted(CODECS))
@pytest.mark.parametrize("size", [1, 4097, 1024 * 1024])
def test_reconstruct_every_index_from_every_survivor_set(codec_id: str, size: int) -> None:
    """The fast path of a codec's reconstruct agrees with decode + re-encode."""
    import itertools

    codec = get_codec(codec_id, 4, 2)
    fragments = codec.encode(os.urandom(size))
    for lost in itertools.combinations(range(6), 2):
        have = {i: fragments[i] for i in range(6) if i not in lost}
        assert codec.reconstruct(have, size, list(lost)) == {i: fragments[i] for i in lost}
    with pytest.raises(NotEnoughFragmentsError):
        codec.reconstruct({0: fragments[0]}, size, [1])


def test_self_test_passes_and_pins_digests() -> None:
    self_test()
    for codec_id in CODECS:
        assert self_test_digest(codec_id) == SELF_TEST_DIGESTS[codec_id]


def test_self_test_refuses_a_disagreeing_codec(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(SELF_TEST_DIGESTS, "zfec", "0" * 64)
    with pytest.raises(RuntimeError, match="zfec self-test failed"):
        self_test(("zfec",))


def test_unknown_codec() -> None:
    with pytest.raises(ValueError, match="unknown codec"):
        get_codec("nope", 4, 2)


@pytest.mark.parametrize("codec_id", sorted(CODECS))
@pytest.mark.parametrize(("k", "m"), GEOMETRIES)
@pytest.mark.parametrize("size", SIZES)
def test_data_pieces_are_the_stripe_without_decoding(
    codec_id: str, k: int, m: int, size: int
) -> None:
    codec = get_codec(codec_id, k, m)
    data = os.urandom(size)
    fragments = dict(enumerate(codec.encode(data)))
    pieces = codec.data_pieces(fragments, size)
    assert pieces is not None
    assert all(isinstance(p, memoryview) for p in pieces)
    assert b"".join(pieces) == data
    # One data fragment missing: no shortcut, the caller decodes.
    del fragments[k - 1]
    assert codec.data_pieces(fragments, size) is None
