"""Configuration: TOML into frozen structures; every problem reported at once."""

from __future__ import annotations

from pathlib import Path

import pytest

from wormfs import config as cfg
from wormfs.wire.coordinator import INLINE_LIMIT


def test_defaults_are_valid() -> None:
    cfg.validate(cfg.load(None, cfg.CoordinatorConfig))
    assert cfg.CodingConfig().profile.n == 6


def test_every_problem_is_reported(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_text(
        "heartbeat_interval = 40.0\n[coding]\ncodec = 'nope'\nk = 0\nstripe_size = 10\n"
    )
    with pytest.raises(cfg.ConfigError) as info:
        cfg.validate(cfg.load(path, cfg.CoordinatorConfig))
    text = str(info.value)
    for fragment in ("coding.codec", "coding.k", "coding.stripe_size", "node_offline_after"):
        assert fragment in text
    assert len(info.value.problems) >= 4


def test_unknown_fields_and_bad_toml(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_text("no_such_setting = 1\n")
    with pytest.raises(cfg.ConfigError, match="no_such_setting"):
        cfg.load(path, cfg.GatewayConfig)
    path.write_text("this is = not toml [")
    with pytest.raises(cfg.ConfigError):
        cfg.load(path, cfg.GatewayConfig)


def test_cluster_secret_file_created_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(cfg.CLUSTER_SECRET_ENV, raising=False)
    path = tmp_path / "secret"
    first = cfg.cluster_secret(path)
    assert len(first) == 64
    assert path.stat().st_mode & 0o777 == 0o600
    assert cfg.cluster_secret(path) == first
    monkeypatch.setenv(cfg.CLUSTER_SECRET_ENV, "from-env")
    assert cfg.cluster_secret(path) == b"from-env"


def test_gateway_inline_max_is_bounded(tmp_path: Path) -> None:
    url = "http://127.0.0.1:9100"
    assert cfg.GatewayConfig().inline_max == 64 * 1024
    for good in (0, 1, 64 * 1024, INLINE_LIMIT):
        cfg.validate(cfg.GatewayConfig(coordinator_url=url, inline_max=good))
    for bad in (-1, INLINE_LIMIT + 1):
        with pytest.raises(cfg.ConfigError, match="inline_max") as info:
            cfg.validate(cfg.GatewayConfig(coordinator_url=url, inline_max=bad))
        assert len(info.value.problems) == 1
    # From a file, with the other problems reported alongside.
    path = tmp_path / "g.toml"
    path.write_text("workers = 0\ninline_max = 1048576\n")
    with pytest.raises(cfg.ConfigError) as info:
        cfg.validate(cfg.load(path, cfg.GatewayConfig))
    text = str(info.value)
    for fragment in ("inline_max 1048576", "workers", "coordinator_url"):
        assert fragment in text
