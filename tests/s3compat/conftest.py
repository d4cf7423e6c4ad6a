"""Fixtures for the S3 compatibility suite: real WormFS clusters over http and https, moto as a
reference, and the environment real client programs run in.

* ``wormfs_http`` / ``wormfs_https``: one real cluster each (coordinator, one storage node
  with six disks, one gateway: processes on loopback via ``integration.cluster.Cluster``),
  started once for this package and stopped by PID at its end, with the small coding profile
  of ``s3compat.support.CODING``. The https one serves a certificate from a throwaway CA that
  every client is told to trust (hostname checks stay on).
* ``cluster``: parametrised over both schemes, for the client tests.
* ``target`` / ``s3``: a boto3 client (default settings) parametrised over WormFS/http,
  WormFS/https and moto's server. Behaviour tests run on all three; where moto departs from
  AWS's documentation the test carries ``@pytest.mark.moto_deviates("why")`` and is a strict
  expected failure on moto only, so a moto that comes to agree is noticed.
* ``bucket``: a fresh bucket on the ``s3`` target, emptied and removed afterwards.
* ``client_env``: the environment for client programs, without the host's CA and AWS
  variables (a global AWS_CA_BUNDLE breaks rclone's own --ca-cert, for one) and with a
  private HOME.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from integration.cluster import Cluster, free_port
from logscan import fail_on_problems
from s3compat.support import CODING, Target, boto3_client, empty_bucket, unique

TARGETS = ("wormfs-http", "wormfs-https", "moto")
# Host variables that would change how clients verify TLS or find credentials.
_HOST_VARIABLES = ("AWS_", "SSL_CERT", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "RCLONE_")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "moto_deviates(reason): moto differs from AWS's documented behaviour here; the test "
        "asserts AWS's and is a strict expected failure on moto",
    )


def _start_cluster(tls: bool, root: Path) -> Cluster:
    cluster = Cluster(coordinator_config=CODING, tls=tls, root=root)
    try:
        cluster.start()
    except BaseException:
        print(cluster.logs())
        cluster.cleanup()
        raise
    return cluster


def _stop_cluster(cluster: Cluster, config: pytest.Config) -> None:
    codes = cluster.stop()
    bad = {name: code for name, code in codes.items() if code != 0}
    if bad:
        print(cluster.logs())
    cluster.cleanup()
    assert not bad, f"processes did not stop cleanly: {bad}"
    fail_on_problems(config, cluster.log_files())  # the shutdown's own lines


@pytest.fixture(scope="package")
def wormfs_http(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Cluster]:
    cluster = _start_cluster(tls=False, root=tmp_path_factory.mktemp("wormfs-http"))
    yield cluster
    _stop_cluster(cluster, request.config)


@pytest.fixture(scope="package")
def wormfs_https(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Cluster]:
    cluster = _start_cluster(tls=True, root=tmp_path_factory.mktemp("wormfs-https"))
    yield cluster
    _stop_cluster(cluster, request.config)


@pytest.fixture(params=["http", "https"])
def cluster(request: pytest.FixtureRequest) -> Cluster:
    """A running WormFS cluster, once per scheme."""
    found: Cluster = request.getfixturevalue(f"wormfs_{request.param}")
    return found


@pytest.fixture(scope="package")
def moto_url() -> Iterator[str]:
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()


@pytest.fixture(params=TARGETS)
def target(request: pytest.FixtureRequest) -> Target:
    name = str(request.param)
    if name == "moto":
        marker = request.node.get_closest_marker("moto_deviates")
        if marker is not None:
            request.applymarker(pytest.mark.xfail(reason=str(marker.args[0]), strict=True))
        return Target(name, None, request.getfixturevalue("moto_url"))
    return Target(name, request.getfixturevalue(name.replace("-", "_")))


@pytest.fixture
def s3(target: Target) -> Any:
    return boto3_client(target)


@pytest.fixture
def bucket(s3: Any) -> Iterator[str]:
    name = unique("compat")
    s3.create_bucket(Bucket=name)
    yield name
    empty_bucket(s3, name)


@pytest.fixture
def client_env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(_HOST_VARIABLES)}
    home = tmp_path / "home"
    home.mkdir(exist_ok=True)
    env["HOME"] = str(home)
    return env
