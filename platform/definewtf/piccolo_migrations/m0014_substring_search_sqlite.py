"""Trigram indexes for substring searches (`co`, `sw`, `ew`) on SQLite.

m0011 gave PostgreSQL trigram indexes; on SQLite a search box's `userName co "…"` still read
every user of the tenant: 98 requests/s at 10,000 users, against 671 lookups/s
(bench/RESULTS.md), and ten times slower again at 100,000. SQLite's FTS5 extension has a
trigram tokenizer (SQLite 3.34+): an FTS5 table of the folded names, kept by triggers, finds
the rows containing a phrase of three characters or more, and `definewtf.trigrams` narrows the
search to them. LIKE still decides the match: the index only says where to look. At 10,000
users (bench, SQLite, same machine, before / after): `co` 167 -> 652 searches/s, `sw` 175 ->
518/s; a sync 198 -> 182 users/s (the trigger writes each new name's trigrams). A search
matching nearly everyone (`co "example.com"`) reads the index's long lists: 5 ms instead of
0.2 for its first page, and its exact count 4.6 ms instead of 1.2.

The FTS5 tables are "external content" tables: they store the trigrams only, and name each
row by `app_user`'s rowid. Unlike an INTEGER PRIMARY KEY, SQLite documents that VACUUM "may"
renumber such rowids (SQLite 3.40's does not); after a VACUUM, an operator can rebuild an
index with `INSERT INTO app_user_trgm(app_user_trgm) VALUES ('rebuild')`.

The users' index holds the folded userName and primary email (the admin console searches
both: 1.8 -> 0.3 ms at 10,000 users, SQLite ORing the two lookups); a search names its
column (`{user_name_ci} : "…"`). The update trigger fires only
when one of them really changes: every PATCH rewrites them with the values they had.

Where SQLite has no FTS5 or no trigram tokenizer, the migration warns and carries on without
the indexes, and searches scan as before (PostgreSQL's m0011 does the same without pg_trgm).
"""

import logging
import sqlite3

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.engine import engine_finder

ID = "2026-11-29T13:30:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "FTS5 trigram indexes for substring searches (SQLite)"

logger = logging.getLogger(__name__)


def _trigram_index(index: str, table: str, columns: tuple[str, ...]) -> list[str]:
    listed = ", ".join(columns)
    old = ", ".join(f"old.{column}" for column in columns)
    new = ", ".join(f"new.{column}" for column in columns)
    changed = " OR ".join(f"old.{column} IS NOT new.{column}" for column in columns)
    delete = f"INSERT INTO {index}({index}, rowid, {listed}) VALUES ('delete', old.rowid, {old})"
    insert = f"INSERT INTO {index}(rowid, {listed}) VALUES (new.rowid, {new})"
    return [
        f"CREATE VIRTUAL TABLE {index} USING fts5({listed}, content='{table}', "
        "content_rowid='rowid', tokenize='trigram')",
        f"CREATE TRIGGER {index}_insert AFTER INSERT ON {table} BEGIN {insert}; END",
        f"CREATE TRIGGER {index}_delete AFTER DELETE ON {table} BEGIN {delete}; END",
        f"CREATE TRIGGER {index}_update AFTER UPDATE OF {listed} ON {table} "
        f"WHEN {changed} BEGIN {delete}; {insert}; END",
        # The rows written before this migration.
        f"INSERT INTO {index}({index}) VALUES ('rebuild')",
    ]


INDEXES = [
    # userName (SCIM's `co`) and the primary email (with userName, the console's search).
    _trigram_index("app_user_trgm", "app_user", ("user_name_ci", "email_ci")),
    _trigram_index("app_group_trgm", "app_group", ("display_name_ci",)),
]


async def _create() -> None:
    engine = engine_finder()
    assert engine is not None, "no Piccolo engine configured"
    if engine.engine_type != "sqlite":
        return
    for create_table, *rest in INDEXES:
        try:
            await engine.run_ddl(create_table)
        except sqlite3.OperationalError as exc:  # no fts5 module, or no trigram tokenizer
            logger.warning("substring searches will scan: %s", exc)
            continue
        for statement in rest:
            await engine.run_ddl(statement)


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="definewtf", description=DESCRIPTION)
    manager.add_raw(_create)
    return manager
