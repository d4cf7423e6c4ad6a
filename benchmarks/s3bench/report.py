"""Benchmark harness, report: best run per cell and target, ratios, targets, markdown, doc update.

Each cell runs ``reps`` times against each store, alternating (A B A B). ``summarize`` keeps,
per cell and store, the run with the most operations per second (the *best* of the runs, not
the mean: on a shared machine other processes only ever slow a run down, so the best run is
the closest to what the store can do, and both stores get the same rule); the JSON lines keep
every run. The ratio is WormFS's ops/s over the peer's (for a fixed object size the same as
the MB/s ratio).

``update_doc`` replaces the text between ``BEGIN_MARK`` and ``END_MARK`` in a markdown file
(docs/performance.md's "S3 end to end" section) and nothing else; the file is re-read right
before it is written, so concurrent edits to other sections are kept.
"""

from __future__ import annotations

import os
import platform
import subprocess
import time
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

from .pool import CellResult

KIB = 1024
MIB = 1024 * KIB
GIB = 1024 * MIB
BEGIN_MARK = "<!-- s3bench:begin (written by benchmarks/runner.py; edit outside the markers) -->"
END_MARK = "<!-- s3bench:end -->"


@dataclass(frozen=True)
class Target:
    """A throughput target of the performance issue: absolute floor and ratio to the peer."""

    op: str
    size: int
    concurrency: int
    metric: str  # "mb_per_s" or "ops_per_s"
    floor: float
    ratio: float

    @property
    def cell(self) -> tuple[str, int, int]:
        return (self.op, self.size, self.concurrency)


TARGETS = (
    Target("put", 64 * MIB, 8, "mb_per_s", 450, 3),
    Target("get", 64 * MIB, 8, "mb_per_s", 900, 3),
    Target("put", 4 * KIB, 32, "ops_per_s", 2000, 20),
    Target("get", 4 * KIB, 32, "ops_per_s", 5000, 20),
)
RSS_TARGET_MB = 300


def size_label(size: int) -> str:
    for unit, name in ((GIB, "GiB"), (MIB, "MiB"), (KIB, "KiB")):
        if size >= unit and size % unit == 0:
            return f"{size // unit} {name}"
    return f"{size} B"


def parse_size(text: str) -> int:
    """``4KiB``, ``64MiB``, ``1GiB`` (or ``k``/``m``/``g``, or plain bytes) to bytes."""
    value = text.strip().lower().replace(" ", "")
    for suffix, unit in (("gib", GIB), ("mib", MIB), ("kib", KIB), ("g", GIB), ("m", MIB)):
        if value.endswith(suffix):
            return int(float(value[: -len(suffix)]) * unit)
    if value.endswith("k"):
        return int(float(value[:-1]) * KIB)
    return int(value)


Cell = tuple[str, int, int]  # (op, size, concurrency)


def best_runs(results: list[CellResult]) -> dict[tuple[Cell, str], CellResult]:
    """Per (cell, target): the run with the highest ops/s."""
    best: dict[tuple[Cell, str], CellResult] = {}
    for r in results:
        key = ((r.op, r.size, r.concurrency), r.target)
        if key not in best or r.ops_per_s > best[key].ops_per_s:
            best[key] = r
    return best


def _fmt(value: float) -> str:
    if value >= 100:
        return f"{value:,.0f}"
    if value >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}"


def _lat(r: CellResult | None) -> str:
    return f"{_fmt(r.p50_ms)} / {_fmt(r.p99_ms)}" if r else "-"


def results_table(
    cells: list[Cell], results: list[CellResult], peer: str | None, peer_label: str
) -> str:
    best = best_runs(results)
    head = "| op | size | clients | WormFS ops/s | WormFS MB/s | WormFS p50 / p99 ms |"
    rule = "| --- | --- | ---: | ---: | ---: | ---: |"
    if peer:
        head += f" {peer_label} ops/s | {peer_label} MB/s | {peer_label} p50 / p99 ms |"
        head += f" WormFS / {peer_label} |"
        rule += " ---: | ---: | ---: | ---: |"
    lines = [head, rule]
    for cell in cells:
        op, size, conc = cell
        ours = best.get((cell, "wormfs"))
        size_text = f"{size} keys/page" if op == "list" else size_label(size)
        row = [op, size_text, str(conc)]
        row += [_ops(ours), _mb(ours, op), _lat(ours)]
        if peer:
            theirs = best.get((cell, peer))
            row += [_ops(theirs), _mb(theirs, op), _lat(theirs), _ratio(ours, theirs)]
        lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines)


def _ops(r: CellResult | None) -> str:
    if r is None:
        return "-"
    text = _fmt(r.ops_per_s)
    return f"{text} ({r.errors} err)" if r.errors else text


def _mb(r: CellResult | None, op: str) -> str:
    if r is None or op in ("head", "delete", "list"):
        return "-"
    return _fmt(r.mb_per_s)


def _ratio(ours: CellResult | None, theirs: CellResult | None) -> str:
    if ours is None or theirs is None or theirs.ops_per_s <= 0:
        return "-"
    return f"{ours.ops_per_s / theirs.ops_per_s:.1f}x"


