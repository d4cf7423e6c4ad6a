"""bench_metadata's sides and report: which checkout starts the coordinators, their processes,
and the tables (each run's rows, and the A/B summary).

Layer: benchmarks, beside ``bench_metadata.py`` (which measures; this module starts and stops
coordinator processes and renders what was measured). Like the benchmark, it imports nothing
of the coordinator's own code, so either side may be any checkout.

A/B: ``--baseline-python PATH`` names the python of another checkout's virtualenv (its package
installed editable there, e.g. a ``git worktree`` of the commit before a change). Run "A"
starts the coordinator with that python, run "B" with ``--python`` (default: the python running
this script, i.e. this tree). For each engine, rounds alternate A B A B (``--rounds`` each,
default 2 with a baseline, else 1), each round running every measurement on fresh
coordinators. The A/B table gives, per measurement, the median over the rounds of A and of B
and the ratio B/A; throughput rows (commits/s, reads/s) are checked against the goal of
B/A >= 0.95 (no more than 5 % slower), the latency and CPU rows are shown for information
(lower is better).
``--python`` set to the baseline's python too gives an A-vs-A run: the spread it shows is the
noise floor of the machine. Before measuring, each side's python is asked which checkout it
imports (printed with its commit and whether its tree has changes) and starts one coordinator
on a scratch database, so a side that cannot start fails the run at once; ``--module`` /
``--baseline-module`` name another entry module if a checkout's ``python -m wormfs.cli``
moved. Should a later round fail, the tables of what was measured are still printed (exit
status 1). Only the wire structs and ``CoordinatorClient`` of the python running this script
are used, for both sides; if this tree's copy of them is broken mid-change, run the script
with the baseline's python (``/tmp/baseline/.venv/bin/python benchmarks/bench_metadata.py``).
On SQLite at 1,000,000 keys, each side's listing template takes about 1.1 GB under $TMPDIR,
plus one copy while a round lists (removed after it).
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

SECRET = b"bench-metadata-secret"


# ---- a coordinator process -------------------------------------------------------------------
@dataclass(frozen=True)
class Side:
    """One checkout under test: ``label`` "A" (the baseline) or "B" (this tree); ``module``
    is what ``python -m`` runs with ``coordinator ...`` to start one."""

    label: str
    python: str
    module: str = "wormfs.cli"

    def coordinator(self, root: Path, database_url: str) -> CoordinatorProcess:
        return CoordinatorProcess(root, database_url, self.python, self.module)


def child_env() -> dict[str, str]:
    """The environment of a coordinator: it imports the code of its own python's checkout
    (PYTHONSAFEPATH, no PYTHONPATH; cwd is its own directory), never this tree's through the
    current directory."""
    env = dict(os.environ, WORMFS_CLUSTER_SECRET=SECRET.decode(), PYTHONSAFEPATH="1")
    env.pop("PYTHONPATH", None)
    return env


def describe(side: Side, work: Path) -> str:
    """Which checkout (and commit) ``side.python`` runs. Fails early, before any measurement,
    when that python cannot start a coordinator (one is started on a scratch SQLite file)."""
    probe = "import pathlib, wormfs; print(pathlib.Path(wormfs.__file__).resolve().parent.parent)"
    where = subprocess.run(
        [side.python, "-c", probe], capture_output=True, text=True, env=child_env(), cwd=work
    )
    if where.returncode:
        raise SystemExit(f"side {side.label}: {side.python} cannot import wormfs:\n{where.stderr}")
    root = work / f"preflight-{side.label}"
    try:
        side.coordinator(root, f"sqlite+aiosqlite:///{root / 'preflight.db'}").start().stop()
    except RuntimeError as error:
        raise SystemExit(f"side {side.label}: {side.python} -m {side.module}: {error}") from None
    checkout = where.stdout.strip()
    commit = subprocess.run(
        ["git", "-C", checkout, "log", "-1", "--format=%h (%cs)"], capture_output=True, text=True
    ).stdout.strip()
    dirty = subprocess.run(
        ["git", "-C", checkout, "status", "--porcelain", "--untracked-files=no"],
        capture_output=True,
        text=True,
    ).stdout.count("\n")
    state = f", {dirty} files changed" if dirty else ""
    return f"{side.python} -m {side.module}: {checkout} at {commit}{state}"


@dataclass
class CoordinatorProcess:
    root: Path
    database_url: str
    python: str = sys.executable
    module: str = "wormfs.cli"
    process: subprocess.Popen[bytes] | None = None
    address: str = ""

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def start(self) -> CoordinatorProcess:
        self.root.mkdir(parents=True, exist_ok=True)
        config = self.root / "coordinator.toml"
        config.write_text("node_offline_after = 3600.0\ngc_interval = 3600.0\n")
        ready = self.root / "coordinator.ready.json"
        with (self.root / "coordinator.log").open("ab") as log:
            self.process = subprocess.Popen(
                [
                    self.python,
                    "-m",
                    self.module,
                    "coordinator",
                    "--port",
                    "0",
                    "--config",
                    str(config),
                    "--database-url",
                    self.database_url,
                    "--ready-file",
                    str(ready),
                    "--log-level",
                    "WARNING",
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                env=child_env(),
                cwd=self.root,
            )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"coordinator ({self.python}) exited with {self.process.returncode}:\n"
                    + (self.root / "coordinator.log").read_text()[-3000:]
                )
            if ready.exists():
                info = json.loads(ready.read_text())
                if info.get("pid") == self.process.pid:
                    self.address = str(info["address"])
                    return self
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"coordinator ({self.python}) did not start in 60 s")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def __enter__(self) -> CoordinatorProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def cpu_seconds(pid: int, thread: int | None = None) -> float:
    """User + system CPU time a process, or one of its threads (``thread`` = ``pid``: the
    main thread, which runs the event loop), has used so far (Linux /proc)."""
    path = f"/proc/{pid}/stat" if thread is None else f"/proc/{pid}/task/{thread}/stat"
    fields = Path(path).read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


# ---- report ----------------------------------------------------------------------------------
def run_of(r: dict[str, Any], show: bool) -> str:
    return f" {r['side']}{r['round']} |" if show else ""


def markdown(results: list[dict[str, Any]], show_run: bool) -> str:
    lines = []
    run_head, run_rule = (" run |", " --- |") if show_run else ("", "")
    commits = [r for r in results if r["bench"] == "commits"]
    if commits:
        lines += [
            f"| engine |{run_head} workers | commits/s | p50 ms | p99 ms | "
            "coordinator CPU ms/commit |",
            f"| --- |{run_rule} ---: | ---: | ---: | ---: | ---: |",
        ]
        lines += [
            f"| {r['engine']} |{run_of(r, show_run)} {r['workers']} | {r['commits_per_s']} | "
            f"{r['p50_ms']} | {r['p99_ms']} | {r['coordinator_cpu_ms_per_commit']} |"
            for r in commits
        ]
        lines.append("")
    reads = [r for r in results if r["bench"] == "reads"]
    if reads:
        lines += [
            f"| engine |{run_head} manifest | objects | workers | reads/s | p50 ms | p99 ms | "
            "coordinator CPU ms/read |",
            f"| --- |{run_rule} --- | ---: | ---: | ---: | ---: | ---: | ---: |",
        ]
        lines += [
            f"| {r['engine']} |{run_of(r, show_run)} {r['kind']} | {r['objects']} | "
            f"{r['workers']} | {r['reads_per_s']} | {r['p50_ms']} | {r['p99_ms']} | "
            f"{r['coordinator_cpu_ms_per_read']} |"
            for r in reads
        ]
        lines.append("")
    listings = [r for r in results if r["bench"] == "listing"]
    if listings:
        lines += [
            f"| engine |{run_head} layout | pages | p50 / p99 first 10% | p50 / p99 middle | "
            "p50 / p99 last 10% | p50 / p99 / max all (ms) | coordinator CPU ms/page |",
            f"| --- |{run_rule} --- | ---: | ---: | ---: | ---: | ---: | ---: |",
        ]
        for r in listings:
            bands = " | ".join(
                f"{r.get(b + '_p50_ms', '-')} / {r.get(b + '_p99_ms', '-')}"
                for b in ("first10", "middle", "last10")
            )
            lines.append(
                f"| {r['engine']} |{run_of(r, show_run)} {r['layout']} | {r['pages']} | "
                f"{bands} | {r['p50_ms']} / {r['p99_ms']} / {r['max_ms']} | "
                f"{r['coordinator_cpu_ms_per_page']} |"
            )
        lines.append("")
    return "\n".join(lines)


# bench -> (label, field, goal): goal "higher" = throughput (B/A >= 0.95 passes), "" = shown
# for information (lower is better, no pass/fail)
AB_METRICS = {
    "commits": [
        ("commits/s", "commits_per_s", "higher"),
        ("p50 ms", "p50_ms", ""),
        ("p99 ms", "p99_ms", ""),
        ("CPU ms/commit", "coordinator_cpu_ms_per_commit", ""),
        ("loop thread CPU ms/commit", "coordinator_loop_cpu_ms_per_commit", ""),
    ],
    "reads": [
        ("reads/s", "reads_per_s", "higher"),
        ("p50 ms", "p50_ms", ""),
        ("p99 ms", "p99_ms", ""),
        ("CPU ms/read", "coordinator_cpu_ms_per_read", ""),
        ("loop thread CPU ms/read", "coordinator_loop_cpu_ms_per_read", ""),
    ],
    "listing": [
        ("p50 ms", "p50_ms", ""),
        ("p99 ms", "p99_ms", ""),
        ("CPU ms/page", "coordinator_cpu_ms_per_page", ""),
    ],
}
TOLERANCE = 0.05


def ab_summary(results: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per engine, measurement and metric: the medians of A's and B's rounds and B/A."""
    groups: dict[tuple[str, str, str], dict[str, list[dict[str, Any]]]] = {}
    for r in results:
        variant = str(r.get("kind") or r.get("layout") or "")
        groups.setdefault((r["engine"], r["bench"], variant), {}).setdefault(r["side"], []).append(
            r
        )
    rows_ = []
    for (engine, bench, variant), sides in groups.items():
        if "A" not in sides or "B" not in sides:
            continue
        for label, field, goal in AB_METRICS[bench]:
            a = statistics.median(r[field] for r in sides["A"])
            b = statistics.median(r[field] for r in sides["B"])
            ratio = round(b / a, 3) if a else float("nan")
            row: dict[str, Any] = {
                "bench": "ab",
                "engine": engine,
                "measurement": f"{bench} {variant}".strip(),
                "metric": label,
                "rounds": [len(sides["A"]), len(sides["B"])],
                "a_median": round(a, 3),
                "b_median": round(b, 3),
                "b_over_a": ratio,
            }
            if goal == "higher":
                row["within_5pct"] = ratio >= 1 - TOLERANCE
            rows_.append(row)
    return rows_


def ab_markdown(rows_: list[dict[str, Any]], checkouts: list[str]) -> str:
    lines = [f"- {line}" for line in checkouts]
    lines += [
        "",
        "| engine | measurement | metric | rounds A / B | A median | B median | B/A | "
        "goal B/A >= 0.95 |",
        "| --- | --- | --- | ---: | ---: | ---: | ---: | --- |",
    ]
    for r in rows_:
        verdict = "" if "within_5pct" not in r else "yes" if r["within_5pct"] else "**no**"
        lines.append(
            f"| {r['engine']} | {r['measurement']} | {r['metric']} | "
            f"{r['rounds'][0]} / {r['rounds'][1]} | {r['a_median']} | {r['b_median']} | "
            f"{r['b_over_a']} | {verdict} |"
        )
    return "\n".join(lines)
