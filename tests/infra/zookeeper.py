"""A throwaway standalone ZooKeeper server on loopback, for tests.

Test infrastructure (not installed). ``ZooKeeperServer.start()`` writes a config with a temp
data dir and a free loopback port, starts Debian's ZooKeeper (package ``zookeeper``: the jar
in /usr/share/java, whose manifest names its dependencies) with ``java``, and waits until the
server answers the ``ruok`` four-letter command with ``imok``; ``stop()`` stops it by its PID
and removes the directory.

``tickTime`` is 500 ms so that sessions may be as short as 1 s (ZooKeeper bounds a session
between 2 and 20 ticks): failover tests use sessions of a few seconds, not the usual 10-40.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

START_TIMEOUT = 60.0
STOP_TIMEOUT = 10.0
JAR_ENV = "WORMFS_ZOOKEEPER_JAR"
DEFAULT_JAR = Path("/usr/share/java/zookeeper.jar")
TICK_MS = 500


class ZooKeeperUnavailable(RuntimeError):
    """java or the ZooKeeper jar is not on this machine."""


def find_server() -> tuple[str, Path]:
    """(java executable, ZooKeeper jar)."""
    java = shutil.which("java")
    jar = Path(os.environ.get(JAR_ENV) or DEFAULT_JAR)
    if java is None or not jar.exists():
        raise ZooKeeperUnavailable(
            f"ZooKeeper not found (java: {java or 'missing'}, jar: {jar}); install Debian's "
            "'zookeeper' and 'default-jre-headless' packages (make system-deps does)"
        )
    return java, jar


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def four_letter(port: int, word: str, timeout: float = 2.0) -> str:
    """Send a four-letter command and return the answer ("" if the server is not up)."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
            sock.sendall(word.encode())
            chunks = []
            while True:
                data = sock.recv(4096)
                if not data:
                    break
                chunks.append(data)
            return b"".join(chunks).decode(errors="replace")
    except OSError:
        return ""


@dataclass
class ZooKeeperServer:
    root: Path | None = None
    port: int = 0
    process: subprocess.Popen[bytes] | None = None

    @property
    def hosts(self) -> str:
        """The connection string clients use."""
        return f"127.0.0.1:{self.port}"

    @property
    def log_path(self) -> Path:
        assert self.root is not None
        return self.root / "server.log"

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-5000:]
        except OSError:
            return ""

    def start(self) -> ZooKeeperServer:
        java, jar = find_server()
        self.root = Path(tempfile.mkdtemp(prefix="wormfs-zk-"))
        try:
            for _attempt in range(3):  # a free port can be taken before the server binds it
                self.port = free_port()
                if self._start(java, jar):
                    return self
            raise RuntimeError(f"ZooKeeper did not start:\n{self.log()}")
        except BaseException:
            self.stop()
            raise

    def _start(self, java: str, jar: Path) -> bool:
        assert self.root is not None
        data = self.root / "data"
        data.mkdir(exist_ok=True)
        config = self.root / "zoo.cfg"
        config.write_text(
            "\n".join(
                [
                    f"tickTime={TICK_MS}",
                    f"dataDir={data}",
                    f"clientPort={self.port}",
                    "clientPortAddress=127.0.0.1",
                    "maxClientCnxns=0",
                    f"minSessionTimeout={2 * TICK_MS}",
                    f"maxSessionTimeout={40 * TICK_MS}",
                    "admin.enableServer=false",
                    "4lw.commands.whitelist=ruok,srvr",
                    "",
                ]
            )
        )
        args = [
            java,
            "-Xmx256m",
            "-XX:+UseSerialGC",
            "-Dzookeeper.admin.enableServer=false",
            "-cp",
            str(jar),
            "org.apache.zookeeper.server.ZooKeeperServerMain",
            str(config),
        ]
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                args, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
            )
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                self.process = None
                return False
            if four_letter(self.port, "ruok", timeout=1.0) == "imok":
                return True
            time.sleep(0.1)
        self._signal_stop()
        return False

    def pause(self) -> None:
        """Stop the server but keep its port and data (sessions survive a short outage)."""
        self._signal_stop()
        self.process = None

    def resume(self) -> None:
        """Start the paused server again on the same port and data dir."""
        java, jar = find_server()
        if not self._start(java, jar):
            raise RuntimeError(f"ZooKeeper did not restart:\n{self.log()}")

    def _signal_stop(self) -> None:
        process = self.process
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    def stop(self) -> None:
        """Stop the server (by its PID) and remove its directory."""
        self._signal_stop()
        self.process = None
        if self.root is not None:
            shutil.rmtree(self.root, ignore_errors=True)
            self.root = None
