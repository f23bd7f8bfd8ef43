"""The ceiling phase: `bench.ceiling_app` served as the server is (`definewtf.supervisor`:
same worker count, a listening socket per worker, uvloop, httptools, no access log), on the
benchmark's own database while it still holds the run's users, driven by the same client at
the same concurrency.

Results are then ratios: our `filter=userName eq` lookup against the one-query endpoint that
answers the same URL (issue 6, item 2: at least 50% on PostgreSQL), and our PATCH against the
write endpoints that take the update phase's PATCH of the same users: the most any server
that stores a PATCH on PostgreSQL behind Litestar can do here, to set beside the peers'.
Ours is driven again for these ratios, in turns with the ceilings (`measure_in_turns`): the
lookup phase, minutes earlier, may have run on a faster or slower machine.
"""

from __future__ import annotations

import dataclasses
import functools
import os
import sys
from pathlib import Path

from bench.load import LOOPBACK, PATCHED, Client, call, make_client
from bench.phases import (
    LOOKUP_USER_NAME,
    ROUNDS,
    Bench,
    Request,
    by_user_name,
    measure,
    measure_in_turns,
)
from bench.server import Running, free_port, serving
from bench.stats import OpResult, OpSummary, PhaseSummary
from bench.writes import UPDATE_PATCH, rename, renaming

REPO = Path(__file__).resolve().parent.parent
BARE = "ceiling: GET /api/scim/bare (Litestar, small JSON, no I/O)"
ONE_QUERY = 'ceiling: GET /api/scim/Users?filter=userName eq "…" (one asyncpg query)'
ONE_WRITE = "ceiling: PATCH /api/scim/Users/{id} (one durable UPDATE)"
OUR_LOOKUP = f"ours, in turns with the ceilings: {LOOKUP_USER_NAME}"
OUR_PATCH = f"ours, in turns with the ceilings: {UPDATE_PATCH}"
AUDITED_WRITE = (
    "ceiling: PATCH /api/scim/audited/Users/{id} (transaction: row locked, UPDATE + audit event)"
)


def uvicorn_command(factory: str, port: int, workers: int) -> list[str]:
    """The app `factory` builds, served the way `definewtf serve` serves ours
    (`definewtf.supervisor.run`: its uvicorn options, and with several workers a listening
    socket each), so that the ratios compare apps, not how connections reach them."""
    serve = f"supervisor.run({factory!r}, {LOOPBACK!r}, {port}, {workers})"
    return [
        sys.executable,
        "-c",
        f"import sys; from definewtf import supervisor; sys.exit({serve})",
    ]


def _environment(server: Running) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("BENCH_CEILING_")}
    env.update(PYTHONPATH=str(REPO), BENCH_CEILING_SLUG=server.target.slug)
    if server.target.database_url:
        env["BENCH_CEILING_DATABASE_URL"] = server.target.database_url
    return env


async def _drive(bench: Bench, ours: Client) -> tuple[list[OpSummary], list[str]]:
    """The ceilings (`bench.client`), and the same requests to our server (`ours`) in turns
    with them: the lookup phase's users for reads, the update phase's for writes."""
    bare = OpResult(BARE)
    jobs = (
        functools.partial(call, bench.client, bare, "GET", "/bare")
        for _ in range(bench.options.lookups)
    )
    notes = [note] if (note := await measure(bench, bare, jobs)) else []
    if bench.target.database_url is None:
        notes.append("one-query ceiling: PostgreSQL only (asyncpg)")
        return [bare.summary()], notes
    lookups = [by_user_name(u) for u in bench.picks(1)]
    # Each write endpoint its own users, none of them renamed before: a PATCH of a user another
    # endpoint had just renamed alike would change less, or nothing (ours then writes nothing).
    picks = bench.distinct_picks(5, 3 * bench.options.lookups)
    ours_picks, write_picks, audited_picks = picks[0::3], picks[1::3], picks[2::3]
    patches = [renaming(u) for u in ours_picks]
    one_write = [renaming(u) for u in write_picks]
    audited = [
        Request("PATCH", f"/audited/Users/{u.id}", rename(u), PATCHED) for u in audited_picks
    ]
    reads = [(ours, OpResult(OUR_LOOKUP), lookups), (bench.client, OpResult(ONE_QUERY), lookups)]
    writes = [
        (ours, OpResult(OUR_PATCH), patches),
        (bench.client, OpResult(ONE_WRITE), one_write),
        (bench.client, OpResult(AUDITED_WRITE), audited),
    ]
    notes += await measure_in_turns(bench, reads, reads=True)
    notes += await measure_in_turns(bench, writes)
    ops = [op.summary() for _, op, _ in [*reads, *writes]]
    return [bare.summary(), *ops], notes


async def ceiling(bench: Bench, server: Running, log_dir: Path) -> PhaseSummary:
    port = free_port()
    target = dataclasses.replace(server.target, port=port, api_key=None)
    log = log_dir / "ceiling.log"
    ready = f"http://{LOOPBACK}:{port}/healthz"
    command = uvicorn_command("bench.ceiling_app:create_app", port, server.workers)
    with serving(command, _environment(server), log, ready, cwd=REPO):
        async with make_client(target, bench.options.concurrency) as client:
            at_ceiling = dataclasses.replace(bench, client=client, target=target)
            ops, notes = await _drive(at_ceiling, bench.client)
    notes.insert(
        0,
        f"{server.workers} worker(s), served as the server is (definewtf.supervisor);"
        f" {bench.options.lookups:,} requests per kind at {bench.options.concurrency}; ours and"
        f" the ceilings in turns, {ROUNDS} rounds (a share of reads repeated until"
        f" {bench.options.turn_seconds:g} s had passed; each write endpoint PATCHes its own"
        " distinct users)",
    )
    rates = {op.name: op.ops_per_s for op in ops if op.ops_per_s and not op.errors}
    figures: dict[str, float] = {}
    for ours, ceiling_op, name in (
        (OUR_LOOKUP, ONE_QUERY, f"{LOOKUP_USER_NAME} / one-query ceiling ops/s"),
        (OUR_LOOKUP, BARE, f"{LOOKUP_USER_NAME} / bare Litestar ops/s"),
        (OUR_PATCH, ONE_WRITE, f"{UPDATE_PATCH} / one-write ceiling ops/s"),
        (OUR_PATCH, AUDITED_WRITE, f"{UPDATE_PATCH} / audited-write ceiling ops/s"),
    ):
        if ours in rates and ceiling_op in rates:
            figures[name] = round(rates[ours] / rates[ceiling_op], 2)
    return PhaseSummary("ceiling", ops, notes, figures)
