"""Benchmark harness, evidence: CPU seconds per process and py-spy profiles of WormFS's processes.

``cpu_seconds`` reads a process's user + system CPU time (all its threads) from
``/proc/<pid>/stat``; the runner takes it before and after each WormFS run for every process
of the cluster (gateway workers, storage node, coordinator) and for the client processes, so
each JSON line says how many cores each role used (``cores``) and how many CPU milliseconds
each spent per operation (``cpu_ms_per_op``). ``cpu_stall_us`` reads the kernel's CPU
pressure (PSI): the share of a run during which runnable tasks waited for a core
(``cpu_pressure``) tells a quiet machine from a crowded one.

``Recorder`` runs ``py-spy record --format raw --function --gil --nonblocking`` against some
PIDs for a fixed time (raw = collapsed stacks, one ``frame;frame;...;frame count`` line per
distinct stack). With ``--gil`` only the thread holding the GIL is sampled, so the samples are
where the process's Python CPU time went, and samples / (rate x seconds) is the share of the
time the GIL was held: near 100 %, the process is bound by its one interpreter. ``summarize``
turns one such file into a short text: that share, the functions most often at the top of the
stack (self), and the WormFS functions most often on it (inclusive), which is what
docs/performance.md quotes as profile evidence. Sampling costs the profiled process a little
CPU: profiled runs are for evidence, not for the table.
"""

from __future__ import annotations

import math
import os
import subprocess
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

CLK_TCK = os.sysconf("SC_CLK_TCK")
PYSPY_RATE = 100
PYSPY_GRACE = 30.0
OWN_CODE = ("wormfs/", "gateway/", "storage_node/", "coordinator/")
# Start-up frames every sample of a daemon's main thread passes through: not informative.
ENTRY_CODE = ("wormfs/cli/", "wormfs/runtime/", "app.py:1")
ENTRY_NAMES = ("run (", "<module> (")


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of ``pid`` so far (0.0 once it is gone)."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            stat = fh.read()
    except OSError:
        return 0.0
    fields = stat[stat.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def cpu_stall_us() -> int:
    """Microseconds so far during which some runnable task waited for a CPU (Linux PSI,
    ``/proc/pressure/cpu``, "some" line); 0 where the kernel does not provide it. The share of
    a run's wall time spent so is how busy the machine was with other work too."""
    try:
        with open("/proc/pressure/cpu") as fh:
            for line in fh:
                if line.startswith("some"):
                    return int(line.rsplit("total=", 1)[1])
    except (OSError, ValueError, IndexError):
        pass
    return 0


def cpu_by_role(roles: dict[str, list[int]]) -> dict[str, float]:
    return {role: sum(cpu_seconds(p) for p in pids) for role, pids in roles.items()}


@dataclass
class Recorder:
    """py-spy recordings of several PIDs at once, for ``seconds``."""

    pyspy: Path
    out_dir: Path
    label: str
    seconds: float
    procs: list[tuple[Path, subprocess.Popen[bytes]]] = field(default_factory=list)

    def start(self, pids: dict[str, list[int]]) -> None:
        self.out_dir.mkdir(parents=True, exist_ok=True)
        for role, role_pids in pids.items():
            for pid in role_pids:
                out = self.out_dir / f"{self.label}-{role}-{pid}.raw"
                cmd = [
                    str(self.pyspy),
                    "record",
                    "--pid",
                    str(pid),
                    "--duration",
                    str(max(1, math.ceil(self.seconds))),
                    "--rate",
                    str(PYSPY_RATE),
                    "--format",
                    "raw",
                    "--function",
                    "--gil",
                    "--nonblocking",
                    "--output",
                    str(out),
                ]
                proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                self.procs.append((out, proc))

    def wait(self) -> list[Path]:
        """Wait for every recording (bounded); the files that were written."""
        done = []
        for out, proc in self.procs:
            try:
                proc.wait(self.seconds + PYSPY_GRACE)
            except subprocess.TimeoutExpired:
                proc.terminate()  # our own py-spy child, by its PID
                proc.wait(PYSPY_GRACE)
            if out.exists():
                done.append(out)
        return done


def summarize(raw: Path, seconds: float, top: int = 12) -> str:
    """GIL share, top functions by self samples, top WormFS functions by inclusive samples."""
    inclusive: Counter[str] = Counter()
    own: Counter[str] = Counter()
    total = 0
    for line in raw.read_text(errors="replace").splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = stack.split(";")
        total += count
        own[frames[-1]] += count
        for frame in set(frames):
            inclusive[frame] += count
    if not total:
        return f"{raw.name}: no samples"
    held = total / (PYSPY_RATE * seconds) if seconds else 0.0
    ours = Counter(
        {
            f: c
            for f, c in inclusive.items()
            if any(d in f for d in OWN_CODE)
            and not any(e in f for e in ENTRY_CODE)
            and not f.startswith(ENTRY_NAMES)
        }
    )
    lines = [f"{raw.name}: {total} samples with the GIL held, about {held:.0%} of the time"]
    lines.append("  self (share of GIL-holding samples):")
    lines += [f"    {c / total:6.1%}  {f}" for f, c in own.most_common(top)]
    lines.append("  inclusive, WormFS code:")
    lines += [f"    {c / total:6.1%}  {f}" for f, c in ours.most_common(top)]
    return "\n".join(lines)
