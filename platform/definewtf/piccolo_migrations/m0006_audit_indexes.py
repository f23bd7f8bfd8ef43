"""Indexes for the audit trail's filters: a target's history and what one actor did, each
newest first within the tenant."""

from definewtf.ddl import raw_migration

ID = "2026-11-28T18:50:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "audit_event indexes by target and by actor"

INDEXES = [
    "CREATE INDEX audit_event_tenant_target ON audit_event (tenant, target_id, occurred_at)",
    "CREATE INDEX audit_event_tenant_actor ON audit_event (tenant, actor_id, occurred_at)",
]


async def forwards():
    return raw_migration(ID, DESCRIPTION, INDEXES)
