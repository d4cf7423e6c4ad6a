"""Every flag, config key and environment variable deploy/ uses exists in WormFS.

The command lines deploy/ starts (``deploy_files.command_lines``: systemd units, compose,
Kubernetes, the Dockerfile) name flags of the real parser (``wormfs.cli.main.build_parser``):
each ``--flag`` is an option of its subcommand, spelt out (argparse would accept an
abbreviation), and the whole line parses. Every TOML file under deploy/ decodes into its
daemon's config type, whose decoders refuse unknown keys, and passes ``validate``. Every
``WORMFS_*`` variable deploy/ sets is one the code reads. A made-up flag or key fails.
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path

import msgspec
import pytest
from deploy_files import DEPLOY, CommandLine, command_lines

from wormfs import config as cfg
from wormfs.cli.main import build_parser

ROOT = DEPLOY.parent
CONFIG_TYPES: dict[str, type[cfg.CoordinatorConfig | cfg.StorageNodeConfig | cfg.GatewayConfig]]
CONFIG_TYPES = {
    "coordinator.toml": cfg.CoordinatorConfig,
    "storage-node.toml": cfg.StorageNodeConfig,
    "gateway.toml": cfg.GatewayConfig,
}
TOML_FILES = sorted(DEPLOY.rglob("*.toml"))
# Where the code reads its environment from: the package's own folders.
SOURCES = ("wormfs", "gateway", "storage_node", "coordinator", "fuse")


def subcommands() -> dict[str, argparse.ArgumentParser]:
    (action,) = [a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction)]
    return dict(action.choices)


def flag_problems(line: CommandLine) -> list[str]:
    """What is wrong with one ``wormfs`` command line ([] when every flag exists)."""
    if line.argv == ["--help"]:
        return []
    parsers = subcommands()
    command, *args = line.argv
    if command not in parsers:
        return [f"{line.source}: no subcommand {command!r}"]
    options = {o for a in parsers[command]._actions for o in a.option_strings}
    problems = [
        f"{line.source}: {command} has no option {flag}"
        for arg in args
        if arg.startswith("-") and (flag := arg.split("=", 1)[0]) not in options
    ]
    # systemd's %i and ${VAR} become values; then the line must parse as wormfs would.
    concrete = [re.sub(r"\$\{\w+\}|%i", "x", arg) for arg in line.argv]
    try:
        build_parser().parse_args(concrete)
    except SystemExit:
        problems.append(f"{line.source}: wormfs {' '.join(concrete)} does not parse")
    return problems


def test_deploy_starts_every_daemon() -> None:
    started = {line.argv[0] for line in command_lines()}
    assert {"coordinator", "storage-node", "gateway", "mount"} <= started


@pytest.mark.parametrize("line", command_lines(), ids=lambda line: line.source)
def test_every_flag_exists(line: CommandLine) -> None:
    assert flag_problems(line) == []


def test_a_made_up_or_abbreviated_flag_is_caught(capsys: pytest.CaptureFixture[str]) -> None:
    made_up = CommandLine("test", ["gateway", "--listen-port", "9000"])
    assert flag_problems(made_up) != []
    abbreviated = CommandLine("test", ["gateway", "--zookeeper", "zk:2181"])
    assert flag_problems(abbreviated) == ["test: gateway has no option --zookeeper"]
    capsys.readouterr()  # argparse's usage message of the made-up one


@pytest.mark.parametrize("path", TOML_FILES, ids=lambda p: str(p.relative_to(DEPLOY)))
def test_every_config_key_exists_and_validates(path: Path) -> None:
    config = cfg.load(path, CONFIG_TYPES[path.name])  # unknown keys: ConfigError
    if isinstance(config, cfg.GatewayConfig) and config.tls_cert:
        pytest.fail("sample configs must not point at certificate files that do not exist")
    cfg.validate(config)


def test_a_made_up_config_key_is_refused(tmp_path: Path) -> None:
    sample = (DEPLOY / "cluster" / "gateway.toml").read_text()
    broken = tmp_path / "gateway.toml"
    broken.write_text(sample.replace("region =", "regoin ="))
    with pytest.raises(cfg.ConfigError, match="regoin"):
        cfg.load(broken, cfg.GatewayConfig)
    with pytest.raises(msgspec.ValidationError):
        msgspec.convert({"listen": {"prot": 1}}, cfg.GatewayConfig)


def test_every_environment_variable_is_read_by_the_code() -> None:
    used = set()
    for path in DEPLOY.rglob("*"):
        if path.is_file() and path.suffix not in {".json"}:
            used |= set(re.findall(r"\bWORMFS_[A-Z_]+[A-Z]\b", path.read_text()))
    code = "\n".join(p.read_text() for folder in SOURCES for p in (ROOT / folder).rglob("*.py"))
    # WORMFS_ZOOKEEPER_HOSTS is the mount unit's own variable, expanded by systemd.
    unknown = {name for name in used - {"WORMFS_ZOOKEEPER_HOSTS"} if f'"{name}"' not in code}
    assert used and unknown == set()
