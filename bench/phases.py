"""What an identity provider sends, phase by phase, and the state the phases share.

Every phase is `async def phase(bench: Bench) -> PhaseSummary`, registered in run order in
`bench.__main__.PHASES`; the ones to come (update, list, deprovision, graphql) slot in the
same way. The groups phase lives in `bench.groups`.
"""

from __future__ import annotations

import functools
import random
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

from bench.load import Check, call, drive, expect_id, expect_total, filter_url
from bench.stats import OpResult, PhaseSummary

USER_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:User"
ENTERPRISE_SCHEMA = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
DEPARTMENTS = ("Engineering", "Sales", "Finance", "Marketing", "Support", "Legal", "People")
#: externalIds are GUIDs, as Entra's object ids are; derived from the index, so reproducible.
EXTERNAL_ID_NAMESPACE = uuid.UUID("6f1c9a52-8d0e-4a7b-9a43-0c1e5b7d2f10")


SYNC_PAIR = "user synced (GET + POST)"
LOOKUP_USER_NAME = 'GET /Users?filter=userName eq "…"'
LOOKUP_EXTERNAL_ID = 'GET /Users?filter=externalId eq "…"'
LOOKUP_ID = "GET /Users/{id}"


class PhaseFailed(RuntimeError):
    """A request the rest of the phase depends on failed; the phase stops with this note."""


@dataclass(frozen=True)
class Options:
    users: int = 10_000
    concurrency: int = 16
    #: Requests per lookup kind.
    lookups: int = 3_000
    #: Measured add/remove PATCHes per operation and group.
    group_ops: int = 200
    big_group: int = 50_000
    #: Members per request while the big group is built.
    chunk: int = 1_000
    #: No loop starts a new request after this many seconds.
    phase_seconds: float = 900.0
    seed: int = 20_240_601


@dataclass(frozen=True)
class SeededUser:
    id: str
    user_name: str
    external_id: str


@dataclass
class Bench:
    """What the phases share: the client, the options, and the users sync created (in index
    order, so later phases pick the same users on every run)."""

    client: httpx.AsyncClient
    options: Options
    users: list[SeededUser] = field(default_factory=list)

    def rng(self, salt: int) -> random.Random:
        # Load generation, not security: a seeded generator makes runs repeatable.
        return random.Random(self.options.seed + salt)  # noqa: S311


Phase = Callable[[Bench], Awaitable[PhaseSummary]]


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


def created_id(response: httpx.Response) -> str:
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


async def sync(bench: Bench) -> PhaseSummary:
    """Entra's create flow per user: look the userName up (no match), then POST the user."""
    options = bench.options
    lookup = OpResult('GET /Users?filter=userName eq "…" (no match)')
    create = OpResult("POST /Users (full user + enterprise extension)")
    pair = OpResult(SYNC_PAIR)
    slots: list[SeededUser | None] = [None] * options.users

    async def one(index: int) -> None:
        body = user_payload(index)
        started = time.perf_counter()
        url = filter_url("Users", "userName", body["userName"])
        if await call(bench.client, lookup, "GET", url, check=expect_total(0)) is None:
            return
        response = await call(
            bench.client, create, "POST", "/Users", body=body, expect=201, check=expect_id
        )
        if response is None:
            return
        pair.ok(time.perf_counter() - started)
        slots[index] = SeededUser(created_id(response), body["userName"], body["externalId"])

    progress = await drive(
        (functools.partial(one, i) for i in range(options.users)),
        concurrency=options.concurrency,
        seconds=options.phase_seconds,
    )
    for op in (lookup, create, pair):
        op.elapsed = progress.elapsed
    bench.users = [user for user in slots if user is not None]
    notes = [f"{len(bench.users):,} of {options.users:,} users created"]
    if progress.timed_out:
        notes.append(f"stopped by the {options.phase_seconds:.0f} s limit")
    return PhaseSummary("sync", [pair.summary(), lookup.summary(), create.summary()], notes)


def expect_user(user_id: str) -> Check:
    def check(response: httpx.Response) -> str | None:
        problem = expect_total(1)(response)
        if problem:
            return problem
        found = response.json()["Resources"][0].get("id")
        return None if found == user_id else f"found {found}, expected {user_id}"

    return check


async def lookup(bench: Bench) -> PhaseSummary:
    """How IdPs find a user before updating it: by userName, by externalId, by id."""
    options = bench.options
    if not bench.users:
        return PhaseSummary("lookup", [], ["skipped: no seeded users (run sync first)"])
    rng = bench.rng(1)
    picks = [rng.choice(bench.users) for _ in range(options.lookups)]
    kinds: list[tuple[str, Callable[[SeededUser], str], Callable[[SeededUser], Check | None]]] = [
        (
            LOOKUP_USER_NAME,
            lambda u: filter_url("Users", "userName", u.user_name),
            lambda u: expect_user(u.id),
        ),
        (
            LOOKUP_EXTERNAL_ID,
            lambda u: filter_url("Users", "externalId", u.external_id),
            lambda u: expect_user(u.id),
        ),
        (LOOKUP_ID, lambda u: f"/Users/{u.id}", lambda u: None),
    ]
    ops = []
    notes = [f"{len(picks):,} requests per kind (random seeded users) at {options.concurrency}"]
    for name, url_of, check_of in kinds:
        op = OpResult(name)
        jobs = (
            functools.partial(call, bench.client, op, "GET", url_of(u), check=check_of(u))
            for u in picks
        )
        progress = await drive(jobs, concurrency=options.concurrency, seconds=options.phase_seconds)
        op.elapsed = progress.elapsed
        if progress.timed_out:
            notes.append(f"{name}: stopped by the {options.phase_seconds:.0f} s limit")
        ops.append(op.summary())
    return PhaseSummary("lookup", ops, notes)
