"""The audit trail: one row per change, written in the transaction that makes the change."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from definewtf.clock import utcnow
from definewtf.principals import Actor
from definewtf.request_context import request_id
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
