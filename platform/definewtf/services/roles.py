"""Roles, and what grants them: by hand (user_role) or through SCIM group membership
(group_role: "Okta group Engineering grants role editor").

A user's roles are computed when asked (authentication reads them), as the union of direct
grants and the roles mapped to the groups they are in. So joining a group grants its roles at
the moment of the SCIM change, leaving it (or the group's deletion) revokes them, and grants
made by hand are never touched by provisioning.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from definewtf.clock import utcnow
from definewtf.db import fetch, lock_for_update, unique_violation_as, write_transaction
from definewtf.errors import Conflict, Invalid, NotFound
from definewtf.ids import as_uuid
from definewtf.principals import TENANT_ADMIN, Actor, require_admin
from definewtf.services import audit
from definewtf.sql import placeholders
from definewtf.tables import Group, GroupRole, Role, User, UserRole
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
    return as_uuid(row["id"]), row["name"]


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
    """Every role the user holds, and why: one indexed query, whatever the group sizes."""
    return (await grants_of_users(tenant_id=tenant_id, user_ids=[user_id]))[user_id]


async def permissions_of(*, tenant_id: UUID, user_id: UUID) -> frozenset[str]:
    return frozenset(
        p
        for grant in await grants_of(tenant_id=tenant_id, user_id=user_id)
        for p in grant.permissions
    )


async def grants_of_users(*, tenant_id: UUID, user_ids: list[UUID]) -> dict[UUID, list[RoleGrant]]:
    """`grants_of` for a page of users in one query, whatever the page size (the GraphQL
    roles loader). Raw SQL: it runs on every GraphQL request (the caller's permissions), and
    Piccolo's three joined selects were a sixth of a GraphQL page's CPU (py-spy)."""
    result: dict[UUID, list[RoleGrant]] = {user_id: [] for user_id in user_ids}
    if not user_ids:
        return result
    listed = placeholders(len(user_ids))
    sql = (
        'SELECT ur."user" AS member, r.name AS name, r.permissions AS permissions, '  # noqa: S608
        "NULL AS source FROM user_role ur JOIN role r ON r.id = ur.role "
        f'WHERE ur.tenant = {{}} AND ur."user" IN ({listed}) '
        "UNION ALL "
        'SELECT m."user", r.name, r.permissions, g.display_name FROM group_member m '
        'JOIN group_role gr ON gr.tenant = m.tenant AND gr."group" = m."group" '
        'JOIN role r ON r.id = gr.role JOIN app_group g ON g.id = m."group" '
        f'WHERE m.tenant = {{}} AND m."user" IN ({listed})'
    )
    for row in await fetch(sql, tenant_id, *user_ids, tenant_id, *user_ids):
        permissions = row["permissions"]
        if isinstance(permissions, str):
            permissions = json.loads(permissions)
        source = "direct" if row["source"] is None else row["source"]
        grant = RoleGrant(row["name"], tuple(permissions or []), source)
        result[as_uuid(row["member"])].append(grant)
    return {
        user_id: sorted(grants, key=lambda g: (g.role, g.source))
        for user_id, grants in result.items()
    }


@dataclass(frozen=True, slots=True)
class RoleRecord:
    id: UUID
    name: str
    description: str
    permissions: tuple[str, ...]
    builtin: bool


#: The permissions a role may carry. `platform:operator` is not grantable in a tenant.
GRANTABLE = frozenset({TENANT_ADMIN})


def _role_record(row: dict[str, Any]) -> RoleRecord:
    return RoleRecord(
        as_uuid(row["id"]),
        row["name"],
        row["description"],
        tuple(row["permissions"] or []),
        bool(row["builtin"]),
    )


def _check(name: str, permissions: list[str]) -> None:
    if not name.strip() or len(name) > 100:
        raise Invalid("a role name has 1 to 100 characters", attribute="name")
    unknown = set(permissions) - GRANTABLE
    if unknown:
        raise Invalid(f"unknown permissions: {sorted(unknown)}", attribute="permissions")


async def list_roles(*, tenant_id: UUID, actor: Actor) -> list[RoleRecord]:
    require_admin(actor, tenant_id)
    rows = (
        await Role.select(Role.id, Role.name, Role.description, Role.permissions, Role.builtin)
        .where(Role.tenant == tenant_id)
        .order_by(Role.name_ci)
        .output(load_json=True)
    )
    return [_role_record(row) for row in rows]


async def create_role(
    *, tenant_id: UUID, name: str, permissions: list[str], description: str = "", actor: Actor
) -> RoleRecord:
    require_admin(actor, tenant_id)
    _check(name, permissions)
    role = Role(
        tenant=tenant_id,
        name=name.strip(),
        name_ci=fold(name.strip()),
        description=description,
        permissions=sorted(set(permissions)),
        builtin=False,
        created_at=utcnow(),
    )
    async with write_transaction():
        with unique_violation_as(Conflict("Role", "name", f"a role named {name!r} exists")):
            await Role.insert(role)
        await audit.record(
            tenant_id=tenant_id,
            actor=actor,
            action="role.create",
            target_type="role",
            target_id=role.id,
            after={"name": role.name, "permissions": role.permissions},
        )
    return RoleRecord(role.id, role.name, description, tuple(role.permissions), False)


async def _locked_role(tenant_id: UUID, role_id: UUID) -> RoleRecord:
    rows = await lock_for_update(
        Role.select(Role.id, Role.name, Role.description, Role.permissions, Role.builtin)
        .where((Role.tenant == tenant_id) & (Role.id == role_id))
        .output(load_json=True)
    )
    if not rows:
        raise NotFound("Role", role_id)
    return _role_record(rows[0])


async def update_role(
    *,
    tenant_id: UUID,
    role_id: UUID,
    name: str | None = None,
    permissions: list[str] | None = None,
    description: str | None = None,
    actor: Actor,
) -> RoleRecord:
    require_admin(actor, tenant_id)
    async with write_transaction():
        current = await _locked_role(tenant_id, role_id)
        if current.builtin and (name is not None or permissions is not None):
            raise Invalid("built-in roles keep their name and permissions", attribute="name")
        new_name = current.name if name is None else name.strip()
        new_permissions = (
            list(current.permissions) if permissions is None else sorted(set(permissions))
        )
        _check(new_name, new_permissions)
        new_description = current.description if description is None else description
        with unique_violation_as(Conflict("Role", "name", f"a role named {new_name!r} exists")):
            await Role.update(
                {
                    Role.name: new_name,
                    Role.name_ci: fold(new_name),
                    Role.permissions: new_permissions,
                    Role.description: new_description,
                }
            ).where(Role.id == role_id)
        await audit.record(
            tenant_id=tenant_id,
            actor=actor,
            action="role.update",
            target_type="role",
            target_id=role_id,
            before={"name": current.name, "permissions": list(current.permissions)},
            after={"name": new_name, "permissions": new_permissions},
        )
    return RoleRecord(role_id, new_name, new_description, tuple(new_permissions), current.builtin)


async def delete_role(*, tenant_id: UUID, role_id: UUID, actor: Actor) -> None:
    """Delete a role; its grants (direct and through groups) end with it."""
    require_admin(actor, tenant_id)
    async with write_transaction():
        current = await _locked_role(tenant_id, role_id)
        if current.builtin:
            raise Invalid("built-in roles cannot be deleted", attribute="id")
        await Role.delete().where((Role.tenant == tenant_id) & (Role.id == role_id))
        await audit.record(
            tenant_id=tenant_id,
            actor=actor,
            action="role.delete",
            target_type="role",
            target_id=role_id,
            before={"name": current.name},
        )


async def assign_role(*, tenant_id: UUID, user_id: UUID, role: str, actor: Actor) -> None:
    """Grant a role by hand (untouched by SCIM). Idempotent."""
    require_admin(actor, tenant_id)
    async with write_transaction():
        role_id, role_name = await _role(tenant_id, role)
        exists = await User.exists().where(
            (User.tenant == tenant_id) & (User.id == user_id) & User.deleted_at.is_null()
        )
        if not exists:
            raise NotFound("User", user_id)
        inserted = await grant(tenant_id=tenant_id, user_id=user_id, role_id=role_id)
        if inserted:
            await audit.record(
                tenant_id=tenant_id,
                actor=actor,
                action="role.assign",
                target_type="user",
                target_id=user_id,
                after={"role": role_name},
            )


async def grant(*, tenant_id: UUID, user_id: UUID, role_id: UUID) -> bool:
    """Grant a role by hand inside the caller's transaction; False if already held."""
    inserted = (
        await UserRole.insert(
            UserRole(tenant=tenant_id, user=user_id, role=role_id, created_at=utcnow())
        )
        .on_conflict(action="DO NOTHING")
        .returning(UserRole.id)
    )
    return bool(inserted)


async def unassign_role(*, tenant_id: UUID, user_id: UUID, role: str, actor: Actor) -> None:
    """Take back a role granted by hand (roles held through groups stay with the group)."""
    require_admin(actor, tenant_id)
    if actor.user_id == user_id and fold(role) == "admin":
        raise Invalid("an admin cannot take their own admin role", attribute="role")
    async with write_transaction():
        role_id, role_name = await _role(tenant_id, role)
        deleted = (
            await UserRole.delete()
            .where(
                (UserRole.tenant == tenant_id)
                & (UserRole.user == user_id)
                & (UserRole.role == role_id)
            )
            .returning(UserRole.id)
        )
        if deleted:
            await audit.record(
                tenant_id=tenant_id,
                actor=actor,
                action="role.unassign",
                target_type="user",
                target_id=user_id,
                before={"role": role_name},
            )
