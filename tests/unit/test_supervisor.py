"""``wormfs server``'s pieces without processes: the restart policy, the split of the data
directories among nodes, the options' checks, and the claims on the data dir and the address."""

from __future__ import annotations

import json
import os
import signal
import socket
from pathlib import Path

import pytest

from wormfs import config as cfg
from wormfs.cli.admin_status import show_server
from wormfs.cli.main import main
from wormfs.runtime.children import Child, RestartPolicy, describe_exit
from wormfs.runtime.claims import ServerRefused, claim_address, lock_data_dir, probe_port
from wormfs.runtime.supervisor import ServerOptions, layout_problems, node_disks


def _child() -> Child:
    return Child("gateway-1", ["gateway", "--port", "0"], Path("/nonexistent/gateway-1.json"))


def _die(policy: RestartPolicy, child: Child, at: float) -> float | None:
    delay = policy.delay(child, at)
    if delay is not None:
        child.died(-signal.SIGKILL, delay, at)
        child.restarted(at + delay)
        child.started_at = at + delay
    return delay


def test_backoff_doubles_up_to_the_cap_then_gives_up() -> None:
    policy = RestartPolicy(max_restarts=5, window=60.0)
    child = _child()
    delays, now = [], 0.0
    for _ in range(6):
        delay = _die(policy, child, now)
        delays.append(delay)
        now += (delay or 0) + 0.5  # dies half a second after each start
    assert delays == [0.5, 1.0, 2.0, 4.0, 8.0, None]  # a crash loop is given up in ~20 s
    assert child.restarts == 5 and child.last_exit == "killed by signal 9 (SIGKILL)"


def test_a_child_that_stayed_up_starts_again_quickly_and_old_restarts_expire() -> None:
    policy = RestartPolicy(max_restarts=2, window=60.0, reset_after=30.0)
    child = _child()
    assert _die(policy, child, 0.0) == 0.5
    assert _die(policy, child, 5.0) == 1.0  # died again soon: doubled
    assert _die(policy, child, 10.0) is None  # a third within the window: give up
    assert _die(policy, child, 100.0) == 0.5  # those restarts left the window; it had been up


def test_no_restarts_at_all() -> None:
    assert RestartPolicy(max_restarts=0).delay(_child(), 0.0) is None


def test_sticky_port_is_kept_for_restarts() -> None:
    child = Child("coordinator", ["coordinator", "--port", "0"], Path("x.json"), sticky_port=True)
    child.bound("http://127.0.0.1:4321", 4321)
    assert child.args == ["coordinator", "--port", "4321"] and child.state == "running"


def test_exits_are_described() -> None:
    assert describe_exit(0) == "exit status 0"
    assert describe_exit(3) == "exit status 3"
    assert describe_exit(-15) == "killed by signal 15 (SIGTERM)"


def test_data_directories_split_in_runs(tmp_path: Path) -> None:
    runs = node_disks(tmp_path, 3, 7)
    assert [[p.name for p in run] for run in runs] == [
        ["disk1", "disk2", "disk3"],
        ["disk4", "disk5"],
        ["disk6", "disk7"],
    ]
    assert [len(r) for r in node_disks(tmp_path, 1, 6)] == [6]


def test_layout_problems() -> None:
    assert layout_problems(1, 6, 0) == []
    assert "at least 6" in layout_problems(1, 4, 0)[0]
    assert "--nodes must be between 1 and" in layout_problems(7, 6, 0)[0]
    assert "has 8 data directories" in layout_problems(1, 6, 8)[0]


def test_options_default_to_the_disks_the_data_dir_has(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WORMFS_ROOT_ACCESS_KEY", "AKIDSERVEROPTIONS000")
    monkeypatch.setenv("WORMFS_ROOT_SECRET_KEY", "secret")
    for i in range(1, 9):
        (tmp_path / f"disk{i}").mkdir()
    options = ServerOptions.from_env(str(tmp_path), "127.0.0.1:9000", 1, nodes=2)
    assert (options.nodes, options.disks, options.max_restarts) == (2, 8, 5)
    with pytest.raises(cfg.ConfigError) as info:
        ServerOptions.from_env(str(tmp_path), "127.0.0.1:9000", 1, disks=6, max_restarts=-1)
    assert "--disks 6 would stop serving" in str(info.value)
    assert "--max-restarts" in str(info.value)


def test_data_dir_lock_refuses_a_second_server(tmp_path: Path) -> None:
    fd = lock_data_dir(tmp_path)
    try:
        assert (tmp_path / "server.lock").read_text().strip() == str(os.getpid())
        with pytest.raises(ServerRefused, match=r"in use by another wormfs server \(server pid"):
            lock_data_dir(tmp_path)  # another open file description, as a second process has
    finally:
        os.close(fd)
    os.close(lock_data_dir(tmp_path))  # free again once the first is gone


def test_address_claimed_twice_is_refused() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    claim = claim_address("127.0.0.1", port)
    try:
        with pytest.raises(ServerRefused, match="already served by another wormfs server"):
            claim_address("127.0.0.1", port)
    finally:
        claim.close()
    claim_address("127.0.0.1", port).close()


def test_probe_sees_a_listener_even_with_so_reuseport() -> None:
    with socket.socket() as listener:
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]
        with pytest.raises(ServerRefused, match="already in use"):
            probe_port("127.0.0.1", port)
        # The wildcard address overlaps it too.
        with pytest.raises(ServerRefused):
            probe_port("0.0.0.0", port)
    probe_port("127.0.0.1", port)


def test_admin_status_shows_the_restarts(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    child = _child()
    child.process = None
    child.died(-signal.SIGKILL, 0.5, 0.0)
    child.restarted(0.5)
    status = {"pid": os.getpid(), "started": 0.0, "endpoint": "http://127.0.0.1:9000"}
    lines = show_server({**status, "children": [child.status()]}, child.last_restart + 3)
    assert "1 of 1 processes restarted" in lines[0]
    assert "gateway-1" in lines[1] and "restarts 1, last 3 s ago (killed by signal 9" in lines[1]
    # Without a coordinator: says so, exits 1, still shows the server's status file.
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "server.json").write_text(json.dumps({**status, "children": []}))
    assert main(["admin", "--data-dir", str(tmp_path), "status"]) == 1
    out = capsys.readouterr().out
    assert "coordinator:  not found" in out and f"server:       pid {os.getpid()}" in out
