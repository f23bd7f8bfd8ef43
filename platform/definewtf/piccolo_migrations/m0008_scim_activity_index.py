"""scim_activity's one index: a process's row of an hour, and a tenant's recent hours."""

from definewtf.ddl import raw_migration

ID = "2026-11-28T19:00:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "scim_activity index"

INDEXES = [
    "CREATE UNIQUE INDEX scim_activity_tenant_hour_worker ON scim_activity (tenant, hour, worker)",
]


async def forwards():
    return raw_migration(ID, DESCRIPTION, INDEXES)
