"""Debian's ``promtool`` (package ``prometheus``) for the tests: lint expositions and rules.

Test support (not installed). ``promtool()`` is its path; where it is missing the test is
skipped, or fails under ``CI`` (where ``make test`` installs it). ``check_metrics(text)`` runs
``promtool check metrics`` over an exposition and returns what it printed ("" when clean);
``run(*args)`` any other subcommand, in a directory.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest


def promtool() -> str:
    path = shutil.which("promtool")
    if path is None:
        reason = "promtool is missing (apt-get install prometheus)"
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(f"{reason} (required under CI)", pytrace=False)
        pytest.skip(reason)
    return path


def run(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [promtool(), *args], cwd=cwd, capture_output=True, text=True, timeout=60, check=False
    )


def check_metrics(text: str) -> str:
    """promtool's complaints about an exposition ("" when it is clean)."""
    done = subprocess.run(
        [promtool(), "check", "metrics"],
        input=text,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    complaints = (done.stdout + done.stderr).strip()
    if done.returncode != 0 and not complaints:
        complaints = f"promtool check metrics exited {done.returncode}"
    return complaints
