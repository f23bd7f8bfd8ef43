"""SCIM tokens (DESIGN.md §4): generate (shown once), regenerate, revoke, authenticate."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from definewtf import revocations
from definewtf.clock import utcnow
from definewtf.db import unique_violation_as, write_transaction
from definewtf.errors import Conflict, Invalid, NotFound
from definewtf.ids import as_uuid
from definewtf.principals import SCIM_PROVISION, Actor, require_admin
from definewtf.security import Security
from definewtf.services import audit
from definewtf.services.credentials import check_secret, is_live, issue_secret
from definewtf.tables import ScimToken

#: A token older than this is flagged for rotation.
ROTATION_DUE_DAYS = 90
MAX_EXPIRY_DAYS = 3650
MAX_OVERLAP_MINUTES = 7 * 24 * 60


@dataclass(frozen=True, slots=True)
class ScimTokenInfo:
    """Token metadata; never the secret."""

    id: UUID
    prefix: str
    created_at: datetime
    created_by: str
    last_used_at: datetime | None
    expires_at: datetime | None
    revoked_at: datetime | None

    def active(self, now: datetime) -> bool:
        return is_live({"revoked_at": self.revoked_at, "expires_at": self.expires_at}, now)


@dataclass(frozen=True, slots=True)
class IssuedScimToken:
    """The plaintext exists only here, once, on its way to the person who asked for it."""

    token: str
    info: ScimTokenInfo

    def __repr__(self) -> str:
        return f"IssuedScimToken(token='***', info={self.info!r})"


_COLUMNS = (
    ScimToken.id,
    ScimToken.prefix,
    ScimToken.created_at,
    ScimToken.created_by_label,
    ScimToken.last_used_at,
    ScimToken.expires_at,
    ScimToken.revoked_at,
)


def _info(row: dict[str, Any]) -> ScimTokenInfo:
    return ScimTokenInfo(
        id=as_uuid(row["id"]),
        prefix=row["prefix"],
        created_at=row["created_at"],
        created_by=row["created_by_label"],
        last_used_at=row["last_used_at"],
        expires_at=row["expires_at"],
        revoked_at=row["revoked_at"],
    )


async def generate_scim_token(
    *,
    tenant_id: UUID,
    actor: Actor,
    security: Security,
    expires_in_days: int | None = None,
    overlap_minutes: int = 0,
) -> IssuedScimToken:
    """A new token for the tenant. Every token still active is revoked — at once, or after
    `overlap_minutes` so the IdP can be reconfigured without a provisioning outage."""
    require_admin(actor, tenant_id)
    if expires_in_days is not None and not 1 <= expires_in_days <= MAX_EXPIRY_DAYS:
        raise Invalid(
            f"expiresInDays must be between 1 and {MAX_EXPIRY_DAYS}", attribute="expiresInDays"
        )
    if not 0 <= overlap_minutes <= MAX_OVERLAP_MINUTES:
        raise Invalid(
            f"overlapMinutes must be between 0 and {MAX_OVERLAP_MINUTES}",
            attribute="overlapMinutes",
        )
    secret = await issue_secret(security)
    now = utcnow()
    row = ScimToken(
        tenant=tenant_id,
        prefix=secret.prefix,
        secret_hash=secret.secret_hash,
        created_by=actor.user_id,
        created_by_label=actor.label,
        created_at=now,
        expires_at=None if expires_in_days is None else now + timedelta(days=expires_in_days),
    )
    revoke_at = now + timedelta(minutes=overlap_minutes)
    async with write_transaction():
        # Every token still live, or live until a later overlap end, stops at `revoke_at`
        # (the earlier of its own end and this one's): a regeneration after a leak ends any
        # earlier overlap too.
        superseded = (
            await ScimToken.update({ScimToken.revoked_at: revoke_at})
            .where(
                (ScimToken.tenant == tenant_id)
                & (ScimToken.revoked_at.is_null() | (ScimToken.revoked_at > revoke_at))
            )
            .returning(ScimToken.id, ScimToken.prefix)
        )
        with unique_violation_as(Conflict("ScimToken", "prefix")):
            await ScimToken.insert(row)
        await audit.record(
            tenant_id=tenant_id,
            actor=actor,
            action="scim_token.generate",
            target_type="scim_token",
            target_id=row.id,
            after={
                "prefix": secret.prefix,
                "expires_at": _iso(row.expires_at),
                "revokes": [r["prefix"] for r in superseded],
                "revokes_at": revoke_at.isoformat(),
            },
        )
    revocations.tokens_changed(tenant_id)  # this process's next request; the trigger tells others
    info = ScimTokenInfo(
        id=row.id,
        prefix=secret.prefix,
        created_at=now,
        created_by=actor.label,
        last_used_at=None,
        expires_at=row.expires_at,
        revoked_at=None,
    )
    return IssuedScimToken(token=secret.plaintext, info=info)


async def revoke_scim_token(*, tenant_id: UUID, token_id: UUID, actor: Actor) -> ScimTokenInfo:
    """Revoke one token now. Idempotent: revoking a revoked token keeps its first revocation."""
    require_admin(actor, tenant_id)
    now = utcnow()
    where = (ScimToken.tenant == tenant_id) & (ScimToken.id == token_id)
    async with write_transaction():
        row = await ScimToken.select(*_COLUMNS).where(where).first()
        if row is None:
            raise NotFound("ScimToken", token_id)
        if row["revoked_at"] is None or row["revoked_at"] > now:
            await ScimToken.update({ScimToken.revoked_at: now}).where(where)
            await audit.record(
                tenant_id=tenant_id,
                actor=actor,
                action="scim_token.revoke",
                target_type="scim_token",
                target_id=token_id,
                after={"prefix": row["prefix"]},
            )
            row["revoked_at"] = now
    revocations.tokens_changed(tenant_id)
    return _info(row)


async def list_scim_tokens(*, tenant_id: UUID, actor: Actor) -> list[ScimTokenInfo]:
    require_admin(actor, tenant_id)
    rows = await (
        ScimToken.select(*_COLUMNS)
        .where(ScimToken.tenant == tenant_id)
        .order_by(ScimToken.created_at, ascending=False)
        .order_by(ScimToken.id)
    )
    return [_info(row) for row in rows]


async def authenticate_scim(*, tenant_id: UUID, secret: str, security: Security) -> Actor:
    """The SCIM principal for a Bearer token presented on `tenant_id`'s host."""
    row = await check_secret(
        ScimToken,
        tenant_id=tenant_id,
        secret=secret,
        security=security,
        columns=(ScimToken.prefix,),
        feed=security.revocations,
    )
    return _scim_actor(tenant_id, as_uuid(row["id"]), row["prefix"])


@functools.lru_cache(maxsize=4096)
def _scim_actor(tenant_id: UUID, credential_id: UUID, prefix: str) -> Actor:
    """A token's principal, the same for every request it makes (an Actor is immutable): built
    once, it cost a fifth of checking a known token."""
    return Actor(
        kind="scim_token",
        tenant_id=tenant_id,
        label=f"scim-token:{prefix}",
        permissions=frozenset({SCIM_PROVISION}),
        credential_id=credential_id,
        credential_prefix=f"scim_token:{prefix}",
    )


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()
