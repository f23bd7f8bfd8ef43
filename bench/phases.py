"""What an identity provider sends, phase by phase, and the state the phases share.

Every phase is `async def phase(bench: Bench) -> PhaseSummary`, registered in run order in
`bench.__main__.PHASES`. The others live in `bench.auth`, `bench.writes` (update,
deprovision), `bench.listing`, `bench.groups` and `bench.graphql`.
"""

from __future__ import annotations

import contextlib
import functools
import itertools
import random
import time
import uuid
from collections.abc import Awaitable, Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, TypeVar

from bench.load import (
    Check,
    Client,
    Job,
    Response,
    Target,
    call,
    drive,
    expect_id,
    expect_total,
    filter_url,
)
from bench.stats import OpResult, OpSummary, PhaseSummary

USER_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:User"
ENTERPRISE_SCHEMA = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
DEPARTMENTS = ("Engineering", "Sales", "Finance", "Marketing", "Support", "Legal", "People")
#: externalIds are GUIDs, as Entra's object ids are; derived from the index, so reproducible.
EXTERNAL_ID_NAMESPACE = uuid.UUID("6f1c9a52-8d0e-4a7b-9a43-0c1e5b7d2f10")


_T = TypeVar("_T")
ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"

SYNC_PAIR = "user synced (GET + POST)"
SYNC_LOOKUP = 'GET /Users?filter=userName eq "…" (no match)'
SYNC_CREATE = "POST /Users (full user + enterprise extension)"
LOOKUP_USER_NAME = 'GET /Users?filter=userName eq "…"'
LOOKUP_EXTERNAL_ID = 'GET /Users?filter=externalId eq "…"'
LOOKUP_ID = "GET /Users/{id}"


class PhaseFailed(RuntimeError):
    """A request the rest of the phase depends on failed; the phase stops with this note."""


@dataclass(frozen=True)
class Options:
    users: int = 10_000
    concurrency: int = 16
    #: Requests per kind in the lookup, auth and update phases.
    lookups: int = 3_000
    #: Requests per filter kind (`co`, `sw`) and per page kind (first, deep) in the list phase.
    list_queries: int = 300
    #: Measured add/remove PATCHes per operation and group.
    group_ops: int = 200
    big_group: int = 50_000
    #: Members per request while the big group is built.
    chunk: int = 1_000
    #: No loop starts a new request after this many seconds.
    phase_seconds: float = 900.0
    #: A kind of read (a lookup, a search) repeats its requests until it has run this long:
    #: the same few hundred requests took our server a few tenths of a second and a peer
    #: seconds, so the loop's start and end, and any slowdown of the machine in between,
    #: weighed on our rate far more than on the peer's.
    read_seconds: float = 2.0
    #: `measure_in_turns` of reads: each share repeats its requests until this long. The auth
    #: phase's 500 requests per share took an eighth of a second, so the ramp and tail of each
    #: share, and a passing slowdown, moved its ratio between 0.83 and 1.02 from run to run.
    turn_seconds: float = 0.5
    seed: int = 20_240_601
    #: The peers the rivals phase starts beside our server (`bench.rivals`).
    rivals: tuple[str, ...] = ()
    #: The local PostgreSQL server's admin URL (a peer on PostgreSQL makes its database there).
    admin_url: str = ADMIN_URL


@dataclass(frozen=True)
class SeededUser:
    id: str
    user_name: str
    external_id: str
    #: What `user_payload` built the user from.
    index: int


@dataclass
class Bench:
    """What the phases share: the SCIM client, the server, the options, and the users sync
    created (in index order, so later phases pick the same users on every run)."""

    client: Client
    target: Target
    options: Options
    users: list[SeededUser] = field(default_factory=list)
    #: The ids of the groups the groups phase built (and left, for the graphql phase).
    groups: list[str] = field(default_factory=list)

    def rng(self, salt: int) -> random.Random:
        # Load generation, not security: a seeded generator makes runs repeatable.
        return random.Random(self.options.seed + salt)  # noqa: S311

    def picks(self, salt: int, count: int | None = None) -> list[SeededUser]:
        """`count` (default: `--lookups`) seeded users drawn with replacement."""
        rng = self.rng(salt)
        return [rng.choice(self.users) for _ in range(count or self.options.lookups)]

    def distinct_picks(self, salt: int, count: int | None = None) -> list[SeededUser]:
        """`count` (default: `--lookups`) different seeded users, or all of them if fewer: for
        writes, since a second identical write changes nothing and our server answers it
        without writing (1,000 picks of 10,000 users with replacement repeat about 50)."""
        wanted = count or self.options.lookups
        return self.rng(salt).sample(self.users, min(wanted, len(self.users)))


Phase = Callable[[Bench], Awaitable[PhaseSummary]]


