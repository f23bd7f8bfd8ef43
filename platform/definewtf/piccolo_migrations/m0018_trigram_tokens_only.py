"""The SQLite trigram indexes (m0014) keep which column holds a trigram, not where.

m0014's FTS5 tables kept every trigram's positions (`detail=full`), for phrase queries: a
`co` search asked for its value as a phrase. LIKE decides the match anyway, so a search asks
now for rows holding all the value's trigrams in the column (`definewtf.trigrams`), which
`detail=column` answers from a third less index: at 10,000 users (the benchmark's), the
candidates of a `co` search for a random five-digit value took 34 instead of 51 us, and the
users' index holds 1.06 instead of 1.59 MB. `columnsize=0`: FTS5 no longer stores each row's
token counts, which only its ranking reads.

The tables are made again, under the same names (the triggers m0014 created name them, and
keep working), and rebuilt from the rows: 0.03 s for 10,000 users (0.10 s with positions).
Where m0014 found no FTS5 trigram tokenizer there is no table, and nothing to do.
"""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.engine import engine_finder

ID = "2026-11-30T23:00:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "trigram indexes without positions (SQLite)"

#: (index, its table, the columns it holds): m0014's.
INDEXES = [
    ("app_user_trgm", "app_user", ("user_name_ci", "email_ci")),
    ("app_group_trgm", "app_group", ("display_name_ci",)),
]


async def _remake() -> None:
    engine = engine_finder()
    assert engine is not None, "no Piccolo engine configured"
    if engine.engine_type != "sqlite":
        return
    for index, table, columns in INDEXES:
        found = await engine.run_ddl(
            f"SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = '{index}'"  # noqa: S608
        )
        if not found:
            continue
        await engine.run_ddl(f"DROP TABLE {index}")
        await engine.run_ddl(
            f"CREATE VIRTUAL TABLE {index} USING fts5({', '.join(columns)}, content='{table}', "
            "content_rowid='rowid', tokenize='trigram', detail='column', columnsize=0)"
        )
        await engine.run_ddl(f"INSERT INTO {index}({index}) VALUES ('rebuild')")


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="definewtf", description=DESCRIPTION)
    manager.add_raw(_remake)
    return manager
