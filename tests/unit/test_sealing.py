"""Sealed parts (``wormfs.format.sealing``): the package layout, golden bytes, ranges, and
every way a package refuses to open; the keyring's wrapping (``wormfs.internal.keyring``).

The golden file pins the layout: a change to the bytes fails here. To regenerate it after a
deliberate, versioned change, run this module with WORMFS_REGEN_GOLDEN=1 and review the diff.
"""

from __future__ import annotations

import base64
import os
import struct
from pathlib import Path

import msgspec
import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from hypothesis import given, settings
from hypothesis import strategies as st

from wormfs.errors import KeyUnavailableError
from wormfs.format.sealing import (
    NONCE,
    OVERHEAD,
    PACKAGE,
    STORED_PACKAGE,
    Sealer,
    SealError,
    package_span,
    plain_size,
    sealed_size,
)
from wormfs.internal.keyring import (
    Keyring,
    add_key,
    create_key_file,
    customer_key_check,
    customer_key_matches,
)

GOLDEN = Path(__file__).parent / "golden" / "sealed_package.bin"
KEY = bytes(range(32))
GOLDEN_NONCE = bytes(range(200, 212))
GOLDEN_PLAIN = b"golden plaintext of package 3 of part 7"


def test_golden_package_bytes() -> None:
    sealed = Sealer(KEY, 7).seal(3, GOLDEN_PLAIN, nonce=GOLDEN_NONCE)
    if os.environ.get("WORMFS_REGEN_GOLDEN") == "1":
        GOLDEN.write_bytes(sealed)
    assert sealed == GOLDEN.read_bytes()


def test_golden_package_fields_at_documented_offsets() -> None:
    data = GOLDEN.read_bytes()
    assert len(data) == len(GOLDEN_PLAIN) + OVERHEAD
    assert data[:NONCE] == GOLDEN_NONCE
    # What the docstring says, computed independently: AES-256-GCM, the AAD spelled out.
    aad = b"WSEAL1" + struct.pack(">I", 7) + struct.pack(">Q", 3)
    assert AESGCM(KEY).decrypt(data[:NONCE], data[NONCE:], aad) == GOLDEN_PLAIN
    assert Sealer(KEY, 7).open_run(3, data, 3 * PACKAGE + len(GOLDEN_PLAIN)) == GOLDEN_PLAIN