@dataclass(frozen=True)
class Request:
    """One request of a measured kind, as `load.call` takes it."""

    method: str
    url: str
    body: dict[str, Any] | None = None
    expect: int | tuple[int, ...] = 200
    check: Check | None = None


async def measure(
    bench: Bench, op: OpResult, jobs: Iterable[Job], concurrency: int | None = None
) -> str | None:
    """Run `jobs` into `op` at the run's concurrency (or `concurrency`); a note if the time
    limit stopped them."""
    options = bench.options
    with op.cpu.measuring() if op.cpu else contextlib.nullcontext():
        progress = await drive(
            jobs, concurrency=concurrency or options.concurrency, seconds=options.phase_seconds
        )
    op.elapsed = progress.elapsed
    return (
        f"{op.name}: stopped by the {options.phase_seconds:.0f} s limit"
        if progress.timed_out
        else None
    )


def _repeated(items: list[_T], seconds: float) -> Iterator[_T]:
    """Every item once, then again from the first until `seconds` have passed since the
    first was taken."""
    started = time.monotonic()
    yield from items
    for item in itertools.cycle(items):
        if time.monotonic() - started >= seconds:
            return
        yield item


async def measure_kinds(
    bench: Bench,
    kinds: dict[str, Callable[[SeededUser], Request]],
    picks: list[SeededUser],
    *,
    reads: bool = False,
) -> tuple[list[OpSummary], list[str]]:
    """Each kind of request over every pick, one kind after the other, concurrently.
    `reads`: requests that change nothing, repeated until `Options.read_seconds` have passed
    (a write sent twice would be a no-op the server may short-cut)."""
    ops: list[OpSummary] = []
    notes: list[str] = []
    for name, request_of in kinds.items():
        op = OpResult(name)
        listed = [request_of(user) for user in picks]
        requests = _repeated(listed, bench.options.read_seconds) if reads else iter(listed)
        jobs = (request_job(bench.client, op, r) for r in requests)
        if note := await measure(bench, op, jobs):
            notes.append(note)
        ops.append(op.summary())
    return ops, notes


#: `measure_in_turns`: this many rounds of a share of each kind's requests (even: every kind
#: goes first as often as last).
ROUNDS = 8


def request_job(client: Client, op: OpResult, request: Request) -> Job:
    """`request` sent by `client`, timed into `op`."""
    return functools.partial(
        call,
        client,
        op,
        request.method,
        request.url,
        body=request.body,
        expect=request.expect,
        check=request.check,
    )


async def measure_in_turns(
    bench: Bench,
    turns: list[tuple[Client, OpResult, list[Request]]],
    rounds: int = ROUNDS,
    *,
    reads: bool = False,
) -> list[str]:
    """Each turn's requests to its client, in turns (`measure_jobs_in_turns`)."""
    jobs = [(op, [request_job(client, op, r) for r in requests]) for client, op, requests in turns]
    return await measure_jobs_in_turns(bench, jobs, rounds, reads=reads)


async def measure_jobs_in_turns(
    bench: Bench,
    turns: list[tuple[OpResult, list[Job]]],
    rounds: int = ROUNDS,
    *,
    reads: bool = False,
) -> list[str]:
    """Each turn's jobs, timed into its op, in `rounds` alternating shares: the machine's
    drift (its shared cores come and go within minutes) weighs on every kind alike, so their
    ratio means something. The order of the turns is reversed every other round (A B, B A,
    …): a drift that only grows or only shrinks through the rounds then favours no kind.
    `reads`: jobs that change nothing; each share repeats them until
    `Options.turn_seconds` have passed, so every kind runs about as long. Notes of any share
    the time limit stopped."""
    notes = []
    for index in range(rounds):
        for op, jobs in turns if index % 2 == 0 else reversed(turns):
            share: Iterable[Job] = jobs[
                len(jobs) * index // rounds : len(jobs) * (index + 1) // rounds
            ]
            if reads:
                share = _repeated(list(share), bench.options.turn_seconds)
            before = op.elapsed
            if note := await measure(bench, op, share):
                notes.append(note)
            op.elapsed += before
    return notes


def one_at_a_time(op: OpResult) -> OpResult:
    """For requests sent one at a time: throughput is 1 / mean latency."""
    op.elapsed = sum(op.latencies)
    return op


def no_seeded_users(name: str) -> PhaseSummary:
    return PhaseSummary(name, [], ["skipped: no seeded users (run sync first)"])


def user_payload(index: int, prefix: str = "user") -> dict[str, Any]:
    """A full user as Entra sends it on create."""
    given, family = f"Given{index}", f"Family{index}"
    user_name = f"{prefix}{index:06d}@bench.example.com"
    return {
        "schemas": [USER_SCHEMA, ENTERPRISE_SCHEMA],
        "externalId": str(uuid.uuid5(EXTERNAL_ID_NAMESPACE, f"{prefix}{index}")),
        "userName": user_name,
        "active": True,
        "displayName": f"{given} {family}",
        "name": {"givenName": given, "familyName": family, "formatted": f"{given} {family}"},
        "emails": [{"primary": True, "type": "work", "value": user_name}],
        "title": "Engineer",
        ENTERPRISE_SCHEMA: {
            "department": DEPARTMENTS[index % len(DEPARTMENTS)],
            "employeeNumber": f"E{index:07d}",
        },
    }


