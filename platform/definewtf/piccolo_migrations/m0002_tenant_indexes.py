"""Composite indexes, every one beginning with the tenant (DESIGN.md §3).

Raw SQL because Piccolo columns only declare single-column indexes, and Piccolo's
`Unique` constraint emits `ALTER TABLE … ADD CONSTRAINT`, which SQLite rejects. The same
statements run on SQLite and PostgreSQL.
"""

from definewtf.ddl import raw_migration

ID = "2026-11-28T17:00:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "tenant-first composite indexes and case-insensitive uniqueness"

INDEXES = [
    # Case-insensitive uniqueness, decided by the database on folded columns.
    "CREATE UNIQUE INDEX app_user_tenant_user_name_ci ON app_user (tenant, user_name_ci)",
    "CREATE UNIQUE INDEX app_group_tenant_display_name_ci ON app_group (tenant, display_name_ci)",
    "CREATE UNIQUE INDEX role_tenant_name_ci ON role (tenant, name_ci)",
    # What IdPs look users up by.
    "CREATE INDEX app_user_tenant_external_id ON app_user (tenant, external_id)",
    "CREATE INDEX app_user_tenant_email_ci ON app_user (tenant, email_ci)",
    "CREATE INDEX app_user_tenant_created_at ON app_user (tenant, created_at, id)",
    "CREATE INDEX app_group_tenant_external_id ON app_group (tenant, external_id)",
    # Memberships and role grants: unique pairs, and the reverse direction.
    'CREATE UNIQUE INDEX group_member_tenant_group_user ON group_member (tenant, "group", "user")',
    'CREATE INDEX group_member_tenant_user ON group_member (tenant, "user")',
    'CREATE UNIQUE INDEX user_role_tenant_user_role ON user_role (tenant, "user", role)',
    "CREATE INDEX user_role_tenant_role ON user_role (tenant, role)",
    'CREATE UNIQUE INDEX group_role_tenant_group_role ON group_role (tenant, "group", role)',
    "CREATE INDEX group_role_tenant_role ON group_role (tenant, role)",
    # Credentials: one indexed read per request.
    "CREATE UNIQUE INDEX scim_token_tenant_prefix ON scim_token (tenant, prefix)",
    "CREATE UNIQUE INDEX api_key_tenant_prefix ON api_key (tenant, prefix)",
    'CREATE INDEX api_key_tenant_user ON api_key (tenant, "user")',
    "CREATE UNIQUE INDEX session_tenant_prefix ON session (tenant, prefix)",
    'CREATE INDEX session_tenant_user ON session (tenant, "user")',
    # The audit trail, newest first per tenant.
    "CREATE INDEX audit_event_tenant_occurred_at ON audit_event (tenant, occurred_at, id)",
]


async def forwards():
    return raw_migration(ID, DESCRIPTION, INDEXES)
