"""Groups and their members (SCIM /Groups).

Membership is a set kept in SQL (`group_member`, unique per (tenant, group, user)): adding
is an insert that ignores what is already there, removing a delete of exactly those rows, so
a change never reads or rewrites the group's other members and its cost does not grow with
the group. Concurrent adds to one group all land (each is its own row; the group's version is
bumped by an atomic `version = version + 1`).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, TypeVar
from uuid import UUID

from piccolo.custom_types import Combinable

from definewtf.clock import utcnow
from definewtf.db import fetch, lock_for_update, unique_violation_as, write_transaction
from definewtf.errors import Conflict, Invalid, NotFound, PreconditionFailed
from definewtf.ids import as_uuid
from definewtf.principals import SCIM_PROVISION, TENANT_ADMIN, Actor, require_any
from definewtf.services import audit
from definewtf.services.paging import fetch_page
from definewtf.sql import SortKey, json_rows, placeholders
from definewtf.statistics import STATISTICS
from definewtf.tables import Group, GroupMember, GroupRole, User
from definewtf.text import fold

MAX_DISPLAY_NAME_LENGTH = 256


@dataclass(frozen=True, slots=True)
class GroupData:
    display_name: str
    external_id: str | None = None
    #: The rest of the representation (attributes the columns don't model), members excluded.
    attributes: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class GroupRecord:
    id: UUID
    tenant_id: UUID
    display_name: str
    external_id: str | None
    attributes: dict[str, Any]
    version: int
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class Member:
    user_id: UUID
    display: str


@dataclass(frozen=True, slots=True)
class MemberOp:
    """One change of a membership set, applied in order: `add` and `remove` touch exactly the
    given users, `replace` makes the set equal to them (`replace` of nothing empties it).
    `displays` are the member displays the client sent, by user id."""

    kind: Literal["add", "remove", "replace"]
    user_ids: frozenset[UUID]
    displays: Mapping[UUID, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class GroupPage:
    total: int
    items: list[GroupRecord]


_COLUMNS = (
    Group.id,
    Group.tenant,
    Group.display_name,
    Group.external_id,
    Group.attributes,
    Group.version,
    Group.created_at,
    Group.updated_at,
)


def _record(row: dict[str, Any]) -> GroupRecord:
    return GroupRecord(
        id=as_uuid(row["id"]),
        tenant_id=as_uuid(row["tenant"]),
        display_name=row["display_name"],
        external_id=row["external_id"],
        attributes=row["attributes"] or {},
        version=row["version"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
    )


def data_of(record: GroupRecord) -> GroupData:
    return GroupData(record.display_name, record.external_id, record.attributes)


def _columns_of(data: GroupData) -> dict[Any, Any]:
    name = data.display_name.strip()
    if not name:
        raise Invalid("displayName is required", attribute="displayName")
    if len(name) > MAX_DISPLAY_NAME_LENGTH:
        raise Invalid(
            f"displayName is longer than {MAX_DISPLAY_NAME_LENGTH} characters",
            attribute="displayName",
        )
    return {
        Group.display_name: name,
        Group.display_name_ci: fold(name),
        Group.external_id: data.external_id,
        Group.attributes: data.attributes,
    }


#: Bound parameters per statement stay far below both engines' limits (PostgreSQL's wire
#: protocol: 32,767; SQLite: 32,766): a group of 50,000 is written in several statements.
_IDS_PER_STATEMENT = 5000
_ROWS_PER_INSERT = 2000  # a group_member row binds 6 parameters

T = TypeVar("T")


def _chunks(items: list[T], size: int = _IDS_PER_STATEMENT) -> Iterator[list[T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _conflict(name: str) -> Conflict:
    return Conflict("Group", "displayName", f"a group named {name!r} already exists")


async def _check_users(tenant_id: UUID, user_ids: Iterable[UUID]) -> None:
    """Every id must be a (visible) user of this tenant; reads only those ids."""
    wanted = set(user_ids)
    if not wanted:
        return
    found: set[UUID] = set()
    for chunk in _chunks(list(wanted)):
        rows = await User.select(User.id).where(
            (User.tenant == tenant_id) & User.deleted_at.is_null() & User.id.is_in(chunk)
        )
        found |= {as_uuid(row["id"]) for row in rows}
    missing = wanted - found
    if missing:
        raise Invalid(
            f"no such user in this tenant: {', '.join(sorted(str(m) for m in missing)[:5])}",
            attribute="members",
        )


async def _apply(
    tenant_id: UUID, group_id: UUID, ops: Sequence[MemberOp]
) -> tuple[set[UUID], set[UUID]]:
    """Apply membership ops in SQL, in order; returns the user ids asked to be added and
    removed (re-adding a member is a no-op in the table: adds are idempotent)."""
    added: set[UUID] = set()
    removed: set[UUID] = set()
    now = utcnow()
    mine = (GroupMember.tenant == tenant_id) & (GroupMember.group == group_id)
    for op in ops:
        ids = list(op.user_ids)
        if op.kind == "replace":
            # Only the rows that leave are touched; members that stay are not rewritten.
            if ids:
                current = await GroupMember.select(GroupMember.user).where(mine)
                leaving = [
                    user_id
                    for user_id in (as_uuid(row["user"]) for row in current)
                    if user_id not in op.user_ids
                ]
                for chunk in _chunks(leaving):
                    await GroupMember.delete().where(mine & GroupMember.user.is_in(chunk))
            else:
                await GroupMember.delete().where(mine)
        if op.kind == "remove" and ids:
            for chunk in _chunks(ids):
                await GroupMember.delete().where(mine & GroupMember.user.is_in(chunk))
            removed |= op.user_ids
        if op.kind in ("add", "replace") and ids:
            rows = [
                GroupMember(
                    tenant=tenant_id,
                    group=group_id,
                    user=user_id,
                    display=op.displays.get(user_id),
                    created_at=now,
                )
                for user_id in ids
            ]
            # Insert-if-absent; a display the client sends again replaces the stored one.
            with_display = [row for row in rows if row.display is not None]
            plain = [row for row in rows if row.display is None]
            for batch in _chunks(plain, _ROWS_PER_INSERT):
                await GroupMember.insert(*batch).on_conflict(action="DO NOTHING")
            for batch in _chunks(with_display, _ROWS_PER_INSERT):
                await GroupMember.insert(*batch).on_conflict(
                    target=(GroupMember.tenant, GroupMember.group, GroupMember.user),
                    action="DO UPDATE",
                    values=[GroupMember.display],
                )
            added |= op.user_ids
    return added, removed


async def create_group(
    *, tenant_id: UUID, data: GroupData, members: MemberOp | Sequence[UUID] = (), actor: Actor
) -> GroupRecord:
    require_any(actor, tenant_id, SCIM_PROVISION, TENANT_ADMIN)
    initial = members if isinstance(members, MemberOp) else MemberOp("add", frozenset(members))
    values = _columns_of(data)
    now = utcnow()
    group = Group(tenant=tenant_id, version=1, created_at=now, updated_at=now)
    for column, value in values.items():
        setattr(group, column._meta.name, value)
    async with write_transaction():
        await _check_users(tenant_id, initial.user_ids)
        with unique_violation_as(_conflict(data.display_name)):
            await Group.insert(group)
        await _apply(tenant_id, group.id, [MemberOp("add", initial.user_ids, initial.displays)])
        await audit.record(
            tenant_id=tenant_id,
            actor=actor,
            action="group.create",
            target_type="group",
            target_id=group.id,
            after={"displayName": data.display_name, "members": len(initial.user_ids)},
        )
        record = await _get(tenant_id, group.id)
    # After the commit: an ANALYZE started before it would not see the new rows.
    STATISTICS.members_added(len(initial.user_ids))
    return record


async def _get(tenant_id: UUID, group_id: UUID) -> GroupRecord:
    row = await (
        Group.select(*_COLUMNS)
        .where((Group.tenant == tenant_id) & (Group.id == group_id))
        .output(load_json=True)
        .first()
    )
    if row is None:
        raise NotFound("Group", group_id)
    return _record(row)


async def get_group(*, tenant_id: UUID, group_id: UUID, actor: Actor) -> GroupRecord:
    require_any(actor, tenant_id, SCIM_PROVISION, TENANT_ADMIN)
    return await _get(tenant_id, group_id)


async def list_groups(
    *,
    tenant_id: UUID,
    actor: Actor,
    criteria: Combinable | None = None,
    sort: SortKey | None = None,
    offset: int = 0,
    limit: int = 100,
) -> GroupPage:
    require_any(actor, tenant_id, SCIM_PROVISION, TENANT_ADMIN)
    mine = Group.tenant == tenant_id
    where = mine if criteria is None else mine & criteria
    total, rows = await fetch_page(Group, _COLUMNS, where, sort=sort, offset=offset, limit=limit)
    return GroupPage(total=total, items=[_record(row) for row in rows])


async def members_of(*, tenant_id: UUID, group_ids: Sequence[UUID]) -> dict[UUID, list[Member]]:
    """The members of several groups in one query (for rendering a page of groups)."""
    result: dict[UUID, list[Member]] = {group_id: [] for group_id in group_ids}
    if not group_ids:
        return result
    # Raw SQL: Piccolo's select with a join spent ~750 ms turning the 50,000 rows of a big
    # group into dicts (Okta allows 600 ms for `GET /Groups`); this is ~10x less.
    sql = (
        'SELECT m."group" AS group_id, m."user" AS user_id, '  # noqa: S608
        "COALESCE(NULLIF(m.display, ''), NULLIF(u.display_name, ''), u.user_name) AS display "
        'FROM group_member m JOIN app_user u ON u.id = m."user" '
        f'WHERE m.tenant = {{}} AND m."group" IN ({placeholders(len(group_ids))}) '
        "ORDER BY m.created_at, m.id"
    )
    for row in await fetch(sql, tenant_id, *group_ids):
        result[as_uuid(row["group_id"])].append(Member(as_uuid(row["user_id"]), row["display"]))
    return result


@dataclass(frozen=True, slots=True)
class MemberPage:
    total: int
    items: list[Member]


async def member_page(
    *, tenant_id: UUID, group_id: UUID, actor: Actor, offset: int = 0, limit: int = 50
) -> MemberPage:
    """One page of a group's members (a group may hold tens of thousands)."""
    require_any(actor, tenant_id, SCIM_PROVISION, TENANT_ADMIN)
    await _get(tenant_id, group_id)
    mine = (GroupMember.tenant == tenant_id) & (GroupMember.group == group_id)
    total = await GroupMember.count().where(mine)
    rows = await (
        GroupMember.select(
            GroupMember.user,
            GroupMember.display,
            GroupMember.user.user_name,
            GroupMember.user.display_name,
        )
        .where(mine)
        .order_by(GroupMember.created_at)
        .order_by(GroupMember.id)
        .offset(offset)
        .limit(limit)
    )
    return MemberPage(
        total=total,
        items=[
            Member(
                as_uuid(row["user"]),
                row["display"] or row["user.display_name"] or row["user.user_name"],
            )
            for row in rows
        ],
    )


