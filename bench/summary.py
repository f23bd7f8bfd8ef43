"""The cross-run summary at the top of RESULTS.md: the key number of every phase per run,
which runs are missing for the 10 vs 50,000 member comparison, ours against the peers, and
the ratios and the memory limit issue 6 sets."""

from __future__ import annotations

from dataclasses import dataclass

from bench.calibration import CPU_AT_END, CPU_AT_START
from bench.ceiling import AUDITED_WRITE, ONE_WRITE
from bench.cpu import PARTS as CPU_PARTS
from bench.graphql import FIRST_PAGE as GRAPHQL_FIRST
from bench.groups import SMALL_GROUP, measured
from bench.listing import CONTAINS, FIRST_PAGE, STARTS_WITH, WALK
from bench.phases import LOOKUP_EXTERNAL_ID, LOOKUP_ID, LOOKUP_USER_NAME, SYNC_PAIR, Options
from bench.rivals import KINDS as RIVAL_KINDS
from bench.rivals import MEASURED, PROJECTED, SIZED_KINDS, SIZES, SMALL, op_name
from bench.rivals import NAME as RIVALS
from bench.stats import OpSummary, PhaseSummary, RunRecord
from bench.writes import DEPROVISION, UPDATE_EMAIL, UPDATE_PATCH, UPDATE_PUT

ENGINE_TITLES = {
    "postgresql": "PostgreSQL",
    "sqlite": "SQLite",
    "scim2-server": "peer scim2-server",
    "django-scim2": "peer django-scim2",
}


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
        if engine not in OURS:
            continue
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


#: Issue 6: "server RSS per worker stays under 300 MB through the 100,000-user run".
RSS_PER_WORKER_MB = 300


def _rss_per_worker(run: RunRecord) -> str:
    if run.memory is None:
        return "not measured"
    peak = run.memory.worker_peak_mb
    return f"{peak:,.0f} ({'ok' if peak < RSS_PER_WORKER_MB else 'over'})"


#: The one number per phase the peers are compared on (ops/s, higher is better), and the
#: lead issue 6 asks for over the best peer.
@dataclass(frozen=True)
class Key:
    phase: str
    op: str
    lead: float


def _big_add(phase: PhaseSummary | None) -> OpSummary | None:
    ops = measured(phase) if phase else {}
    adds = sorted(size for kind, size in ops if kind == "add" and size != SMALL_GROUP)
    return ops.get(("add", adds[-1])) if adds else None


KEYS = (
    Key("sync", SYNC_PAIR, 2),
    Key("lookup", LOOKUP_USER_NAME, 2),
    Key("update", UPDATE_PATCH, 2),
    Key("update", UPDATE_EMAIL, 2),
    Key("update", UPDATE_PUT, 2),
    Key("list", WALK, 10),
    Key("list", CONTAINS, 10),
    Key("list", STARTS_WITH, 10),
    Key("groups", "PATCH add 1 member, big group", 10),
    Key("deprovision", DEPROVISION, 2),
)
OURS = ("postgresql", "sqlite")


def _key_op(run: RunRecord, key: Key) -> OpSummary | None:
    phase = _phase(run, key.phase)
    return _big_add(phase) if key.phase == "groups" else _op(phase, key.op)


def _rate(op: OpSummary | None) -> float | None:
    return op.ops_per_s if op and not op.errors else None


