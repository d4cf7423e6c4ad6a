"""The log scan of the tests that start real processes: tracebacks and ERROR lines fail a test.

Layer: test support (not installed). Every daemon logs one record per line in
``bootstrap.setup_logging``'s format (``<date> <time> <name>[<pid>] <LEVEL> <logger>: ...``),
with a traceback, when there is one, on the lines that follow. ``problems`` cuts a log into
records and returns those at ERROR or CRITICAL and any text holding a traceback (an uncaught
exception printed outside logging included), unless one of the ``allowed`` patterns (regular
expressions, searched in the whole record) matches it.

``LogScan`` remembers how far each log file was scanned, so that a cluster shared by a module's
tests is charged to the test during which (or before which, for its start-up) a line was
written. The ``scan_process_logs`` fixture of ``tests/conftest.py`` drives it; a test that
provokes errors on purpose names them with ``@pytest.mark.expected_log_errors("regex", ...)``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, fields, is_dataclass
from pathlib import Path

import pytest

# The start of one log record; anything else continues the record before it.
_RECORD = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d+ \S+\[\d+\] (?P<level>[A-Z]+) ")
_TRACEBACK = "Traceback (most recent call last)"
_BAD_LEVELS = frozenset({"ERROR", "CRITICAL"})


def records(text: str) -> list[str]:
    """``text`` cut into log records (a record's continuation lines stay with it)."""
    out: list[str] = []
    current: list[str] = []
    for line in text.splitlines():
        if _RECORD.match(line) and current:
            out.append("\n".join(current))
            current = []
        current.append(line)
    if current:
        out.append("\n".join(current))
    return out


def problems(text: str, allowed: Sequence[str] = ()) -> list[str]:
    """The records of ``text`` at ERROR/CRITICAL or holding a traceback, less the ``allowed``."""
    patterns = [re.compile(p) for p in allowed]
    found = []
    for record in records(text):
        head = _RECORD.match(record)
        bad = _TRACEBACK in record or (head is not None and head["level"] in _BAD_LEVELS)
        if bad and not any(p.search(record) for p in patterns):
            found.append(record)
    return found


@dataclass
class LogScan:
    """How far each log file has been scanned; ``scan`` reads only what was written since."""

    offsets: dict[Path, int] = field(default_factory=dict)

    def scan(self, paths: Iterable[Path], allowed: Sequence[str] = ()) -> list[str]:
        """Problems in the new part of each file, each prefixed with the file's name."""
        found = []
        for path in sorted(set(paths)):
            try:
                with path.open("rb") as fh:
                    fh.seek(self.offsets.get(path, 0))
                    data = fh.read()
            except FileNotFoundError:
                continue  # a log removed with its cluster's directory: nothing left to read
            self.offsets[path] = self.offsets.get(path, 0) + len(data)
            text = data.decode(errors="replace")
            found += [f"--- {path.name} ---\n{record}" for record in problems(text, allowed)]
        return found


def report(found: Sequence[str], limit: int = 20_000) -> str:
    """One failure message for the problems found (bounded: a storm of errors stays readable)."""
    text = "\n".join(found)
    if len(text) > limit:
        text = text[:limit] + f"\n... ({len(found)} records in all)"
    return (
        f"{len(found)} unexpected ERROR/traceback record(s) in the processes' logs (name the "
        f"ones this test provokes with @pytest.mark.expected_log_errors):\n{text}"
    )


# The one LogScan of a test session, kept in pytest's stash (no module-level state).
_SCAN_KEY = pytest.StashKey[LogScan]()


def session_scan(config: pytest.Config) -> LogScan:
    """The session's ``LogScan`` (created on first use)."""
    return config.stash.setdefault(_SCAN_KEY, LogScan())


def harness_logs(values: Iterable[object]) -> list[Path]:
    """The log files of the harnesses among a test's fixture values: every ``*.log`` under a
    ``tmp_path``, and what any object with a ``log_files()`` method (``Cluster``, ...) names,
    also when it is a field of a dataclass value (s3compat's ``Target`` holds its cluster)."""
    paths: list[Path] = []
    for value in values:
        if isinstance(value, Path) and value.is_dir():
            paths += value.rglob("*.log")
        inner = [getattr(value, f.name) for f in fields(value)] if is_dataclass(value) else []
        for candidate in (value, *inner):
            log_files = getattr(candidate, "log_files", None)
            if callable(log_files):
                paths += log_files()
    return paths


def fail_on_problems(
    config: pytest.Config, paths: Iterable[Path], allowed: Sequence[str] = ()
) -> None:
    """Scan the new part of ``paths``; fail the running test (or fixture) on any problem."""
    found = session_scan(config).scan(paths, allowed)
    if found:
        pytest.fail(report(found), pytrace=False)
