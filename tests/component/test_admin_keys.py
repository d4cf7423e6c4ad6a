"""Master key rotation over the admin API and a real coordinator (both engines).

The coordinator loads its keyring from the environment, as ``wormfs server`` starts it: here a
key file named by ``WORMFS_MASTER_KEY_FILE`` (rotation appends a key to it), or
``WORMFS_MASTER_KEY`` (rotation only re-wraps), or neither. Sealed rows are written as the
gateway writes them (a data key from a keyring holding the same file, inline bytes sealed
under it), so after a rotation each row names the new key and its bytes still open under the
key it unwraps to. Checked: usage per key before and after, the key file, every row re-wrapped
(SSE-C and plaintext untouched), a row under a key nobody holds counted as failed and left,
one audit row per call, the refusals, and the batches' cursor over objects then uploads.
"""

from __future__ import annotations

import asyncio
import base64
import functools
import hashlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from component.admin_harness import AdminHarness, admin_running
from component.coordinator_harness import make_bucket, put, register

from wormfs.clients.coordinator import CoordinatorClient
from wormfs.coordinator.db.keys import OBJECTS, START, UPLOADS, Cursor, rewrap_batch
from wormfs.format.sealing import SSE_C, SSE_KMS, SSE_S3, Encryption, Sealer
from wormfs.internal.keyring import (
    MASTER_KEY_ENV,
    MASTER_KEY_FILE_ENV,
    Keyring,
    add_key,
    create_key_file,
    customer_key_check,
)
from wormfs.wire.coordinator import CreateUpload, ObjectAttributes, PutInline

OWNER = "owner-a"
BUCKET = "vault"
LOST = "lost-key-0001"  # a master key no keyring of this test holds


@pytest.fixture
def key_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "master.keys"
    create_key_file(path)
    monkeypatch.delenv(MASTER_KEY_ENV, raising=False)
    monkeypatch.setenv(MASTER_KEY_FILE_ENV, str(path))
    return path


@pytest.fixture
async def admin(key_file: Path, database_url: str) -> AsyncIterator[AdminHarness]:
    async with admin_running(database_url) as harness:
        await register(harness.coordinator.client, "n1")
        await make_bucket(harness.coordinator.client, BUCKET, OWNER)
        yield harness


def _plain(key: str) -> bytes:
    return (f"the bytes of {key} | " * 40).encode()


async def _put_sealed(
    client: CoordinatorClient, key: str, enc: Encryption, data_key: bytes
) -> None:
    """An inline object sealed as the gateway seals one (part 1, packages from 0)."""
    plain = _plain(key)
    await client.put_inline(
        PutInline(
            bucket=BUCKET,
            key=key,
            owner_id=OWNER,
            size=len(plain),
            etag='"' + hashlib.md5(plain).hexdigest() + '"',
            data=bytes(Sealer(data_key, 1).seal_run(0, plain)),
            attributes=ObjectAttributes(encryption=enc),
        )
    )


async def _upload(client: CoordinatorClient, key: str, enc: Encryption) -> str:
    made = await client.create_upload(
        CreateUpload(
            bucket=BUCKET, key=key, owner_id=OWNER, attributes=ObjectAttributes(encryption=enc)
        )
    )
    return made.upload_id


async def _seal_rows(client: CoordinatorClient, writer: Keyring) -> dict[str, bytes]:
    """Sealed objects and uploads under ``writer.current``; their data keys by key/upload id."""
    data_keys: dict[str, bytes] = {}
    for i in range(3):
        data_keys[f"s3-{i}"], enc = writer.new_data_key(SSE_S3)
        await _put_sealed(client, f"s3-{i}", enc, data_keys[f"s3-{i}"])
    data_keys["kms"], enc = writer.new_data_key(SSE_KMS, "app-key", "e30=")
    await _put_sealed(client, "kms", enc, data_keys["kms"])
    for algorithm in (SSE_S3, SSE_KMS):
        data_key, enc = writer.new_data_key(algorithm, "app-key" if algorithm == SSE_KMS else "")
        data_keys[await _upload(client, f"big-{algorithm}", enc)] = data_key
    return data_keys