def peer_table(runs: list[RunRecord]) -> list[str]:
    """Per user count: our ops/s, the best peer's, and the ratio, per key operation."""
    lines: list[str] = []
    for users in sorted({run.users for run in runs}):
        same = {run.engine: run for run in runs if run.users == users}
        peers = [run for engine, run in same.items() if engine not in OURS]
        ours = [same[engine] for engine in OURS if engine in same]
        if not peers or not ours:
            continue
        titles = " | ".join(f"{ENGINE_TITLES.get(r.engine, r.engine)} ops/s" for r in ours)
        peer_titles = " | ".join(f"{r.engine} ops/s" for r in peers)
        lines += [
            f"### {users:,} users: ours vs the peers (ops/s; ratio to the best peer)",
            "",
            f"| operation | {titles} | {peer_titles} | ratio | issue 6 asks |",
            "|---|" + "---:|" * (len(ours) + len(peers) + 2),
        ]
        for key in KEYS:
            peer_rates = [_rate(_key_op(run, key)) for run in peers]
            best = max((rate for rate in peer_rates if rate), default=None)
            our_rates = [_rate(_key_op(run, key)) for run in ours]
            ratios = [f"{rate / best:.2f}x" if rate and best else "-" for rate in our_rates]
            cells = [key.op, *map(cell, our_rates), *map(cell, peer_rates)]
            cells += [" / ".join(ratios), f">= {key.lead:g}x"]
            lines.append("| " + " | ".join(cells) + " |")
        lines += _write_ceiling_rows(ours, peers)
        lines += [
            "",
            "ops/s of an operation with errors are left out (`-`); groups: adding one member to"
            " the big group, one request at a time. Ratio: ours (PostgreSQL / SQLite) over the"
            " best peer.",
            "",
        ]
    return lines


def rivals_table(runs: list[RunRecord]) -> list[str]:
    """Per run of ours with a rivals phase: each key operation's ops/s on every server, taken
    in turns in that phase (`bench.rivals`), and ours over the best peer's."""
    leads = {key.op: key.lead for key in KEYS}
    lines: list[str] = []
    for run in runs:
        phase = _phase(run, RIVALS)
        if run.engine not in OURS or phase is None or not phase.ops:
            continue
        servers = list(dict.fromkeys(op.name.split(": ", 1)[0] for op in phase.ops))
        titles = " | ".join(f"{server} ops/s" for server in servers)
        lines += [
            f"### {run_title(run)}, {run.started_at}: every server in turns",
            "",
            f"| operation | {titles} | ours / best peer | issue 6 asks |",
            "|---|" + "---:|" * (len(servers) + 2),
        ]
        for kind in RIVAL_KINDS:
            rates = [_rate(_op(phase, op_name(server, kind))) for server in servers]
            ratio = _figure_cell(phase, kind, MEASURED)
            lines.append(_row([kind, *map(cell, rates), ratio, f">= {leads[kind]:g}x"]))
        lines += ["", *_cpu_table(phase, servers)]
    if lines:
        lines.append(
            "ops/s of a server with errors are left out (`-`). The ratio of an operation is"
            " taken from requests sent in turns, so the machine's drift weighs on every server"
            " alike; the tables below compare runs made one after the other."
        )
        lines.append("")
    return lines


def _row(cells: list[str]) -> str:
    return "| " + " | ".join(cells) + " |"


def _figure_cell(phase: PhaseSummary, kind: str, figure: str) -> str:
    """A rivals phase's ratio of `kind` (`bench.rivals._figures`)."""
    ratio = phase.figures.get(f"{kind}: {figure}")
    return f"{ratio:.2f}x" if ratio else "-"


def _cpu_cell(op: OpSummary | None) -> str:
    cpu = op.cpu_us_per_op if op else None
    if not cpu:
        return "-"
    spent = " / ".join(f"{cpu[part]:,.0f}" for part in CPU_PARTS)
    return f"{spent} ({cpu['cores']:.2f})"


def _cpu_table(phase: PhaseSummary, servers: list[str]) -> list[str]:
    """The rivals phase's CPU per request (`bench.cpu`), where it was measured."""
    if not any(op.cpu_us_per_op for op in phase.ops):
        return []
    lines = [
        "CPU per request in the same turns, us: server / database / load generator (cores busy):",
        "",
        f"| operation | {' | '.join(servers)} | ours / best peer, a core per worker |",
        "|---|" + "---:|" * (len(servers) + 1),
    ]
    for kind in RIVAL_KINDS:
        cells = [_cpu_cell(_op(phase, op_name(server, kind))) for server in servers]
        lines.append(_row([kind, *cells, _figure_cell(phase, kind, PROJECTED)]))
    lines += [
        "",
        "The last column is a projection from these figures, not a measurement: each server's"
        " rate if every worker of it had a core of its own (its workers over its server CPU per"
        " request), the database and the load generator theirs (`bench.rivals._figures`).",
        "",
    ]
    return lines


