"""The ``wormfs`` command line: help for every subcommand, config problems exit 2."""

from __future__ import annotations

from pathlib import Path

import pytest

from wormfs.cli.main import build_parser, main


@pytest.mark.parametrize("command", ["server", "coordinator", "storage-node", "gateway", "admin"])
def test_every_subcommand_explains_itself(command: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        build_parser().parse_args([command, "--help"])
    assert info.value.code == 0
    out = capsys.readouterr().out
    assert f"wormfs {command}" in out
    assert len(out.splitlines()) > 3


def test_config_problems_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "node.toml"
    config.write_text("heartbeat_interval = 1.0\n")
    assert main(["storage-node", "--config", str(config)]) == 2
    err = capsys.readouterr().err
    assert "at least one disk" in err
    assert "coordinator_url" in err


def test_admin_without_a_cluster(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["admin", "--data-dir", str(tmp_path), "user", "list"]) == 2
    assert "no running cluster" in capsys.readouterr().err
