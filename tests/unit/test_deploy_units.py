"""The systemd units of deploy/systemd are valid, hardened, and fail the check when broken.

Every unit parses, runs ``/opt/wormfs/.venv/bin/wormfs`` under the user ``wormfs`` with the
hardening each daemon tolerates, and passes ``systemd-analyze verify`` with nothing printed
(an unknown directive is only a warning to systemd: it is a failure here). The exposure
``systemd-analyze security --offline`` scores stays low. A copy of a unit with a misspelt
directive, or a bad value, fails the same check: the check can fail.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
from deploy_files import UNIT_WORMFS, UNITS, read_unit, systemd_analyze

DAEMON_UNITS = [u for u in UNITS if "@" not in u.name]
MOUNT_UNIT = next(u for u in UNITS if u.name == "wormfs-mount@.service")
# What every daemon unit must say (the mount cannot: see its header and test below).
HARDENING = {
    "NoNewPrivileges": "yes",
    "ProtectSystem": "strict",
    "ProtectHome": "yes",
    "PrivateTmp": "yes",
    "PrivateDevices": "yes",
    "ProtectKernelTunables": "yes",
    "ProtectKernelModules": "yes",
    "ProtectControlGroups": "yes",
    "RestrictSUIDSGID": "yes",
    "RestrictNamespaces": "yes",
    "LockPersonality": "yes",
    "CapabilityBoundingSet": "",
    "Restart": "on-failure",
}
# Options that give a service its own mount namespace: a FUSE mount made inside one would be
# seen by nobody else.
NAMESPACING = (
    "ProtectSystem",
    "ProtectHome",
    "PrivateTmp",
    "PrivateDevices",
    "ReadWritePaths",
    "ProtectKernelTunables",
    "ProtectKernelModules",
    "ProtectKernelLogs",
    "ProtectControlGroups",
)
MAX_EXPOSURE = {"wormfs-mount@.service": 4.5}  # the others: 2.0


def verify(units: list[Path], tmp_path: Path) -> str:
    """``systemd-analyze verify`` of copies of ``units`` that run this venv's ``wormfs``
    (verify checks that the binary exists); what it printed ("" when clean)."""
    wormfs = str(Path(sys.executable).with_name("wormfs"))
    copies = []
    for unit in units:
        copy = tmp_path / unit.name
        copy.write_text(unit.read_text().replace(UNIT_WORMFS, wormfs))
        copies.append(str(copy))
    done = subprocess.run(
        [systemd_analyze(), "verify", "--man=no", *copies],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    return (done.stdout + done.stderr).strip() or ("" if done.returncode == 0 else "failed")


def test_there_is_a_unit_for_every_daemon_and_the_mount() -> None:
    assert {u.name for u in UNITS} == {
        "wormfs-coordinator.service",
        "wormfs-storage-node.service",
        "wormfs-gateway.service",
        "wormfs-mount@.service",
    }


@pytest.mark.parametrize("unit", DAEMON_UNITS, ids=lambda u: u.name)
def test_daemon_units_are_hardened(unit: Path) -> None:
    service = read_unit(unit)["Service"]
    assert service["User"] == ["wormfs"]
    for key, value in HARDENING.items():
        assert service.get(key) == [value], f"{unit.name}: {key}={service.get(key)}"
    assert int(service["LimitNOFILE"][0]) >= 65536
    # Writable: only what the daemon keeps (ProtectSystem=strict makes the rest read-only).
    assert all(
        p.startswith(("/var/lib/wormfs", "/srv/wormfs", "/var/log/wormfs"))
        for p in service["ReadWritePaths"]
    )


def test_the_mount_unit_can_mount_and_keeps_the_host_namespace() -> None:
    unit = read_unit(MOUNT_UNIT)
    service = unit["Service"]
    assert service["AmbientCapabilities"] == ["CAP_SYS_ADMIN"]
    assert service["CapabilityBoundingSet"] == ["CAP_SYS_ADMIN"]
    assert service["DeviceAllow"] == ["/dev/fuse rw"]
    assert service["NoNewPrivileges"] == ["yes"]  # no setuid fusermount3 needed
    assert not [key for key in NAMESPACING if key in service]
    assert "%i" in service["ExecStart"][0]


def test_units_pass_systemd_analyze_verify(tmp_path: Path) -> None:
    assert verify(UNITS, tmp_path) == ""


@pytest.mark.parametrize(
    ("good", "bad"),
    [
        ("ProtectHome=yes", "ProtectHomme=yes"),  # unknown directive: systemd only warns
        ("Restart=on-failure", "Restart=sometimes"),  # bad value
        ("[Service]", "[Servce]"),  # unknown section
    ],
)
def test_a_broken_unit_fails_the_check(good: str, bad: str, tmp_path: Path) -> None:
    broken = tmp_path / "src" / "wormfs-gateway.service"
    broken.parent.mkdir()
    text = (DAEMON_UNITS[0].parent / "wormfs-gateway.service").read_text()
    assert good in text
    broken.write_text(text.replace(good, bad, 1))
    assert verify([broken], tmp_path) != ""


@pytest.mark.parametrize("unit", UNITS, ids=lambda u: u.name)
def test_exposure_stays_low(unit: Path, tmp_path: Path) -> None:
    copy = tmp_path / unit.name
    copy.write_text(unit.read_text())
    done = subprocess.run(
        [systemd_analyze(), "security", "--offline=yes", "--no-pager", str(copy)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    found = re.search(r"Overall exposure level for \S+: (\d+\.\d)", done.stdout)
    assert found, done.stdout + done.stderr
    assert float(found.group(1)) <= MAX_EXPOSURE.get(unit.name, 2.0)
