"""``wormfs server`` survives its children, and is the only cluster on its port and data dir.

One server (two gateway workers, one storage node) is shared by the module: a second server
on its port, or on its data dir, is refused before it starts anything, and the first is
unaffected; then a gateway worker, the storage node and the coordinator are each killed with
SIGKILL while a client writes and reads: S3 answers again within 10 s (the measured time is
printed), the child is restarted and counted in the server's status, and every acknowledged
object reads back with its bytes. Servers of their own: a child killed past the restart limit
makes the server give up (exit 1, every child stopped); ``--nodes 3 --disks 6`` over a data dir
first served by one node takes the disks over, and survives a node killed with SIGKILL; and
SIGINT while a child waits for its restart stops everything, restarting nothing.
"""

from __future__ import annotations

import hashlib
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from integration.servers import (
    Server,
    Workload,
    server_env,
    time_to_answer,
    wormfs_command,
)
from logscan import fail_on_problems
from waiting import wait_until

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Server]:
    s = Server(tmp_path_factory.mktemp("server")).start()
    try:
        yield s
    finally:
        code = s.stop()
        assert code == 0, s.log_text()
        fail_on_problems(request.config, s.log_files())  # the shutdown's own lines


def _refused(args: list[str], data_dir: Path, port: int) -> str:
    """Run a second server that must refuse at once; its message."""
    done = subprocess.run(
        [wormfs_command(), "server", *args],
        env=server_env(data_dir, port),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 1, done.stdout + done.stderr
    assert "WormFS is running" not in done.stdout
    return done.stderr


def _unaffected(server: Server, pids: dict[str, int]) -> None:
    s3 = server.s3()
    s3.put_object(Bucket="first", Key="still", Body=b"here")
    assert s3.get_object(Bucket="first", Key="still")["Body"].read() == b"here"
    assert {c["name"]: c["pid"] for c in server.status()["children"]} == pids


def test_second_server_on_the_same_port_is_refused(server: Server, tmp_path: Path) -> None:
    server.s3().create_bucket(Bucket="first")
    pids = {c["name"]: c["pid"] for c in server.status()["children"]}
    other = tmp_path / "other"
    err = _refused(["--workers", "2"], other, server.port)
    assert f"127.0.0.1:{server.port} is already served by another wormfs server" in err
    assert not (other / "run").exists()  # nothing was started
    _unaffected(server, pids)


def test_second_server_on_the_same_data_dir_is_refused(server: Server) -> None:
    pids = {c["name"]: c["pid"] for c in server.status()["children"]}
    assert server.process is not None
    err = _refused(["--workers", "1"], server.data_dir, server.port + 1)
    assert f"data dir {server.data_dir} is in use by another wormfs server" in err
    assert f"(server pid {server.process.pid})" in err
    _unaffected(server, pids)


@pytest.mark.parametrize("child", ["gateway-1", "storage-node-1", "coordinator"])
def test_killed_child_is_restarted_and_nothing_acknowledged_is_lost(
    server: Server, child: str
) -> None:
    bucket = f"load-{child}"
    before = server.child(child)["restarts"]
    workload = Workload(server, bucket).start()
    try:
        pid = server.kill_child(child)
        killed = time.monotonic()
        seconds = time_to_answer(server, bucket, killed)
        print(f"\nkill -9 {child}: S3 answered again after {seconds:.2f} s")
        status = server.wait_restarted(child, before + 1)
        assert status["pid"] != pid and status["last_exit"] == "killed by signal 9 (SIGKILL)"
        wait_until(lambda: len(workload.acknowledged) >= 12, 30, message="writes go on")
    finally:
        workload.stop()
    count = workload.verify()
    print(f"{count} acknowledged objects read back; {workload.failed} requests failed")
    assert seconds < 10
    assert f"{child} (pid {pid}) killed by signal 9 (SIGKILL); restarting it in" in (
        server.log_text()
    )


@pytest.mark.expected_log_errors(
    r"gateway-1 \(pid \d+\) killed by signal 9 \(SIGKILL\), after 1 restarts in the last 60 s: "
    "giving up"
)
def test_child_killed_past_the_restart_limit_stops_the_server(tmp_path: Path) -> None:
    server = Server(tmp_path, ["--workers", "1", "--max-restarts", "1"]).start()
    try:
        first = server.kill_child("gateway-1")
        server.wait_restarted("gateway-1", 1)
        second = server.kill_child("gateway-1")
        assert server.process is not None
        code = server.process.wait(60)
    finally:
        server.stop()
    assert code == 1, server.log_text()
    log = server.log_text()
    assert f"gateway-1 (pid {first}) killed by signal 9 (SIGKILL); restarting it in 0.5 s" in log
    assert f"gateway-1 (pid {second}) killed by signal 9 (SIGKILL), after 1 restarts" in log
    assert "all processes stopped" in log
    assert server.running_children() == []
    assert not (server.data_dir / "run" / "server.json").exists()


@pytest.mark.slow
def test_three_nodes_take_over_the_disks_and_survive_a_node_killed(tmp_path: Path) -> None:
    """A data dir first served by one node, then by ``--nodes 3 --disks 6``: two disks each,
    taken over by their new nodes; the objects written before read back; with one node
    killed every read of an acknowledged object still succeeds (4+2 spread over 3 nodes:
    a node holds 2 chunks of each segment), and the node comes back."""
    first = Server(tmp_path, ["--workers", "1"]).start()
    try:
        before = Workload(first, "before").start()
        wait_until(lambda: len(before.acknowledged) >= 6, 30, message="objects written")
        before.stop()
        one_node = {n["node_id"] for n in first.coordinator_get("/v1/nodes")["nodes"]}
    finally:
        assert first.stop() == 0
    server = Server(tmp_path, ["--workers", "1", "--nodes", "3", "--disks", "6"], first.port)
    server.start()
    try:
        nodes = server.coordinator_get("/v1/nodes")["nodes"]
        online = [n for n in nodes if n["state"] == "online"]
        assert len(online) == 3 and sorted(len(n["disks"]) for n in online) == [2, 2, 2]
        assert one_node <= {n["node_id"] for n in online}  # node 1 kept its identity
        assert before.verify() >= 6
        reads = Workload(server, "during").start()
        try:
            killed = server.kill_child("storage-node-2")
            for key, digest in sorted(before.acknowledged.items()):
                body = server.s3().get_object(Bucket="before", Key=key)["Body"].read()
                assert hashlib.md5(body).hexdigest() == digest, key
            server.wait_restarted("storage-node-2", 1)
            wait_until(
                lambda: server.coordinator_get("/v1/health")["disks_online"] == 6,
                30,
                message="the node's disks online again",
            )
            seconds = time_to_answer(server, "during", time.monotonic())
            print(f"\nwrites after storage-node-2 came back: {seconds:.2f} s")
        finally:
            reads.stop()
        assert not reads.bad_reads
        assert reads.verify() > 0 and before.verify() >= 6
        assert server.child("storage-node-2")["pid"] != killed
        # Back within seconds, the node lost nothing: nothing is left to repair.
        wait_until(
            lambda: server.coordinator_get("/v1/repair/status")["queued"] == 0,
            60,
            interval=0.5,
            message="the repair queue drained",
        )
    finally:
        assert server.stop() == 0, server.log_text()


def test_sigint_while_a_child_waits_for_its_restart_stops_everything(tmp_path: Path) -> None:
    """No restart once stopping began: the child killed just before Ctrl-C stays dead, the
    rest stop cleanly, exit 0."""
    server = Server(tmp_path, ["--workers", "1"]).start()
    try:
        killed = server.kill_child("storage-node-1")
        wait_until(
            lambda: server.child("storage-node-1")["state"] == "restarting",
            10,
            interval=0.01,
            message="the death noticed",
        )
        assert server.process is not None
        server.process.send_signal(signal.SIGINT)
        code = server.process.wait(60)
    finally:
        server.stop()
    assert code == 0, server.log_text()
    log = server.log_text()
    assert f"storage-node-1 (pid {killed}) killed by signal 9 (SIGKILL)" in log
    assert "storage-node-1 started again" not in log
    assert "all processes stopped" in log
    assert server.running_children() == []
