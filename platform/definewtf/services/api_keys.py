"""API keys (per user, for scripts and the admin frontend) and admin bootstrap."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from piccolo.custom_types import Combinable

from definewtf.clock import utcnow
from definewtf.db import fetch, unique_violation_as, write_transaction
from definewtf.errors import Conflict, Denied, NotFound, Unauthenticated
from definewtf.ids import as_uuid
from definewtf.principals import TENANT_ADMIN, Actor, ActorKind, require_admin, require_operator
from definewtf.security import Security
from definewtf.services import audit, roles, tenants
from definewtf.services.credentials import NewSecret, check_secret, issue_secret
from definewtf.tables import ApiKey, Session, User
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
            user_id = as_uuid(row["id"])
            await User.update({User.deleted_at: None, User.active: True}).where(User.id == user_id)
        await roles.grant(tenant_id=tenant.id, user_id=user_id, role_id=role_id)
        key = await _insert_key(
            tenant_id=tenant.id,
            user_id=user_id,
            name=f"{role_name} key",
            secret=secret,
            actor=actor,
            detail={"user": email, "role": role_name},
        )
    return IssuedApiKey(
        key=secret.plaintext,
        id=key.id,
        prefix=secret.prefix,
        user_id=user_id,
        created_at=key.created_at,
    )


async def _insert_key(
    *,
    tenant_id: UUID,
    user_id: UUID,
    name: str,
    secret: NewSecret,
    actor: Actor,
    detail: dict[str, Any],
) -> ApiKey:
    """Store a key (hash and prefix only) and audit it, inside the caller's transaction."""
    key = ApiKey(
        tenant=tenant_id,
        user=user_id,
        name=name[:200],
        prefix=secret.prefix,
        secret_hash=secret.secret_hash,
        created_at=utcnow(),
    )
    with unique_violation_as(Conflict("ApiKey", "prefix")):
        await ApiKey.insert(key)
    await audit.record(
        tenant_id=tenant_id,
        actor=actor,
        action="api_key.create",
        target_type="api_key",
        target_id=key.id,
        after={"prefix": secret.prefix, **detail},
    )
    return key


async def create_api_key(
    *, tenant_id: UUID, user_id: UUID, name: str, actor: Actor, security: Security
) -> IssuedApiKey:
    """A new API key acting as `user_id` (their own, or any user's for an admin)."""
    if actor.user_id != user_id:
        require_admin(actor, tenant_id)
    secret = await issue_secret(security)
    async with write_transaction():
        exists = await User.exists().where(
            (User.tenant == tenant_id) & (User.id == user_id) & User.deleted_at.is_null()
        )
        if not exists:
            raise NotFound("User", user_id)
        key = await _insert_key(
            tenant_id=tenant_id,
            user_id=user_id,
            name=name,
            secret=secret,
            actor=actor,
            detail={"user": str(user_id), "name": name},
        )
    return IssuedApiKey(
        key=secret.plaintext,
        id=key.id,
        prefix=secret.prefix,
        user_id=user_id,
        created_at=key.created_at,
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
                user_id=as_uuid(row["user"]),
                credential_id=as_uuid(row["id"]),
                prefix=row["prefix"],
                kind="api_key" if kind == "api_key" else "session",
            )
    raise Unauthenticated("invalid or expired credential")


async def _actor_for(
    *, tenant_id: UUID, user_id: UUID, credential_id: UUID, prefix: str, kind: ActorKind
) -> Actor:
    # Raw SQL: every GraphQL request runs it, and Piccolo builds a query object per call.
    rows = await fetch(
        "SELECT user_name, active, deleted_at FROM app_user WHERE tenant = {} AND id = {}",
        tenant_id,
        user_id,
    )
    user = rows[0] if rows else None
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
        credential_prefix=f"{kind}:{prefix}",
    )


@dataclass(frozen=True, slots=True)
class ApiKeyInfo:
    """Key metadata; never the secret."""

    id: UUID
    prefix: str
    name: str
    user_id: UUID
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None


_INFO_COLUMNS = (
    ApiKey.id,
    ApiKey.prefix,
    ApiKey.name,
    ApiKey.user,
    ApiKey.created_at,
    ApiKey.last_used_at,
    ApiKey.revoked_at,
)


def _info(row: dict[str, Any]) -> ApiKeyInfo:
    return ApiKeyInfo(
        as_uuid(row["id"]),
        row["prefix"],
        row["name"],
        as_uuid(row["user"]),
        row["created_at"],
        row["last_used_at"],
        row["revoked_at"],
    )


async def list_api_keys(*, tenant_id: UUID, actor: Actor) -> list[ApiKeyInfo]:
    """An admin sees every key of the tenant; anyone else their own."""
    where: Combinable = ApiKey.tenant == tenant_id
    if not actor.has(TENANT_ADMIN, tenant_id):
        if actor.user_id is None:
            raise Denied("only people have API keys")
        where &= ApiKey.user == actor.user_id
    rows = (
        await ApiKey.select(*_INFO_COLUMNS)
        .where(where)
        .order_by(ApiKey.created_at, ascending=False)
        .order_by(ApiKey.id)
    )
    return [_info(row) for row in rows]


async def revoke_api_key(*, tenant_id: UUID, key_id: UUID, actor: Actor) -> ApiKeyInfo:
    """Revoke a key now (one's own, or any for an admin); refused on the very next request."""
    async with write_transaction():
        row = (
            await ApiKey.select(*_INFO_COLUMNS)
            .where((ApiKey.tenant == tenant_id) & (ApiKey.id == key_id))
            .first()
        )
        if row is None:
            raise NotFound("ApiKey", key_id)
        if as_uuid(row["user"]) != actor.user_id:
            require_admin(actor, tenant_id)
        if row["revoked_at"] is None:
            row["revoked_at"] = utcnow()
            await ApiKey.update({ApiKey.revoked_at: row["revoked_at"]}).where(ApiKey.id == key_id)
            await audit.record(
                tenant_id=tenant_id,
                actor=actor,
                action="api_key.revoke",
                target_type="api_key",
                target_id=key_id,
                after={"prefix": row["prefix"]},
            )
    return _info(row)
