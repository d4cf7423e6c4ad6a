"""Permissions as the kernel checks them (``default_permissions``), for a caller who is not
root: a mount with ``--allow-other``, and a plain system Python run as ``nobody`` doing the
file calls (the test's own interpreter lives under /root, which nobody may not enter)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import pytest
from integration.cluster import Cluster
from mounting import BUCKET, Mounted

pytestmark = pytest.mark.fuse

NOBODY = 65534
SYSTEM_PYTHON = "/usr/bin/python3"

# Runs as nobody: each step is (call, path[, arg]); the answers are errno names or "ok".
PROBE = r"""
import errno, json, os, sys
out = []
for call, path, *arg in json.loads(sys.argv[1]):
    try:
        if call == "read":
            open(path, "rb").read()
        elif call == "write":
            open(path, "ab").write(b"x")
        elif call == "create":
            open(path, "xb").write(b"mine")
        elif call == "chmod":
            os.chmod(path, int(arg[0]))
        elif call == "chown":
            os.chown(path, int(arg[0]), -1)
        elif call == "mkdir":
            os.mkdir(path)
        elif call == "stat_uid":
            out.append(os.stat(path).st_uid)
            continue
        out.append("ok")
    except OSError as exc:
        out.append(errno.errorcode[exc.errno])
print(json.dumps(out))
"""


def as_nobody(steps: list[list[Any]]) -> list[Any]:
    result = subprocess.run(
        [SYSTEM_PYTHON, "-c", PROBE, json.dumps(steps)],
        user=NOBODY,
        group=NOBODY,
        capture_output=True,
        text=True,
        timeout=60,
        cwd="/",
    )
    assert result.returncode == 0, result.stderr
    return list(json.loads(result.stdout))


def test_an_unprivileged_caller(cluster: Cluster, s3: Any, tmp_path: Path) -> None:
    if not os.path.exists(SYSTEM_PYTHON):
        pytest.skip(f"{SYSTEM_PYTHON} is needed to run as nobody")
    # nobody must reach the mount point: pytest's temp dirs are root's alone.
    outside = Path(tempfile.mkdtemp(prefix="wormfs-perm-"))
    outside.chmod(0o755)
    mounted = Mounted(cluster, BUCKET, outside / "mnt", tmp_path / "perm.log", ["--allow-other"])
    try:
        mounted.start()
        base = mounted.mountpoint / "perm"
        base.mkdir(mode=0o755)
        (base / "mine").write_bytes(b"root's")
        os.chmod(base / "mine", 0o644)
        shared = base / "shared"
        shared.mkdir()
        os.chmod(shared, 0o777)
        answers = as_nobody(
            [
                ["read", str(base / "mine")],
                ["write", str(base / "mine")],
                ["chmod", str(base / "mine"), 0o666],
                ["chown", str(base / "mine"), NOBODY],
                ["mkdir", str(base / "d")],
                ["create", str(shared / "theirs")],
                ["stat_uid", str(shared / "theirs")],
                ["chmod", str(shared / "theirs"), 0o600],
            ]
        )
        assert answers == ["ok", "EACCES", "EPERM", "EPERM", "EACCES", "ok", NOBODY, "ok"]
        assert (shared / "theirs").read_bytes() == b"mine"  # root reads anything
        assert os.stat(shared / "theirs").st_mode & 0o777 == 0o600
    finally:
        code = mounted.stop()
        shutil.rmtree(outside, ignore_errors=True)
        assert code == 0
