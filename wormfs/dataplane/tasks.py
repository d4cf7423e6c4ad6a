"""Running coroutines together, all-or-nothing: the first failure cancels the rest.

Layer: data plane helper. Contract: ``run_together`` answers the results in order, or raises
the first failure itself (not an ``ExceptionGroup``: the gateway's mapping table must see
``UnavailableError``) once the others are cancelled and done; cancelling the caller cancels
every coroutine and stays a cancel.

Why not ``asyncio.TaskGroup``: on 3.11 a group whose children failed raises their group even
when its own task was being cancelled (errors "have priority"), and leaves the task's cancel
count raised when it cancelled itself for a failing child, so a caller cannot tell the two
apart. A loop that handles errors then goes on after its ``close()`` cancelled it, and the
close waits forever.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine, Sequence
from typing import Any


async def _cancel_all(tasks: Sequence[asyncio.Task[Any]]) -> None:
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


def _failure(task: asyncio.Task[Any]) -> BaseException | None:
    if not task.done() or task.cancelled():
        return None
    return task.exception()


async def run_together(coros: Sequence[Coroutine[Any, Any, Any]]) -> list[Any]:
    """Run ``coros`` concurrently; return their results in order or raise the first error."""
    tasks = [asyncio.ensure_future(c) for c in coros]
    if not tasks:
        return []
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
    except BaseException:  # this task was cancelled: so are the coroutines
        await _cancel_all(tasks)
        raise
    failed = next((e for e in map(_failure, tasks) if e is not None), None)
    if failed is not None:
        await _cancel_all(tasks)
        raise failed
    return [t.result() for t in tasks]
