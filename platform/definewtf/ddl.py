"""Migrations made of raw SQL statements (composite indexes Piccolo's columns can't declare).

Raw statements need a migration of their own: Piccolo runs a migration's raw SQL before the
tables it adds.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.engine import engine_finder


def raw_migration(
    migration_id: str,
    description: str,
    statements: Sequence[str],
    engines: Sequence[str] = ("sqlite", "postgres"),
) -> MigrationManager:
    """A migration running `statements` in order, on the `engines` named (Piccolo's
    `engine_type`); on any other engine it is recorded as applied and does nothing."""
    manager = MigrationManager(
        migration_id=migration_id, app_name="definewtf", description=description
    )
    for statement in statements:
        manager.add_raw(_runner(statement, engines))
    return manager


def _runner(statement: str, engines: Sequence[str]) -> Callable[[], Awaitable[None]]:
    async def run() -> None:
        engine = engine_finder()
        assert engine is not None, "no Piccolo engine configured"
        if engine.engine_type in engines:
            await engine.run_ddl(statement)

    return run


def pg_trigram_index(name: str, table: str, column: str, storage: str = "fastupdate = off") -> str:
    """A GIN trigram index for substring searches of `column` (PostgreSQL; a column name or a
    parenthesised expression without quotes), if pg_trgm can be had; a warning if not, and the
    searches scan. `storage`: its parameters (m0011 says why `fastupdate = off`, m0016 why
    the users' index has it back with a small pending list)."""
    create = f"CREATE INDEX {name} ON {table} USING gin ({column} gin_trgm_ops) WITH ({storage})"
    return f"""
DO $$
BEGIN
    CREATE EXTENSION IF NOT EXISTS pg_trgm;
    EXECUTE '{create}';
EXCEPTION WHEN OTHERS THEN
    RAISE WARNING 'substring searches of {table}.{column} will scan: %', SQLERRM;
END $$
"""
