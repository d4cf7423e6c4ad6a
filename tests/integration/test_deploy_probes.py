"""The health probes of deploy/ answer on real daemons, unsigned, as the manifests expect.

Every probe of the Kubernetes manifests (path and named port) and every compose health
check URL is sent, without the cluster secret, to the daemon it belongs to in a real cluster
on loopback (3 storage nodes of 2 disks, like compose.yaml): each must answer 200. A route
the daemon does not serve unsigned (the storage node's ``/v1/health``, a ``/healthz`` the
node lacks) is refused the same way, so the check can fail.
"""

from __future__ import annotations

import re
import urllib.error
import urllib.request
from collections.abc import Iterator

import pytest
import yaml
from deploy_files import COMPOSE, kubernetes_documents
from integration.cluster import Cluster
from integration.durability_helpers import admin_url, fast_cluster

# Which process a manifest's workload and named port, or a compose port, stands for.
K8S_TARGETS = {
    ("wormfs-coordinator", "internal"): "coordinator",
    ("wormfs-coordinator", "admin"): "admin",
    ("wormfs-storage-node", "internal"): "node1",
    ("wormfs-gateway", "s3"): "gateway",
}
COMPOSE_PORTS = {"9100": "coordinator", "9101": "node1", "9000": "gateway"}


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    with fast_cluster(
        tmp_path_factory.mktemp("probes"), nodes=3, disks_per_node=2, admin_token="t" * 32
    ) as started:
        yield started


def status(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return exc.code


def base(cluster: Cluster, target: str) -> str:
    return admin_url(cluster) if target == "admin" else cluster.procs[target].address


def kubernetes_probes() -> set[tuple[str, str]]:
    probes = set()
    for _, doc in kubernetes_documents():
        if doc.get("kind") not in ("StatefulSet", "Deployment"):
            continue
        for container in doc["spec"]["template"]["spec"]["containers"]:
            for key in ("livenessProbe", "readinessProbe", "startupProbe"):
                if key in container:
                    get = container[key]["httpGet"]
                    target = K8S_TARGETS[(doc["metadata"]["name"], get["port"])]
                    probes.add((target, get["path"]))
    return probes


def compose_probes() -> set[tuple[str, str]]:
    probes = set()
    for service in yaml.safe_load(COMPOSE.read_text())["services"].values():
        test = " ".join(service.get("healthcheck", {}).get("test", []))
        for port, path in re.findall(r"http://127\.0\.0\.1:(\d+)(/[\w/]*)", test):
            probes.add((COMPOSE_PORTS[port], path))
    return probes


def test_every_probe_answers_unsigned(cluster: Cluster) -> None:
    probes = kubernetes_probes() | compose_probes()
    assert {target for target, _ in probes} == {"coordinator", "admin", "node1", "gateway"}
    answers = {(target, path): status(base(cluster, target) + path) for target, path in probes}
    assert answers == dict.fromkeys(probes, 200)


def test_routes_that_need_the_secret_or_do_not_exist_fail(cluster: Cluster) -> None:
    assert status(base(cluster, "node1") + "/v1/health") == 401
    assert status(base(cluster, "node1") + "/healthz") == 404
    assert status(base(cluster, "coordinator") + "/v1/health") == 401


def test_probe_parsing_sees_the_manifests() -> None:
    assert ("admin", "/admin/v1/health") in kubernetes_probes()
    assert ("coordinator", "/healthz") in compose_probes()
