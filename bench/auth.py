"""The auth phase (issue 6, item 4): what a known SCIM token costs after its first request.

- `GET /ServiceProviderConfig` with the run's token: the cheapest authenticated SCIM request
  (tenant from the Host, token check, a static document);
- `GET /healthz` on the same server: no tenant, no token — the same stack without either, so
  the ratio of the two bounds what authentication costs from above;
- around the authenticated loop, PostgreSQL's own counters: transactions per request and
  credential rows updated per request (`last_used_at` must not be written every time);
- a few requests with a wrong secret under the token's real prefix, one at a time: argon2
  runs for each (the verification cache only remembers successes).

The first request of the run (argon2 on a cold cache) is in the setup phase.
"""

from __future__ import annotations

import functools

from bench.load import call
from bench.pgstats import window
from bench.phases import Bench, measure, one_at_a_time
from bench.stats import OpResult, PhaseSummary

AUTHENTICATED = "GET /ServiceProviderConfig (known token)"
UNAUTHENTICATED = "GET /healthz (no tenant, no token)"
REFUSED = "GET /ServiceProviderConfig, wrong secret with the token's prefix (401)"
WRONG_TRIES = 5


def _wrong(token: str) -> str:
    """The same prefix and length, another secret."""
    last = "A" if token[-1] != "A" else "B"
    return token[:-1] + last


async def auth(bench: Bench) -> PhaseSummary:
    count = bench.options.lookups
    target = bench.target
    authenticated, bare = OpResult(AUTHENTICATED), OpResult(UNAUTHENTICATED)
    notes = [f"{count:,} requests per kind at {bench.options.concurrency}"]
    async with window(target.database_url) as stats:
        jobs = (
            functools.partial(call, bench.client, authenticated, "GET", "/ServiceProviderConfig")
            for _ in range(count)
        )
        if note := await measure(bench, authenticated, jobs):
            notes.append(note)
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
    ops = [authenticated.summary(), bare.summary(), one_at_a_time(wrong).summary()]
    if ops[0].ops_per_s and ops[1].ops_per_s:
        figures["authenticated / healthz ops/s"] = round(ops[0].ops_per_s / ops[1].ops_per_s, 2)
    notes += stats.notes
    if target.database_url:
        transactions, updates = stats.per_request(len(authenticated.latencies))
        figures["PostgreSQL transactions per authenticated request"] = transactions
        figures["credential rows updated per authenticated request"] = updates
    return PhaseSummary("auth", ops, notes, figures)
