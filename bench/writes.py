"""The update and deprovision phases: what an IdP sends to users that already exist.

update: Entra's attribute sync, a PATCH replacing `name.givenName` and `title`, Entra's
"Update User [Multi-valued properties]" (the work email through a `type` filter, and
`name.familyName`), and Okta's (AIW apps) full PUT of the Entra-shaped user. deprovision:
PATCH `active: false` for 10% of the users, each one once (Entra deactivates, then
hard-deletes 30 days later).
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
UPDATE_EMAIL = 'PATCH /Users/{id} (replace emails[type eq "work"].value, name.familyName)'
DEPROVISION = "PATCH /Users/{id} (replace active: false)"
#: The share of users deprovisioned.
DEPROVISIONED = 0.10


def patch_body(*operations: dict[str, Any]) -> dict[str, Any]:
    return {"schemas": [PATCH_SCHEMA], "Operations": list(operations)}


def rename(
    user: SeededUser, given: str = "Renamed", title: str = "Senior Engineer"
) -> dict[str, Any]:
    """Entra's attribute sync. A later phase that PATCHes the same users again passes other
    values: an identical PATCH changes nothing, and our server then writes nothing."""
    return patch_body(
        {"op": "replace", "path": "name.givenName", "value": f"{given}{user.index}"},
        {"op": "replace", "path": "title", "value": title},
    )


def new_email(user: SeededUser, moved: str = "moved") -> dict[str, Any]:
    """Entra's PATCH of a changed work email, as its provisioning tutorial shows it (`moved`
    as `given` for `rename`)."""
    return patch_body(
        {
            "op": "Replace",
            "path": 'emails[type eq "work"].value',
            "value": f"{moved}{user.index:06d}@bench.example.com",
        },
        {"op": "Replace", "path": "name.familyName", "value": f"{moved.title()}{user.index}"},
    )


def replacement(user: SeededUser, title: str = "Staff Engineer") -> dict[str, Any]:
    """Okta's full PUT (`title` as for `rename`)."""
    body = user_payload(user.index)
    body["id"] = user.id
    body["title"] = title
    return body


def renaming(user: SeededUser, given: str = "Renamed", title: str = "Senior Engineer") -> Request:
    return Request("PATCH", f"/Users/{user.id}", rename(user, given, title), PATCHED)


def replacing(user: SeededUser, title: str = "Staff Engineer") -> Request:
    return Request("PUT", f"/Users/{user.id}", replacement(user, title))


def moving(user: SeededUser, moved: str = "moved") -> Request:
    return Request("PATCH", f"/Users/{user.id}", new_email(user, moved), PATCHED)


DEACTIVATE = patch_body({"op": "replace", "path": "active", "value": False})


def deprovisioned(bench: Bench) -> list[SeededUser]:
    """The users the deprovision phase deactivates, each once."""
    count = max(1, int(len(bench.users) * DEPROVISIONED))
    return bench.rng(3).sample(bench.users, count)


def deactivate(user: SeededUser) -> Request:
    return Request("PATCH", f"/Users/{user.id}", DEACTIVATE, PATCHED, inactive)


def inactive(response: Response) -> str | None:
    """A 204 has nothing to check; a 200 must show the user deactivated."""
    if response.status_code == 204:
        return None
    active = response.json().get("active")
    return None if active is False else f"active is {active!r} after the PATCH"


async def update(bench: Bench) -> PhaseSummary:
    if not bench.users:
        return no_seeded_users("update")
    kinds: dict[str, Callable[[SeededUser], Request]] = {
        UPDATE_PATCH: renaming,
        UPDATE_EMAIL: moving,
        UPDATE_PUT: replacing,
    }
    picks = bench.distinct_picks(2)
    ops, notes = await measure_kinds(bench, kinds, picks)
    head = (
        f"{len(picks):,} requests per kind (distinct random seeded users, the same for every"
        f" kind) at {bench.options.concurrency}"
    )
    return PhaseSummary("update", ops, [head, *notes])


async def deprovision(bench: Bench) -> PhaseSummary:
    if not bench.users:
        return no_seeded_users("deprovision")
    # Each user once: a second deactivation would be a no-op the server may short-cut.
    picks = deprovisioned(bench)
    count = len(picks)
    kinds: dict[str, Callable[[SeededUser], Request]] = {DEPROVISION: deactivate}
    ops, notes = await measure_kinds(bench, kinds, picks)
    head = f"{count:,} distinct users ({DEPROVISIONED:.0%}) at {bench.options.concurrency}"
    return PhaseSummary("deprovision", ops, [head, *notes])
