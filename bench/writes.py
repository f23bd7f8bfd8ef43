"""The update and deprovision phases: what an IdP sends to users that already exist.

update: Entra's attribute sync, a PATCH replacing `name.givenName` and `title`, and Okta's
(AIW apps) full PUT of the Entra-shaped user. deprovision: PATCH `active: false` for 10% of
the users, each one once (Entra deactivates, then hard-deletes 30 days later).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from bench.groups import PATCH_SCHEMA
from bench.load import PATCHED, Response
from bench.phases import (
    Bench,
    Request,
    SeededUser,
    measure_kinds,
    no_seeded_users,
    user_payload,
)
from bench.stats import PhaseSummary

UPDATE_PATCH = "PATCH /Users/{id} (replace name.givenName, title)"
UPDATE_PUT = "PUT /Users/{id} (full user + enterprise extension)"
DEPROVISION = "PATCH /Users/{id} (replace active: false)"
#: The share of users deprovisioned.
DEPROVISIONED = 0.10


def patch_body(*operations: dict[str, Any]) -> dict[str, Any]:
    return {"schemas": [PATCH_SCHEMA], "Operations": list(operations)}


def rename(user: SeededUser) -> dict[str, Any]:
    return patch_body(
        {"op": "replace", "path": "name.givenName", "value": f"Renamed{user.index}"},
        {"op": "replace", "path": "title", "value": "Senior Engineer"},
    )


def _replacement(user: SeededUser) -> dict[str, Any]:
    body = user_payload(user.index)
    body["id"] = user.id
    body["title"] = "Staff Engineer"
    return body


def _inactive(response: Response) -> str | None:
    """A 204 has nothing to check; a 200 must show the user deactivated."""
    if response.status_code == 204:
        return None
    active = response.json().get("active")
    return None if active is False else f"active is {active!r} after the PATCH"


async def update(bench: Bench) -> PhaseSummary:
    if not bench.users:
        return no_seeded_users("update")
    kinds: dict[str, Callable[[SeededUser], Request]] = {
        UPDATE_PATCH: lambda u: Request("PATCH", f"/Users/{u.id}", rename(u), PATCHED),
        UPDATE_PUT: lambda u: Request("PUT", f"/Users/{u.id}", _replacement(u)),
    }
    picks = bench.distinct_picks(2)
    ops, notes = await measure_kinds(bench, kinds, picks)
    head = (
        f"{len(picks):,} requests per kind (distinct random seeded users, the same for both"
        f" kinds) at {bench.options.concurrency}"
    )
    return PhaseSummary("update", ops, [head, *notes])


async def deprovision(bench: Bench) -> PhaseSummary:
    if not bench.users:
        return no_seeded_users("deprovision")
    count = max(1, int(len(bench.users) * DEPROVISIONED))
    # Each user once: a second deactivation would be a no-op the server may short-cut.
    picks = bench.rng(3).sample(bench.users, count)
    body = patch_body({"op": "replace", "path": "active", "value": False})
    kinds: dict[str, Callable[[SeededUser], Request]] = {
        DEPROVISION: lambda u: Request("PATCH", f"/Users/{u.id}", body, PATCHED, _inactive),
    }
    ops, notes = await measure_kinds(bench, kinds, picks)
    head = f"{count:,} distinct users ({DEPROVISIONED:.0%}) at {bench.options.concurrency}"
    return PhaseSummary("deprovision", ops, [head, *notes])
