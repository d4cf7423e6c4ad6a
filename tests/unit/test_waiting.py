"""The tests' polling helpers (``tests/waiting.py``): the first truthy value, or a clear timeout."""

from __future__ import annotations

import pytest
from waiting import eventually, wait_until


def test_wait_until_returns_the_first_truthy_value() -> None:
    values = iter([0, None, "", "ready"])
    assert wait_until(lambda: next(values), timeout=5, interval=0) == "ready"


def test_wait_until_fails_with_the_last_value_after_the_deadline() -> None:
    with pytest.raises(TimeoutError, match=r"the thing not met in 0s \(last: 0\)"):
        wait_until(lambda: 0, timeout=0, interval=0, message="the thing")


async def test_eventually_takes_plain_and_async_checks() -> None:
    calls: list[int] = []

    async def third_time() -> bool:
        calls.append(1)
        return len(calls) >= 3

    assert await eventually(third_time, timeout=5, interval=0) is True
    assert await eventually(lambda: [1], timeout=5, interval=0) == [1]
    with pytest.raises(TimeoutError):
        await eventually(lambda: False, timeout=0, interval=0)
