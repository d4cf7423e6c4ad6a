"""Progress of a durability job on the command line: a rich bar, plain lines, or JSON lines.

Layer: cli. The numbers are the server's (``wormfs.wire.jobs.JobInfo``: progress kept in SQL,
the rate over the leader's recent window, its ETA); this module only polls and draws, so a
rerun after Ctrl-C, a second terminal and the web UI show the same job. Contract:

* ``job_line(job)``: one line for people: kind, id, state, done/total items (percent), bytes,
  rates, ETA, failures and the last one.
* ``follow(fetch, done, mode, interval)`` calls ``fetch()`` every ``interval`` seconds until
  ``done(job)`` (or the job reached a final state) and answers the last job. ``mode`` is
  ``"bar"`` (a rich progress bar with rate and ETA, for a terminal), ``"lines"`` (one plain
  line per interval, for logs and pipes) or ``"json"`` (one JSON document per interval).
* ``output_mode(json, stream)``: ``json`` when asked, ``bar`` on a terminal, else ``lines``.
* ``exit_code(job)``: 1 when the job failed, else 0.
"""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import Awaitable, Callable
from typing import Any, Literal, TextIO

import msgspec
from rich.console import Console
from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn

from wormfs.wire.jobs import FINAL, JobInfo

Mode = Literal["bar", "lines", "json"]


def _size(nbytes: float) -> str:
    return f"{nbytes / 1e6:,.1f} MB"


def _eta(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    seconds = int(seconds)
    if seconds >= 3600:
        return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"
    if seconds >= 60:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds}s"


def _items(job: JobInfo) -> str:
    if job.total_items is None:
        return f"{job.done_items:,} items"
    share = job.done_items / job.total_items if job.total_items else 1.0
    return f"{job.done_items:,}/{job.total_items:,} items ({share:.0%})"


def _bytes(job: JobInfo) -> str:
    if job.total_bytes is None:
        return _size(job.done_bytes)
    return f"{_size(job.done_bytes)}/{_size(job.total_bytes)}"


def rates(job: JobInfo) -> str:
    return f"{job.items_per_s:,.1f} items/s, {_size(job.bytes_per_s)}/s"


def job_line(job: JobInfo) -> str:
    target = f" on {job.target}" if job.target else ""
    line = (
        f"{job.kind} {job.job_id}{target}: {job.state}, {_items(job)}, {_bytes(job)}, "
        f"{rates(job)}, eta {_eta(job.eta_seconds)}, {job.failures} failures"
    )
    if job.last_failure:
        line += f" (last: {job.last_failure})"
    return line


def output_mode(json: bool, stream: TextIO | None = None) -> Mode:
    if json:
        return "json"
    return "bar" if (stream or sys.stdout).isatty() else "lines"


def exit_code(job: JobInfo) -> int:
    return 1 if job.state == "failed" else 0


def finished(job: JobInfo) -> bool:
    return job.state in FINAL


def _fields(job: JobInfo) -> dict[str, Any]:
    """The bar's text columns."""
    return {
        "total_text": "?" if job.total_items is None else f"{job.total_items:,}",
        "rate": rates(job),
        "eta": _eta(job.eta_seconds),
        "state": job.state,
    }


def _bar_total(job: JobInfo) -> float | None:
    # A standing job's total is what it did plus its backlog; an unknown total spins.
    return float(job.total_items) if job.total_items is not None else None


async def follow(
    fetch: Callable[[], Awaitable[JobInfo]],
    done: Callable[[JobInfo], bool] = finished,
    mode: Mode = "lines",
    interval: float = 1.0,
    stream: TextIO | None = None,
) -> JobInfo:
    out = stream or sys.stdout
    job = await fetch()
    if mode != "bar":
        while True:
            text = msgspec.json.encode(job).decode() if mode == "json" else job_line(job)
            print(text, file=out, flush=True)
            if done(job) or finished(job):
                return job
            await asyncio.sleep(interval)
            job = await fetch()
    console = Console(file=out, force_terminal=True)
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        TaskProgressColumn(),
        TextColumn("{task.completed:,.0f}/{task.fields[total_text]}"),
        TextColumn("{task.fields[rate]}"),
        TextColumn("eta {task.fields[eta]}"),
        TextColumn("{task.fields[state]}"),
    )
    with Progress(*columns, console=console, auto_refresh=False) as progress:
        task = progress.add_task(f"{job.kind} {job.job_id}", total=None, **_fields(job))
        while True:
            progress.update(task, completed=job.done_items, total=_bar_total(job), **_fields(job))
            progress.refresh()
            if done(job) or finished(job):
                break
            await asyncio.sleep(interval)
            job = await fetch()
    if job.failures:
        console.print(f"{job.failures} failures; last: {job.last_failure}")
    return job


def backlog_empty(job: JobInfo) -> bool:
    """A standing job has nothing left (its total is what it did)."""
    return job.total_items is not None and job.done_items >= job.total_items


def deadline_after(seconds: float) -> Callable[[], bool]:
    """A check that says True once ``seconds`` have passed."""
    end = time.monotonic() + seconds
    return lambda: time.monotonic() > end
