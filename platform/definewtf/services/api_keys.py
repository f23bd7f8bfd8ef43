"""API keys (per user, for scripts and the admin frontend) and admin bootstrap."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from definewtf.clock import utcnow
from definewtf.db import unique_violation_as, write_transaction
from definewtf.errors import Conflict, NotFound, Unauthenticated
from definewtf.principals import Actor, ActorKind, require_admin, require_operator
from definewtf.security import Security
from definewtf.services import audit, roles, tenants
from definewtf.services.credentials import check_secret, issue_secret
from definewtf.tables import ApiKey, Session, User, UserRole
from definewtf.text import fold


@dataclass(frozen=True, slots=True)
class IssuedApiKey:
    key: str
    id: UUID
    prefix: str
    user_id: UUID
    created_at: datetime

    def __repr__(self) -> str:
        return f"IssuedApiKey(key='***', id={self.id!r}, prefix={self.prefix!r})"


async def create_admin(
    *, email: str, tenant_slug: str | None, actor: Actor, security: Security
) -> IssuedApiKey:
    """An admin of `tenant_slug` (or, without one, a platform operator) with a new API key.

    An existing user of that userName is promoted rather than duplicated.
    """
    require_operator(actor)
    if tenant_slug is None:
        tenant = await tenants.ensure_platform_tenant(actor=actor)
        role_name = "operator"
    else:
        tenant = await tenants.get_tenant_by_slug(slug=tenant_slug)
        role_name = "admin"
    role_id = await tenants.role_id(tenant_id=tenant.id, name=role_name)
    secret = await issue_secret(security)
    now = utcnow()
    async with write_transaction():
        row = await (
            User.select(User.id)
            .where((User.tenant == tenant.id) & (User.user_name_ci == fold(email)))
            .first()
        )
        if row is None:
            user = User(
                tenant=tenant.id,
                user_name=email,
                user_name_ci=fold(email),
                email=email,
                email_ci=fold(email),
                active=True,
                created_at=now,
                updated_at=now,
                attributes={"emails": [{"value": email, "primary": True}]},
            )
            await User.insert(user)
            user_id = user.id
        else:
            user_id = UUID(str(row["id"]))
            await User.update({User.deleted_at: None, User.active: True}).where(User.id == user_id)
        has_role = await UserRole.exists().where(
            (UserRole.tenant == tenant.id) & (UserRole.user == user_id) & (UserRole.role == role_id)
        )
        if not has_role:
            await UserRole.insert(
                UserRole(tenant=tenant.id, user=user_id, role=role_id, created_at=now)
            )
        key = ApiKey(
            tenant=tenant.id,
            user=user_id,
            name=f"{role_name} key",
            prefix=secret.prefix,
            secret_hash=secret.secret_hash,
            created_at=now,
        )
        with unique_violation_as(Conflict("ApiKey", "prefix")):
            await ApiKey.insert(key)
        await audit.record(
            tenant_id=tenant.id,
            actor=actor,
            action="api_key.create",
            target_type="api_key",
            target_id=key.id,
            after={"prefix": secret.prefix, "user": email, "role": role_name},
        )
    return IssuedApiKey(
        key=secret.plaintext, id=key.id, prefix=secret.prefix, user_id=user_id, created_at=now
    )


async def create_api_key(
    *, tenant_id: UUID, user_id: UUID, name: str, actor: Actor, security: Security
) -> IssuedApiKey:
    """A new API key acting as `user_id` (their own, or any user's for an admin)."""
    if actor.user_id != user_id:
        require_admin(actor, tenant_id)
    secret = await issue_secret(security)
    now = utcnow()
    async with write_transaction():
        exists = await User.exists().where(
            (User.tenant == tenant_id) & (User.id == user_id) & User.deleted_at.is_null()
        )
        if not exists:
            raise NotFound("User", user_id)
        key = ApiKey(
            tenant=tenant_id,
            user=user_id,
            name=name[:200],
            prefix=secret.prefix,
            secret_hash=secret.secret_hash,
            created_at=now,
        )
        with unique_violation_as(Conflict("ApiKey", "prefix")):
            await ApiKey.insert(key)
        await audit.record(
            tenant_id=tenant_id,
            actor=actor,
            action="api_key.create",
            target_type="api_key",
            target_id=key.id,
            after={"prefix": secret.prefix, "user": str(user_id), "name": name},
        )
    return IssuedApiKey(
        key=secret.plaintext, id=key.id, prefix=secret.prefix, user_id=user_id, created_at=now
    )


async def authenticate_bearer(*, tenant_id: UUID | None, secret: str, security: Security) -> Actor:
    """The principal of an API key or session token presented on a tenant's host
    (`tenant_id`) or on the platform host (None). A credential of another tenant is refused;
    an operator's (held in the platform tenant) works everywhere."""
    platform = await tenants.platform_tenant_id()
    candidates = [t for t in (tenant_id, platform) if t is not None]
    for candidate in dict.fromkeys(candidates):
        for table, kind in ((ApiKey, "api_key"), (Session, "session")):
            try:
                row = await check_secret(
                    table,
                    tenant_id=candidate,
                    secret=secret,
                    security=security,
                    columns=(table.user, table.prefix),
                )
            except Unauthenticated:
                continue
            return await _actor_for(
                tenant_id=candidate,
                user_id=UUID(str(row["user"])),
                credential_id=UUID(str(row["id"])),
                prefix=row["prefix"],
                kind="api_key" if kind == "api_key" else "session",
            )
    raise Unauthenticated("invalid or expired credential")


async def _actor_for(
    *, tenant_id: UUID, user_id: UUID, credential_id: UUID, prefix: str, kind: ActorKind
) -> Actor:
    user = await (
        User.select(User.user_name, User.active, User.deleted_at)
        .where((User.tenant == tenant_id) & (User.id == user_id))
        .first()
    )
    # A deactivated or deleted user's keys and sessions stop working at once.
    if user is None or not user["active"] or user["deleted_at"] is not None:
        raise Unauthenticated("invalid or expired credential")
    permissions = await roles.permissions_of(tenant_id=tenant_id, user_id=user_id)
    what = "key" if kind == "api_key" else "session"
    return Actor(
        kind=kind,
        tenant_id=tenant_id,
        label=f"{user['user_name']} ({what} {prefix})",
        permissions=permissions,
        user_id=user_id,
        credential_id=credential_id,
    )
