"""`.venv/bin/python -m bench`: run the benchmark, store the runs, write bench/RESULTS.md.

.venv/bin/python -m bench          # 10,000 users: ours on PostgreSQL and SQLite, then the peers
.venv/bin/python -m bench --quick  # the same, fewer requests per phase
.venv/bin/python -m bench --users 50000 --engine postgresql --peers none  # 10 vs 50,000 members
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import shlex
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import fields, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import uvloop

from bench.auth import auth
from bench.calibration import CPU_AT_END, CPU_AT_START, cpu_check
from bench.ceiling import ceiling
from bench.graphql import graphql
from bench.groups import groups
from bench.listing import listing
from bench.load import make_client
from bench.peers import PEERS, SERVE, Serve, description
from bench.pgstats import settle
from bench.phases import ADMIN_URL, Bench, Options, Phase, PhaseFailed, lookup, sync, warm_up
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
from bench.rivals import SIZES, rivals, sizes
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
from bench.writes import deprovision, update

#: The phases that drive only the run's server. Later phases use the users `sync` created.
PHASES: dict[str, Phase] = {
    "sync": sync,
    "lookup": lookup,
    "update": update,
    "list": listing,
    "groups": groups,
    "deprovision": deprovision,
    "graphql": graphql,
}
#: After the phases, while the server's database still holds the run's users.
CEILING = "ceiling"
#: `auth` also starts a twin server of its own (`bench.auth`), so `_drive` hands it the run's.
AUTH = "auth"
#: Starts the run's peers beside our server (`bench.rivals`); `SIZES` a second server of ours
#: with 10,000 users. Both after every other step.
RIVALS = "rivals"
#: Every step, in run order.
STEPS = [
    "sync",
    "lookup",
    AUTH,
    "update",
    "list",
    "groups",
    "deprovision",
    "graphql",
    CEILING,
    RIVALS,
    SIZES,
]
#: `--quick`: every phase, fewer requests; the same users, so a loop may still take minutes
#: (SQLite seeds 10,000 users in about 5 min: a shorter limit would cut its sync short).
#: 300 searches per kind: with 100, the loop of 16 clients lasted about a tenth of a second
#: on our server, so its start and end weighed on the figure more than the searches did.
QUICK = Options(lookups=1_000, list_queries=300, group_ops=50, phase_seconds=600.0)
BENCH_DIR = Path(__file__).resolve().parent
REPO = BENCH_DIR.parent
#: Options given on the command line, by their `Options` field name.
TUNABLES = ("users", "concurrency", "lookups", "list_queries", "group_ops", "big_group")


def _parser() -> argparse.ArgumentParser:
    defaults = Options()
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n")[0])
    parser.add_argument("--users", type=int, help=f"users sync creates ({defaults.users:,})")
    parser.add_argument("--engine", choices=[*ENGINES, "both", "none"], default="both")
    parser.add_argument(
        "--peers",
        default="all",
        help=f"comma-separated, from {', '.join(PEERS)}; or all (default), or none",
    )
    parser.add_argument(
        "--phases",
        default=",".join(STEPS),
        help=f"comma-separated, from {', '.join(STEPS)} (default: all)",
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help=f"{QUICK.lookups:,} requests per lookup/update kind, {QUICK.list_queries} per "
        f"search kind, {QUICK.group_ops} group PATCHes, {QUICK.phase_seconds:.0f} s per loop",
    )
    parser.add_argument("--concurrency", type=int, help=f"default {defaults.concurrency}")
    parser.add_argument(
        "--lookups", type=int, help=f"requests per lookup, auth, update kind ({defaults.lookups:,})"
    )
    parser.add_argument(
        "--list-queries", type=int, help=f"requests per search kind ({defaults.list_queries})"
    )
    parser.add_argument(
        "--group-ops",
        type=int,
        help=f"measured PATCHes per operation and group ({defaults.group_ops})",
    )
    parser.add_argument("--big-group", type=int, help=f"default {defaults.big_group:,}")
    parser.add_argument(
        "--phase-seconds",
        type=float,
        help=f"time limit of every loop: no request starts after it ({defaults.phase_seconds:.0f})",
    )
    parser.add_argument(
        "--pg-url",
        default=ADMIN_URL,
        help="admin URL of the local PostgreSQL server (the run creates and drops its databases)",
    )
    parser.add_argument("--results-dir", type=Path, default=BENCH_DIR / "results")
    parser.add_argument("--output", type=Path, default=BENCH_DIR / "RESULTS.md")
    parser.add_argument(
        "--report-only",
        action="store_true",
        help="run nothing: rewrite --output from the runs stored in --results-dir",
    )
    return parser


def _options(args: argparse.Namespace) -> Options:
    """`--quick`'s or the default values, overridden by what the command line gives."""
    base = QUICK if args.quick else Options()
    given: dict[str, Any] = {
        name: getattr(args, name) for name in TUNABLES if getattr(args, name) is not None
    }
    if args.phase_seconds is not None:
        given["phase_seconds"] = args.phase_seconds
    assert {f.name for f in fields(Options)} >= set(given)
    return replace(base, **given)


def _info(message: str) -> None:
    print(f"bench: {message}", file=sys.stderr, flush=True)


