"""``run_together``: results in order, the first failure itself, and a cancel that stays one."""

from __future__ import annotations

import asyncio

import pytest

from wormfs.dataplane.tasks import run_together
from wormfs.errors import UnavailableError


async def _value(v: int, delay: float = 0.0) -> int:
    await asyncio.sleep(delay)
    return v


async def _fail(delay: float = 0.0) -> None:
    await asyncio.sleep(delay)
    raise UnavailableError("node gone")


async def test_results_in_order() -> None:
    assert await run_together([_value(1, 0.02), _value(2), _value(3, 0.01)]) == [1, 2, 3]


async def test_the_first_failure_is_raised_itself() -> None:
    with pytest.raises(UnavailableError):
        await run_together([_value(1, 5.0), _fail()])


async def test_a_cancel_that_meets_a_failing_child_stays_a_cancel() -> None:
    # The caller is cancelled while a child's failure is being collected: the group alone
    # would raise the child's error (and a loop that handles errors would go on forever).
    started = asyncio.Event()

    async def fail_when_cancelled() -> None:
        started.set()
        try:
            await asyncio.sleep(10)
        finally:
            raise UnavailableError("failed while being cancelled")

    async def caller() -> None:
        await run_together([fail_when_cancelled(), _value(1, 10)])

    task = asyncio.create_task(caller())
    await started.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert task.cancelled()
