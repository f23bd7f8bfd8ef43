"""The cross-run summary at the top of RESULTS.md: the key number of every phase per run,
and which runs are missing for the 10 vs 50,000 member comparison."""

from __future__ import annotations

from bench.groups import SMALL_GROUP, measured
from bench.phases import LOOKUP_EXTERNAL_ID, LOOKUP_ID, LOOKUP_USER_NAME, SYNC_PAIR, Options
from bench.stats import OpSummary, PhaseSummary, RunRecord

ENGINE_TITLES = {"postgresql": "PostgreSQL", "sqlite": "SQLite"}


def cell(value: object) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:,.1f}" if value >= 100 else f"{value:,.2f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value).replace("|", "\\|")


def run_title(run: RunRecord) -> str:
    return f"{ENGINE_TITLES.get(run.engine, run.engine)}, --users {run.users:,}"


def _phase(run: RunRecord, name: str) -> PhaseSummary | None:
    return next((phase for phase in run.phases if phase.name == name), None)


def _op(phase: PhaseSummary | None, name: str) -> OpSummary | None:
    return phase.op(name) if phase else None


def _p50(op: OpSummary | None) -> str:
    return cell(op.p50_ms if op else None)


def _groups_cells(phase: PhaseSummary | None) -> list[str]:
    ops = measured(phase) if phase else {}
    sizes = sorted({size for _, size in ops if size != SMALL_GROUP})
    if not sizes:
        return ["-", "-", "-"]
    big = sizes[-1]
    cells = [f"{big:,}"]
    for kind in ("add", "remove"):
        small_op, big_op = ops.get((kind, SMALL_GROUP)), ops.get((kind, big))
        ratio = (
            f" ({big_op.p50_ms / small_op.p50_ms:.2f}x)"
            if small_op and big_op and small_op.p50_ms and big_op.p50_ms
            else ""
        )
        cells.append(f"{_p50(small_op)} / {_p50(big_op)}{ratio}")
    return cells


def summary_table(runs: list[RunRecord]) -> list[str]:
    lines = [
        "| run | sync users/s | sync p50 ms | lookup p50 ms: userName / externalId / id "
        "| big group | add p50 ms: 10 / big (ratio) | remove p50 ms: 10 / big (ratio) |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for run in runs:
        sync = _op(_phase(run, "sync"), SYNC_PAIR)
        lookup = _phase(run, "lookup")
        cells = [
            run_title(run),
            cell(sync.ops_per_s if sync else None),
            _p50(sync),
            " / ".join(
                _p50(_op(lookup, n)) for n in (LOOKUP_USER_NAME, LOOKUP_EXTERNAL_ID, LOOKUP_ID)
            ),
            *_groups_cells(_phase(run, "groups")),
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def missing_runs(runs: list[RunRecord]) -> list[str]:
    """Engines without a run at the full big-group size, and what seeding one would take."""
    target = Options().big_group
    lines = []
    for engine, title in ENGINE_TITLES.items():
        mine = [run for run in runs if run.engine == engine]
        if any(run.users >= target for run in mine):
            continue
        line = (
            f"- No {title} run with `--users {target}` is stored: the groups phase of its runs"
            f" compares {SMALL_GROUP} members with fewer than {target:,}."
        )
        sync = _op(_phase(mine[-1], "sync"), SYNC_PAIR) if mine else None
        if sync and sync.ops_per_s:
            minutes = target / sync.ops_per_s / 60
            line += (
                f" At the sync rate of its `--users {mine[-1].users}` run"
                f" ({sync.ops_per_s:,.0f} users/s), seeding {target:,} users alone would take"
                f" about {minutes:,.0f} min."
            )
        lines.append(line)
    return lines