async def _step(name: str, bench: Bench) -> PhaseSummary:
    try:
        return await PHASES[name](bench)
    except PhaseFailed as exc:
        return PhaseSummary(name, [], [f"failed: {exc}"])


async def _drive(
    engine: str, server: Running, options: Options, names: list[str], log_dir: Path
) -> list[PhaseSummary]:
    async with make_client(server.target, options.concurrency) as client:
        bench = Bench(client, server.target, options)
        setup: list[OpResult] = [*server.setup, *await warm_up(bench)]
        summaries = [PhaseSummary("setup", [op.summary() for op in setup])]
        for name in names:
            if name in server.unsupported:
                summaries.append(PhaseSummary(name, [], [f"not run: {server.unsupported[name]}"]))
                continue
            _info(f"phase {name} …")
            started = time.monotonic()
            if name == CEILING:
                summary = await ceiling(bench, server, log_dir)
            elif name == AUTH:
                summary = await auth(bench, server, log_dir)
            elif name == RIVALS:
                summary = await rivals(bench, engine, log_dir)
            elif name == SIZES:
                summary = await sizes(bench, engine, log_dir)
            else:
                summary = await _step(name, bench)
            summary.notes.append(f"phase took {time.monotonic() - started:,.1f} s")
            if name == "sync":
                summary.notes.extend(await settle(server.target.database_url))
            _info("\n".join([f"phase {name} done:", *phase_table(summary)]))
            summaries.append(summary)
        return summaries


def run_server(
    name: str,
    version: str,
    serve: Serve,
    admin_url: str,
    options: Options,
    names: list[str],
    command: str,
) -> RunRecord:
    """One server (ours on an engine, or a peer) through every phase."""
    started_at = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    started = time.monotonic()
    facts = machine(REPO, version)
    facts[CPU_AT_START] = cpu_check()
    with (
        tempfile.TemporaryDirectory(prefix="dwtf-bench-logs-") as logs,
        serve(admin_url, Path(logs)) as server,
    ):
        _info(f"{name}: {server.workers} worker(s) on port {server.target.port}")
        # The load generator on uvloop: on asyncio's own loop aiohttp's client spent 113-148 us
        # of CPU per request against 84-93 (GET, 16 at once), CPU taken from the cores the
        # server under test runs on (an IdP's client runs on a machine of its own).
        with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
            phases = runner.run(_drive(name, server, options, names, Path(logs)))
        errors, samples = log_problems(server.log)
    memory = server.memory.summary() if server.memory else None
    setup = phases[0]
    setup.notes.append(f"{server.workers} worker(s)")
    setup.notes.append(f"server log: {errors} error line(s)")
    setup.notes.extend(f"server log: `{line[:200]}`" for line in samples)
    facts["load average (1/5/15 min) at end"] = load_average()
    facts[CPU_AT_END] = cpu_check()
    return RunRecord(
        engine=name,
        users=options.users,
        command=command,
        started_at=started_at,
        duration_s=round(time.monotonic() - started, 1),
        machine=facts,
        phases=phases,
        memory=memory,
    )


def _ours(engine: str) -> Serve:
    @contextlib.contextmanager
    def serve(admin_url: str, log_dir: Path) -> Iterator[Running]:
        with running(engine, admin_url, log_dir) as server:
            yield server

    return serve


def _peers(args: argparse.Namespace) -> list[str] | str:
    """The peers `--peers` names, or what is wrong with it."""
    peers = [p.strip() for p in args.peers.split(",") if p.strip()]
    peers = list(PEERS) if peers == ["all"] else [] if peers == ["none"] else peers
    if unknown := [p for p in peers if p not in PEERS]:
        return f"unknown peer(s): {', '.join(unknown)}"
    return peers


def _servers(args: argparse.Namespace, peers: list[str]) -> list[tuple[str, str, Serve]]:
    """(name, version, serve) of every server to run."""
    engines = (
        [] if args.engine == "none" else list(ENGINES) if args.engine == "both" else [args.engine]
    )
    if args.report_only:
        return []
    pg = f"PostgreSQL {postgres_version(args.pg_url)}"
    servers: list[tuple[str, str, Serve]] = []
    for engine in engines:
        version = pg if engine == "postgresql" else f"SQLite {sqlite_version()}"
        servers.append((engine, f"{version}; argon2 at its default cost", _ours(engine)))
    servers += [(peer, f"{pg} server; {description(peer)}", SERVE[peer]) for peer in peers]
    return servers


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    names = [name.strip() for name in args.phases.split(",") if name.strip()]
    if unknown := [name for name in names if name not in STEPS]:
        _info(f"unknown phase(s): {', '.join(unknown)}")
        return 2
    names = [name for name in STEPS if name in names]
    options = _options(args)
    if min(getattr(options, name) for name in TUNABLES) < 1:
        _info(f"{', '.join('--' + n.replace('_', '-') for n in TUNABLES)} must be positive")
        return 2
    given = sys.argv[1:] if argv is None else list(argv)
    command = shlex.join([".venv/bin/python", "-m", "bench", *given])
    try:
        check_loopback(args.pg_url)
        peers = _peers(args)
        if isinstance(peers, str):
            _info(peers)
            return 2
        options = replace(options, rivals=tuple(peers), admin_url=args.pg_url)
        servers = _servers(args, peers)
        for name, version, serve in servers:
            record = run_server(name, version, serve, args.pg_url, options, names, command)
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
