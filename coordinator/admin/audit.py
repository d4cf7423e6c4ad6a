"""The audit helper and the audit resource: one row per mutating admin call, listed newest first.

Layer: coordinator admin package. Contract:

* ``write_audit(log, call, action, result)`` is THE way to write an audit row, for the API
  (the server calls it once per mutating call) and for the web UI (call it once per form post,
  with an ``AdminCall`` of the UI's request): time, actor (the token's name and id, or
  ``anonymous`` when no valid token came), the action, ``call.target`` / ``call.bucket``, the
  result (``ok`` or the error code) and the request id. A failed write is logged at ERROR with
  the request id and re-raised only when the call itself had succeeded (an "ok" that could
  not be recorded must not look like a success), never hiding the call's own error.
* ``GET /admin/v1/audit``: rows newest first, paged by the last id, filtered by actor,
  action, target, bucket, since, until.
"""

from __future__ import annotations

import logging
import time

import msgspec

from wormfs.coordinator.admin.paging import Page, PageQuery, cursor_key, encode_cursor
from wormfs.coordinator.admin.routes import AdminCall, Route
from wormfs.coordinator.db.audit import AuditEntry, AuditFilter, AuditLog
from wormfs.errors import InvalidInputError

log = logging.getLogger(__name__)
ANONYMOUS = "anonymous"


async def write_audit(audit: AuditLog, call: AdminCall, action: str, result: str) -> None:
    actor = call.actor
    entry = AuditEntry(
        time=time.time(),
        actor=actor.name if actor is not None else ANONYMOUS,
        actor_id=actor.token_id if actor is not None else "",
        action=action,
        target=call.target[:1024],
        bucket=call.bucket,
        result=result,
        request_id=call.request_id,
    )
    try:
        await audit.record(entry)
    except Exception:
        log.exception(
            "audit row of %s on %s [%s] not written", action, entry.target, call.request_id
        )
        if result == "ok":
            raise


class AuditQuery(PageQuery, frozen=True, kw_only=True):
    actor: str | None = None
    action: str | None = None
    target: str | None = None
    bucket: str | None = None
    since: float | None = None  # seconds since the epoch, inclusive
    until: float | None = None


async def list_audit(call: AdminCall) -> Page[AuditEntry]:
    q: AuditQuery = call.query
    after = cursor_key(q)
    if after is not None and (len(after) != 1 or not isinstance(after[0], int)):
        raise InvalidInputError("cursor is not one this API gave out")
    filters = msgspec.convert(
        {k: getattr(q, k) for k in ("actor", "action", "target", "bucket", "since", "until")},
        AuditFilter,
    )
    before = int(after[0]) if after is not None else None
    rows = await call.audit.page(filters, q.limit + 1, before)
    items = rows[: q.limit]
    more = len(rows) > q.limit
    return Page(items=items, next_cursor=encode_cursor([items[-1].id]) if more else None)


ROUTES = (
    Route(
        "GET",
        "/audit",
        list_audit,
        "Audit records of mutating admin calls, newest first",
        query=AuditQuery,
        response=Page[AuditEntry],
        tag="audit",
    ),
)
