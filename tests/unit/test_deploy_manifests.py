"""deploy/compose.yaml, deploy/Dockerfile and deploy/kubernetes/ are valid, offline.

No Docker daemon or cluster is needed: compose.yaml is checked against the vendored
compose-spec JSON schema (``deploy_schemas/``), every Kubernetes object of a built-in kind
against the API schemas that the pinned ``kubernetes-validate`` ships (strict: unknown fields
fail), and the objects of the operators WormFS relies on (CloudNativePG) for their kind and
names. Beyond the schemas: the cluster is the one docs/deploy.md describes (3 ZooKeeper
servers, 2 coordinators, 3+ storage nodes, 2 gateways), probes point at the daemons' health
routes, each StatefulSet keeps volumes, each workload has a PodDisruptionBudget, secrets come
from Secrets. Each check is also shown failing on a broken copy.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import yaml
from deploy_files import COMPOSE, DEPLOY, DOCKERFILE, kubernetes_documents

SCHEMA = Path(__file__).with_name("deploy_schemas") / "compose-spec.json"
KUBERNETES_VERSION = "1.30.0"
# Kinds of the operators the manifests reference, checked by name only (their schemas are
# the operators' CRDs, not Kubernetes').
OPERATOR_KINDS = {("postgresql.cnpg.io/v1", "Cluster")}
NOT_MANIFESTS = {"kustomization.yaml", "zookeeper-values.yaml"}  # kustomize, Helm values
# The health routes (code: coordinator/handlers.py "/healthz", coordinator/admin/health.py
# "/admin/v1/health"; the node's and the gateway's unsigned GET /metrics).
PROBES = {
    "wormfs-coordinator": {("/healthz", "internal"), ("/admin/v1/health", "admin")},
    "wormfs-storage-node": {("/metrics", "internal")},
    "wormfs-gateway": {("/metrics", "s3")},
}


def compose_problems(document: dict[str, Any]) -> list[str]:
    validator = jsonschema.Draft201909Validator(json.loads(SCHEMA.read_text()))
    return [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(document)]


def kubernetes_problems(document: dict[str, Any]) -> list[str]:
    try:
        kubernetes_validate.validate(document, KUBERNETES_VERSION, strict=True)
    except kubernetes_validate.ValidationError as exc:
        return [str(exc)]
    return []


def compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(COMPOSE.read_text())
    return loaded


def manifests() -> list[tuple[Path, dict[str, Any]]]:
    return [(p, d) for p, d in kubernetes_documents() if p.name not in NOT_MANIFESTS]


def by_kind(kind: str) -> dict[str, dict[str, Any]]:
    return {d["metadata"]["name"]: d for _, d in manifests() if d["kind"] == kind}


# ---- compose ----------------------------------------------------------------------------------
def test_compose_matches_the_compose_spec() -> None:
    assert compose_problems(compose()) == []


def test_a_broken_compose_file_fails_the_schema() -> None:
    broken = copy.deepcopy(compose())
    broken["services"]["node1"]["restart_policy"] = "always"  # not a service key
    broken["services"]["gateway1"]["ports"] = "9000:9000"  # a list, not a string
    assert len(compose_problems(broken)) == 2


def test_compose_runs_the_small_cluster() -> None:
    services = compose()["services"]

    def named(prefix: str) -> list[str]:
        return [n for n in services if n.startswith(prefix)]

    assert len(named("zk")) == 3
    assert len(named("coordinator")) == 2
    assert len(named("node")) >= 3
    assert len(named("gateway")) == 2
    assert services["postgres"]["image"].startswith("postgres:")
    for name in named("coordinator") + named("node") + named("gateway"):
        assert services[name]["build"]["dockerfile"] == "deploy/Dockerfile"
        assert "healthcheck" in services[name]
        # Secrets are substituted from deploy/.env, never written into the file.
        secret = services[name]["environment"]["WORMFS_CLUSTER_SECRET"]
        assert secret.startswith("${WORMFS_CLUSTER_SECRET:?")


# ---- Dockerfile ------------------------------------------------------------------------------
def test_the_dockerfile_builds_on_debian_slim_as_a_non_root_user() -> None:
    lines = [line.strip() for line in DOCKERFILE.read_text().splitlines()]
    froms = [line.split()[1] for line in lines if line.startswith("FROM ")]
    assert froms and all(image == "debian:12-slim" for image in froms)
    users = [line.split()[1] for line in lines if line.startswith("USER ")]
    assert users == ["wormfs"]
    assert "-c constraints.txt" in DOCKERFILE.read_text()
    # Everything it copies exists in the build context (the repository root).
    root = DEPLOY.parent
    for line in lines:
        if line.startswith("COPY ") and "--from=" not in line:
            for source in line.split()[1:-1]:
                assert (root / source).exists(), source


# ---- Kubernetes -------------------------------------------------------------------------------
def test_kubernetes_objects_match_the_api_schemas() -> None:
    checked = 0
    for path, document in manifests():
        if (document["apiVersion"], document["kind"]) in OPERATOR_KINDS:
            assert document["metadata"]["name"]
            continue
        assert kubernetes_problems(document) == [], path.name
        checked += 1
    assert checked >= 10


def test_a_broken_kubernetes_object_fails_the_schema() -> None:
    statefulset = copy.deepcopy(by_kind("StatefulSet")["wormfs-storage-node"])
    container = statefulset["spec"]["template"]["spec"]["containers"][0]
    container["livenessProbe"]["httpGet"]["pathh"] = "/metrics"  # unknown field
    assert kubernetes_problems(statefulset) != []
    statefulset = copy.deepcopy(by_kind("StatefulSet")["wormfs-storage-node"])
    statefulset["spec"]["replicas"] = "three"  # wrong type
    assert kubernetes_problems(statefulset) != []


def test_the_kustomization_lists_every_manifest() -> None:
    kustomization = yaml.safe_load((DEPLOY / "kubernetes" / "kustomization.yaml").read_text())
    listed = set(kustomization["resources"])
    assert listed == {p.name for p, _ in manifests()}


def _containers(document: dict[str, Any]) -> list[dict[str, Any]]:
    containers: list[dict[str, Any]] = document["spec"]["template"]["spec"]["containers"]
    return containers


def test_workloads_have_volumes_probes_budgets_and_secrets() -> None:
    statefulsets, deployments = by_kind("StatefulSet"), by_kind("Deployment")
    assert set(statefulsets) == {"wormfs-coordinator", "wormfs-storage-node"}
    assert set(deployments) == {"wormfs-gateway"}
    for statefulset in statefulsets.values():
        assert statefulset["spec"]["volumeClaimTemplates"]
        service = by_kind("Service")[statefulset["spec"]["serviceName"]]
        assert service["spec"]["clusterIP"] == "None"  # headless: stable pod names
    assert statefulsets["wormfs-coordinator"]["spec"]["replicas"] == 2
    assert statefulsets["wormfs-storage-node"]["spec"]["replicas"] >= 3
    assert deployments["wormfs-gateway"]["spec"]["replicas"] == 2
    budgets = {
        d["spec"]["selector"]["matchLabels"]["app.kubernetes.io/name"]
        for d in by_kind("PodDisruptionBudget").values()
    }
    secrets = by_kind("Secret")["wormfs-secrets"]["stringData"]
    for name, workload in {**statefulsets, **deployments}.items():
        assert name in budgets
        container = _containers(workload)[0]
        ports = {p["name"] for p in container["ports"]}
        probes = {
            (probe["httpGet"]["path"], probe["httpGet"]["port"])
            for key in ("livenessProbe", "readinessProbe")
            for probe in [container[key]]
        }
        assert probes == PROBES[name]
        assert {port for _, port in probes} <= ports
        env = {e["name"]: e for e in container["env"]}
        reference = env["WORMFS_CLUSTER_SECRET"]["valueFrom"]["secretKeyRef"]
        assert reference["name"] == "wormfs-secrets" and reference["key"] in secrets
        assert container["securityContext"]["allowPrivilegeEscalation"] is False


def test_postgresql_and_zookeeper_are_referenced_as_installed() -> None:
    (cluster,) = [d for _, d in manifests() if d["kind"] == "Cluster"]
    assert cluster["spec"]["instances"] >= 2  # a streaming-replication standby
    coordinator = _containers(by_kind("StatefulSet")["wormfs-coordinator"])[0]
    args = coordinator["args"]
    # CloudNativePG's read-write Service follows the primary: <cluster>-rw.
    assert f"@{cluster['metadata']['name']}-rw:" in args[args.index("--database-url") + 1]
    values = yaml.safe_load((DEPLOY / "kubernetes" / "zookeeper-values.yaml").read_text())
    hosts = args[args.index("--zookeeper-hosts") + 1].split(",")
    assert len(hosts) == values["replicaCount"] == 3
