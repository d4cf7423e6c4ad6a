"""The master keyring: data keys for sealed versions, wrapped and unwrapped (SSE-S3, SSE-KMS).

Layer: internal plumbing (used by the gateway, the mount and the coordinator's re-wrap).
Contract: every sealed version has its own random data key (``new_data_key``); the version
keeps it wrapped (AES-256-GCM, with the algorithm, KMS key id and context as associated data)
under the current master key (SSE-S3) or under a KMS key (SSE-KMS), and ``data_key`` unwraps
it again. The local KMS derives each named key from the master key (HMAC-SHA256), so a KMS
key exists as soon as it is named, on every process that holds the keyring, with nothing
stored; ``kms_keys`` may restrict the names allowed. An external KMS (e.g. Vault's transit
engine) fits behind the same two calls: wrap a fresh data key under a named key, unwrap it.

Where the keys come from: ``WORMFS_MASTER_KEY`` (entries ``ID:BASE64`` separated by commas,
the last one current: several hosts give every process the same value), else the key file
(``WORMFS_MASTER_KEY_FILE``, or the data dir's ``master.keys``, created 0600 with one key if
absent): one ``ID BASE64`` line per key, the last one current. Rotation appends a key
(``add_key``) and re-wraps data keys under it (``rewrap``); old keys stay to unwrap what was
not re-wrapped yet. A serving process runs ``watch``, which looks at the key file's mtime every
``REFRESH`` seconds (in a thread: file I/O never runs on the event loop) and reads it again
when it changed, so every process holds, and wraps under, a key appended by a rotation within
about a second.

SSE-C needs no keyring: the customer's key is the data key, and a version keeps only a
salted HMAC of it (``customer_key_check``) to refuse a wrong key before decrypting.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import hmac
import logging
import os
import secrets
from collections.abc import Collection
from pathlib import Path

import msgspec
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from wormfs.errors import KeyUnavailableError
from wormfs.format.sealing import KEY_BYTES, NONCE, SSE_KMS, SSE_S3, Encryption

log = logging.getLogger(__name__)

MASTER_KEY_ENV = "WORMFS_MASTER_KEY"
MASTER_KEY_FILE_ENV = "WORMFS_MASTER_KEY_FILE"
KEY_FILE_NAME = "master.keys"
DEFAULT_KMS_KEY = "wormfs/default"
_SALT = 16
REFRESH = 1.0  # seconds between looks at the key file's mtime


def _parse(text: str, separator: str, where: str) -> dict[str, bytes]:
    keys: dict[str, bytes] = {}
    for entry in (e.strip() for e in text.replace(",", "\n").splitlines()):
        if not entry:
            continue
        key_id, _, encoded = entry.partition(separator)
        try:
            key = base64.b64decode(encoded.strip(), validate=True)
        except binascii.Error:
            key = b""
        if not key_id or len(key) != KEY_BYTES:
            raise KeyUnavailableError(
                f"{where}: every entry is ID{separator}BASE64 of a {KEY_BYTES}-byte key"
            )
        keys.pop(key_id, None)
        keys[key_id] = key  # dicts keep order: the last entry is the current key
    if not keys:
        raise KeyUnavailableError(f"{where} holds no master key")
    return keys


def new_key_id(key: bytes) -> str:
    """A key's id: the first 12 hex digits of its SHA-256 (says nothing of the key)."""
    return hashlib.sha256(b"wormfs master key id|" + key).hexdigest()[:12]


def create_key_file(path: Path) -> None:
    """A key file with one fresh master key, readable by its owner only (if absent)."""
    if path.exists():
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    key = secrets.token_bytes(KEY_BYTES)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return  # made meanwhile by another process
    with os.fdopen(fd, "w") as fh:
        fh.write(f"{new_key_id(key)} {base64.b64encode(key).decode()}\n")
        fh.flush()
        os.fsync(fh.fileno())


def add_key(path: Path) -> str:
    """Append a fresh master key to the key file, making it current; its id."""
    key = secrets.token_bytes(KEY_BYTES)
    key_id = new_key_id(key)
    text = path.read_text() if path.exists() else ""
    temp = path.with_name(path.name + ".new")
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(text + f"{key_id} {base64.b64encode(key).decode()}\n")
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(temp, path)
    return key_id


def customer_key_check(key: bytes) -> bytes:
    """salt || HMAC-SHA256(key, salt): lets a read tell the right SSE-C key, stores nothing
    the key could be recovered from."""
    salt = secrets.token_bytes(_SALT)
    return salt + hmac.new(key, salt, hashlib.sha256).digest()


def customer_key_matches(key: bytes, check: bytes) -> bool:
    salt, mac = check[:_SALT], check[_SALT:]
    return hmac.compare_digest(hmac.new(key, salt, hashlib.sha256).digest(), mac)


