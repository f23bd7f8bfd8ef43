"""Tenants: creation (with their built-in roles), lookup by slug for host routing."""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from definewtf.clock import utcnow
from definewtf.db import unique_violation_as, write_transaction
from definewtf.errors import Conflict, Invalid, NotFound
from definewtf.ids import as_uuid
from definewtf.principals import (
    PLATFORM_OPERATOR,
    TENANT_ADMIN,
    Actor,
    require_admin,
    require_operator,
)
from definewtf.services import audit
from definewtf.tables import Role, Tenant
from definewtf.text import fold, is_dns_label

#: Host labels the platform itself may need; no tenant may take them.
RESERVED_SLUGS = frozenset({"www", "api", "app", "admin", "platform", "static", "mail", "status"})
PLATFORM_SLUG = "platform"

#: Roles every tenant starts with. `admin` manages the tenant; `member` is everyone else.
BUILTIN_ROLES: dict[str, tuple[str, list[str]]] = {
    "admin": ("Manages the tenant: users, roles, tokens, audit trail", [TENANT_ADMIN]),
    "member": ("A person of the tenant; manages their own profile", []),
}
PLATFORM_ROLES: dict[str, tuple[str, list[str]]] = {
    "operator": ("Operates the platform: all tenants", [PLATFORM_OPERATOR]),
}


@dataclass(frozen=True, slots=True)
class TenantRecord:
    id: UUID
    slug: str
    name: str
    created_at: datetime | None


def _record(row: dict[str, Any]) -> TenantRecord:
    return TenantRecord(
        id=row["id"], slug=row["slug"], name=row["name"], created_at=row["created_at"]
    )


_COLUMNS = (Tenant.id, Tenant.slug, Tenant.name, Tenant.created_at)


def validate_slug(slug: str) -> str:
    if not is_dns_label(slug):
        raise Invalid(
            f"invalid tenant slug {slug!r}: use 1-63 lowercase letters, digits and '-', "
            "not starting or ending with '-' (a DNS label)",
            attribute="slug",
        )
    if slug in RESERVED_SLUGS:
        raise Invalid(f"tenant slug {slug!r} is reserved", attribute="slug")
    return slug


async def create_tenant(*, slug: str, name: str | None = None, actor: Actor) -> TenantRecord:
    require_operator(actor)
    validate_slug(slug)
    return await _create(
        slug=slug, name=name or slug, roles=BUILTIN_ROLES, actor=actor, platform=False
    )


async def _create(
    *, slug: str, name: str, roles: dict[str, tuple[str, list[str]]], actor: Actor, platform: bool
) -> TenantRecord:
    if len(name) > 200:
        raise Invalid("tenant name is longer than 200 characters", attribute="name")
    now = utcnow()
    tenant = Tenant(slug=slug, name=name, created_at=now, is_platform=platform, scim_settings={})
    async with write_transaction():
        with unique_violation_as(Conflict("Tenant", "slug", f"tenant {slug!r} already exists")):
            await Tenant.insert(tenant)
        await Role.insert(
            *(
                Role(
                    tenant=tenant.id,
                    name=role,
                    name_ci=fold(role),
                    description=description,
                    permissions=permissions,
                    builtin=True,
                    created_at=now,
                )
                for role, (description, permissions) in roles.items()
            )
        )
        await audit.record(
            tenant_id=tenant.id,
            actor=actor,
            action="tenant.create",
            target_type="tenant",
            target_id=tenant.id,
            after={"slug": slug, "name": name},
        )
    return TenantRecord(id=tenant.id, slug=slug, name=name, created_at=now)


async def ensure_platform_tenant(*, actor: Actor) -> TenantRecord:
    """The tenant that holds platform operators; created on first use."""
    require_operator(actor)
    row = await Tenant.select(*_COLUMNS).where(Tenant.slug == PLATFORM_SLUG).first()
    if row is not None:
        return _record(row)
    try:
        return await _create(
            slug=PLATFORM_SLUG,
            name="define.wtf platform",
            roles=PLATFORM_ROLES,
            actor=actor,
            platform=True,
        )
    except Conflict:  # created concurrently: read the winner's row
        row = await Tenant.select(*_COLUMNS).where(Tenant.slug == PLATFORM_SLUG).first()
        assert row is not None
        return _record(row)


