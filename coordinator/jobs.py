"""How a background job reports a failed pass: once, at the level it deserves.

Layer: coordinator, beside the job loops (``tasks``, ``repair``, ``scrub``). Contract:
``job_failed(log, what)``, called inside ``except Exception`` of a loop that retries at its
next pass, logs the exception being handled:

* refused because this coordinator does not lead right now (``NotLeaderError``: a follower,
  or a leader whose ZooKeeper link is suspended; ``StaleLeaderError``: deposed) — the normal
  life of a coordinator in a cluster: INFO, no traceback;
* the metadata database unavailable (``UnavailableError``): WARNING with the reason, no
  traceback (the database layer logged the driver error already);
* anything else is a bug: ERROR with the traceback.
"""

from __future__ import annotations

import logging
import sys

from wormfs.errors import NotLeaderError, StaleLeaderError, UnavailableError


def job_failed(log: logging.Logger, what: str) -> None:
    exc = sys.exc_info()[1]
    if isinstance(exc, NotLeaderError | StaleLeaderError):
        log.info("%s skipped: %s", what, exc)
    elif isinstance(exc, UnavailableError):
        log.warning("%s failed: %s", what, exc)
    else:
        log.exception("%s failed", what)
