"""Real ``wormfs mount`` processes for tests (the fuse tier's harness, beside
``integration.cluster``).

``Mounted`` starts ``python -m wormfs.cli mount BUCKET DIR`` against the cluster's coordinator
(the cluster secret and root keys in its environment, as ``wormfs server`` gives them), waits
until the directory is a mount point, and always cleans up: ``fusermount3 -u``, then ``-z``
(lazy) if still mounted (the dead mount a killed process leaves too), then SIGTERM and SIGKILL
of its own PID. Its log is scanned like the cluster's (``log_files``).

``fuse_available()`` skips a test where ``/dev/fuse`` is missing, unless ``CI`` is set: under CI
the test command installs FUSE, so a missing device is a broken set-up and the test fails.
``missing(reason)`` does the same for any other tool a test needs (s3fs, rclone).
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import NoReturn

import pytest
from integration.cluster import Cluster
from waiting import wait_until

MOUNT_TIMEOUT = 30.0
BUCKET = "fuse-bucket"


def missing(reason: str) -> NoReturn:
    """Skip the test for something missing here, or fail it under CI (where it is installed)."""
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(f"{reason} (required under CI)", pytrace=False)
    pytest.skip(reason)


def fuse_available() -> None:
    if not (os.path.exists("/dev/fuse") and shutil.which("fusermount3")):
        missing("FUSE is not available here (/dev/fuse or fusermount3 missing)")


def in_mount_table(path: Path) -> bool:
    """Whether ``path`` is a mount point, that of a dead FUSE mount too: ``os.path.ismount``
    says False for one, as its ``lstat`` fails ("Transport endpoint is not connected")."""
    # /proc/self/mounts escapes these characters of a path as octal.
    escaped = str(path)
    for char in "\\ \t\n":
        escaped = escaped.replace(char, f"\\{ord(char):03o}")
    with open("/proc/self/mounts") as table:
        return any(line.split()[1] == escaped for line in table)


def unmount(path: Path) -> None:
    """Unmount ``path`` if it is mounted (a dead mount too): politely, then lazily."""
    for args in (["fusermount3", "-u", str(path)], ["fusermount3", "-u", "-z", str(path)]):
        if not in_mount_table(path):
            return
        subprocess.run(args, capture_output=True, timeout=30, check=False)


@dataclass
class Mounted:
    cluster: Cluster
    bucket: str
    mountpoint: Path
    log_path: Path
    extra: list[str] = field(default_factory=list)
    process: subprocess.Popen[bytes] | None = None

    def command(self) -> list[str]:
        return [
            sys.executable,
            "-m",
            "wormfs.cli",
            "mount",
            self.bucket,
            str(self.mountpoint),
            "--coordinator-url",
            self.cluster.coordinator_url,
            "--cache-dir",
            str(self.log_path.parent / f"{self.mountpoint.name}-cache"),
            *self.extra,
        ]

    def start(self) -> Mounted:
        self.mountpoint.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                self.command(), stdout=log, stderr=subprocess.STDOUT, env=self.cluster.env()
            )
        process = self.process

        def mounted() -> bool:
            if process.poll() is not None:
                raise RuntimeError(f"the mount exited early:\n{self.log()}")
            return os.path.ismount(self.mountpoint)

        try:
            wait_until(mounted, MOUNT_TIMEOUT, message="mounted")
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> int | None:
        """Unmount and end the process (by its PID); its exit status."""
        unmount(self.mountpoint)
        process = self.process
        if process is None:
            return None
        try:
            process.wait(10)  # unmounted from outside: it ends on its own
        except subprocess.TimeoutExpired:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        unmount(self.mountpoint)
        return process.returncode

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-20_000:] if self.log_path.exists() else ""

    def log_files(self) -> list[Path]:
        return [self.log_path]