def created_id(response: Response) -> str:
    return str(response.json()["id"])


async def warm_up(bench: Bench) -> list[OpResult]:
    """The first SCIM request (argon2 verifies the token, default cost), then enough requests
    to open every keep-alive connection and reach every worker."""
    first = OpResult("first SCIM request: GET /Users?count=1 (token verified by argon2)")
    await call(bench.client, first, "GET", "/Users?count=1")
    rest = OpResult(f"warm-up: GET /Users?count=1 at concurrency {bench.options.concurrency}")
    jobs = (
        functools.partial(call, bench.client, rest, "GET", "/Users?count=1")
        for _ in range(4 * bench.options.concurrency)
    )
    progress = await drive(
        jobs, concurrency=bench.options.concurrency, seconds=bench.options.phase_seconds
    )
    rest.elapsed = progress.elapsed
    first.elapsed = sum(first.latencies)
    return [first, rest]


@dataclass(frozen=True)
class SyncOps:
    """What Entra's create flow is timed into: the lookup, the POST, and the pair."""

    lookup: OpResult = field(default_factory=lambda: OpResult(SYNC_LOOKUP))
    create: OpResult = field(default_factory=lambda: OpResult(SYNC_CREATE))
    pair: OpResult = field(default_factory=lambda: OpResult(SYNC_PAIR))


async def sync_one(client: Client, ops: SyncOps, index: int) -> SeededUser | None:
    """Entra's create flow for the user of `index`: look its userName up (no match), then
    POST it. The user created, or None after an error (counted in `ops`)."""
    body = user_payload(index)
    started = time.perf_counter()
    url = filter_url("Users", "userName", body["userName"])
    if await call(client, ops.lookup, "GET", url, check=expect_total(0)) is None:
        return None
    response = await call(
        client, ops.create, "POST", "/Users", body=body, expect=201, check=expect_id
    )
    if response is None:
        return None
    ops.pair.ok(time.perf_counter() - started)
    return SeededUser(created_id(response), body["userName"], body["externalId"], index)


async def sync(bench: Bench) -> PhaseSummary:
    """Entra's create flow per user: look the userName up (no match), then POST the user."""
    options = bench.options
    ops = SyncOps()
    slots: list[SeededUser | None] = [None] * options.users

    async def one(index: int) -> None:
        slots[index] = await sync_one(bench.client, ops, index)

    progress = await drive(
        (functools.partial(one, i) for i in range(options.users)),
        concurrency=options.concurrency,
        seconds=options.phase_seconds,
    )
    for op in (ops.lookup, ops.create, ops.pair):
        op.elapsed = progress.elapsed
    bench.users = [user for user in slots if user is not None]
    notes = [f"{len(bench.users):,} of {options.users:,} users created"]
    if progress.timed_out:
        notes.append(f"stopped by the {options.phase_seconds:.0f} s limit")
    return PhaseSummary(
        "sync", [ops.pair.summary(), ops.lookup.summary(), ops.create.summary()], notes
    )


def expect_user(user_id: str) -> Check:
    def check(response: Response) -> str | None:
        problem = expect_total(1)(response)
        if problem:
            return problem
        found = response.json()["Resources"][0].get("id")
        return None if found == user_id else f"found {found}, expected {user_id}"

    return check


def by_user_name(user: SeededUser) -> Request:
    """How IdPs find a user before updating it."""
    return Request(
        "GET", filter_url("Users", "userName", user.user_name), check=expect_user(user.id)
    )


async def lookup(bench: Bench) -> PhaseSummary:
    """How IdPs find a user before updating it: by userName, by externalId, by id."""
    if not bench.users:
        return no_seeded_users("lookup")
    picks = bench.picks(1)
    kinds: dict[str, Callable[[SeededUser], Request]] = {
        LOOKUP_USER_NAME: by_user_name,
        LOOKUP_EXTERNAL_ID: lambda u: Request(
            "GET", filter_url("Users", "externalId", u.external_id), check=expect_user(u.id)
        ),
        LOOKUP_ID: lambda u: Request("GET", f"/Users/{u.id}"),
    }
    ops, notes = await measure_kinds(bench, kinds, picks, reads=True)
    head = (
        f"{len(picks):,} requests per kind (random seeded users) at {bench.options.concurrency},"
        f" repeated until {bench.options.read_seconds:g} s had passed"
    )
    return PhaseSummary("lookup", ops, [head, *notes])
