"""``wormfs.cli.progress``: what the CLI prints while it follows a job, and its exit code.

Pins: one plain line per poll until the job ends (no terminal codes), JSON lines that decode
back to the job, a rich bar with the server's rate and ETA when drawn for a terminal, a
standing job followed until its backlog is empty, and exit code 1 for a failed job only.
"""

from __future__ import annotations

import asyncio
import io
from collections.abc import Callable

import msgspec

from wormfs.cli.progress import (
    Mode,
    backlog_empty,
    exit_code,
    finished,
    follow,
    job_line,
    output_mode,
)
from wormfs.wire.jobs import JobInfo, Throttle


def job(done: int, state: str = "running", total: int | None = 4, **kw: object) -> JobInfo:
    fields: dict[str, object] = {
        "job_id": "scrub-1",
        "kind": "scrub",
        "target": "",
        "standing": False,
        "state": state,
        "done_items": done,
        "total_items": total,
        "done_bytes": done * 1_000_000,
        "total_bytes": None,
        "items_per_s": 2.0,
        "bytes_per_s": 2e6,
        "eta_seconds": 90.0,
        "failures": 0,
        "last_failure": "",
        "started_at": 1.0,
        "updated_at": 2.0,
        "finished_at": None,
        "throttle": Throttle(),
    }
    fields.update(kw)
    return msgspec.convert(fields, JobInfo)


def run(
    jobs: list[JobInfo], mode: Mode, done: Callable[[JobInfo], bool] = finished
) -> tuple[JobInfo, str]:
    source = iter(jobs)
    out = io.StringIO()

    async def fetch() -> JobInfo:
        return next(source)

    last = asyncio.run(follow(fetch, done, mode=mode, interval=0, stream=out))
    return last, out.getvalue()


def test_plain_lines_one_per_poll_until_the_job_ends() -> None:
    last, text = run([job(1), job(2), job(4, "done", eta_seconds=None)], "lines")
    lines = text.splitlines()
    assert lines == [
        "scrub scrub-1: running, 1/4 items (25%), 1.0 MB, 2.0 items/s, 2.0 MB/s, eta 1m30s, "
        "0 failures",
        "scrub scrub-1: running, 2/4 items (50%), 2.0 MB, 2.0 items/s, 2.0 MB/s, eta 1m30s, "
        "0 failures",
        "scrub scrub-1: done, 4/4 items (100%), 4.0 MB, 2.0 items/s, 2.0 MB/s, eta -, 0 failures",
    ]
    assert last.state == "done" and exit_code(last) == 0 and "\x1b" not in text


def test_json_lines_decode_to_the_jobs() -> None:
    jobs = [job(0), job(3, "failed", failures=2, last_failure="disk d1 unreadable")]
    last, text = run(jobs, "json")
    assert [msgspec.json.decode(line, type=JobInfo) for line in text.splitlines()] == jobs
    assert exit_code(last) == 1
    assert "(last: disk d1 unreadable)" in job_line(last)


def test_bar_for_a_terminal_and_a_standing_job_until_its_backlog_is_empty() -> None:
    standing = dict(job_id="repair", kind="repair", standing=True)
    jobs = [job(1, total=3, **standing), job(3, total=3, **standing), job(9, **standing)]
    last, text = run(jobs, "bar", done=backlog_empty)
    assert last.done_items == 3  # stopped at the empty backlog, the third poll never made
    assert "━" in text and "3/3" in text and "2.0 items/s, 2.0 MB/s" in text and "eta" in text


def test_output_mode() -> None:
    assert output_mode(True) == "json"
    assert output_mode(False, io.StringIO()) == "lines"