async def groups_of(
    *, tenant_id: UUID, user_ids: Sequence[UUID]
) -> dict[UUID, list[tuple[UUID, str]]]:
    """(group id, displayName) of the groups each user is in: the User's read-only `groups`."""
    result: dict[UUID, list[tuple[UUID, str]]] = {user_id: [] for user_id in user_ids}
    if not user_ids:
        return result
    # Raw SQL: rendered with every user a SCIM response returns, and Piccolo's join building
    # was a fifth of a lookup's CPU (py-spy, bench/RESULTS.md).
    sql = (
        'SELECT m."user" AS member, g.id AS group_id, g.display_name AS display_name '  # noqa: S608
        'FROM group_member m JOIN app_group g ON g.id = m."group" '
        f'WHERE m.tenant = {{}} AND m."user" IN ({placeholders(len(user_ids))})'
    )
    for row in await fetch(sql, tenant_id, *user_ids):
        result[as_uuid(row["member"])].append((as_uuid(row["group_id"]), row["display_name"]))
    return {user_id: _in_order(found) for user_id, found in result.items()}


@functools.cache
def memberships_of_user(engine_type: str) -> tuple[str, str]:
    """What `groups_of` reads for one user, as a value of the user's own row: ("groups", a
    correlated subquery giving a JSON array of [group id, displayName], or NULL), to select
    with `app_user` (`paging.Extra`). A SCIM read then needs no statement of its own for the
    User's `groups` (a tenth of a lookup's CPU, py-spy). Read it with `memberships`."""
    # Without statistics of group_member (a connection opened before its ANALYZE, or none
    # yet), SQLite prefers the covering (tenant, group, user) index and reads every
    # membership of the tenant for each user: 35 ms instead of 0.9 for a page of 100 once
    # a 2,000-member group exists.
    index = " INDEXED BY group_member_tenant_user" if engine_type == "sqlite" else ""
    return (
        "groups",
        f"(SELECT {json_rows(engine_type, 'g.id', 'g.display_name')} "  # noqa: S608 -- our names
        f'FROM group_member m{index} JOIN app_group g ON g.id = m."group" '
        'WHERE m.tenant = "app_user".tenant AND m."user" = "app_user".id)',
    )


