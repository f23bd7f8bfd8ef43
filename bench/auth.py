"""The auth phase (issue 6, item 4): what a known SCIM token costs after its first request.

- `GET /ServiceProviderConfig` with the run's token: the cheapest authenticated SCIM request
  (tenant from the Host, token check, a static document);
- the same request to a twin server, started for this phase with the same workers, database
  and settings, whose app is ours with the token check taken out (`bench.tokenless_app`):
  issue 6's "same endpoint without it". The two servers are driven in turns, a quarter of the
  requests at a time, so that the machine's drift weighs on both alike;
- `GET /healthz` on the server: no tenant, no token, no SCIM — the ratio to it prices the
  whole SCIM request path, not authentication (kept from earlier runs for comparison);
- around the authenticated loop, PostgreSQL's own counters: transactions per request and
  credential rows updated per request (`last_used_at` must not be written every time);
- a few requests with a wrong secret under the token's real prefix, one at a time: argon2
  runs for each (the verification cache only remembers successes).

The first request of the run (argon2 on a cold cache) is in the setup phase.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import itertools
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path

from bench.ceiling import REPO, uvicorn_command
from bench.load import LOOPBACK, Client, call, drive, make_client
from bench.pgstats import window
from bench.phases import (
    ROUNDS,
    Bench,
    Request,
    measure,
    measure_in_turns,
    one_at_a_time,
    request_job,
)
from bench.server import Running, free_port, serving
from bench.stats import OpResult, PhaseSummary

AUTHENTICATED = "GET /ServiceProviderConfig (known token)"
TOKENLESS = "GET /ServiceProviderConfig (twin server without the token check)"
UNAUTHENTICATED = "GET /healthz (no tenant, no token)"
#: Requests per kind, in lookups (`--lookups`): these are the cheapest requests there are, and
#: 1,000 of them (`--quick`) took a fifth of a second, too short to compare two servers.
SCALE = 4
#: Rounds of the token-checked server and its twin in turns. Their ratio is judged against
#: 0.9, and with `ROUNDS` (4 s a server) three runs of one code gave 0.86, 0.89 and 0.93 on
#: SQLite: the spread was wider than the margin. With four times as many rounds (24 s more a
#: run) four runs gave 0.90, 0.90, 0.91 and 0.90 (3,000 users, sync and auth phases).
AUTH_ROUNDS = 4 * ROUNDS
#: Seconds each of the two servers serves the endpoint, unmeasured, before the turns. The server
#: comes from the sync and lookup phases, the twin from nothing: a SQLite server of ours that
#: had just served 20,000 lookups and GETs gave 0.94 of the twin's rate and settled at 0.956
#: after 40 s of this endpoint alone, where a fresh one gave 0.97 (harness, notes of
#: 2026-12-01 afternoon). The turns then compare two servers settled on the same request.
SETTLE_S = 10.0
SPC = Request("GET", "/ServiceProviderConfig")
REFUSED = "GET /ServiceProviderConfig, wrong secret with the token's prefix (401)"
WRONG_TRIES = 5


def _wrong(token: str) -> str:
    """The same prefix and length, another secret."""
    last = "A" if token[-1] != "A" else "B"
    return token[:-1] + last


@contextlib.asynccontextmanager
async def _tokenless_twin(
    server: Running, log_dir: Path, concurrency: int
) -> AsyncIterator[Client]:
    """A client of the twin server (`bench.tokenless_app`), running meanwhile."""
    port = free_port()
    env = {**server.env, "PYTHONPATH": str(REPO)}
    with tempfile.TemporaryDirectory(prefix="dwtf-bench-metrics-") as metrics:
        if server.workers > 1:  # as `definewtf serve` sets it for several workers
            env["PROMETHEUS_MULTIPROC_DIR"] = metrics
        command = uvicorn_command("bench.tokenless_app:create_app", port, server.workers)
        ready = f"http://{LOOPBACK}:{port}/readyz"
        with serving(command, env, log_dir / "tokenless.log", ready, cwd=REPO):
            target = dataclasses.replace(server.target, port=port)
            async with make_client(target, concurrency) as client:
                yield client


async def _settle(bench: Bench, client: Client) -> None:
    """`SETTLE_S` of the phase's request to `client`, not measured."""
    unmeasured = OpResult("settling")
    jobs = (request_job(client, unmeasured, SPC) for _ in itertools.count())
    await drive(jobs, concurrency=bench.options.concurrency, seconds=SETTLE_S)


async def auth(bench: Bench, server: Running, log_dir: Path) -> PhaseSummary:
    count = SCALE * bench.options.lookups
    target = bench.target
    authenticated, tokenless = OpResult(AUTHENTICATED), OpResult(TOKENLESS)
    bare = OpResult(UNAUTHENTICATED)
    notes = [
        f"{count:,} requests per kind at {bench.options.concurrency}; the twin server in turns"
        f" with the server, {AUTH_ROUNDS} rounds, each share repeated until"
        f" {bench.options.turn_seconds:g} s had passed, after {SETTLE_S:g} s of it unmeasured"
        " on each"
    ]
    async with _tokenless_twin(server, log_dir, bench.options.concurrency) as twin:
        for client in (bench.client, twin):
            await _settle(bench, client)
        async with window(target.database_url) as stats:
            spc = [SPC] * count
            turns = [(bench.client, authenticated, spc), (twin, tokenless, spc)]
            notes += await measure_in_turns(bench, turns, AUTH_ROUNDS, reads=True)
    healthz = f"{target.base_url}/healthz"
    jobs = (functools.partial(call, bench.client, bare, "GET", healthz) for _ in range(count))
    if note := await measure(bench, bare, jobs):
        notes.append(note)

    wrong = OpResult(REFUSED)
    headers = {"Authorization": f"Bearer {_wrong(target.token)}"}
    for _ in range(WRONG_TRIES):
        # `call` sends the client's token; this one needs its own header.
        response = await bench.client.get("/ServiceProviderConfig", headers=headers)
        wrong.ok(response.elapsed)
        if response.status_code != 401:
            wrong.fail(f"HTTP {response.status_code}, expected 401")

    figures: dict[str, float] = {}
    ops = [
        authenticated.summary(),
        tokenless.summary(),
        bare.summary(),
        one_at_a_time(wrong).summary(),
    ]
    if ops[0].ops_per_s and ops[1].ops_per_s:
        figures["authenticated / without the token check ops/s"] = round(
            ops[0].ops_per_s / ops[1].ops_per_s, 2
        )
    if ops[0].ops_per_s and ops[2].ops_per_s:
        figures["authenticated / healthz ops/s"] = round(ops[0].ops_per_s / ops[2].ops_per_s, 2)
    notes += stats.notes
    if target.database_url:
        transactions, updates = stats.per_request(len(authenticated.latencies))
        figures["PostgreSQL transactions per authenticated request"] = transactions
        figures["credential rows updated per authenticated request"] = updates
    return PhaseSummary("auth", ops, notes, figures)
