"""Fixtures of the fuse tier: one real cluster (``integration.cluster``) and one real mount of
its bucket per module (``mounting.Mounted``), and a fresh directory in it per test.

Skipped where ``/dev/fuse`` is missing and ``CI`` is unset; failing under ``CI=true``.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from integration.cluster import Cluster
from logscan import fail_on_problems
from mounting import BUCKET, Mounted, fuse_available


@pytest.fixture(scope="module")
def cluster(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Cluster]:
    fuse_available()
    c = Cluster(root=tmp_path_factory.mktemp("cluster"))
    try:
        c.start()
    except BaseException:
        print(c.logs())
        c.cleanup()
        raise
    yield c
    c.stop()
    c.cleanup()
    fail_on_problems(request.config, c.log_files())


@pytest.fixture(scope="module")
def s3(cluster: Cluster) -> Any:
    client = cluster.s3()
    client.create_bucket(Bucket=BUCKET)
    return client


@pytest.fixture(scope="module")
def mount(cluster: Cluster, s3: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Mounted]:
    root = tmp_path_factory.mktemp("mount")
    mounted = Mounted(cluster, BUCKET, root / "mnt", root / "mount.log")
    try:
        mounted.start()
    except BaseException:
        print(mounted.log())
        raise
    yield mounted
    code = mounted.stop()
    assert code == 0, f"the mount exited with {code}:\n{mounted.log()}"


@pytest.fixture
def root(mount: Mounted, request: pytest.FixtureRequest) -> Path:
    """A fresh directory in the mount for one test."""
    path = mount.mountpoint / request.node.name.replace("[", "_").replace("]", "")
    path.mkdir()
    return path
