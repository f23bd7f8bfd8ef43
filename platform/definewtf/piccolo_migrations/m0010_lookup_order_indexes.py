"""externalId lookup indexes that also give the page order.

An `externalId eq` lookup is `… WHERE tenant = ? AND deleted_at IS NULL AND external_id = ?
ORDER BY created_at, id LIMIT n`. A planner that believes the tenant small (SQLite has no
statistics until ANALYZE) prefers the index that already has the page order and filters
every user of the tenant: 192 lookups/s against 590 for `userName eq` in the 10,000-user
SQLite benchmark. With the order columns after external_id, one index gives both the match
and the order. (userName's unique index already wins on SQLite: a unique match is one row.)

The plain (tenant, created_at, id) index goes: every user list reads live users only, through
m0009's partial index.
"""

from definewtf.ddl import raw_migration

ID = "2026-11-28T22:20:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "externalId indexes in page order"

INDEXES = [
    "DROP INDEX app_user_tenant_external_id",
    "CREATE INDEX app_user_tenant_external_id ON app_user (tenant, external_id, created_at, id)",
    "DROP INDEX app_group_tenant_external_id",
    "CREATE INDEX app_group_tenant_external_id ON app_group (tenant, external_id, created_at, "
    "id)",
    "DROP INDEX app_user_tenant_created_at",
]


async def forwards():
    return raw_migration(ID, DESCRIPTION, INDEXES)
