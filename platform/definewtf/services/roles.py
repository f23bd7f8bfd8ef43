"""Roles, and what grants them: by hand (user_role) or through SCIM group membership
(group_role: "Okta group Engineering grants role editor").

A user's roles are computed when asked (authentication reads them), as the union of direct
grants and the roles mapped to the groups they are in. So joining a group grants its roles at
the moment of the SCIM change, leaving it (or the group's deletion) revokes them, and grants
made by hand are never touched by provisioning.
"""

from __future__ import annotations

from dataclasses import dataclass
from uuid import UUID

from definewtf.clock import utcnow
from definewtf.db import write_transaction
from definewtf.errors import NotFound
from definewtf.principals import Actor, require_admin
from definewtf.services import audit
from definewtf.tables import Group, GroupMember, GroupRole, Role, UserRole
from definewtf.text import fold


@dataclass(frozen=True, slots=True)
class RoleGrant:
    role: str
    permissions: tuple[str, ...]
    #: "direct", or the displayName of the group that grants it.
    source: str


async def _role(tenant_id: UUID, name: str) -> tuple[UUID, str]:
    row = (
        await Role.select(Role.id, Role.name)
        .where((Role.tenant == tenant_id) & (Role.name_ci == fold(name)))
        .first()
    )
    if row is None:
        raise NotFound("Role", name)
    return UUID(str(row["id"])), row["name"]


async def _group_name(tenant_id: UUID, group_id: UUID) -> str:
    row = (
        await Group.select(Group.display_name)
        .where((Group.tenant == tenant_id) & (Group.id == group_id))
        .first()
    )
    if row is None:
        raise NotFound("Group", group_id)
    return str(row["display_name"])


async def map_group_to_role(*, tenant_id: UUID, group_id: UUID, role: str, actor: Actor) -> None:
    """Members of the group hold the role from now on. Idempotent."""
    require_admin(actor, tenant_id)
    async with write_transaction():
        group_name = await _group_name(tenant_id, group_id)
        role_id, role_name = await _role(tenant_id, role)
        inserted = (
            await GroupRole.insert(
                GroupRole(tenant=tenant_id, group=group_id, role=role_id, created_at=utcnow())
            )
            .on_conflict(action="DO NOTHING")
            .returning(GroupRole.id)
        )
        if inserted:
            await audit.record(
                tenant_id=tenant_id,
                actor=actor,
                action="group_role.map",
                target_type="group",
                target_id=group_id,
                after={"group": group_name, "role": role_name},
            )


async def unmap_group_to_role(*, tenant_id: UUID, group_id: UUID, role: str, actor: Actor) -> None:
    """Members of the group no longer hold the role through it (direct grants stay)."""
    require_admin(actor, tenant_id)
    async with write_transaction():
        group_name = await _group_name(tenant_id, group_id)
        role_id, role_name = await _role(tenant_id, role)
        deleted = (
            await GroupRole.delete()
            .where(
                (GroupRole.tenant == tenant_id)
                & (GroupRole.group == group_id)
                & (GroupRole.role == role_id)
            )
            .returning(GroupRole.id)
        )
        if deleted:
            await audit.record(
                tenant_id=tenant_id,
                actor=actor,
                action="group_role.unmap",
                target_type="group",
                target_id=group_id,
                before={"group": group_name, "role": role_name},
            )


async def grants_of(*, tenant_id: UUID, user_id: UUID) -> list[RoleGrant]:
    """Every role the user holds, and why: two indexed queries, whatever the group sizes."""
    direct = (
        await UserRole.select(UserRole.role.name, UserRole.role.permissions)
        .where((UserRole.tenant == tenant_id) & (UserRole.user == user_id))
        .output(load_json=True)
    )
    memberships = await GroupMember.select(GroupMember.group).where(
        (GroupMember.tenant == tenant_id) & (GroupMember.user == user_id)
    )
    group_ids = [row["group"] for row in memberships]
    via_groups = []
    if group_ids:
        via_groups = (
            await GroupRole.select(
                GroupRole.role.name, GroupRole.role.permissions, GroupRole.group.display_name
            )
            .where((GroupRole.tenant == tenant_id) & GroupRole.group.is_in(group_ids))
            .output(load_json=True)
        )
    grants = [
        RoleGrant(row["role.name"], tuple(row["role.permissions"] or []), "direct")
        for row in direct
    ]
    grants += [
        RoleGrant(row["role.name"], tuple(row["role.permissions"] or []), row["group.display_name"])
        for row in via_groups
    ]
    return sorted(grants, key=lambda g: (g.role, g.source))


async def permissions_of(*, tenant_id: UUID, user_id: UUID) -> frozenset[str]:
    return frozenset(
        p
        for grant in await grants_of(tenant_id=tenant_id, user_id=user_id)
        for p in grant.permissions
    )


async def grants_of_users(*, tenant_id: UUID, user_ids: list[UUID]) -> dict[UUID, list[RoleGrant]]:
    """`grants_of` for a page of users in three queries, whatever the page size (the GraphQL
    roles loader)."""
    result: dict[UUID, list[RoleGrant]] = {user_id: [] for user_id in user_ids}
    if not user_ids:
        return result
    direct = (
        await UserRole.select(UserRole.user, UserRole.role.name, UserRole.role.permissions)
        .where((UserRole.tenant == tenant_id) & UserRole.user.is_in(user_ids))
        .output(load_json=True)
    )
    for row in direct:
        result[UUID(str(row["user"]))].append(
            RoleGrant(row["role.name"], tuple(row["role.permissions"] or []), "direct")
        )
    memberships = await GroupMember.select(GroupMember.user, GroupMember.group).where(
        (GroupMember.tenant == tenant_id) & GroupMember.user.is_in(user_ids)
    )
    groups_of_user: dict[UUID, list[UUID]] = {}
    for row in memberships:
        groups_of_user.setdefault(UUID(str(row["group"])), []).append(UUID(str(row["user"])))
    if groups_of_user:
        mapped = (
            await GroupRole.select(
                GroupRole.group,
                GroupRole.role.name,
                GroupRole.role.permissions,
                GroupRole.group.display_name,
            )
            .where((GroupRole.tenant == tenant_id) & GroupRole.group.is_in(list(groups_of_user)))
            .output(load_json=True)
        )
        for row in mapped:
            grant = RoleGrant(
                row["role.name"], tuple(row["role.permissions"] or []), row["group.display_name"]
            )
            for user_id in groups_of_user[UUID(str(row["group"]))]:
                result[user_id].append(grant)
    return {
        user_id: sorted(grants, key=lambda g: (g.role, g.source))
        for user_id, grants in result.items()
    }
