"""Acceptance: durability jobs on real processes, driven through ``wormfs admin``.

A lost disk's repair is one standing job whose progress rises to its total; a throttle of
chunks/s slows it (measured as chunks per interval, with wide margins); pausing stops its
progress and resuming continues it; a CLI killed while it watches and run again shows the
server's totals; ``--json`` parses (one document, or JSON lines with ``--watch``); without a
terminal the CLI prints one plain line per interval, under ``script`` it draws a rich bar. A
scrub and a rebalance end as cancelled when cancelled.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from integration.cluster import Cluster
from integration.durability_helpers import check_objects, fast_cluster, put_objects

pytestmark = pytest.mark.integration

LINE = re.compile(r"^repair repair: (running|paused), (\d+)/(\d+) items \(\d+%\), .* eta ")


def wormfs_admin(cluster: Cluster) -> list[str]:
    wormfs = str(Path(sys.executable).with_name("wormfs"))
    return [wormfs, "admin", "--coordinator-url", cluster.coordinator_url]


def admin_env(cluster: Cluster) -> dict[str, str]:
    return dict(os.environ, WORMFS_CLUSTER_SECRET=cluster.secret)


def admin(cluster: Cluster, *args: str, code: int = 0, timeout: float = 120) -> str:
    result = subprocess.run(
        [*wormfs_admin(cluster), *args],
        env=admin_env(cluster),
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert result.returncode == code, (result.stdout, result.stderr)
    return result.stdout


def job(cluster: Cluster, job_id: str) -> dict[str, Any]:
    found: dict[str, Any] = cluster.coordinator_get(f"/v1/jobs/{job_id}")
    return found


def done_over(cluster: Cluster, seconds: float) -> tuple[int, float]:
    """Chunks the repair job did within about ``seconds`` (polled, never slept through)."""
    start, began = job(cluster, "repair")["done_items"], time.monotonic()
    deadline = began + seconds
    cluster.wait_until(lambda: time.monotonic() >= deadline, seconds + 5, interval=0.1)
    return job(cluster, "repair")["done_items"] - start, time.monotonic() - began


@pytest.mark.slow
@pytest.mark.expected_log_errors(r"ERROR wormfs\.storage_node\.disks: disk \w+ .* is now offline")
def test_repair_job_progress_throttle_pause_and_cli(tmp_path: Path) -> None:
    with fast_cluster(tmp_path, nodes=3, disks_per_node=3) as cluster:
        objects = put_objects(cluster, "jobs", [200_000] * 40)
        expected = len(cluster.chunk_files(1, 2))
        assert expected >= 12
        out = admin(cluster, "jobs", "pause", "repair", "--json")
        assert json.loads(out)["state"] == "paused"
        admin(cluster, "jobs", "throttle", "repair", "--items-per-s", "3")
        cluster.fail_disk(1, 2)
        cluster.wait_until(lambda: job(cluster, "repair")["total_items"] == expected, 30)
        assert job(cluster, "repair")["done_items"] == 0

        # A watching CLI without a terminal: one plain line per interval.
        watch_out = tmp_path / "watch.txt"
        with watch_out.open("w") as sink:
            watcher = subprocess.Popen(
                [*wormfs_admin(cluster), "repair", "status", "--watch", "--interval", "0.3"],
                env=admin_env(cluster),
                stdout=sink,
                stderr=subprocess.STDOUT,
            )
        try:
            admin(cluster, "jobs", "resume", "repair")
            cluster.wait_until(lambda: len(watch_out.read_text().splitlines()) >= 6, 30)
            # Three chunks a second, however fast the nodes could go (the first may be lent).
            did, elapsed = done_over(cluster, 3.0)
            assert 1 <= did <= 3.0 * elapsed + 4, (did, elapsed)
        finally:
            watcher.send_signal(signal.SIGKILL)
            watcher.wait(10)
        lines = watch_out.read_text().splitlines()
        assert "\x1b" not in watch_out.read_text()
        parsed = [LINE.match(line) for line in lines if line.strip()]
        assert all(parsed), lines
        done = [int(m.group(2)) for m in parsed if m]
        assert done == sorted(done) and done[-1] > done[0], done
        assert {int(m.group(3)) for m in parsed if m} == {expected}

        # Paused: the count stays put (rebuilds already running may still land).
        admin(cluster, "jobs", "pause", "repair")
        cluster.wait_until(lambda: cluster.coordinator_get("/v1/repair/status")["running"] == 0)
        still, _ = done_over(cluster, 1.5)
        assert still == 0
        assert "paused" in admin(cluster, "jobs", "show", "repair")

        # A rerun after the watcher was killed shows the server's totals.
        server = job(cluster, "repair")
        status = json.loads(admin(cluster, "repair", "status", "--json"))
        assert status["paused"] and status["repaired_chunks"] == server["done_items"] > 0
        shown = json.loads(admin(cluster, "jobs", "show", "repair", "--json"))
        assert (shown["done_items"], shown["total_items"]) == (server["done_items"], expected)

        # Under a terminal the bar is drawn (rich), then no limit: the watch runs to the end.
        admin(cluster, "jobs", "throttle", "repair")
        admin(cluster, "jobs", "resume", "repair")
        command = " ".join([*wormfs_admin(cluster), "jobs", "show", "repair", "--watch"])
        tty = subprocess.run(
            ["script", "-qec", command, "/dev/null"],
            env=admin_env(cluster),
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert tty.returncode == 0, tty.stdout
        assert "━" in tty.stdout and "\x1b[" in tty.stdout, tty.stdout
        assert f"{expected}/{expected}" in tty.stdout
        out = admin(cluster, "repair", "status", "--watch", "--json", "--interval", "0.2")
        final = [json.loads(line) for line in out.splitlines()][-1]
        assert final["done_items"] == final["total_items"] == expected
        assert final["state"] == "running" and final["failures"] == 0
        check_objects(cluster, "jobs", objects)


@pytest.mark.slow
def test_scrub_and_rebalance_jobs_end_cancelled(tmp_path: Path) -> None:
    with fast_cluster(tmp_path, nodes=3, disks_per_node=2) as cluster:
        put_objects(cluster, "scrub", [1_000_000] * 6)
        # 200 kB/s of deep scrub per disk: the walk takes many seconds.
        admin(cluster, "jobs", "throttle", "scrub", "--bytes-per-s", "200000")
        started = json.loads(admin(cluster, "scrub", "--json"))
        scrub_id = started["job_id"]
        assert started["running"] and scrub_id
        assert job(cluster, scrub_id)["state"] == "running"
        cancelled = json.loads(admin(cluster, "jobs", "cancel", scrub_id, "--json"))
        assert cancelled["state"] == "cancelled" and cancelled["finished_at"]
        cluster.wait_until(lambda: not cluster.coordinator_get("/v1/scrub/status")["running"], 60)
        assert job(cluster, scrub_id)["state"] == "cancelled"
        listed = json.loads(admin(cluster, "jobs", "list", "--kind", "scrub", "--json"))
        assert [j["job_id"] for j in listed["jobs"]] == [scrub_id]
        # Without the throttle a whole scrub is done, and --wait says so.
        admin(cluster, "jobs", "throttle", "scrub")
        waited = admin(cluster, "scrub", "--wait", "--interval", "0.2")
        assert "finished" in waited and "scrub scrub-" in waited

        # A rebalance onto a new node, its moves held by a paused repair, then cancelled.
        admin(cluster, "jobs", "pause", "repair")
        new = cluster.add_node()
        cluster.wait_disks(8)
        result = json.loads(admin(cluster, "rebalance", "--tolerance", "0.0", "--json"))
        assert result["queued_moves"] > 0
        moves = job(cluster, result["job_id"])
        assert moves["total_items"] == result["queued_moves"] and moves["state"] == "running"
        out = admin(cluster, "jobs", "cancel", result["job_id"])
        assert "cancelled" in out
        by_reason = cluster.coordinator_get("/v1/repair/status")["by_reason"]
        assert "rebalance" not in {r["reason"] for r in by_reason}
        assert job(cluster, result["job_id"])["state"] == "cancelled"
        admin(cluster, "jobs", "resume", "repair")
        assert not cluster.chunk_files(new)
