"""Apply the Piccolo migrations (the same files on SQLite and PostgreSQL)."""

from __future__ import annotations

import contextlib
import os
import sys

from piccolo.apps.migrations.commands.forwards import run_forwards

from definewtf.db import Database
from definewtf.errors import Unavailable


async def migrate(database: Database) -> None:
    """Bring the schema up to date. Idempotent. Piccolo's progress goes to stderr, keeping
    stdout for what the CLI promises to print there."""
    # Piccolo's migration runner finds its engine through this module (see piccolo_conf).
    os.environ["PICCOLO_CONF"] = "definewtf.piccolo_conf"
    database.bind()
    if database.engine.engine_type == "sqlite":
        await database.engine.run_ddl("PRAGMA journal_mode=WAL")
    with contextlib.redirect_stdout(sys.stderr):
        result = await run_forwards(app_name="definewtf", migration_id="all")
    if not result.success:
        raise Unavailable(f"migrations failed: {result.message}")
    # Planner statistics: without them SQLite walks the (tenant, created_at) index for an
    # externalId lookup instead of (tenant, external_id) — 6 ms instead of 0.02 ms at 10,000
    # users (bench/RESULTS.md). Cheap, and refreshed on every start (`serve` migrates).
    await database.engine.run_ddl("ANALYZE")
