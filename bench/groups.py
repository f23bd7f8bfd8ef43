"""The groups phase: one member added to and removed from a group of 10 and a group of
50,000 (DESIGN.md §5 "large groups stay fast"; CONVENTIONS.md 10).

The big group is built the way a fast IdP would: POST /Groups, then PATCH add with 1,000
values per request (not members in the POST: django-scim2 ignores them there). A member is
removed by the `members[value eq "…"]` path (Okta, RFC 7644), or Entra's way where a server
knows only that (`Target.remove_member_by_value`). The members added and removed while measuring
are probe users created here, in neither group, so every add really inserts and every
remove really deletes, and both groups end at their starting size (checked by a full GET).
The four measured requests run one at a time, interleaved (add small, add big, remove small,
remove big), so a noisy neighbour on the shared machine hits both groups alike.
"""

from __future__ import annotations

import functools
import re
from typing import Any

from bench.load import PATCHED, call, drive, expect_id, filter_url
from bench.phases import Bench, PhaseFailed, created_id, one_at_a_time, user_payload
from bench.stats import OpResult, OpSummary, PhaseSummary

SMALL_GROUP = 10
PROBES = 20
WARMUP_ROUNDS = 5
FULL_GETS = 3
LIGHT_GETS = 50
GROUP_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:Group"
PATCH_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:PatchOp"


_MEASURED = re.compile(r"^PATCH (add|remove) 1 member, group of ([\d,]+)$")


def measured_name(kind: str, size: int) -> str:
    return f"PATCH {kind} 1 member, group of {size:,}"


def measured(phase: PhaseSummary) -> dict[tuple[str, int], OpSummary]:
    """The four measured operations of a groups phase, by (add|remove, group size)."""
    found: dict[tuple[str, int], OpSummary] = {}
    for op in phase.ops:
        match = _MEASURED.match(op.name)
        if match:
            found[(match[1], int(match[2].replace(",", "")))] = op
    return found


def _members(ids: list[str]) -> list[dict[str, str]]:
    return [{"value": user_id} for user_id in ids]


def patch_members(op: str, ids: list[str]) -> dict[str, Any]:
    operation = {"op": op, "path": "members", "value": _members(ids)}
    return {"schemas": [PATCH_SCHEMA], "Operations": [operation]}


def remove_member(user_id: str) -> dict[str, Any]:
    operation = {"op": "remove", "path": f'members[value eq "{user_id}"]'}
    return {"schemas": [PATCH_SCHEMA], "Operations": [operation]}


async def _create_probes(bench: Bench) -> tuple[list[str], OpResult]:
    op = OpResult("setup: POST /Users (probe users, in neither group)")
    ids: list[str] = []
    for index in range(PROBES):
        body = user_payload(index, prefix="probe")
        response = await call(
            bench.client, op, "POST", "/Users", body=body, expect=201, check=expect_id
        )
        if response is None:
            raise PhaseFailed(f"could not create probe users: {op.error_samples}")
        ids.append(created_id(response))
    return ids, one_at_a_time(op)


async def _build(
    bench: Bench, name: str, member_ids: list[str], post: OpResult, patch: OpResult
) -> str:
    """POST the group, then PATCH add its members chunk by chunk."""
    chunk = bench.options.chunk
    body = {"schemas": [GROUP_SCHEMA], "displayName": name}
    response = await call(
        bench.client, post, "POST", "/Groups", body=body, expect=201, check=expect_id
    )
    if response is None:
        raise PhaseFailed(f"could not create group {name}: {post.error_samples}")
    group_id = created_id(response)
    for start in range(0, len(member_ids), chunk):
        body = patch_members("add", member_ids[start : start + chunk])
        url = f"/Groups/{group_id}"
        if await call(bench.client, patch, "PATCH", url, body=body, expect=PATCHED) is None:
            raise PhaseFailed(f"could not add members to {name}: {patch.error_samples}")
    return group_id


