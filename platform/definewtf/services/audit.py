"""The audit trail: one row per change, written in the transaction that makes the change."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Required, TypedDict, Unpack
from uuid import UUID

from piccolo.columns import Column
from piccolo.columns.combination import WhereRaw
from piccolo.custom_types import Combinable

from definewtf.clock import utcnow
from definewtf.errors import Invalid
from definewtf.ids import as_uuid, uuid7
from definewtf.principals import Actor, require_admin
from definewtf.request_context import request_id
from definewtf.services.paging import MAX_PAGE_SIZE
from definewtf.tables import AuditEvent
from definewtf.writes import Insert, insert_row


class Event(TypedDict, total=False):
    """What an audit event says: who did what to which target, what it was and became."""

    tenant_id: Required[UUID]
    actor: Required[Actor]
    action: Required[str]
    target_type: str
    target_id: object
    before: dict[str, Any] | None
    after: dict[str, Any] | None


async def record(**event_fields: Unpack[Event]) -> None:
    """Append an audit event. Call it inside the service's write transaction, so the event
    exists exactly when the change does. Never pass a secret in `before` / `after`."""
    await insert_row(AuditEvent, _row(event_fields))


def event(**event_fields: Unpack[Event]) -> Insert:
    """The row `record` appends, for a write that inserts it with its own rows
    (`definewtf.writes.write_together`)."""
    return Insert.row(AuditEvent, _row(event_fields))


def _row(event_fields: Event) -> dict[Column, Any]:
    column, actor = AuditEvent, event_fields["actor"]
    return {
        # Time-ordered: events of the same second keep the order they happened in.
        column.id: uuid7(),
        column.tenant: event_fields["tenant_id"],
        column.occurred_at: utcnow(),
        column.actor_type: actor.kind,
        column.actor_id: actor.user_id or actor.credential_id,
        column.actor_label: actor.label,
        column.action: event_fields["action"],
        column.target_type: event_fields.get("target_type", ""),
        column.target_id: str(event_fields.get("target_id", "")),
        column.before: event_fields.get("before"),
        column.after: event_fields.get("after"),
        column.request_id: request_id(),
    }


@dataclass(frozen=True, slots=True)
class AuditRecord:
    id: UUID
    occurred_at: datetime
    actor_type: str
    actor_id: UUID | None
    actor_label: str
    action: str
    target_type: str
    target_id: str
    before: dict[str, Any] | None
    after: dict[str, Any] | None
    request_id: str


@dataclass(frozen=True, slots=True)
class AuditPage:
    #: None unless asked for: a trail only grows, and counting 1,000,000 events took 60 ms of
    #: every page.
    total: int | None
    items: list[AuditRecord]
    #: Whether older events follow the page.
    more: bool


@dataclass(frozen=True, slots=True)
class AuditKey:
    """An event's place in the trail's order (newest first): its time, then its id."""

    occurred_at: datetime
    id: UUID


@dataclass(frozen=True, slots=True)
class AuditQuery:
    """Which events to list; every part is optional. `since` is inclusive, `until` not."""

    action: str | None = None
    actor_id: UUID | None = None
    actor_type: str | None = None
    target_type: str | None = None
    target_id: str | None = None
    since: datetime | None = None
    until: datetime | None = None


def _criteria(tenant_id: UUID, query: AuditQuery) -> Combinable:
    where: Combinable = AuditEvent.tenant == tenant_id
    for column, value in (
        (AuditEvent.action, query.action),
        (AuditEvent.actor_id, query.actor_id),
        (AuditEvent.actor_type, query.actor_type),
        (AuditEvent.target_type, query.target_type),
        (AuditEvent.target_id, query.target_id),
    ):
        if value is not None:
            where &= column == value
    if query.since is not None:
        where &= AuditEvent.occurred_at >= query.since
    if query.until is not None:
        where &= AuditEvent.occurred_at < query.until
    return where


async def list_events(
    *,
    tenant_id: UUID,
    actor: Actor,
    query: AuditQuery | None = None,
    offset: int = 0,
    limit: int = 50,
    after: AuditKey | None = None,
    count: bool = True,
) -> AuditPage:
    """The tenant's audit trail, newest first (admins). History stays after a user is
    deleted: events are never removed with their target.

    A page starts `after` an event (the last one its reader saw) or `offset` events in. From
    an event, it is read in the (tenant, occurred_at, id) index from there: by offset, a page
    deep in a trail of 1,000,000 events took 810 ms, reading every event it skipped; and
    events written meanwhile do not shift the pages. `count`: whether to count the matching
    events (`total`)."""
    require_admin(actor, tenant_id)
    query = query or AuditQuery()
    if query.since and query.until and query.since >= query.until:
        raise Invalid("`since` must be before `until`", attribute="since")
    where = _criteria(tenant_id, query)
    if offset < 0 or not 0 <= limit <= MAX_PAGE_SIZE:
        raise Invalid("page out of range")
    total = await AuditEvent.count().where(where) if count else None
    if after is not None:
        where &= WhereRaw(
            '("audit_event"."occurred_at", "audit_event"."id") < ({}, {})',
            after.occurred_at,
            after.id,
        )
    rows = (
        await AuditEvent.select(
            AuditEvent.id,
            AuditEvent.occurred_at,
            AuditEvent.actor_type,
            AuditEvent.actor_id,
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
        .limit(limit + 1)  # one more tells whether older events follow, without a count
        .output(load_json=True)
    )
    items = [_record(row) for row in rows[:limit]]
    return AuditPage(total=total, items=items, more=len(rows) > limit)


def _record(row: dict[str, Any]) -> AuditRecord:
    actor_id = row["actor_id"]
    return AuditRecord(
        **{**row, "id": as_uuid(row["id"]), "actor_id": actor_id and as_uuid(actor_id)}
    )
