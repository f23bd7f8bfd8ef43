"""Machine facts, the tables, and `bench/RESULTS.md` rendered from every stored run."""

from __future__ import annotations

import json
import os
import platform
import shutil
import subprocess
import sys
from pathlib import Path

from bench.stats import OpSummary, PhaseSummary, RunRecord
from bench.summary import (
    ENGINE_TITLES,
    cell,
    checks_table,
    machine_table,
    missing_runs,
    peer_table,
    rivals_table,
    run_title,
    summary_table,
)

#: Hand-written observations kept across runs, rendered after the summary.
NOTES_FILE = "notes.md"
COLUMNS = (
    "operation",
    "n",
    "errors",
    "wall s",
    "ops/s",
    "p50 ms",
    "p95 ms",
    "p99 ms",
    "min ms",
    "mean ms",
    "max ms",
)


def _git(repo: Path, *args: str) -> str:
    git = shutil.which("git")
    if git is None:
        return ""
    result = subprocess.run(  # noqa: S603 -- git, fixed arguments
        [git, "-C", str(repo), *args], capture_output=True, text=True, check=False
    )
    return result.stdout.strip() if result.returncode == 0 else ""


def git_commit(repo: Path) -> str:
    commit = _git(repo, "rev-parse", "--short=12", "HEAD") or "unknown"
    changed = _git(repo, "status", "--porcelain", "--", ".", ":(exclude)bench")
    count = len(changed.splitlines()) if changed else 0
    return f"{commit} (+ {count} uncommitted paths outside bench/)" if count else commit


def _meminfo() -> str:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
    except OSError:
        pass
    return "unknown"


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def load_average() -> str:
    return " ".join(f"{v:.2f}" for v in os.getloadavg())


def machine(repo: Path, database_version: str) -> dict[str, str]:
    return {
        "nproc": str(len(os.sched_getaffinity(0))),
        "cpu": _cpu_model(),
        "memory": _meminfo(),
        "os": f"{platform.system()} {platform.release()}",
        "python": sys.version.split()[0],
        "database": database_version,
        "git commit": git_commit(repo),
        "load average (1/5/15 min) at start": load_average(),
    }


def figure(name: str, value: float) -> str:
    """Ratios ("a/b", "a / b") read as 1.23x; counts per request as plain numbers."""
    return f"{value:.2f}x" if "/" in name else f"{value:g}"


def _row(op: OpSummary) -> str:
    values = (
        op.name,
        op.count,
        op.errors,
        op.elapsed_s,
        op.ops_per_s,
        op.p50_ms,
        op.p95_ms,
        op.p99_ms,
        op.min_ms,
        op.mean_ms,
        op.max_ms,
    )
    return "| " + " | ".join(cell(v) for v in values) + " |"


def phase_table(phase: PhaseSummary) -> list[str]:
    lines = [
        "| " + " | ".join(COLUMNS) + " |",
        "|" + "|".join(["---"] + ["---:"] * (len(COLUMNS) - 1)) + "|",
    ]
    lines += [_row(op) for op in phase.ops]
    lines += [""] + [f"- {note}" for note in phase.notes]
    lines += [f"- **{name}: {figure(name, value)}**" for name, value in phase.figures.items()]
    for op in phase.ops:
        lines += [f"- error in {op.name}: `{sample}`" for sample in op.error_samples]
    return lines


def render_run(run: RunRecord) -> str:
    lines = [
        f"## {run_title(run)}",
        "",
        f"Command: `{run.command}`  ",
        f"Started {run.started_at}, {run.duration_s:,.0f} s in all.",
        "",
        f"Server memory: {run.memory.describe() if run.memory else 'not measured'}.",
        "",
    ]
    lines += ["| machine | |", "|---|---|"]
    lines += [f"| {key} | {cell(value)} |" for key, value in run.machine.items()]
    for phase in run.phases:
        lines += ["", f"### {run_title(run)}: {phase.name}", "", *phase_table(phase)]
    return "\n".join(lines) + "\n"


HEADER = """# Benchmark results

Written by `.venv/bin/python -m bench` (see `bench/__init__.py` and the README's "Benchmark"
section) from the runs stored in `bench/results/*.json`, which also hold the individual
latencies of every operation with at most 1,000 samples. Latencies are client-side (aiohttp on
the same machine, keep-alive, `Host: bench.localhost:<port>`); "wall s" is the wall-clock time
of the loop the operation ran in, and ops/s is n / wall s (for one-at-a-time operations,
1 / mean latency).

**These numbers were taken on a shared 2-core machine**: other engineers' test suites ran
beside the benchmark, and the load generator shares the cores with the server and the
database. Compare rows within one run (as the groups phase does, interleaving its requests);
treat absolute throughput as a lower bound.
"""


def load_notes(results_dir: Path) -> str:
    path = results_dir / NOTES_FILE
    return path.read_text() if path.exists() else ""


def load_runs(results_dir: Path) -> list[RunRecord]:
    runs = [
        RunRecord.from_json(json.loads(path.read_text()))
        for path in sorted(results_dir.glob("*.json"))
    ]
    order = {name: i for i, name in enumerate(ENGINE_TITLES)}
    return sorted(runs, key=lambda r: (r.users, order.get(r.engine, 99)))


def render_results(runs: list[RunRecord], notes: str = "") -> str:
    """The whole file; `notes` (hand-written `results/notes.md`) follows the summary."""
    lines = [HEADER, "## Summary", "", *summary_table(runs), ""]
    lines += missing_runs(runs)
    lines += ["", "## Issue 6 targets, per run of our server", "", *checks_table(runs), ""]
    lines += ["## Ours vs the peers", "", *rivals_table(runs), *peer_table(runs)]
    lines += ["## The machine during each run", "", *machine_table(runs), ""]
    if notes.strip():
        lines += ["", notes.strip()]
    return "\n".join(lines) + "\n" + "".join("\n" + render_run(run) for run in runs)


def save_run(run: RunRecord, results_dir: Path) -> Path:
    results_dir.mkdir(parents=True, exist_ok=True)
    path = results_dir / f"{run.engine}-{run.users}.json"
    path.write_text(json.dumps(run.to_json(), indent=1) + "\n")
    return path
