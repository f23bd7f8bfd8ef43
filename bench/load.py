"""The client side: one keep-alive HTTP client per run, timed requests, and concurrent loops
bounded both in count (a finite job list) and in time (a deadline).

The client is aiohttp's, not httpx's: on this machine httpx spent about 0.9 ms of CPU per
request (`GET /healthz`, 16 concurrent: 1,100 requests/s with the client on a full core)
against 0.07 ms for aiohttp (11,000/s). Sharing 2 cores with the server and its database, the
httpx client had capped every operation near 1,000/s and taken CPU from the server under test,
so fast servers all looked alike."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import aiohttp
from multidict import CIMultiDictProxy

from bench.stats import OpResult

SCIM_MEDIA_TYPE = "application/scim+json"
#: Only this address is ever targeted.
LOOPBACK = "127.0.0.1"
#: One request never waits longer than this (rendering a 50,000-member group included).
REQUEST_TIMEOUT_S = 120.0

Job = Callable[[], Awaitable[object]]
#: Looks at a successful response; returns what is wrong with it, or None.
Check = Callable[["Response"], str | None]


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
    #: The server's first process, whose tree's CPU the rivals phase reads (`bench.cpu`).
    pid: int | None = None

    @property
    def host(self) -> str:
        return f"{self.slug}.localhost:{self.port}"

    @property
    def base_url(self) -> str:
        return f"http://{LOOPBACK}:{self.port}"

    @property
    def scim_url(self) -> str:
        return f"{self.base_url}{self.scim_path}"


@dataclass(frozen=True)
class Response:
    """A response read whole (what the phases look at)."""

    status_code: int
    headers: CIMultiDictProxy[str]
    content: bytes
    #: Seconds from sending the request to the whole body read.
    elapsed: float

    @property
    def text(self) -> str:
        return self.content.decode(errors="replace")

    def json(self) -> Any:
        return json.loads(self.content)


#: What a request that got no response raises.
TransportError = (aiohttp.ClientError, asyncio.TimeoutError)


class Client:
    """Keep-alive connections to one server, default headers, paths relative to `base_url`
    (absolute URLs go where they say)."""

    def __init__(self, base_url: str, headers: dict[str, str], concurrency: int) -> None:
        self.base_url = base_url.rstrip("/")
        self._headers = headers
        self._concurrency = concurrency
        self._session: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> Client:
        self._session = aiohttp.ClientSession(
            headers=self._headers,
            connector=aiohttp.TCPConnector(limit=self._concurrency),
            timeout=aiohttp.ClientTimeout(total=REQUEST_TIMEOUT_S),
            # The Host header names the tenant: never replaced by the URL's host.
            skip_auto_headers=("Host",),
        )
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        if self._session is not None:
            await self._session.close()

    async def request(
        self,
        method: str,
        url: str,
        *,
        content: bytes | None = None,
        headers: dict[str, str] | None = None,
    ) -> Response:
        assert self._session is not None, "use the client as `async with`"
        target = url if url.startswith("http") else f"{self.base_url}{url}"
        started = time.perf_counter()
        async with self._session.request(method, target, data=content, headers=headers) as raw:
            body = await raw.read()
        return Response(raw.status, raw.headers, body, time.perf_counter() - started)

    async def get(self, url: str, *, headers: dict[str, str] | None = None) -> Response:
        return await self.request("GET", url, headers=headers)


def make_client(
    target: Target,
    concurrency: int,
    *,
    base_url: str | None = None,
    credential: str | None = None,
    accept: str = SCIM_MEDIA_TYPE,
) -> Client:
    """Keep-alive connections, as many as concurrent requests; the tenant's Host header.
    By default the SCIM base URL and the SCIM token."""
    headers = {
        "Host": target.host,
        "Authorization": f"Bearer {credential or target.token}",
        "Accept": accept,
    }
    return Client(base_url or target.scim_url, headers, concurrency)


def filter_url(
    resource: str, attribute: str, value: str, extra: str = "", *, operator: str = "eq"
) -> str:
    """`/Users?filter=userName%20eq%20"…"`, percent-encoded the way IdPs send it."""
    expression = quote(f'{attribute} {operator} "{value}"', safe="")
    return f"/{resource}?filter={expression}{extra}"


async def call(
    client: Client,
    op: OpResult,
    method: str,
    url: str,
    *,
    body: dict[str, Any] | None = None,
    expect: int | tuple[int, ...] = 200,
    check: Check | None = None,
    content_type: str = SCIM_MEDIA_TYPE,
) -> Response | None:
    """One timed request. A response with another status, or one `check` rejects, counts as
    an error (its latency is still recorded); a transport error counts as an error only."""
    content = None if body is None else json.dumps(body).encode()
    headers = None if body is None else {"Content-Type": content_type}
    started = time.perf_counter()
    try:
        response = await client.request(method, url, content=content, headers=headers)
    except TransportError as exc:
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
    def check(response: Response) -> str | None:
        found = response.json().get("totalResults")
        return None if found == total else f"totalResults {found}, expected {total}"

    return check


#: RFC 7644 §3.5.2: a PATCH answers 200 with the resource or 204 without it; servers differ.
PATCHED = (200, 204)


def expect_id(response: Response) -> str | None:
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