async def groups(bench: Bench) -> PhaseSummary:
    options = bench.options
    users = bench.users
    if len(users) <= SMALL_GROUP:
        note = f"skipped: it needs more than {SMALL_GROUP} seeded users"
        return PhaseSummary("groups", [], [note])
    big_size = min(len(users), options.big_group)
    notes = [
        f"groups of {SMALL_GROUP} and {big_size:,} members; {options.group_ops} measured "
        "requests per operation and group, one at a time, interleaved; members are "
        f"{PROBES} probe users outside both groups; ops/s = 1 / mean latency"
    ]
    if big_size < options.big_group:
        notes.append(
            f"the big group has all {big_size:,} seeded users, fewer than {options.big_group:,}"
            f" (N < {options.big_group:,}); run with --users {options.big_group} to compare"
        )
    probes, probe_op = await _create_probes(bench)

    group_post = OpResult("setup: POST /Groups (no members)")
    small_patch = OpResult(f"setup: PATCH add {SMALL_GROUP} members")
    big_patch = OpResult(f"setup: PATCH add {options.chunk:,} members (building the big group)")
    small_ids = [u.id for u in users[:SMALL_GROUP]]
    small = await _build(bench, "bench-small", small_ids, group_post, small_patch)
    big = await _build(bench, "bench-big", [u.id for u in users[:big_size]], group_post, big_patch)
    sizes = {small: SMALL_GROUP, big: big_size}
    bench.groups += [small, big]

    scratch = OpResult("warm-up")
    add = {g: OpResult(measured_name("add", n)) for g, n in sizes.items()}
    remove = {g: OpResult(measured_name("remove", n)) for g, n in sizes.items()}

    async def round_trip(index: int, measured: bool) -> None:
        probe = probes[index % len(probes)]
        by_value = bench.target.remove_member_by_value
        removal = patch_members("remove", [probe]) if by_value else remove_member(probe)
        for ops, body in ((add, patch_members("add", [probe])), (remove, removal)):
            for group in sizes:
                op = ops[group] if measured else scratch
                url = f"/Groups/{group}"
                await call(bench.client, op, "PATCH", url, body=body, expect=PATCHED)

    for index in range(WARMUP_ROUNDS):
        await round_trip(index, measured=False)
    progress = await drive(
        (functools.partial(round_trip, i, True) for i in range(options.group_ops)),
        concurrency=1,
        seconds=options.phase_seconds,
    )
    if progress.timed_out:
        notes.append(f"add/remove stopped by the {options.phase_seconds:.0f} s limit")

    extras = await _reads(bench, sizes, {small: "bench-small", big: "bench-big"})
    ops = [add[small], add[big], remove[small], remove[big]]
    summaries = [one_at_a_time(op).summary() for op in ops]
    figures = _ratios(summaries)
    setup = [
        op for op in (probe_op, group_post, small_patch, big_patch) if op.latencies or op.errors
    ]
    return PhaseSummary(
        "groups",
        summaries + [s.summary() for s in extras] + [one_at_a_time(op).summary() for op in setup],
        notes,
        figures,
    )


async def _reads(bench: Bench, sizes: dict[str, int], names: dict[str, str]) -> list[OpResult]:
    """Reads of both groups: without members (Entra's lookup), and with every member, which
    also checks that the adds and removes left each group at its size."""
    ops: list[OpResult] = []
    for group, size in sizes.items():
        light = OpResult(f"GET /Groups/{{id}}?excludedAttributes=members, group of {size:,}")
        search = OpResult(
            f'GET /Groups?filter=displayName eq "…"&excludedAttributes=members, group of {size:,}'
        )
        full = OpResult(f"GET /Groups/{{id}} (all members), group of {size:,}")
        url = f"/Groups/{group}"
        for _ in range(LIGHT_GETS):
            await call(bench.client, light, "GET", f"{url}?excludedAttributes=members")
            found = filter_url("Groups", "displayName", names[group], "&excludedAttributes=members")
            await call(bench.client, search, "GET", found)
        for _ in range(FULL_GETS):
            response = await call(bench.client, full, "GET", url)
            if response is not None and len(response.json().get("members", [])) != size:
                full.fail(f"{len(response.json().get('members', []))} members, expected {size}")
        ops += [one_at_a_time(light), one_at_a_time(search), one_at_a_time(full)]
    return ops


def _ratios(summaries: list[OpSummary]) -> dict[str, float]:
    add_small, add_big, remove_small, remove_big = summaries
    figures: dict[str, float] = {}
    for label, small, big in (("add", add_small, add_big), ("remove", remove_small, remove_big)):
        for stat in ("p50_ms", "p95_ms"):
            s, b = getattr(small, stat), getattr(big, stat)
            if s and b:
                figures[f"{label} {stat[:3]} big/small"] = round(b / s, 2)
    return figures
