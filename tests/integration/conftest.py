"""Fixtures for integration tests: a real cluster per test module, logs shown on failure and
scanned for errors (``logscan``) after each test and once more after the cluster stops."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from integration.cluster import Cluster
from logscan import fail_on_problems


@pytest.fixture(scope="module")
def cluster(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Cluster]:
    # A module may give its processes extra environment (``CLUSTER_EXTRA_ENV``).
    extra_env = dict(getattr(request.module, "CLUSTER_EXTRA_ENV", {}))
    c = Cluster(root=tmp_path_factory.mktemp("cluster"), extra_env=extra_env)
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
    fail_on_problems(request.config, c.log_files())  # the shutdown's own lines
