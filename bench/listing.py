"""The list phase: an admin console or an IdP's import paging through every user, and the
substring searches a console's search box sends.

- walk: `GET /Users?startIndex=…&count=100` from the first page to the last, one request at
  a time (each page needs the one before it in a client that follows `totalResults`); it
  checks that every user came back exactly once;
- first vs deep page: the first page and the page at 90% of the users (startIndex 90,001 at
  100,000 users, 9,001 at 10,000), one at a time and interleaved, so a noisy neighbour hits
  both alike; OFFSET paging shows here as a deep page slower than the first;
- `filter=userName co "…"` and `sw "…"` (about 10 to 20 matches each), concurrently;
- what else a console asks (`CONSOLE`): a sort by a value, a value every user has, a pattern
  every user matches, one at a time, each past the five times after which PostgreSQL may
  keep a plan made without the values.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from urllib.parse import quote

from bench.load import Check, Response, call, filter_url
from bench.phases import Bench, Request, SeededUser, measure_kinds, no_seeded_users, one_at_a_time
from bench.stats import OpResult, PhaseSummary

PAGE = 100
#: Measured requests per page kind in the first vs deep comparison.
PAGE_PAIRS = 50
WALK = f"GET /Users?startIndex=…&count={PAGE} (walk, one page at a time)"
FIRST_PAGE = f"GET /Users?startIndex=1&count={PAGE}"
DEEP_PAGE = f"GET /Users?startIndex=<90%>&count={PAGE}"
CONTAINS = f'GET /Users?filter=userName co "…"&count={PAGE}'
STARTS_WITH = f'GET /Users?filter=userName sw "…"&count={PAGE}'


SORTED = f"/Users?sortBy=name.familyName&count={PAGE}"
#: A console's requests beside paging and its search box, by op name: every one names (almost)
#: every user, where a plan that is good for a few matches reads and sorts them all.
#: (`title`: the update phase retitles the users it picks; the others keep "Engineer".)
CONSOLE = {
    f"GET {SORTED}": SORTED,
    f'GET /Users?filter=title eq "Engineer"&count={PAGE} (almost everyone)': filter_url(
        "Users", "title", "Engineer", f"&count={PAGE}"
    ),
    f'GET /Users?filter=userName co "bench"&count={PAGE} (everyone)': filter_url(
        "Users", "userName", "bench", f"&count={PAGE}", operator="co"
    ),
}
#: Each console request, one at a time: PostgreSQL plans a prepared statement for its values
#: five times, then may keep a plan made without them (a value filter did so, 925 ms against
#: 90 at 100,000 users, before ff07815).
CONSOLE_REPEATS = 12


def page_url(start: int) -> str:
    return f"/Users?startIndex={start}&count={PAGE}"


def deep_start(total: int) -> int:
    """The startIndex of the page at 90% of `total` users, on a page boundary."""
    return max(1, (total * 9 // 10) // PAGE * PAGE + 1)


def _search(operator: str, value: str) -> str:
    expression = quote(f'userName {operator} "{value}"', safe="")
    return f"/Users?filter={expression}&count={PAGE}"


def _some_match(response: Response) -> str | None:
    found = response.json().get("totalResults", 0)
    return None if found >= 1 and response.json().get("Resources") else "no match"


def contains(user: SeededUser) -> Request:
    """A console's search box: about 10 to 20 users share the digits of `user`'s index."""
    return Request("GET", _search("co", f"{user.index // 10:05d}"), check=_some_match)


def starts_with(user: SeededUser) -> Request:
    return Request("GET", _search("sw", f"user{user.index // 10:05d}"), check=_some_match)


def _full_page(response: Response) -> str | None:
    """A page of as many users as it may hold: `count`, or all the matches if fewer."""
    body = response.json()
    got, total = len(body.get("Resources", [])), body.get("totalResults", 0)
    return None if got == min(PAGE, total) else f"{got} of {total} resources"


async def _console(bench: Bench) -> list[OpResult]:
    ops = {name: OpResult(name) for name in CONSOLE}
    for _ in range(CONSOLE_REPEATS):
        for name, url in CONSOLE.items():
            await call(bench.client, ops[name], "GET", url, check=_full_page)
    return [one_at_a_time(op) for op in ops.values()]


def expect_page(size: int) -> Check:
    def check(response: Response) -> str | None:
        got = len(response.json().get("Resources", []))
        return None if got == size else f"{got} resources, expected {size}"

    return check


async def _walk(bench: Bench, op: OpResult) -> tuple[int, list[str]]:
    """Every page in order; the total the first page announced, and the notes."""
    deadline = time.monotonic() + bench.options.phase_seconds
    seen: set[str] = set()
    returned = 0
    total: int | None = None
    start = 1
    while total is None or start <= total:
        if time.monotonic() >= deadline:
            return total or 0, [f"walk stopped by the {bench.options.phase_seconds:.0f} s limit"]
        response = await call(bench.client, op, "GET", page_url(start))
        if response is None:
            return total or 0, [f"walk stopped at startIndex {start} by an error"]
        body = response.json()
        total = total if total is not None else int(body["totalResults"])
        ids = [str(resource["id"]) for resource in body.get("Resources", [])]
        if not ids:
            break
        seen.update(ids)
        returned += len(ids)
        start += len(ids)
    notes = [f"walk: {returned:,} users in {len(op.latencies):,} pages; totalResults {total:,}"]
    if len(seen) != total or returned != total:
        notes.append(f"**walk: {len(seen):,} distinct of {returned:,} returned, not {total:,}**")
    return total, notes


async def _first_vs_deep(bench: Bench, total: int) -> tuple[OpResult, OpResult, int]:
    first, deep = OpResult(FIRST_PAGE), OpResult(DEEP_PAGE)
    start = deep_start(total)
    size = min(PAGE, total - start + 1)
    for _ in range(PAGE_PAIRS):
        await call(bench.client, first, "GET", page_url(1), check=expect_page(min(PAGE, total)))
        await call(bench.client, deep, "GET", page_url(start), check=expect_page(size))
    return one_at_a_time(first), one_at_a_time(deep), start


async def listing(bench: Bench) -> PhaseSummary:
    if not bench.users:
        return no_seeded_users("list")
    walk = OpResult(WALK)
    total, notes = await _walk(bench, walk)
    if total < 1:
        return PhaseSummary("list", [walk.summary()], notes)
    first, deep, start = await _first_vs_deep(bench, total)
    notes.append(
        f"deep page: startIndex {start:,} of {total:,}; first and deep page {PAGE_PAIRS} times"
        " each, one at a time, interleaved; ops/s = 1 / mean latency"
    )
    kinds: dict[str, Callable[[SeededUser], Request]] = {
        CONTAINS: contains,
        STARTS_WITH: starts_with,
    }
    picks = bench.picks(4, bench.options.list_queries)
    searches, more = await measure_kinds(bench, kinds, picks, reads=True)
    notes.append(
        f"co / sw: {len(picks):,} requests each at {bench.options.concurrency}, repeated until"
        f" {bench.options.read_seconds:g} s had passed; about 10 to 20 matches per query"
    )
    console = await _console(bench)
    notes.append(
        f"console requests: each {CONSOLE_REPEATS} times, one at a time, in turns;"
        " ops/s = 1 / mean latency"
    )
    figures: dict[str, float] = {}
    deep_s, first_s = deep.summary(), first.summary()
    if deep_s.p50_ms and first_s.p50_ms:
        figures["deep/first page p50"] = round(deep_s.p50_ms / first_s.p50_ms, 2)
    return PhaseSummary(
        "list",
        [
            one_at_a_time(walk).summary(),
            first_s,
            deep_s,
            *searches,
            *(op.summary() for op in console),
        ],
        notes + more,
        figures,
    )