@settings(max_examples=60, deadline=None)
@given(st.integers(min_value=0, max_value=5 * PACKAGE + 17))
def test_sizes_round_trip(plain: int) -> None:
    assert plain_size(sealed_size(plain)) == plain
    assert sealed_size(plain) == plain + OVERHEAD * -(-plain // PACKAGE)


def test_impossible_sealed_sizes_are_refused() -> None:
    for bad in (1, OVERHEAD, STORED_PACKAGE + 5):
        with pytest.raises(ValueError):
            plain_size(bad)


@settings(max_examples=40, deadline=None)
@given(st.data())
def test_any_range_opens_to_its_plaintext(data: st.DataObject) -> None:
    size = data.draw(st.integers(min_value=1, max_value=3 * PACKAGE + 100))
    plain = os.urandom(size)
    sealer = Sealer(KEY, 2)
    stored = bytes(sealer.seal_run(0, plain))
    assert len(stored) == sealed_size(size)
    start = data.draw(st.integers(min_value=0, max_value=size - 1))
    end = data.draw(st.integers(min_value=start + 1, max_value=size))
    span = package_span(size, start, end)
    opened = sealer.open_run(span.first, stored[span.stored_start : span.stored_end], size)
    assert opened[span.skip : span.skip + end - start] == plain[start:end]
    assert span.last - span.first <= (end - start) // PACKAGE + 1  # only what overlaps


def test_packages_refuse_another_key_place_part_or_a_changed_byte() -> None:
    plain = os.urandom(2 * PACKAGE + 10)
    stored = bytes(Sealer(KEY, 1).seal_run(0, plain))
    first, second = stored[:STORED_PACKAGE], stored[STORED_PACKAGE : 2 * STORED_PACKAGE]
    size = len(plain)
    with pytest.raises(SealError):
        Sealer(bytes(32), 1).open_run(0, first, size)  # another key
    with pytest.raises(SealError):
        Sealer(KEY, 2).open_run(0, first, size)  # moved into another part
    with pytest.raises(SealError):
        Sealer(KEY, 1).open_run(0, second + first, size)  # swapped places
    flipped = bytearray(stored)
    flipped[NONCE + 100] ^= 1
    with pytest.raises(SealError):
        Sealer(KEY, 1).open_run(0, flipped, size)
    with pytest.raises(SealError):
        Sealer(KEY, 1).open_run(0, stored[:-1], size)  # cut short


def test_nonces_are_fresh_per_package() -> None:
    sealer = Sealer(KEY, 1)
    once, again = sealer.seal_run(0, b"same"), sealer.seal_run(0, b"same")
    assert once[:NONCE] != again[:NONCE] and once != again


def test_keyring_wraps_unwraps_and_rotates(tmp_path: Path) -> None:
    path = tmp_path / "master.keys"
    create_key_file(path)
    assert path.stat().st_mode & 0o777 == 0o600
    keyring = Keyring.load(tmp_path)
    assert keyring is not None
    data_key, enc = keyring.new_data_key("AES256")
    assert data_key not in msgspec.json.encode(enc)  # only wrapped
    assert keyring.data_key(enc) == data_key
    old = keyring.current
    new = add_key(path)
    os.utime(path, ns=(1, 1))  # a changed mtime, even within the file system's granularity
    assert keyring.refresh() and not keyring.refresh()
    assert keyring.current == new and keyring.key_ids == [old, new]
    rewrapped = keyring.rewrap(enc)
    assert rewrapped is not None and rewrapped.wrapping_key_id == new
    assert keyring.data_key(rewrapped) == data_key
    assert keyring.rewrap(rewrapped) is None
    # A process loaded now holds both keys.
    fresh = Keyring.load(tmp_path)
    assert fresh is not None and fresh.data_key(rewrapped) == fresh.data_key(enc) == data_key


def test_kms_keys_are_bound_to_their_name_and_context() -> None:
    keyring = Keyring({"k1": KEY})
    data_key, enc = keyring.new_data_key("aws:kms", "alpha", "e30=")
    assert keyring.data_key(enc) == data_key
    for changed in (
        msgspec.structs.replace(enc, kms_key_id="beta"),
        msgspec.structs.replace(enc, kms_context="e3g6eH0="),
        msgspec.structs.replace(enc, wrapping_key_id="unknown"),
    ):
        with pytest.raises(KeyUnavailableError):
            keyring.data_key(changed)
    assert Keyring({"k1": KEY}, kms_keys=["alpha"]).kms_key_allowed("alpha")
    assert not Keyring({"k1": KEY}, kms_keys=["alpha"]).kms_key_allowed("beta")


def test_environment_keys_and_their_errors(monkeypatch: pytest.MonkeyPatch) -> None:
    encoded = base64.b64encode(KEY).decode()
    monkeypatch.setenv(
        "WORMFS_MASTER_KEY", f"old:{base64.b64encode(bytes(32)).decode()},new:{encoded}"
    )
    keyring = Keyring.load(None)
    assert keyring is not None and keyring.current == "new" and keyring.path is None
    monkeypatch.setenv("WORMFS_MASTER_KEY", "nokey")
    with pytest.raises(KeyUnavailableError):
        Keyring.load(None)
    monkeypatch.delenv("WORMFS_MASTER_KEY")
    assert Keyring.load(None) is None


def test_customer_key_check_tells_keys_apart() -> None:
    check = customer_key_check(KEY)
    assert KEY not in check
    assert customer_key_matches(KEY, check)
    assert not customer_key_matches(bytes(32), check)
    assert customer_key_check(KEY) != check  # salted
