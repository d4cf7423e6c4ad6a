"""Waiting in tests: poll a condition until it holds, with a bounded deadline, never a fixed sleep.

Layer: test support (not installed). A fixed sleep is either too short on a busy 2-core machine
(a flaky failure) or too long everywhere else (a slow suite); a poll returns as soon as the
condition holds and fails with a clear message when it does not hold by the deadline.

* ``wait_until(check)`` for blocking code (tests that drive real processes from a plain
  function): ``check()`` is called every ``interval`` seconds.
* ``eventually(check)`` in async tests: ``check()`` may be a plain function or a coroutine
  function; between calls the loop runs (``asyncio.sleep``), so in-process apps make progress.

Both return ``check()``'s first truthy value (handy for "wait for the row, then use it").
``within(awaitable, seconds)`` awaits one thing with a deadline (``asyncio.timeout``, never
``wait_for``, which on 3.11 can swallow a cancel).
"""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

T = TypeVar("T")

DEFAULT_TIMEOUT = 30.0


def wait_until(
    check: Callable[[], T],
    timeout: float = DEFAULT_TIMEOUT,
    interval: float = 0.05,
    message: str = "condition",
) -> T:
    """Poll ``check()`` until it returns something truthy; that value is returned."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"{message} not met in {timeout}s (last: {value!r})")
        time.sleep(interval)


async def eventually(
    check: Callable[[], T] | Callable[[], Awaitable[T]],
    timeout: float = DEFAULT_TIMEOUT,
    interval: float = 0.05,
    message: str = "condition",
) -> T:
    """Poll ``check()`` (sync or async) from the loop until it is truthy; that value is returned."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if inspect.isawaitable(value):
            value = await value
        if value:
            return value  # type: ignore[return-value]
        if time.monotonic() > deadline:
            raise TimeoutError(f"{message} not met in {timeout}s (last: {value!r})")
        await asyncio.sleep(interval)


async def within(awaitable: Awaitable[T], seconds: float) -> T:
    """``await awaitable``, raising ``TimeoutError`` after ``seconds``."""
    async with asyncio.timeout(seconds):
        return await awaitable
