"""Fixtures for integration tests: a real cluster per test module, logs shown on failure."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from integration.cluster import Cluster


@pytest.fixture(scope="module")
def cluster() -> Iterator[Cluster]:
    c = Cluster()
    try:
        c.start()
    except BaseException:
        print(c.logs())
        c.cleanup()
        raise
    yield c
    codes = c.stop()
    bad = {name: code for name, code in codes.items() if code != 0}
    if bad:
        print(c.logs())
    c.cleanup()
    assert not bad, f"processes did not stop cleanly: {bad}"