async def _check_rows(
    client: CoordinatorClient, reader: Keyring, data_keys: dict[str, bytes], key_id: str
) -> None:
    """Every row of ``data_keys`` names ``key_id`` and unwraps to its data key; objects open."""
    for name, data_key in data_keys.items():
        if name.startswith(("s3-", "kms")):
            manifest = await client.get_object(BUCKET, name)
            enc = manifest.attributes.encryption
            assert enc is not None and manifest.inline is not None
            opened = Sealer(reader.data_key(enc), 1).open_run(0, manifest.inline, manifest.size)
            assert bytes(opened) == _plain(name)
        else:
            enc = (await client.get_upload(name)).attributes.encryption
            assert enc is not None
        assert enc.wrapping_key_id == key_id, name
        assert reader.data_key(enc) == data_key, name


def _env(*keys: tuple[str, bytes]) -> str:
    """A ``WORMFS_MASTER_KEY`` value: ``ID:BASE64`` entries, the last one current."""
    return ",".join(f"{key_id}:{base64.b64encode(key).decode()}" for key_id, key in keys)


async def _file_keyring() -> Keyring:
    """The key file's keyring, as every process of the cluster loads it."""
    keyring = await asyncio.to_thread(Keyring.load, None)
    assert keyring is not None and keyring.path is not None
    return keyring


async def _audit(admin: AdminHarness) -> list[tuple[str, str]]:
    body = await admin.ok("GET", "/audit", params={"action": "keys.rotate"})
    return [(r["target"], r["result"]) for r in body["items"]]


async def test_rotation_adds_a_key_and_rewraps_every_data_key(
    admin: AdminHarness, key_file: Path
) -> None:
    client = admin.coordinator.client
    writer = (await _file_keyring()).pinned()
    old = writer.current
    data_keys = await _seal_rows(client, writer)
    # Untouched by rotation: plaintext, SSE-C (no wrapped key), and a key nobody holds.
    await put(client, BUCKET, "plain", size=100)
    customer = bytes(range(32))
    sse_c = Encryption(SSE_C, customer_key_md5="md5", key_check=customer_key_check(customer))
    await _put_sealed(client, "customer", sse_c, customer)
    lost_key, lost = Keyring({LOST: bytes(32)}).new_data_key(SSE_S3)
    await _put_sealed(client, "lost", lost, lost_key)

    view = await admin.ok("GET", "/keys")
    assert view == {
        "current": old,
        "keys": [old],
        "usage": {old: 6, LOST: 1},
        "sse_c": 1,
        "source": "file",
    }

    loop = asyncio.get_running_loop()
    started = loop.time()
    result = await admin.ok("POST", "/keys/rotate", json={})  # new_key defaults to true
    assert loop.time() - started >= 1.5  # every process had the time to read the new key
    new = result["current"]
    assert new != old
    assert result == {
        "current": new,
        "added": new,
        "rewrapped": 6,
        "failed": 1,
        "remaining": 1,
        "done": True,
    }
    lines = (await asyncio.to_thread(key_file.read_text)).splitlines()
    assert [line.split()[0] for line in lines] == [old, new]

    reader = (await _file_keyring()).pinned()
    assert reader.current == new
    await _check_rows(client, reader, data_keys, new)
    after = await client.get_object(BUCKET, "customer")
    assert after.attributes.encryption == sse_c
    assert (await client.get_object(BUCKET, "plain")).attributes.encryption is None
    assert (await client.get_object(BUCKET, "lost")).attributes.encryption == lost

    view = await admin.ok("GET", "/keys")
    assert view["current"] == new and view["keys"] == [old, new]
    assert view["usage"] == {old: 0, new: 6, LOST: 1}

    # Again, only re-wrapping: nothing left but the row nobody can unwrap.
    again = await admin.ok("POST", "/keys/rotate", json={"new_key": False})
    assert again == {**result, "added": None, "rewrapped": 0}
    for body in ({"new_key": "yes"}, {"rotate": True}):
        status, error, _ = await admin.call("POST", "/keys/rotate", json=body)
        assert (status, error["code"]) == (400, "InvalidInput")
    assert await _audit(admin) == [
        ("keys/rotate", "InvalidInput"),
        ("keys/rotate", "InvalidInput"),
        (f"keys/{new}", "ok"),
        (f"keys/{new}", "ok"),
    ]
    doc = await admin.ok("GET", "/openapi.json")
    rotate = doc["paths"]["/admin/v1/keys/rotate"]["post"]
    assert rotate["x-wormfs-scope"] == "admin"
    assert rotate["x-wormfs-audit-action"] == "keys.rotate"
    assert "get" in doc["paths"]["/admin/v1/keys"]


