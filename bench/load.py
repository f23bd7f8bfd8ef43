"""The client side: one keep-alive `httpx.AsyncClient` per run, timed requests, and concurrent
loops bounded both in count (a finite job list) and in time (a deadline)."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import httpx

from bench.stats import OpResult

SCIM_MEDIA_TYPE = "application/scim+json"
#: Only this address is ever targeted.
LOOPBACK = "127.0.0.1"
#: One request never waits longer than this (rendering a 50,000-member group included).
REQUEST_TIMEOUT_S = 120.0

Job = Callable[[], Awaitable[object]]
#: Looks at a successful response; returns what is wrong with it, or None.
Check = Callable[[httpx.Response], str | None]


@dataclass(frozen=True)
class Target:
    """A running server and the tenant credentials the SCIM client uses."""

    port: int
    slug: str
    token: str
    #: Where the server serves SCIM (peers use their own prefix).
    scim_path: str = "/api/scim"
    #: An admin API key for /graphql (our server only).
    api_key: str | None = None
    #: The server's PostgreSQL database, read for server-side counters (our server only).
    database_url: str | None = None
    #: Remove a group member Entra's way, `{"op": "remove", "path": "members", "value":
    #: [{"value": id}]}`, rather than by RFC 7644's `members[value eq "id"]` path: django-scim2
    #: knows only the former, scim2-server only the latter (ours both).
    remove_member_by_value: bool = False

    @property
    def host(self) -> str:
        return f"{self.slug}.localhost:{self.port}"

    @property
    def base_url(self) -> str:
        return f"http://{LOOPBACK}:{self.port}"

    @property
    def scim_url(self) -> str:
        return f"{self.base_url}{self.scim_path}"


def make_client(
    target: Target,
    concurrency: int,
    *,
    base_url: str | None = None,
    credential: str | None = None,
    accept: str = SCIM_MEDIA_TYPE,
) -> httpx.AsyncClient:
    """Keep-alive connections, as many as concurrent requests; the tenant's Host header.
    By default the SCIM base URL and the SCIM token."""
    return httpx.AsyncClient(
        base_url=base_url or target.scim_url,
        headers={
            "Host": target.host,
            "Authorization": f"Bearer {credential or target.token}",
            "Accept": accept,
        },
        limits=httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency),
        timeout=httpx.Timeout(REQUEST_TIMEOUT_S),
    )


def filter_url(
    resource: str, attribute: str, value: str, extra: str = "", *, operator: str = "eq"
) -> str:
    """`/Users?filter=userName%20eq%20"…"`, percent-encoded the way IdPs send it."""
    expression = quote(f'{attribute} {operator} "{value}"', safe="")
    return f"/{resource}?filter={expression}{extra}"


async def call(
    client: httpx.AsyncClient,
    op: OpResult,
    method: str,
    url: str,
    *,
    body: dict[str, Any] | None = None,
    expect: int | tuple[int, ...] = 200,
    check: Check | None = None,
    content_type: str = SCIM_MEDIA_TYPE,
) -> httpx.Response | None:
    """One timed request. A response with another status, or one `check` rejects, counts as
    an error (its latency is still recorded); a transport error counts as an error only."""
    content = None if body is None else json.dumps(body).encode()
    headers = None if body is None else {"Content-Type": content_type}
    started = time.perf_counter()
    try:
        response = await client.request(method, url, content=content, headers=headers)
    except httpx.HTTPError as exc:
        op.fail(f"{method} {url[:80]}: {type(exc).__name__}: {exc}")
        return None
    op.ok(time.perf_counter() - started)
    if response.status_code not in (expect if isinstance(expect, tuple) else (expect,)):
        op.fail(f"{method} {url[:80]}: HTTP {response.status_code}: {response.text[:200]}")
        return None
    try:
        problem = check(response) if check else None
    except (ValueError, LookupError, TypeError, AttributeError) as exc:  # not the JSON expected
        problem = f"unexpected body ({type(exc).__name__}): {response.text[:200]}"
    if problem:
        op.fail(f"{method} {url[:80]}: {problem}")
        return None
    return response


def expect_total(total: int) -> Check:
    def check(response: httpx.Response) -> str | None:
        found = response.json().get("totalResults")
        return None if found == total else f"totalResults {found}, expected {total}"

    return check


#: RFC 7644 §3.5.2: a PATCH answers 200 with the resource or 204 without it; servers differ.
PATCHED = (200, 204)


def expect_id(response: httpx.Response) -> str | None:
    """A created resource: its `id` is what later requests address."""
    return None if isinstance(response.json().get("id"), str) else "no id in the response"


@dataclass(frozen=True)
class Progress:
    done: int
    elapsed: float
    #: The deadline stopped the loop before its jobs ran out.
    timed_out: bool


async def drive(jobs: Iterable[Job], *, concurrency: int, seconds: float) -> Progress:
    """Run `jobs` with at most `concurrency` in flight; start no new job after `seconds`."""
    iterator = iter(jobs)
    started = time.monotonic()
    deadline = started + seconds
    done = 0
    timed_out = False

    async def worker() -> None:
        nonlocal done, timed_out
        while True:
            if time.monotonic() >= deadline:
                timed_out = True
                return
            job = next(iterator, None)
            if job is None:
                return
            await job()
            done += 1

    async with asyncio.TaskGroup() as group:
        for _ in range(concurrency):
            group.create_task(worker())
    return Progress(
        done, time.monotonic() - started, timed_out and next(iterator, None) is not None
    )
