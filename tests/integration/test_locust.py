"""Integration: the locust S3 load test (loadtests/locustfile.py) runs headless without failures.

A real cluster (``integration.cluster``) serves S3; locust runs as a child process for a short,
fixed time (``RUN_TIME``) with the file's default mix (45 % GET, 30 % HEAD, 15 % PUT, 10 %
DELETE over each user's own keys). Every request must succeed: locust's exit code says so,
and the aggregated row of its CSV statistics is checked too (requests made, none failed, each
operation of the mix seen). Without locust installed the test is skipped, except under CI
(``CI=true``), where the test extra must provide it and a missing locust is a failure.
"""

from __future__ import annotations

import csv
import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest
from integration.cluster import ACCESS_KEY, SECRET_KEY, Cluster

pytestmark = [pytest.mark.integration, pytest.mark.slow]

LOCUSTFILE = Path(__file__).resolve().parents[2] / "loadtests" / "locustfile.py"
RUN_TIME = "15s"
USERS = "8"
SPAWN_RATE = "4"
MIX = ("GET object", "HEAD object", "PUT object", "DELETE object")


def _require_locust() -> None:
    if importlib.util.find_spec("locust") is not None:
        return
    reason = "locust is not installed (pip install -e '.[load]')"
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(f"{reason}; required under CI", pytrace=False)
    pytest.skip(reason)


@pytest.mark.timeout(240)
def test_locust_mix_runs_headless_without_failures(cluster: Cluster, tmp_path: Path) -> None:
    _require_locust()
    env = dict(os.environ)
    env.update(
        S3_ACCESS_KEY=ACCESS_KEY,
        S3_SECRET_KEY=SECRET_KEY,
        S3_BUCKET="locust-it",
        S3_OBJECT_SIZE="4KiB",
        PYTHONSAFEPATH="1",
    )
    stats = tmp_path / "locust"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "locust",
            "-f",
            str(LOCUSTFILE),
            "--headless",
            "-u",
            USERS,
            "-r",
            SPAWN_RATE,
            "-t",
            RUN_TIME,
            "--stop-timeout",
            "10",
            "--host",
            cluster.s3_url,
            "--csv",
            str(stats),
            "--only-summary",
        ],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=180,
    )
    output = f"stdout:\n{done.stdout[-6000:]}\nstderr:\n{done.stderr[-6000:]}"
    assert done.returncode == 0, output
    with (tmp_path / "locust_stats.csv").open() as fh:
        rows = {row["Name"]: row for row in csv.DictReader(fh)}
    total = rows["Aggregated"]
    assert int(total["Request Count"]) > 0, output
    assert int(total["Failure Count"]) == 0, output
    for name in MIX:
        assert name in rows and int(rows[name]["Request Count"]) > 0, (name, output)