async def test_batches_walk_objects_then_uploads_from_their_cursor(admin: AdminHarness) -> None:
    client = admin.coordinator.client
    keyring = await _file_keyring()
    data_keys = await _seal_rows(client, keyring.pinned())  # 4 objects, then 2 uploads
    assert keyring.path is not None
    added = await asyncio.to_thread(add_key, keyring.path)
    await asyncio.to_thread(keyring.reload)
    pinned = keyring.pinned()
    assert pinned.current == added

    steps = []
    after: Cursor | None = START
    while after is not None:
        step = functools.partial(rewrap_batch, keyring=pinned, after=after, limit=3)
        batch = await admin.coordinator.repo.db.write(step)
        steps.append((batch.rewrapped, batch.after[0] if batch.after else None))
        after = batch.after
    # Three objects, then the fourth (a short batch: on to the uploads), then both uploads.
    assert steps == [(3, OBJECTS), (1, UPLOADS), (2, None)]
    await _check_rows(client, pinned, data_keys, added)
    keys = admin.coordinator.repo.keys
    assert (await keys.usage()).wrapped == {added: 6}
    # A pass cut by its budget says so (after one batch); a whole one walks to the end.
    cut = await keys.rewrap(pinned, budget=0.0, limit=1)
    assert (cut.rewrapped, cut.done) == (0, False)
    whole = await keys.rewrap(pinned, limit=1)
    assert (whole.rewrapped, whole.failed, whole.done) == (0, 0, True)


@asynccontextmanager
async def _coordinator(database_url: str) -> AsyncIterator[AdminHarness]:
    async with admin_running(database_url) as harness:
        await register(harness.coordinator.client, "n1")
        yield harness


async def test_keys_from_the_environment_are_rewrapped_never_added(
    monkeypatch: pytest.MonkeyPatch, database_url: str
) -> None:
    old, new = bytes(range(32)), bytes(range(32, 64))
    monkeypatch.delenv(MASTER_KEY_FILE_ENV, raising=False)
    monkeypatch.setenv(MASTER_KEY_ENV, _env(("env-old", old)))
    async with _coordinator(database_url) as first:
        await make_bucket(first.coordinator.client, BUCKET, OWNER)
        assert (await first.ok("GET", "/keys"))["keys"] == ["env-old"]
        data_keys = await _seal_rows(first.coordinator.client, Keyring({"env-old": old}))
    # The operator appends env-new to the variable on every host, and restarts.
    monkeypatch.setenv(MASTER_KEY_ENV, _env(("env-old", old), ("env-new", new)))
    async with _coordinator(database_url) as admin:
        view = await admin.ok("GET", "/keys")
        assert (view["current"], view["source"]) == ("env-new", "environment")
        assert view["usage"] == {"env-old": 6, "env-new": 0}
        status, error, _ = await admin.call("POST", "/keys/rotate")
        assert (status, error["code"]) == (400, "InvalidInput")
        assert MASTER_KEY_ENV in error["message"] and "--rewrap-only" in error["message"]
        result = await admin.ok("POST", "/keys/rotate", json={"new_key": False})
        assert result == {
            "current": "env-new",
            "added": None,
            "rewrapped": 6,
            "failed": 0,
            "remaining": 0,
            "done": True,
        }
        reader = Keyring({"env-new": new, "env-old": old})
        await _check_rows(admin.coordinator.client, reader, data_keys, "env-new")
        assert (await admin.ok("GET", "/keys"))["usage"] == {"env-old": 0, "env-new": 6}
        assert await _audit(admin) == [("keys/env-new", "ok"), ("keys/rotate", "InvalidInput")]


async def test_without_a_master_key_nothing_rotates(
    monkeypatch: pytest.MonkeyPatch, database_url: str
) -> None:
    monkeypatch.delenv(MASTER_KEY_FILE_ENV, raising=False)
    monkeypatch.delenv(MASTER_KEY_ENV, raising=False)
    async with _coordinator(database_url) as admin:
        await make_bucket(admin.coordinator.client, BUCKET, OWNER)
        await _seal_rows(admin.coordinator.client, Keyring({"gone": bytes(32)}))
        view = await admin.ok("GET", "/keys")
        assert view == {
            "current": None,
            "keys": [],
            "usage": {"gone": 6},
            "sse_c": 0,
            "source": "none",
        }
        for body in ({}, {"new_key": False}):
            status, error, _ = await admin.call("POST", "/keys/rotate", json=body)
            assert (status, error["code"]) == (409, "NoMasterKey")
        assert await _audit(admin) == [("keys/rotate", "NoMasterKey")] * 2
