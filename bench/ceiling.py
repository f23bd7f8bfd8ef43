"""The ceiling phase: `bench.ceiling_app` under uvicorn with the server's settings (same worker
count, uvloop, httptools, no access log), on the benchmark's own database while it still
holds the run's users, driven by the same client at the same concurrency.

Results are then ratios: our `filter=userName eq` lookup against the one-query endpoint that
answers the same URL (issue 6, item 2: at least 50% on PostgreSQL), and our PATCH against the
one-write endpoint that takes the update phase's PATCH of the same users: the most any server
that stores a PATCH on PostgreSQL behind Litestar can do here, to set beside the peers'.
"""

from __future__ import annotations

import dataclasses
import functools
import os
import sys
from collections.abc import Callable
from pathlib import Path

from bench.load import LOOPBACK, PATCHED, call, filter_url, make_client
from bench.phases import (
    LOOKUP_USER_NAME,
    Bench,
    Request,
    SeededUser,
    expect_user,
    measure,
    measure_kinds,
)
from bench.server import Running, free_port, serving
from bench.stats import OpResult, OpSummary, PhaseSummary
from bench.writes import UPDATE_PATCH, rename

REPO = Path(__file__).resolve().parent.parent
BARE = "ceiling: GET /api/scim/bare (Litestar, small JSON, no I/O)"
ONE_QUERY = 'ceiling: GET /api/scim/Users?filter=userName eq "…" (one asyncpg query)'
ONE_WRITE = "ceiling: PATCH /api/scim/Users/{id} (one durable UPDATE)"
AUDITED_WRITE = (
    "ceiling: PATCH /api/scim/audited/Users/{id} (transaction: row locked, UPDATE + audit event)"
)


def uvicorn_command(factory: str, port: int, workers: int) -> list[str]:
    """uvicorn serving the app `factory` builds, with the options `definewtf serve` gives it
    (definewtf.cli._serve)."""
    return [
        *(sys.executable, "-m", "uvicorn", factory, "--factory"),
        *("--host", LOOPBACK, "--port", str(port), "--workers", str(workers)),
        *("--loop", "uvloop", "--http", "httptools", "--lifespan", "on", "--no-access-log"),
    ]


def _environment(server: Running) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("BENCH_CEILING_")}
    env.update(PYTHONPATH=str(REPO), BENCH_CEILING_SLUG=server.target.slug)
    if server.target.database_url:
        env["BENCH_CEILING_DATABASE_URL"] = server.target.database_url
    return env


async def _drive(bench: Bench) -> tuple[list[OpSummary], list[str]]:
    bare = OpResult(BARE)
    jobs = (
        functools.partial(call, bench.client, bare, "GET", "/bare")
        for _ in range(bench.options.lookups)
    )
    notes = [note] if (note := await measure(bench, bare, jobs)) else []
    if bench.target.database_url is None:
        notes.append("one-query ceiling: PostgreSQL only (asyncpg)")
        return [bare.summary()], notes
    # The lookup phase's users, in the same order.
    # The lookup phase's users, then the update phase's, in the same order.
    reads: dict[str, Callable[[SeededUser], Request]] = {
        ONE_QUERY: lambda u: Request(
            "GET", filter_url("Users", "userName", u.user_name), check=expect_user(u.id)
        )
    }
    writes: dict[str, Callable[[SeededUser], Request]] = {
        ONE_WRITE: lambda u: Request("PATCH", f"/Users/{u.id}", rename(u), PATCHED),
        AUDITED_WRITE: lambda u: Request("PATCH", f"/audited/Users/{u.id}", rename(u), PATCHED),
    }
    ops, more = await measure_kinds(bench, reads, bench.picks(1))
    write_ops, even_more = await measure_kinds(bench, writes, bench.picks(2))
    return [bare.summary(), *ops, *write_ops], notes + more + even_more


async def ceiling(
    bench: Bench,
    server: Running,
    log_dir: Path,
    lookup: OpSummary | None,
    update: OpSummary | None = None,
) -> PhaseSummary:
    port = free_port()
    target = dataclasses.replace(server.target, port=port, api_key=None)
    log = log_dir / "ceiling.log"
    ready = f"http://{LOOPBACK}:{port}/healthz"
    command = uvicorn_command("bench.ceiling_app:create_app", port, server.workers)
    with serving(command, _environment(server), log, ready, cwd=REPO):
        async with make_client(target, bench.options.concurrency) as client:
            ops, notes = await _drive(dataclasses.replace(bench, client=client, target=target))
    notes.insert(
        0,
        f"uvicorn --workers {server.workers} --loop uvloop --http httptools, as the server;"
        f" {bench.options.lookups:,} requests per kind at {bench.options.concurrency}",
    )
    figures: dict[str, float] = {}
    query = next((op for op in ops if op.name == ONE_QUERY), None)
    if lookup and lookup.ops_per_s and query and query.ops_per_s:
        figures[f"{LOOKUP_USER_NAME} / one-query ceiling ops/s"] = round(
            lookup.ops_per_s / query.ops_per_s, 2
        )
    for name, title in ((ONE_WRITE, "one-write"), (AUDITED_WRITE, "audited-write")):
        write = next((op for op in ops if op.name == name), None)
        if update and update.ops_per_s and write and write.ops_per_s:
            figures[f"{UPDATE_PATCH} / {title} ceiling ops/s"] = round(
                update.ops_per_s / write.ops_per_s, 2
            )
    if lookup and lookup.ops_per_s and ops[0].ops_per_s:
        figures[f"{LOOKUP_USER_NAME} / bare Litestar ops/s"] = round(
            lookup.ops_per_s / ops[0].ops_per_s, 2
        )
    return PhaseSummary("ceiling", ops, notes, figures)
