"""The audit trail: one row per change, written in the transaction that makes the change."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from piccolo.custom_types import Combinable

from definewtf.clock import utcnow
from definewtf.errors import Invalid
from definewtf.ids import uuid7
from definewtf.principals import Actor, require_admin
from definewtf.request_context import request_id
from definewtf.services.paging import MAX_PAGE_SIZE
from definewtf.tables import AuditEvent


async def record(
    *,
    tenant_id: UUID,
    actor: Actor,
    action: str,
    target_type: str = "",
    target_id: object = "",
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
) -> None:
    """Append an audit event. Call it inside the service's write transaction, so the event
    exists exactly when the change does. Never pass a secret in `before` / `after`."""
    await AuditEvent.insert(
        AuditEvent(
            # Time-ordered: events of the same second keep the order they happened in.
            id=uuid7(),
            tenant=tenant_id,
            occurred_at=utcnow(),
            actor_type=actor.kind,
            actor_id=actor.user_id or actor.credential_id,
            actor_label=actor.label,
            action=action,
            target_type=target_type,
            target_id=str(target_id),
            before=before,
            after=after,
            request_id=request_id.get(),
        )
    )


@dataclass(frozen=True, slots=True)
class AuditRecord:
    id: UUID
    occurred_at: datetime
    actor_type: str
    actor_label: str
    action: str
    target_type: str
    target_id: str
    before: dict[str, Any] | None
    after: dict[str, Any] | None
    request_id: str


@dataclass(frozen=True, slots=True)
class AuditPage:
    total: int
    items: list[AuditRecord]


async def list_events(
    *,
    tenant_id: UUID,
    actor: Actor,
    action: str | None = None,
    target_id: str | None = None,
    offset: int = 0,
    limit: int = 50,
) -> AuditPage:
    """The tenant's audit trail, newest first (admins). History stays after a user is
    deleted: events are never removed with their target."""
    require_admin(actor, tenant_id)
    where: Combinable = AuditEvent.tenant == tenant_id
    if action is not None:
        where &= AuditEvent.action == action
    if target_id is not None:
        where &= AuditEvent.target_id == target_id
    if offset < 0 or not 0 <= limit <= MAX_PAGE_SIZE:
        raise Invalid("page out of range")
    total = await AuditEvent.count().where(where)
    rows = (
        await AuditEvent.select(
            AuditEvent.id,
            AuditEvent.occurred_at,
            AuditEvent.actor_type,
            AuditEvent.actor_label,
            AuditEvent.action,
            AuditEvent.target_type,
            AuditEvent.target_id,
            AuditEvent.before,
            AuditEvent.after,
            AuditEvent.request_id,
        )
        .where(where)
        .order_by(AuditEvent.occurred_at, ascending=False)
        .order_by(AuditEvent.id, ascending=False)
        .offset(offset)
        .limit(limit)
        .output(load_json=True)
        if limit
        else []
    )
    return AuditPage(
        total=total, items=[AuditRecord(**{**row, "id": UUID(str(row["id"]))}) for row in rows]
    )