def targets_table(results: list[CellResult], peer: str | None, peer_label: str) -> str:
    best = best_runs(results)
    lines = [
        f"| target | needed | WormFS | {peer_label} | ratio | met? |",
        "| --- | --- | ---: | ---: | ---: | --- |",
    ]
    for t in TARGETS:
        ours = best.get((t.cell, "wormfs"))
        theirs = best.get((t.cell, peer)) if peer else None
        unit = "MB/s" if t.metric == "mb_per_s" else "ops/s"
        name = f"{t.op.upper()} {size_label(t.size)}, {t.concurrency} clients"
        needed = f">= {t.floor:,.0f} {unit} and >= {t.ratio:.0f}x"
        if ours is None:
            lines.append(f"| {name} | {needed} | not run | - | - | - |")
            continue
        value = getattr(ours, t.metric)
        other = getattr(theirs, t.metric) if theirs else 0.0
        ratio = value / other if other > 0 else 0.0
        floor_ok = value >= t.floor and not ours.errors
        ratio_ok = ratio >= t.ratio if theirs else False
        verdict = "yes" if floor_ok and ratio_ok else "no"
        if not (floor_ok and ratio_ok):
            missed = [w for w, ok in (("floor", floor_ok), ("ratio", ratio_ok)) if not ok]
            verdict += f" ({' and '.join(missed)} missed)"
        lines.append(
            f"| {name} | {needed} | {_fmt(value)} {unit} | "
            f"{_fmt(other) + ' ' + unit if theirs else '-'} | "
            f"{f'{ratio:.1f}x' if theirs else '-'} | {verdict} |"
        )
    return "\n".join(lines)


def cpu_table(
    cells: list[Cell], results: list[CellResult], cores: int, peer: str | None, peer_label: str
) -> str:
    """CPU milliseconds per operation by WormFS process role (and the peer's, all processes
    together), and the ceiling they imply.

    CPU time (user + system, ``/proc``) over the whole run divided by every successful
    operation of the run, warm-up included. A ceiling is ``cores`` x 1000 ms over the store's
    total plus the client's: the most operations per second this machine could do if nothing
    else ran and every core were busy.
    """
    best = best_runs(results)
    roles = ("client", "gateway", "coordinator", "storage-node")
    head = "| op | size | clients | " + " | ".join(f"{r} ms" for r in roles)
    head += f" | WormFS total ms | WormFS ceiling on {cores} cores |"
    rule = "| --- | --- | ---: |" + " ---: |" * (len(roles) + 2)
    if peer:
        head += f" {peer_label} ms | {peer_label} ceiling |"
        rule += " ---: | ---: |"
    lines = [head, rule]
    for cell in cells:
        r = best.get((cell, "wormfs"))
        if r is None or not r.cpu_ms_per_op:
            continue
        op, size, conc = cell
        size_text = f"{size} keys/page" if op == "list" else size_label(size)
        per = [r.cpu_ms_per_op.get(role, 0.0) for role in roles]
        total = sum(per[1:])
        row = f"| {op} | {size_text} | {conc} | " + " | ".join(f"{v:.2f}" for v in per)
        row += f" | {total:.2f} | {_ceiling(cores, total + per[0], op, size)} |"
        theirs = best.get((cell, peer)) if peer else None
        if peer:
            if theirs is not None and "peer" in theirs.cpu_ms_per_op:
                mine = theirs.cpu_ms_per_op["peer"]
                client = theirs.cpu_ms_per_op.get("client", 0.0)
                row += f" {mine:.2f} | {_ceiling(cores, mine + client, op, size)} |"
            else:
                row += " - | - |"
        lines.append(row)
    return "\n".join(lines)


def _ceiling(cores: int, ms_per_op: float, op: str, size: int) -> str:
    if ms_per_op <= 0:
        return "-"
    ops = cores * 1000 / ms_per_op
    text = f"{ops:,.0f} ops/s"
    if op in ("put", "get") and size >= MIB:
        text += f" ({ops * size / 1e6:,.0f} MB/s)"
    return text


# ---- environment --------------------------------------------------------------------------------
def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "?"


def _mem_gib() -> float:
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemTotal:"):
                    return int(line.split()[1]) / (1024 * 1024)
    except OSError:
        pass
    return 0.0


def _version(dist: str) -> str:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return "?"


def _git_revision(repo: Path) -> str:
    try:
        rev = subprocess.run(
            ["git", "-C", str(repo), "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            timeout=10,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(repo), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            timeout=30,
        ).stdout.strip()
    except (OSError, subprocess.TimeoutExpired):
        return "?"
    return f"{rev}{' + uncommitted changes' if dirty else ''}" if rev else "?"


def environment(repo: Path) -> dict[str, str]:
    """Machine and software facts for the report."""
    return {
        "date": time.strftime("%Y-%m-%d %H:%M %Z"),
        "machine": f"{os.cpu_count()} cores, {_cpu_model()}, {_mem_gib():.1f} GiB RAM",
        "kernel": platform.release(),
        "python": platform.python_version(),
        "wormfs": f"{_version('wormfs')} (git {_git_revision(repo)})",
        "libraries": ", ".join(
            f"{d} {_version(d)}" for d in ("aiohttp", "uvloop", "pyeclib", "msgspec", "sqlalchemy")
        ),
    }


def load_average() -> str:
    try:
        return " ".join(f"{x:.1f}" for x in os.getloadavg())
    except OSError:
        return "?"


# ---- doc ---------------------------------------------------------------------------------------
def update_doc(path: Path, body: str) -> bool:
    """Replace the text between the markers in ``path``; False (file untouched) if absent."""
    if not path.exists():
        return False
    text = path.read_text()
    start = text.find(BEGIN_MARK)
    end = text.find(END_MARK, start + 1)
    if start < 0 or end < 0:
        return False
    new = text[: start + len(BEGIN_MARK)] + "\n" + body.strip() + "\n" + text[end:]
    # Re-read just before writing: keep whatever others wrote meanwhile outside the markers.
    if path.read_text() != text:
        return update_doc(path, body)
    path.write_text(new)
    return True
