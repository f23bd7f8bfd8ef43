"""The graphql phase (issue 6, item 5): the admin console's user list, with each user's roles
and groups, over `/graphql` with the admin API key that `definewtf admin create` printed.

- walk: `users(first: 100, after: …)` from the first page to the last, one page at a time,
  following `endCursor`; it checks that `totalCount` users came back; PostgreSQL's counters
  around it give the transactions per page (constant if the nested lists are batched);
- first vs deep page: the first page and the page at 90% of the users (the cursor the walk
  got there), one at a time and interleaved, as the list phase does for SCIM.
"""

from __future__ import annotations

import time
from typing import Any

from bench.listing import page_url
from bench.load import Client, Response, call, make_client
from bench.pgstats import window
from bench.phases import Bench, one_at_a_time
from bench.stats import OpResult, PhaseSummary

PAGE = 100
PAGE_PAIRS = 50
QUERY = """query Users($after: String) {
  users(first: PAGE_SIZE, after: $after) {
    edges { node { id userName roles { role } groups { displayName } } }
    pageInfo { endCursor hasNextPage }
    totalCount
  }
}""".replace("PAGE_SIZE", str(PAGE))
WALK = f"users(first: {PAGE}, after) {{ roles groups }} (walk, one page at a time)"
FIRST_PAGE = f"users(first: {PAGE}) {{ roles groups }}, first page"
DEEP_PAGE = f"users(first: {PAGE}, after: <90%>) {{ roles groups }}"
#: The SCIM page issue 6 compares the GraphQL page with, taken in turns with it: the list phase's
#: own first page ran before the update and deprovision phases rewrote 13,000 users.
SCIM_FIRST_PAGE = f"GET /Users?startIndex=1&count={PAGE} (SCIM, in turns with the GraphQL pages)"


def _body(after: str | None) -> dict[str, Any]:
    return {"query": QUERY, "variables": {"after": after}}


async def _page(client: Client, op: OpResult, after: str | None) -> Response | None:
    return await call(
        client,
        op,
        "POST",
        "/graphql",
        body=_body(after),
        check=_no_errors,
        content_type="application/json",
    )


def _no_errors(response: Response) -> str | None:
    body = response.json()
    if body.get("errors"):
        return f"errors: {str(body['errors'])[:200]}"
    return None if body.get("data", {}).get("users") else "no data.users"


async def _walk(bench: Bench, client: Client, op: OpResult) -> tuple[int, str | None, list[str]]:
    """Every page; the total, the cursor of the page at 90%, the notes."""
    deadline = time.monotonic() + bench.options.phase_seconds
    after: str | None = None
    deep_after: str | None = None
    total, returned = 0, 0
    while True:
        if time.monotonic() >= deadline:
            return (
                total,
                deep_after,
                [f"walk stopped by the {bench.options.phase_seconds:.0f} s limit"],
            )
        response = await _page(client, op, after)
        if response is None:
            return total, deep_after, ["walk stopped by an error"]
        users = response.json()["data"]["users"]
        total = int(users["totalCount"])
        returned += len(users["edges"])
        if deep_after is None and returned >= total * 9 // 10:
            deep_after = users["pageInfo"]["endCursor"]
        if not users["pageInfo"]["hasNextPage"]:
            break
        after = users["pageInfo"]["endCursor"]
    notes = [f"walk: {returned:,} users in {len(op.latencies):,} pages; totalCount {total:,}"]
    if returned != total:
        notes.append(f"**walk: {returned:,} users returned, totalCount {total:,}**")
    return total, deep_after, notes


async def graphql(bench: Bench) -> PhaseSummary:
    target = bench.target
    if target.api_key is None:
        return PhaseSummary("graphql", [], ["skipped: no API key for this server"])
    walk, first, deep = OpResult(WALK), OpResult(FIRST_PAGE), OpResult(DEEP_PAGE)
    scim_first = OpResult(SCIM_FIRST_PAGE)
    async with make_client(
        target, 1, base_url=target.base_url, credential=target.api_key, accept="application/json"
    ) as client:
        async with window(target.database_url) as stats:
            _, deep_after, notes = await _walk(bench, client, walk)
        for _ in range(PAGE_PAIRS):
            for op, after in ((first, None), (deep, deep_after)):
                await _page(client, op, after)
            await call(bench.client, scim_first, "GET", page_url(1))
    notes.append(
        f"first and deep page, and SCIM's first page, {PAGE_PAIRS} times each, one at a time,"
        " in turns; ops/s = 1 / mean latency"
    )
    notes += stats.notes
    ops = [one_at_a_time(op).summary() for op in (walk, first, deep, scim_first)]
    figures: dict[str, float] = {}
    if ops[1].p50_ms and ops[2].p50_ms:
        figures["deep/first page p50"] = round(ops[2].p50_ms / ops[1].p50_ms, 2)
    if ops[1].p50_ms and ops[3].p50_ms:
        figures["first page / SCIM first page p50 (in turns)"] = round(
            ops[1].p50_ms / ops[3].p50_ms, 2
        )
    if target.database_url:
        figures["PostgreSQL transactions per page (walk)"] = stats.per_request(len(walk.latencies))[
            0
        ]
    return PhaseSummary("graphql", ops, notes, figures)
