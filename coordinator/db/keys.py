"""Master keys in the metadata: which key wraps each sealed version's data key, and re-wrapping.

Layer: coordinator database package; module-level Core statements over ``tables.objects`` and
``tables.uploads`` and synchronous operations of a ``Tx`` (run whole by ``Database.read`` /
``write``), bundled by the ``MasterKeys`` repository. The records are
``wormfs.format.sealing.Encryption`` in the ``encryption`` JSON column (revision 0014; NULL,
or JSON ``null``, for plaintext). Contract:

* ``key_usage(tx)`` counts the sealed versions and uploads per master key id that wraps their
  data key (SSE-S3 and SSE-KMS), and the SSE-C ones apart (no wrapped key: the customer's key
  is never stored, so nothing of theirs is ever re-wrapped). One read, one snapshot.
* ``rewrap_batch(tx, keyring, after, limit)`` walks ``objects`` (by id) then ``uploads`` (by
  upload id) from the cursor ``after`` (``START`` first), takes at most ``limit`` rows whose
  data key is wrapped by another key than ``keyring.current``, re-wraps each under the current
  key (``Keyring.rewrap``: the data key, hence the stored bytes, stays the same) and updates
  its ``encryption``; a row whose key does not unwrap (``KeyUnavailableError``: a key missing
  from the keyring) is counted as failed and left as it is. It answers the counts and the next
  cursor (None at the end). The keyring must not read files (``Keyring.pinned``): on
  PostgreSQL the operation runs in the event loop.
* ``MasterKeys.rewrap(keyring, budget)`` runs such batches, each its own write transaction (so
  a big bucket never holds one long transaction, nor the SQLite writer for long), until the
  walk ends or ``budget`` seconds have passed (``done`` tells which).

A version committed meanwhile with a data key wrapped under an older key (its writer took the
key before the rotation) is left for the next pass; ``key_usage`` shows it.
"""

from __future__ import annotations

import functools
import logging
import time
from dataclasses import dataclass
from typing import Any

import msgspec
from sqlalchemy import Column, Table, bindparam, func, select, update

from wormfs.coordinator.db.database import Database
from wormfs.coordinator.db.tables import objects, uploads
from wormfs.coordinator.db.tx import Tx
from wormfs.errors import KeyUnavailableError
from wormfs.format.sealing import SSE_C, SSE_KMS, SSE_S3, Encryption
from wormfs.internal.keyring import Keyring

log = logging.getLogger(__name__)

BATCH = 500  # rows per re-wrap transaction
WRAPPED = (SSE_S3, SSE_KMS)  # the algorithms whose data key a master key wraps
OBJECTS, UPLOADS = "objects", "uploads"
Cursor = tuple[str, Any]  # (table, the last row's key there)
START: Cursor = (OBJECTS, 0)


def _algorithm(table: Table) -> Any:
    return table.c.encryption["algorithm"].as_string()


def _wrapping(table: Table) -> Any:
    return table.c.encryption["wrapping_key_id"].as_string()


def _usage(table: Table) -> Any:
    # Grouped by the labels: PostgreSQL would not know two bound JSON paths for the same one.
    algorithm = _algorithm(table).label("algorithm")
    key_id = _wrapping(table).label("key_id")
    return (
        select(algorithm, key_id, func.count().label("versions"))
        .where(_algorithm(table).is_not(None))
        .group_by(algorithm, key_id)
    )


def _to_rewrap(table: Table, key: Column[Any]) -> Any:
    # Plaintext rows (NULL or JSON null) and SSE-C ones have no wrapping key: the comparison
    # is NULL for them, so the walk passes over them in the database.
    return (
        select(key.label("row_key"), table.c.encryption)
        .where(key > bindparam("after"), _wrapping(table) != bindparam("current"))
        .order_by(key)
        .limit(bindparam("limit"))
    )


def _set(table: Table, key: Column[Any]) -> Any:
    return (
        update(table)
        .where(key == bindparam("row_key"))
        .values(encryption=bindparam("sealed", type_=table.c.encryption.type))
    )


_USAGE = {OBJECTS: _usage(objects), UPLOADS: _usage(uploads)}
_TO_REWRAP = {
    OBJECTS: _to_rewrap(objects, objects.c.id),
    UPLOADS: _to_rewrap(uploads, uploads.c.upload_id),
}
_SET = {OBJECTS: _set(objects, objects.c.id), UPLOADS: _set(uploads, uploads.c.upload_id)}
_NEXT: dict[str, Cursor | None] = {OBJECTS: (UPLOADS, ""), UPLOADS: None}


@dataclass(frozen=True)
class KeyUsage:
    wrapped: dict[str, int]  # master key id -> sealed versions and uploads it wraps the key of
    sse_c: int = 0  # SSE-C versions and uploads (no wrapped key)


@dataclass(frozen=True)
class RewrapBatch:
    rewrapped: int
    failed: int
    after: Cursor | None  # where the next batch starts; None: the walk is over


@dataclass
class RewrapPass:
    rewrapped: int = 0
    failed: int = 0
    done: bool = False  # False: stopped at its budget, rows may be left to re-wrap


def key_usage(tx: Tx) -> KeyUsage:
    wrapped: dict[str, int] = {}
    sse_c = 0
    for statement in _USAGE.values():
        for algorithm, key_id, count in tx.all(statement):
            if algorithm == SSE_C:
                sse_c += count
            elif key_id:
                wrapped[key_id] = wrapped.get(key_id, 0) + count
    return KeyUsage(dict(sorted(wrapped.items())), sse_c)


def rewrap_batch(
    tx: Tx, keyring: Keyring, after: Cursor = START, limit: int = BATCH
) -> RewrapBatch:
    table, last = after
    rows = tx.all(_TO_REWRAP[table], {"after": last, "current": keyring.current, "limit": limit})
    changed: list[dict[str, Any]] = []
    failed: list[str] = []
    for row in rows:
        enc = msgspec.convert(row.encryption, Encryption)
        if enc.algorithm not in WRAPPED:
            continue
        try:
            rewrapped = keyring.rewrap(enc)
        except KeyUnavailableError:
            failed.append(enc.wrapping_key_id)
            continue
        if rewrapped is not None:
            changed.append({"row_key": row.row_key, "sealed": msgspec.to_builtins(rewrapped)})
    tx.run_many(_SET[table], changed)
    if failed:
        log.warning(
            "%d data keys of %s could not be re-wrapped: master keys %s not in the keyring",
            len(failed),
            table,
            ", ".join(sorted(set(failed))),
        )
    following = (table, rows[-1].row_key) if len(rows) == limit else _NEXT[table]
    return RewrapBatch(len(changed), len(failed), following)


class MasterKeys:
    """The master-key repository: usage per key, and re-wrapping passes."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def usage(self) -> KeyUsage:
        return await self._db.read(key_usage)

    async def rewrap(
        self, keyring: Keyring, budget: float = float("inf"), limit: int = BATCH
    ) -> RewrapPass:
        """Re-wrap under ``keyring.current`` (a pinned keyring) until the walk ends or
        ``budget`` seconds have passed."""
        deadline = time.monotonic() + budget
        total = RewrapPass()
        after: Cursor | None = START
        while after is not None:
            batch = await self._db.write(
                functools.partial(rewrap_batch, keyring=keyring, after=after, limit=limit)
            )
            total.rewrapped += batch.rewrapped
            total.failed += batch.failed
            after = batch.after
            if after is not None and time.monotonic() >= deadline:
                return total
        total.done = True
        return total
