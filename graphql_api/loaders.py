"""Per-request DataLoaders: a nested list on a page of users costs a fixed number of queries,
not one per user (no N+1)."""

from __future__ import annotations

from dataclasses import dataclass
from uuid import UUID

from strawberry.dataloader import DataLoader

from definewtf.services import groups, roles
from definewtf.services.roles import RoleGrant


@dataclass(frozen=True, slots=True)
class GroupRef:
    id: UUID
    display_name: str


@dataclass(frozen=True, slots=True)
class Loaders:
    roles: DataLoader[UUID, list[RoleGrant]]
    groups: DataLoader[UUID, list[GroupRef]]


def make_loaders(tenant_id: UUID | None) -> Loaders:
    async def load_roles(user_ids: list[UUID]) -> list[list[RoleGrant]]:
        if tenant_id is None:
            return [[] for _ in user_ids]
        found = await roles.grants_of_users(tenant_id=tenant_id, user_ids=list(user_ids))
        return [found[user_id] for user_id in user_ids]

    async def load_groups(user_ids: list[UUID]) -> list[list[GroupRef]]:
        if tenant_id is None:
            return [[] for _ in user_ids]
        found = await groups.groups_of(tenant_id=tenant_id, user_ids=list(user_ids))
        return [[GroupRef(gid, name) for gid, name in found[user_id]] for user_id in user_ids]

    return Loaders(roles=DataLoader(load_fn=load_roles), groups=DataLoader(load_fn=load_groups))
