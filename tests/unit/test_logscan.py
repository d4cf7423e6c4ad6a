"""The log scan of the integration tests (``tests/logscan.py``): what counts as a problem.

ERROR and CRITICAL records and any traceback fail a test; a traceback stays with the record
that logged it; an allowed pattern lets a provoked record pass; the scan reads only what was
written since the last one; harness logs are found through a test's fixture values.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest
from logscan import LogScan, fail_on_problems, harness_logs, problems, records

LOG = """\
2026-12-01 10:00:00,001 gateway[11] INFO aiohttp.access: GET /
2026-12-01 10:00:00,002 gateway[11] ERROR aiohttp.server: Error handling request
Traceback (most recent call last):
  File "x.py", line 1, in handler
ValueError: boom
2026-12-01 10:00:00,003 node1[12] WARNING wormfs.storage_node: disk slow
2026-12-01 10:00:00,004 node1[12] CRITICAL wormfs.storage_node: disk gone
"""


def test_records_keep_their_tracebacks() -> None:
    cut = records(LOG)
    assert len(cut) == 4
    assert cut[1].endswith("ValueError: boom")


def test_errors_criticals_and_tracebacks_are_problems_unless_allowed() -> None:
    found = problems(LOG)
    assert [r.split(" ")[3] for r in found] == ["ERROR", "CRITICAL"]
    assert problems(LOG, [r"ValueError: boom", "disk gone"]) == []
    # A traceback printed outside logging (an uncaught exception) counts too.
    assert problems("Traceback (most recent call last):\nKeyError: 1\n") != []
    assert problems("2026-12-01 10:00:00,001 gw[1] INFO x: fine\n") == []


def test_the_scan_reads_each_file_once(tmp_path: Path) -> None:
    log = tmp_path / "gateway.log"
    log.write_text(LOG)
    scan = LogScan()
    assert len(scan.scan([log])) == 2
    assert scan.scan([log]) == []  # nothing new since
    with log.open("a") as fh:
        fh.write("2026-12-01 10:00:01,000 gateway[11] ERROR x: again\n")
    assert [r.splitlines()[-1][-5:] for r in scan.scan([log, tmp_path / "gone.log"])] == ["again"]


def test_harness_logs_are_found_through_fixture_values(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "node1.log").write_text("")
    other = tmp_path.parent / f"{tmp_path.name}-elsewhere.log"

    class Harness:
        def log_files(self) -> list[Path]:
            return [other]

    @dataclass
    class Target:
        name: str
        cluster: Harness

    found = harness_logs([tmp_path, Target("t", Harness()), "not a harness"])
    assert sorted(found) == sorted([tmp_path / "sub" / "node1.log", other])


def test_a_problem_fails_the_test_with_the_records(
    tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    log = tmp_path / "coordinator.log"
    log.write_text(LOG)
    with pytest.raises(pytest.fail.Exception, match="2 unexpected ERROR") as info:
        fail_on_problems(request.config, [log])
    assert "ValueError: boom" in str(info.value)
    log.write_text(LOG + LOG)  # the first half was reported already
    fail_on_problems(request.config, [log], allowed=["boom", "disk gone"])
