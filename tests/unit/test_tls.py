"""TLS settings: certificate/key problems reported with the rest of the configuration, the
command-line flags and environment variables that carry them, and the server context."""

from __future__ import annotations

import ssl
from pathlib import Path

import pytest
from integration.certs import CertificateAuthority, make_test_ca

from wormfs import config as cfg
from wormfs.cli.main import build_parser, main
from wormfs.config import tls_problems
from wormfs.runtime.supervisor import ServerOptions
from wormfs.runtime.tls import server_context


@pytest.fixture(scope="module")
def ca(tmp_path_factory: pytest.TempPathFactory) -> CertificateAuthority:
    return make_test_ca(tmp_path_factory.mktemp("tls"))


def test_problems(ca: CertificateAuthority, tmp_path: Path) -> None:
    cert, key = str(ca.server_cert), str(ca.server_key)
    assert tls_problems("", "") == []
    assert tls_problems(cert, key) == []
    assert "given together" in tls_problems(cert, "")[0]
    missing = tls_problems(str(tmp_path / "nope.pem"), str(tmp_path / "nope.key"))
    assert len(missing) == 2 and all("not a readable file" in p for p in missing)
    # A key that does not belong to the certificate.
    other = make_test_ca(tmp_path / "other")
    mismatch = tls_problems(cert, str(other.server_key))
    assert len(mismatch) == 1 and "cannot be loaded" in mismatch[0]


def test_gateway_config_reports_tls_with_everything_else(tmp_path: Path) -> None:
    config = cfg.GatewayConfig(workers=0, tls_cert=str(tmp_path / "missing.pem"))
    with pytest.raises(cfg.ConfigError) as info:
        cfg.validate(config)
    text = str(info.value)
    assert "coordinator_url" in text and "workers" in text and "tls_key" in text


def test_server_context_is_tls12_or_newer(ca: CertificateAuthority) -> None:
    context = server_context(ca.server_cert, ca.server_key)
    assert context.minimum_version >= ssl.TLSVersion.TLSv1_2


def test_cli_flags(ca: CertificateAuthority, capsys: pytest.CaptureFixture[str]) -> None:
    args = build_parser().parse_args(
        ["gateway", "--tls-cert", str(ca.server_cert), "--tls-key", str(ca.server_key)]
    )
    assert (args.tls_cert, args.tls_key) == (str(ca.server_cert), str(ca.server_key))
    args = build_parser().parse_args(["server", "--tls-cert", "c.pem", "--tls-key", "k.pem"])
    assert (args.tls_cert, args.tls_key) == ("c.pem", "k.pem")
    # A gateway given a certificate without its key exits 2 naming the problem.
    code = main(["gateway", "--coordinator-url", "http://x", "--tls-cert", str(ca.server_cert)])
    assert code == 2
    assert "tls_key" in capsys.readouterr().err


def test_server_options_from_environment(
    ca: CertificateAuthority, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WORMFS_ROOT_ACCESS_KEY", "AKIDSERVEROPTIONS000")
    monkeypatch.setenv("WORMFS_ROOT_SECRET_KEY", "secret")
    monkeypatch.setenv("WORMFS_TLS_CERT", str(ca.server_cert))
    monkeypatch.setenv("WORMFS_TLS_KEY", str(ca.server_key))
    options = ServerOptions.from_env(str(tmp_path), "127.0.0.1:9443", 1)
    assert (options.tls_cert, options.tls_key) == (str(ca.server_cert), str(ca.server_key))
    # Flags win over the environment; paths are made absolute for the workers.
    monkeypatch.chdir(ca.server_cert.parent)
    options = ServerOptions.from_env(
        str(tmp_path), "127.0.0.1:9443", 1, tls_cert="server.pem", tls_key="server-key.pem"
    )
    assert options.tls_cert == str(ca.server_cert)
    monkeypatch.delenv("WORMFS_TLS_KEY")
    with pytest.raises(cfg.ConfigError, match="together"):
        ServerOptions.from_env(str(tmp_path), "127.0.0.1:9443", 1)
