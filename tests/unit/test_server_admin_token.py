"""``wormfs server``'s side of the admin plane: the first admin token, the admin address,
and the admin API's line in ``wormfs admin status``."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from wormfs import config as cfg
from wormfs.cli.admin_status import show_server
from wormfs.runtime.locate import admin_url_of, locate_admin
from wormfs.runtime.supervisor import first_admin_token


def test_first_token_made_once_kept_0600_or_taken_from_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(cfg.ADMIN_TOKEN_ENV, raising=False)
    token, made = first_admin_token(tmp_path)
    assert made and token.startswith("wfa_") and len(token) > 40
    path = tmp_path / "admin.token"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert first_admin_token(tmp_path) == (token, False)  # kept: not made again
    monkeypatch.setenv(cfg.ADMIN_TOKEN_ENV, "wfa_given")
    assert first_admin_token(tmp_path) == ("wfa_given", False)
    assert path.read_text().strip() == token  # the given one is written nowhere


def test_admin_address_parsing() -> None:
    assert cfg.listen_address("127.0.0.1:0", "x") == cfg.ListenConfig("127.0.0.1", 0)
    for bad in ("9001", "host:", "host:99999", ":80"):
        with pytest.raises(cfg.ConfigError):
            cfg.listen_address(bad, "admin address")


def test_cli_finds_the_admin_api_and_token_in_the_data_dir(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(cfg.ADMIN_TOKEN_ENV, raising=False)
    monkeypatch.delenv("WORMFS_ADMIN_URL", raising=False)
    assert admin_url_of(tmp_path, None) is None
    with pytest.raises(cfg.ConfigError):
        locate_admin(tmp_path, None, None)
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "server.json").write_text('{"admin_url": "http://127.0.0.1:9001/"}')
    (tmp_path / "admin.token").write_text("wfa_kept\n")
    assert locate_admin(tmp_path, None, None) == ("http://127.0.0.1:9001", "wfa_kept")
    assert locate_admin(tmp_path, "http://h:1", "wfa_flag") == ("http://h:1", "wfa_flag")


def test_admin_status_names_the_admin_api() -> None:
    status = {"pid": 1, "started": 0.0, "endpoint": "http://127.0.0.1:9000", "children": []}
    assert not any("admin API" in line for line in show_server(status, 1.0))
    lines = show_server({**status, "admin_url": "http://127.0.0.1:9001"}, 1.0)
    assert lines[1] == "admin API:    http://127.0.0.1:9001/admin/v1/"
