"""Login sessions of the web UI: server-side, expiring, each with its own CSRF token.

Layer: coordinator UI (below the page handlers; no HTTP here). Contract:

* ``SessionStore.open(actor, scope, token_id, credential, now)`` makes a ``Session`` with a
  random id (the cookie's value) and a random CSRF token; ``get(id, now)`` answers it while
  it is live and slides its idle deadline, ``None`` once it expired (idle for
  ``idle_timeout`` or older than ``max_age``) or was closed; ``close(id)`` ends it (logout).
* A session holds what the admin token said at login (the token's name as the audit actor,
  its scope and id) and the credential the page layer checks again through the admin auth on
  every request, so a revoked or expired token ends its sessions too. The credential stays in
  this process: it is never sent to the browser (the cookie is only the random session id)
  and never logged (``Session``'s repr leaves it out).
* ``csrf_ok(session, presented)`` compares in constant time.

The store is in the coordinator's memory on purpose: a restart logs everyone out, which is
the safe outcome, and nothing of a session reaches the metadata database. It holds at most
``max_sessions``; opening one more drops the one idle longest.
"""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass, field

COOKIE = "wormfs_session"
LOGIN_CSRF_COOKIE = "wormfs_login_csrf"  # the login form's double-submit token
CSRF_FIELD = "csrf"
CSRF_HEADER = "X-CSRF-Token"


@dataclass
class Session:
    id: str
    csrf: str
    actor: str  # the admin token's name: what the audit log records
    scope: str  # "read" or "admin"
    token_id: str
    credential: str = field(repr=False)
    created: float = 0.0
    last_used: float = field(default=0.0)
    # The outcome of the last action, shown once on the next page: (message, "ok" | "error").
    flash: tuple[str, str] | None = None


class SessionStore:
    def __init__(
        self, idle_timeout: float = 3600.0, max_age: float = 12 * 3600.0, max_sessions: int = 1000
    ) -> None:
        self.idle_timeout = idle_timeout
        self.max_age = max_age
        self.max_sessions = max_sessions
        self._sessions: dict[str, Session] = {}

    def open(self, actor: str, scope: str, token_id: str, credential: str, now: float) -> Session:
        self._expire(now)
        while len(self._sessions) >= self.max_sessions:
            oldest = min(self._sessions.values(), key=lambda s: s.last_used)
            del self._sessions[oldest.id]
        session = Session(
            id=secrets.token_urlsafe(32),
            csrf=secrets.token_urlsafe(32),
            actor=actor,
            scope=scope,
            token_id=token_id,
            credential=credential,
            created=now,
            last_used=now,
        )
        self._sessions[session.id] = session
        return session

    def get(self, session_id: str, now: float) -> Session | None:
        session = self._sessions.get(session_id)
        if session is None:
            return None
        if self._expired(session, now):
            del self._sessions[session_id]
            return None
        session.last_used = now
        return session

    def close(self, session_id: str) -> None:
        self._sessions.pop(session_id, None)

    def __len__(self) -> int:
        return len(self._sessions)

    def _expired(self, session: Session, now: float) -> bool:
        return now - session.last_used > self.idle_timeout or now - session.created > self.max_age

    def _expire(self, now: float) -> None:
        for session in [s for s in self._sessions.values() if self._expired(s, now)]:
            del self._sessions[session.id]


def csrf_ok(expected: str, presented: str | None) -> bool:
    """Whether ``presented`` is the CSRF token ``expected`` (constant time; empty never is)."""
    if not presented or not expected:
        return False
    return hmac.compare_digest(expected.encode(), presented.encode())
