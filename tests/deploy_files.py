"""The files under deploy/ as the tests read them: units, manifests, and their command lines.

Test support (not installed). ``read_unit(path)`` parses a systemd unit into its sections,
each directive with every value it was given (systemd allows repeats, which configparser
refuses). ``command_lines()`` finds every ``wormfs`` command line that deploy/ starts (a
unit's ``ExecStart``, a compose service's ``command``, a Kubernetes container's ``args``,
the Dockerfile's ``CMD``) and those docs/deploy.md shows, each as
``CommandLine(source, argv)`` with ``argv`` the arguments after ``wormfs``.
``systemd_analyze()`` is the binary's path, skipping the test where it is missing (failing
it under ``CI``, where ``make test`` installs Debian's ``systemd``).
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

DEPLOY = Path(__file__).resolve().parents[1] / "deploy"
UNITS = sorted((DEPLOY / "systemd").glob("*.service"))
KUBERNETES = sorted((DEPLOY / "kubernetes").glob("*.yaml"))
COMPOSE = DEPLOY / "compose.yaml"
DOCKERFILE = DEPLOY / "Dockerfile"
DEPLOY_DOC = DEPLOY.parent / "docs" / "deploy.md"
# Where the units expect the venv (docs/deploy.md); the tests point them at this one.
UNIT_WORMFS = "/opt/wormfs/.venv/bin/wormfs"

Unit = dict[str, dict[str, list[str]]]


@dataclass(frozen=True)
class CommandLine:
    source: str  # file and place, for the failure message
    argv: list[str]  # after "wormfs": the subcommand, then its arguments


def read_unit(path: Path) -> Unit:
    """Sections -> directive -> values, in order; continuation lines joined."""
    unit: Unit = {}
    section: dict[str, list[str]] | None = None
    logical: list[str] = []
    for raw in path.read_text().splitlines():
        if raw.endswith("\\"):
            logical.append(raw[:-1])
            continue
        line = "".join([*logical, raw]).strip()
        logical = []
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("[") and line.endswith("]"):
            section = unit.setdefault(line[1:-1], {})
            continue
        if section is None or "=" not in line:
            raise ValueError(f"{path.name}: not a directive: {line!r}")
        key, _, value = line.partition("=")
        section.setdefault(key.strip(), []).append(value.strip())
    return unit


def systemd_analyze() -> str:
    path = shutil.which("systemd-analyze")
    if path is None:
        reason = "systemd-analyze is missing (apt-get install systemd)"
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(f"{reason} (required under CI)", pytrace=False)
        pytest.skip(reason)
    return path


def _unit_commands() -> Iterator[CommandLine]:
    for path in UNITS:
        for value in read_unit(path)["Service"].get("ExecStart", []):
            argv = shlex.split(value)
            assert argv[0] == UNIT_WORMFS, f"{path.name}: ExecStart runs {argv[0]}"
            yield CommandLine(path.name, argv[1:])


def _compose_commands() -> Iterator[CommandLine]:
    compose = yaml.safe_load(COMPOSE.read_text())
    for name, service in compose["services"].items():
        if "build" in service or str(service.get("image", "")).startswith("wormfs"):
            yield CommandLine(f"compose.yaml: {name}", [str(a) for a in service["command"]])


def _containers(doc: dict[str, Any]) -> Iterator[dict[str, Any]]:
    spec = doc.get("spec", {}).get("template", {}).get("spec", {})
    yield from spec.get("containers", [])
    yield from spec.get("initContainers", [])


def kubernetes_documents() -> Iterator[tuple[Path, dict[str, Any]]]:
    for path in KUBERNETES:
        for doc in yaml.safe_load_all(path.read_text()):
            if doc is not None:
                yield path, doc


def _kubernetes_commands() -> Iterator[CommandLine]:
    for path, doc in kubernetes_documents():
        for container in _containers(doc):
            if str(container.get("image", "")).startswith("wormfs"):
                # $(VAR) is expanded by the kubelet from the container's env.
                argv = [re.sub(r"\$\((\w+)\)", "pod-0", str(a)) for a in container["args"]]
                yield CommandLine(f"{path.name}: {container['name']}", argv)


def _dockerfile_commands() -> Iterator[CommandLine]:
    for line in DOCKERFILE.read_text().splitlines():
        if line.startswith("CMD "):
            yield CommandLine("Dockerfile: CMD", json.loads(line[4:]))


def _doc_commands() -> Iterator[CommandLine]:
    """The daemon and mount command lines docs/deploy.md shows (``wormfs admin`` has topics
    of its own, checked by its tests)."""
    for number, line in enumerate(DEPLOY_DOC.read_text().splitlines(), 1):
        argv = shlex.split(line) if line.startswith("wormfs ") else []
        if argv[1:2] and argv[1] != "admin":
            yield CommandLine(f"deploy.md:{number}", argv[1:])


def command_lines() -> list[CommandLine]:
    return [
        *_doc_commands(),
        *_unit_commands(),
        *_compose_commands(),
        *_kubernetes_commands(),
        *_dockerfile_commands(),
    ]
