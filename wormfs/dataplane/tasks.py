"""Running coroutines together, all-or-nothing: the first failure cancels the rest.

Layer: data plane helper. ``asyncio.TaskGroup`` does the cancelling but wraps failures in an
``ExceptionGroup``; callers here want the domain error itself (so that the gateway's mapping
table sees ``UnavailableError``, not a group), so ``run_together`` re-raises the first one.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine, Sequence
from typing import Any


def first_error(group: BaseExceptionGroup[BaseException]) -> BaseException:
    """The first leaf exception of a (possibly nested) exception group."""
    for exc in group.exceptions:
        if isinstance(exc, BaseExceptionGroup):
            return first_error(exc)
        return exc
    return group


async def run_together(coros: Sequence[Coroutine[Any, Any, Any]]) -> list[Any]:
    """Run ``coros`` concurrently; return their results in order or raise the first error."""
    try:
        async with asyncio.TaskGroup() as group:
            tasks = [group.create_task(c) for c in coros]
    except BaseExceptionGroup as exc:
        raise first_error(exc) from None
    return [t.result() for t in tasks]