async def platform_tenant_id() -> UUID | None:
    row = await Tenant.select(Tenant.id).where(Tenant.slug == PLATFORM_SLUG).first()
    return None if row is None else as_uuid(row["id"])


async def find_tenant_by_slug(slug: str) -> TenantRecord | None:
    """Host routing: the customer tenant a `{slug}.{base}` host names (never the platform's)."""
    row = await (
        Tenant.select(*_COLUMNS)
        .where((Tenant.slug == slug) & (Tenant.is_platform == False))  # noqa: E712
        .first()
    )
    return None if row is None else _record(row)


class TenantCache:
    """Host routing reads a tenant for every request; tenants are created once and renamed
    rarely, so each process remembers the ones it found for `ttl_seconds` (a rename shows in
    other processes' request context after at most that; whatever displays the tenant reads
    it with `get_tenant`). Unknown slugs are not remembered: a tenant created a moment ago is
    served at once."""

    MAX_ENTRIES = 10_000

    def __init__(self, ttl_seconds: float = 10.0) -> None:
        self._ttl = ttl_seconds
        self._entries: dict[str, tuple[float, TenantRecord]] = {}

    async def find(self, slug: str) -> TenantRecord | None:
        now = time.monotonic()
        cached = self._entries.get(slug)
        if cached is not None and cached[0] > now:
            return cached[1]
        tenant = await find_tenant_by_slug(slug)
        if tenant is not None:
            if len(self._entries) >= self.MAX_ENTRIES:
                self._entries.clear()
            self._entries[slug] = (now + self._ttl, tenant)
        return tenant


async def get_tenant(*, tenant_id: UUID) -> TenantRecord:
    row = await Tenant.select(*_COLUMNS).where(Tenant.id == tenant_id).first()
    if row is None:
        raise NotFound("Tenant", tenant_id)
    return _record(row)


async def get_tenant_by_slug(*, slug: str) -> TenantRecord:
    tenant = await find_tenant_by_slug(slug)
    if tenant is None:
        raise NotFound("Tenant", slug)
    return tenant


async def role_id(*, tenant_id: UUID, name: str) -> UUID:
    row = await (
        Role.select(Role.id)
        .where((Role.tenant == tenant_id) & (Role.name_ci == fold(name)))
        .first()
    )
    if row is None:
        raise NotFound("Role", name)
    return as_uuid(row["id"])


async def list_tenants(
    *, actor: Actor, offset: int = 0, limit: int = 50
) -> tuple[int, list[TenantRecord]]:
    """Every customer tenant (platform operators), by slug."""
    require_operator(actor)
    where = Tenant.is_platform == False  # noqa: E712 - SQL comparison, not Python truthiness
    total = await Tenant.count().where(where)
    rows = (
        await Tenant.select(*_COLUMNS)
        .where(where)
        .order_by(Tenant.slug)
        .offset(offset)
        .limit(limit)
    )
    return total, [_record(row) for row in rows]


async def update_tenant(*, tenant_id: UUID, name: str, actor: Actor) -> TenantRecord:
    """Rename a tenant (its admins or an operator). The slug — its hostname — never changes."""
    require_admin(actor, tenant_id)
    if not name.strip() or len(name) > 200:
        raise Invalid("a tenant name has 1 to 200 characters", attribute="name")
    async with write_transaction():
        current = await get_tenant(tenant_id=tenant_id)
        await Tenant.update({Tenant.name: name.strip()}).where(Tenant.id == tenant_id)
        await audit.record(
            tenant_id=tenant_id,
            actor=actor,
            action="tenant.update",
            target_type="tenant",
            target_id=tenant_id,
            before={"name": current.name},
            after={"name": name.strip()},
        )
    return TenantRecord(
        id=tenant_id, slug=current.slug, name=name.strip(), created_at=current.created_at
    )