def _write_ceiling_rows(ours: list[RunRecord], peers: list[RunRecord]) -> list[str]:
    """The write ceilings (`bench.ceiling`) beside the peers' PATCH: what the PATCH target
    would ask of a server that did nothing but store the change (durably; then also as
    DESIGN.md asks, locked and audited)."""
    patch = next(key for key in KEYS if key.op == UPDATE_PATCH)
    best = max((r for r in (_rate(_key_op(run, patch)) for run in peers) if r), default=None)
    lines = []
    for name in (ONE_WRITE, AUDITED_WRITE):
        ceilings = [_rate(_op(_phase(run, "ceiling"), name)) for run in ours]
        if not any(ceilings) or best is None:
            continue
        ratios = [f"{rate / best:.2f}x" if rate else "-" for rate in ceilings]
        cells = [f"{name}, against the peers' PATCH", *map(cell, ceilings)]
        cells += ["-"] * len(peers) + [" / ".join(ratios), "(bound)"]
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def machine_table(runs: list[RunRecord]) -> list[str]:
    """Each run's CPU checks (`bench.calibration`) and load, so that a ratio between two runs
    made while the machine changed under them is seen as such."""
    lines = [
        "| run | started | CPU check at start | CPU check at end | load average at start / end |",
        "|---|---|---|---|---|",
    ]
    for run in runs:
        facts = run.machine
        loads = [facts.get(f"load average (1/5/15 min) at {at}", "-") for at in ("start", "end")]
        cells = [
            run_title(run),
            run.started_at,
            facts.get(CPU_AT_START, "not measured"),
            facts.get(CPU_AT_END, "not measured"),
            " / ".join(load.split()[0] if load != "-" else load for load in loads),
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def _figure(run: RunRecord, phase: str, prefix: str) -> str:
    found = _phase(run, phase)
    values = [v for k, v in (found.figures.items() if found else []) if k.startswith(prefix)]
    return f"{values[0]:g}" if values else "-"


def _p50_ratio(a: OpSummary | None, b: OpSummary | None) -> str:
    return f"{a.p50_ms / b.p50_ms:.2f}x" if a and b and a.p50_ms and b.p50_ms else "-"


def _graphql_ratio(run: RunRecord, graphql: OpSummary | None, scim: OpSummary | None) -> str:
    """GraphQL's first page over SCIM's, both taken in turns in the graphql phase; runs made
    before it measured SCIM's page there fall back to the list phase's (an earlier moment)."""
    ratio = _figure(run, "graphql", "first page / SCIM first page")
    return f"{ratio}x" if ratio != "-" else _p50_ratio(graphql, scim)


def checks_table(runs: list[RunRecord]) -> list[str]:
    """Issue 6's ratios and memory limit that one run of our server gives."""
    lines = [
        "| run | lookup / one-query ceiling (>= 0.5) "
        "| SCIM auth / same endpoint without the token check (>= 0.9) | SCIM auth / healthz "
        "| credential writes per request (0) | SCIM deep / first page p50 (<= 2) "
        "| GraphQL page / SCIM page p50 (<= 3) | GraphQL transactions per page "
        f"| peak RSS per worker, MB (< {RSS_PER_WORKER_MB}) "
        f"| lookup / PATCH / email PATCH p50, this size / {SMALL:,} users, in turns (<= 1.3) |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for run in runs:
        if run.engine not in OURS:
            continue
        listing = _phase(run, "list")
        graphql_page = _op(_phase(run, "graphql"), GRAPHQL_FIRST)
        cells = [
            run_title(run),
            _figure(run, "ceiling", f"{LOOKUP_USER_NAME} / one-query"),
            _figure(run, "auth", "authenticated / without the token check"),
            _figure(run, "auth", "authenticated / healthz"),
            _figure(run, "auth", "credential rows"),
            _figure(run, "list", "deep/first"),
            _graphql_ratio(run, graphql_page, _op(listing, FIRST_PAGE)),
            _figure(run, "graphql", "PostgreSQL transactions"),
            _rss_per_worker(run),
            " / ".join(_figure(run, SIZES, f"{kind} p50") for kind in SIZED_KINDS),
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return lines
