"""Indexes of user_value, every one beginning with the tenant.

A migration of their own: Piccolo runs a migration's raw SQL before the tables it adds.
"""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager

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
    manager = MigrationManager(migration_id=ID, app_name="definewtf", description=DESCRIPTION)
    for statement in INDEXES:
        manager.add_raw(_runner(statement))
    return manager


def _runner(statement):
    async def run():
        from piccolo.engine import engine_finder

        await engine_finder().run_ddl(statement)

    return run