class Keyring:
    """The master keys one process holds, and the local KMS derived from them."""

    def __init__(
        self,
        keys: dict[str, bytes],
        path: Path | None = None,
        kms_keys: Collection[str] = (),
    ) -> None:
        if not keys:
            raise KeyUnavailableError("a keyring needs at least one master key")
        self._keys = dict(keys)
        self._path = path
        self.kms_keys = frozenset(kms_keys)
        self._mtime = self._stat()

    def _stat(self) -> float:
        try:
            return self._path.stat().st_mtime if self._path is not None else 0.0
        except OSError:
            return 0.0

    @classmethod
    def load(cls, data_dir: Path | None = None, kms_keys: Collection[str] = ()) -> Keyring | None:
        """From ``WORMFS_MASTER_KEY``, else the key file (``WORMFS_MASTER_KEY_FILE``, else
        ``data_dir/master.keys``, which must exist); None when none is configured."""
        value = os.environ.get(MASTER_KEY_ENV, "")
        if value:
            return cls(_parse(value, ":", MASTER_KEY_ENV), kms_keys=kms_keys)
        named = os.environ.get(MASTER_KEY_FILE_ENV, "")
        path = Path(named) if named else (data_dir / KEY_FILE_NAME if data_dir else None)
        if path is None or not path.exists():
            return None
        return cls(_parse(path.read_text(), " ", str(path)), path, kms_keys)

    @property
    def current(self) -> str:
        """The id of the key new data keys are wrapped under (the key file's last)."""
        return next(reversed(self._keys))

    def refresh(self) -> bool:
        """Read the key file again if it changed since it was read; whether it did (blocking:
        run it in a thread from a loop)."""
        if self._path is None or self._stat() == self._mtime:
            return False
        self.reload()
        return True

    async def watch(self, interval: float = REFRESH) -> None:
        """Keep up with the key file until cancelled (a task of every serving process)."""
        if self._path is None:
            return
        while True:
            await asyncio.sleep(interval)
            try:
                if await asyncio.to_thread(self.refresh):
                    log.info("master keyring re-read: current key %s", self.current)
            except KeyUnavailableError as exc:
                log.error("master keyring not re-read, the keys held stay: %s", exc)

    @property
    def key_ids(self) -> list[str]:
        """Every key id held, oldest first (the last is current)."""
        return list(self._keys)

    @property
    def path(self) -> Path | None:
        """The key file (None: the keys came from ``WORMFS_MASTER_KEY``)."""
        return self._path

    def reload(self) -> None:
        """Read the key file again (a rotation appended a key); no-op without a file."""
        if self._path is not None and self._path.exists():
            self._mtime = self._stat()
            self._keys = _parse(self._path.read_text(), " ", str(self._path))

    def pinned(self) -> Keyring:
        """The keys held now, in a keyring without a file, which no ``reload`` changes: a
        re-wrapping pass wraps under one current key from its first batch to its last."""
        return Keyring(self._keys, kms_keys=self.kms_keys)

    def _master(self, key_id: str) -> bytes:
        try:
            return self._keys[key_id]
        except KeyError:
            raise KeyUnavailableError(
                f"master key {key_id!r} is not in this process's keyring"
            ) from None

    def _wrapping_key(self, key_id: str, enc: Encryption) -> bytes:
        master = self._master(key_id)
        if enc.algorithm == SSE_KMS:
            return hmac.new(master, b"wormfs kms key|" + enc.kms_key_id.encode(), "sha256").digest()
        return master

    @staticmethod
    def _aad(enc: Encryption) -> bytes:
        fields = ("wormfs data key", enc.algorithm, enc.kms_key_id, enc.kms_context)
        return "|".join(fields).encode()

    def kms_key_allowed(self, name: str) -> bool:
        return not self.kms_keys or name in self.kms_keys

    def new_data_key(
        self, algorithm: str, kms_key_id: str = "", kms_context: str = "", bucket_key: bool = False
    ) -> tuple[bytes, Encryption]:
        """A fresh data key, and the record that keeps it wrapped under the current key."""
        if algorithm not in (SSE_S3, SSE_KMS):
            raise ValueError(f"the keyring wraps SSE-S3 and SSE-KMS keys, not {algorithm!r}")
        enc = Encryption(
            algorithm=algorithm,
            kms_key_id=kms_key_id if algorithm == SSE_KMS else "",
            kms_context=kms_context if algorithm == SSE_KMS else "",
            bucket_key=bucket_key,
        )
        data_key = secrets.token_bytes(KEY_BYTES)
        return data_key, self._wrap(data_key, enc, self.current)

    def _wrap(self, data_key: bytes, enc: Encryption, key_id: str) -> Encryption:
        nonce = secrets.token_bytes(NONCE)
        sealed = AESGCM(self._wrapping_key(key_id, enc)).encrypt(nonce, data_key, self._aad(enc))
        return msgspec.structs.replace(enc, wrapped_key=nonce + sealed, wrapping_key_id=key_id)

    def data_key(self, enc: Encryption) -> bytes:
        """The data key ``enc`` keeps (``KeyUnavailableError`` if it cannot be unwrapped)."""
        wrapping = self._wrapping_key(enc.wrapping_key_id, enc)
        try:
            return AESGCM(wrapping).decrypt(
                enc.wrapped_key[:NONCE], enc.wrapped_key[NONCE:], self._aad(enc)
            )
        except (InvalidTag, ValueError):
            raise KeyUnavailableError(
                f"the data key wrapped by master key {enc.wrapping_key_id!r} does not unwrap"
            ) from None

    def rewrap(self, enc: Encryption) -> Encryption | None:
        """``enc`` wrapped under the current master key; None when it already is."""
        if enc.wrapping_key_id == self.current:
            return None
        return self._wrap(self.data_key(enc), enc, self.current)
