"""``wormfs mount``'s options, and the CLI without pyfuse3 (``make run`` needs no FUSE)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from wormfs import config as cfg
from wormfs.cli.main import build_parser
from wormfs.fuse.options import MountOptions


def test_options_and_fuse_options(tmp_path: Path) -> None:
    args = build_parser().parse_args(
        ["mount", "photos:2026/summer/", str(tmp_path), "--read-only", "-o", "noatime,ro"]
    )
    options = MountOptions.from_args(args)
    assert (options.bucket, options.prefix, options.umask) == ("photos", "2026/summer", 0o022)
    assert options.fuse_option_set() >= {
        "default_permissions",
        "fsname=wormfs:photos",
        "subtype=wormfs",
        "ro",
        "noatime",
    }


def test_bad_options_are_reported_together(tmp_path: Path) -> None:
    args = build_parser().parse_args(
        ["mount", ":x", str(tmp_path / "none"), "--umask", "9z", "--inline-max", "-1"]
    )
    with pytest.raises(cfg.ConfigError) as info:
        MountOptions.from_args(args)
    assert len(info.value.problems) == 4


def test_cli_works_without_pyfuse3(tmp_path: Path) -> None:
    script = (
        "import sys; sys.modules['pyfuse3'] = None\n"
        "from wormfs.cli.main import main\n"
        f"sys.exit(main(['mount', 'b', {str(tmp_path)!r}]))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 2, result.stderr
    assert "pyfuse3 is not installed" in result.stderr