def memberships(value: list[list[Any]] | None) -> list[tuple[UUID, str]]:
    """The groups `memberships_of_user` selected, in `groups_of`'s order: by displayName, then
    the id's text, which both engines give in `str(UUID)`'s form.

    Every User a page or search returns carries its groups, and a tenant's users share a few
    groups: an id's UUID is parsed once (`_group_id`), and the sort compares the text it came
    as. Parsing each id and sorting by `str(UUID)` again took 6 us for a user in one group and
    98 us for one in twenty; 1.8 and 12 us now (timeit). Users in one group cost a `co`
    search 10-20% more server CPU than users in none (harness, bench/results/notes.md)."""
    found = sorted((name, group_id) for group_id, name in value or ())
    return [(_group_id(group_id), name) for name, group_id in found]


@functools.lru_cache(maxsize=16_384)
def _group_id(text: str) -> UUID:
    return UUID(text)


def _in_order(found: list[tuple[UUID, str]]) -> list[tuple[UUID, str]]:
    """By displayName, then id: the same on both engines, whatever their collations."""
    return sorted(found, key=lambda group: (group[1], str(group[0])))


async def update_group(
    *,
    tenant_id: UUID,
    group_id: UUID,
    actor: Actor,
    change: Callable[[GroupData], GroupData] | None = None,
    members: Sequence[MemberOp] = (),
    if_match: int | None = None,
) -> GroupRecord:
    """Change the group's own attributes (`change`, applied to the locked row) and its
    membership (`members`, as set operations) in one transaction."""
    require_any(actor, tenant_id, SCIM_PROVISION, TENANT_ADMIN)
    async with write_transaction():
        rows = await lock_for_update(
            Group.select(*_COLUMNS)
            .where((Group.tenant == tenant_id) & (Group.id == group_id))
            .output(load_json=True)
        )
        if not rows:
            raise NotFound("Group", group_id)
        current = _record(rows[0])
        if if_match is not None and if_match != current.version:
            raise PreconditionFailed(f"the group is at version {current.version}, not {if_match}")
        before = data_of(current)
        after = change(before) if change else before
        await _check_users(
            tenant_id, (u for op in members for u in op.user_ids if op.kind != "remove")
        )
        values = _columns_of(after) if after != before else {}
        with unique_violation_as(_conflict(after.display_name)):
            await Group.update(
                {**values, Group.version: Group.version + 1, Group.updated_at: utcnow()}
            ).where(Group.id == group_id)
        added, removed = await _apply(tenant_id, group_id, members)
        roles = await mapped_role_names(tenant_id=tenant_id, group_id=group_id)
        changes: dict[str, Any] = {}
        if after != before:
            changes["displayName"] = after.display_name
        if added:
            changes["membersAdded"] = sorted(str(u) for u in added)
        if removed:
            changes["membersRemoved"] = sorted(str(u) for u in removed)
        if any(op.kind == "replace" for op in members):
            changes["membersReplaced"] = True
        if roles and (added or removed):
            # Membership grants the group's mapped roles; leaving revokes them (DESIGN.md §4).
            changes["rolesGranted" if added else "rolesRevoked"] = roles
        await audit.record(
            tenant_id=tenant_id,
            actor=actor,
            action="group.update",
            target_type="group",
            target_id=group_id,
            before={"displayName": before.display_name},
            after=changes,
        )
        record = await _get(tenant_id, group_id)
    STATISTICS.members_added(len(added))  # after the commit, as in create_group
    return record


async def delete_group(
    *, tenant_id: UUID, group_id: UUID, actor: Actor, if_match: int | None = None
) -> None:
    """Delete the group, its memberships and role mappings (the roles it granted end)."""
    require_any(actor, tenant_id, SCIM_PROVISION, TENANT_ADMIN)
    async with write_transaction():
        current = await _get(tenant_id, group_id)
        if if_match is not None and if_match != current.version:
            raise PreconditionFailed(f"the group is at version {current.version}, not {if_match}")
        roles = await mapped_role_names(tenant_id=tenant_id, group_id=group_id)
        await Group.delete().where((Group.tenant == tenant_id) & (Group.id == group_id))
        await audit.record(
            tenant_id=tenant_id,
            actor=actor,
            action="group.delete",
            target_type="group",
            target_id=group_id,
            before={"displayName": current.display_name, "roles": roles},
        )


async def mapped_role_names(*, tenant_id: UUID, group_id: UUID) -> list[str]:
    rows = await GroupRole.select(GroupRole.role.name).where(
        (GroupRole.tenant == tenant_id) & (GroupRole.group == group_id)
    )
    return sorted(row["role.name"] for row in rows)
