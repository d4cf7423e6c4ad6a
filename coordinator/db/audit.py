"""The audit log: one row per mutating admin call, listed newest first.

Layer: coordinator database package; statements in SQLAlchemy Core over ``tables``, each
method one transaction through ``Database.read`` / ``Database.write``. Contract:

* ``record(entry)`` appends one ``AuditEntry`` (its ``id`` is assigned here and ignored on
  input); nothing ever updates or deletes a row.
* ``page(filters, limit, before)`` answers rows newest first (descending ``id``), strictly
  below the ``before`` id when given, so paging by the last id seen never skips or repeats a
  row, even while rows are added. Filters combine with AND: ``actor``, ``action``, ``target``
  (exact), ``bucket`` (the bucket the call acted on or in), ``since`` / ``until`` (time, both
  inclusive).

What goes in ``target`` and ``bucket`` is the caller's: the admin API's audit helper
(``wormfs.coordinator.admin.audit``) fills them from the route.
"""

from __future__ import annotations

import msgspec
from sqlalchemy import ColumnElement, bindparam, insert, or_, select

from wormfs.coordinator.db.database import Database
from wormfs.coordinator.db.tables import audit_log
from wormfs.coordinator.db.tx import Row

_MAX_ID = 2**62  # above every id: "no cursor yet"


class AuditEntry(msgspec.Struct, frozen=True):
    """One audit record: who (the token's name and id) did what to what, and how it ended."""

    time: float
    actor: str
    action: str
    target: str
    result: str  # "ok" or the error code answered
    request_id: str
    actor_id: str = ""
    bucket: str | None = None
    id: int = 0


class AuditFilter(msgspec.Struct, frozen=True):
    actor: str | None = None
    action: str | None = None
    target: str | None = None
    bucket: str | None = None
    since: float | None = None
    until: float | None = None


_INSERT = insert(audit_log)


def _optional(column: str, param: str, compare: str) -> ColumnElement[bool]:
    """``column <compare> :param``, or true when the parameter is NULL (no such filter)."""
    c = audit_log.c[column]
    value = bindparam(param, type_=c.type)  # typed: PostgreSQL must know a NULL's type
    test = {"=": c == value, ">=": c >= value, "<=": c <= value}[compare]
    return or_(value.is_(None), test)


_PAGE = (
    select(audit_log)
    .where(
        audit_log.c.id < bindparam("before"),
        _optional("actor", "actor", "="),
        _optional("action", "action", "="),
        _optional("target", "target", "="),
        _optional("bucket", "bucket", "="),
        _optional("time", "since", ">="),
        _optional("time", "until", "<="),
    )
    .order_by(audit_log.c.id.desc())
    .limit(bindparam("limit"))
)


def _entry(row: Row) -> AuditEntry:
    return AuditEntry(
        id=row.id,
        time=row.time,
        actor=row.actor,
        actor_id=row.actor_id,
        action=row.action,
        target=row.target,
        bucket=row.bucket,
        result=row.result,
        request_id=row.request_id,
    )


class AuditLog:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def record(self, entry: AuditEntry) -> None:
        values = msgspec.structs.asdict(entry)
        del values["id"]
        await self._db.write(lambda tx: tx.run(_INSERT, values))

    async def page(
        self, filters: AuditFilter, limit: int, before: int | None = None
    ) -> list[AuditEntry]:
        params = {
            **msgspec.structs.asdict(filters),
            "before": _MAX_ID if before is None else before,
            "limit": limit,
        }
        rows = await self._db.read(lambda tx: tx.all(_PAGE, params))
        return [_entry(r) for r in rows]
