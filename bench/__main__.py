"""`.venv/bin/python -m bench`: run the benchmark, store the runs, write bench/RESULTS.md.

.venv/bin/python -m bench                                  # 10,000 users, both engines
.venv/bin/python -m bench --users 50000 --engine postgresql  # groups of 10 vs 50,000
"""

from __future__ import annotations

import argparse
import asyncio
import shlex
import sys
import tempfile
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

from bench.groups import groups
from bench.load import make_client
from bench.phases import Bench, Options, Phase, PhaseFailed, lookup, sync, warm_up
from bench.report import (
    load_average,
    load_notes,
    load_runs,
    machine,
    phase_table,
    render_results,
    render_run,
    save_run,
)
from bench.server import (
    ENGINES,
    Running,
    ServerError,
    check_loopback,
    log_problems,
    postgres_version,
    running,
    sqlite_version,
)
from bench.stats import OpResult, PhaseSummary, RunRecord

#: In run order: later phases use the users `sync` created.
PHASES: dict[str, Phase] = {"sync": sync, "lookup": lookup, "groups": groups}
BENCH_DIR = Path(__file__).resolve().parent
REPO = BENCH_DIR.parent
DEFAULT_PG = "postgresql://postgres@127.0.0.1:5432/postgres"


def _parser() -> argparse.ArgumentParser:
    defaults = Options()
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n")[0])
    parser.add_argument("--users", type=int, default=defaults.users, help="users sync creates")
    parser.add_argument("--engine", choices=[*ENGINES, "both"], default="both")
    parser.add_argument(
        "--phases",
        default=",".join(PHASES),
        help=f"comma-separated, from {', '.join(PHASES)} (default: all)",
    )
    parser.add_argument("--concurrency", type=int, default=defaults.concurrency)
    parser.add_argument(
        "--lookups", type=int, default=defaults.lookups, help="requests per lookup kind"
    )
    parser.add_argument(
        "--group-ops",
        type=int,
        default=defaults.group_ops,
        help="measured add and remove PATCHes per group",
    )
    parser.add_argument("--big-group", type=int, default=defaults.big_group)
    parser.add_argument(
        "--phase-seconds",
        type=float,
        default=defaults.phase_seconds,
        help="time limit of every loop: no request starts after it",
    )
    parser.add_argument(
        "--pg-url",
        default=DEFAULT_PG,
        help="admin URL of the local PostgreSQL server (the run creates and drops its database)",
    )
    parser.add_argument("--results-dir", type=Path, default=BENCH_DIR / "results")
    parser.add_argument("--output", type=Path, default=BENCH_DIR / "RESULTS.md")
    parser.add_argument(
        "--report-only",
        action="store_true",
        help="run nothing: rewrite --output from the runs stored in --results-dir",
    )
    return parser


def _info(message: str) -> None:
    print(f"bench: {message}", file=sys.stderr, flush=True)


async def _drive(server: Running, options: Options, names: list[str]) -> list[PhaseSummary]:
    async with make_client(server.target, options.concurrency) as client:
        bench = Bench(client, options)
        setup: list[OpResult] = [*server.setup, *await warm_up(bench)]
        summaries = [PhaseSummary("setup", [op.summary() for op in setup])]
        for name in names:
            _info(f"phase {name} …")
            started = time.monotonic()
            try:
                summary = await PHASES[name](bench)
            except PhaseFailed as exc:
                summary = PhaseSummary(name, [], [f"failed: {exc}"])
            summary.notes.append(f"phase took {time.monotonic() - started:,.1f} s")
            _info("\n".join([f"phase {name} done:", *phase_table(summary)]))
            summaries.append(summary)
        return summaries


def run_engine(
    engine: str, options: Options, names: list[str], admin_url: str, command: str
) -> RunRecord:
    version = (
        f"PostgreSQL {postgres_version(admin_url)}"
        if engine == "postgresql"
        else f"SQLite {sqlite_version()}"
    )
    started_at = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    started = time.monotonic()
    facts = machine(REPO, version)
    with (
        tempfile.TemporaryDirectory(prefix="dwtf-bench-logs-") as logs,
        running(engine, admin_url, Path(logs)) as server,
    ):
        _info(f"{engine}: {server.workers} worker(s) on port {server.target.port}")
        phases = asyncio.run(_drive(server, options, names))
        errors, samples = log_problems(server.log)
    setup = phases[0]
    setup.notes.append(f"{server.workers} uvicorn worker(s); argon2 at its default cost")
    setup.notes.append(f"server log: {errors} error line(s)")
    setup.notes.extend(f"server log: `{line[:200]}`" for line in samples)
    facts["load average (1/5/15 min) at end"] = load_average()
    return RunRecord(
        engine=engine,
        users=options.users,
        command=command,
        started_at=started_at,
        duration_s=round(time.monotonic() - started, 1),
        machine=facts,
        phases=phases,
    )


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    names = [name.strip() for name in args.phases.split(",") if name.strip()]
    unknown = [name for name in names if name not in PHASES]
    if unknown:
        _info(f"unknown phase(s): {', '.join(unknown)}")
        return 2
    names = [name for name in PHASES if name in names]
    if min(args.users, args.concurrency, args.lookups, args.group_ops, args.big_group) < 1:
        _info("--users, --concurrency, --lookups, --group-ops and --big-group must be positive")
        return 2
    options = Options(
        users=args.users,
        concurrency=args.concurrency,
        lookups=args.lookups,
        group_ops=args.group_ops,
        big_group=args.big_group,
        phase_seconds=args.phase_seconds,
    )
    engines = [] if args.report_only else list(ENGINES) if args.engine == "both" else [args.engine]
    given = sys.argv[1:] if argv is None else list(argv)
    command = shlex.join([".venv/bin/python", "-m", "bench", *given])
    try:
        if "postgresql" in engines:
            check_loopback(args.pg_url)
        for engine in engines:
            record = run_engine(engine, options, names, args.pg_url, command)
            path = save_run(record, args.results_dir)
            print(render_run(record), flush=True)
            _info(f"stored {path}")
    except ServerError as exc:
        _info(f"error: {exc}")
        return 1
    runs = load_runs(args.results_dir)
    args.output.write_text(render_results(runs, load_notes(args.results_dir)))
    _info(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
