"""Indexes of user_value, every one beginning with the tenant.

A migration of their own: Piccolo runs a migration's raw SQL before the tables it adds.
"""

from definewtf.ddl import raw_migration

ID = "2026-11-28T17:18:05:000000"
VERSION = "1.38.0"
DESCRIPTION = "user_value indexes"

INDEXES = [
    # Lookups by value (emails.value eq, displayName eq, department sw …), case-insensitive
    # and case-exact; every one begins with the tenant.
    "CREATE INDEX user_value_tenant_attr_ci ON user_value (tenant, attr, sub, value_ci)",
    "CREATE INDEX user_value_tenant_attr_exact ON user_value (tenant, attr, sub, value)",
    # Rewriting one user's values, and sorting by a value of each user.
    'CREATE INDEX user_value_tenant_user ON user_value (tenant, "user", attr, sub)',
]


async def forwards():
    return raw_migration(ID, DESCRIPTION, INDEXES)
