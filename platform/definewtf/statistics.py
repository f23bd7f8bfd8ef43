"""Planner statistics that keep up with a tenant's initial sync.

An IdP's first sync writes a tenant's users as fast as it can, and looks each one up first.
Until the tables are analyzed the planner believes them small, and for
`… WHERE tenant = ? AND user_name_ci = ? ORDER BY created_at, id LIMIT n` it then walks the
tenant in page order and filters every user instead of using the unique index: 10,000 rows
filtered per lookup right after a 10,000-user sync on PostgreSQL (whose autovacuum looks at a
table at most once a minute), and SQLite is never analyzed by anyone but us.

So each process counts the users it creates (and the group memberships it adds) and analyzes
those tables itself when they have grown by half since it last did (the first time after
`FIRST` rows): a handful of ANALYZE runs over a sync of any size, each a sample of the table
on PostgreSQL and a scan on SQLite.
"""

from __future__ import annotations

import asyncio
import logging

from definewtf.db import current_engine, is_sqlite, write_transaction

#: Rows (users, memberships) a process writes before it first analyzes their tables.
FIRST = 1000
#: Then again each time they have grown by this share of what they held at the last ANALYZE.
GROWTH = 0.5
#: What a user's creation writes to, analyzed together.
USER_TABLES = ("app_user", "user_value")
MEMBER_TABLES = ("group_member",)

log = logging.getLogger(__name__)


class Statistics:
    """One process's count of rows written per table group since its last ANALYZE of it, and
    the ANALYZE runs in flight (background tasks: a request never waits for one)."""

    def __init__(self) -> None:
        self._written: dict[tuple[str, ...], int] = {}
        #: Rows counted when the last ANALYZE of the group was started.
        self._analyzed_at: dict[tuple[str, ...], int] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    def users_created(self, count: int = 1) -> None:
        self._grew(USER_TABLES, count)

    def members_added(self, count: int) -> None:
        """Group memberships: GraphQL's role and group loaders and a member's removal read
        group_member by user, which a planner that believes it empty scans by group."""
        self._grew(MEMBER_TABLES, count)

    def _grew(self, tables: tuple[str, ...], count: int) -> None:
        written = self._written.get(tables, 0) + count
        analyzed_at = self._analyzed_at.get(tables, 0)
        if written < max(FIRST, GROWTH * analyzed_at):
            self._written[tables] = written
            return
        self._analyzed_at[tables] = analyzed_at + written
        self._written[tables] = 0
        task = asyncio.get_running_loop().create_task(_analyze(tables))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def drain(self) -> None:
        """Wait for the ANALYZE runs started on this event loop (at shutdown, and in tests)."""
        loop = asyncio.get_running_loop()
        mine = [task for task in self._tasks if task.get_loop() is loop]
        if mine:
            await asyncio.gather(*mine, return_exceptions=True)


#: SQLite loads a connection's statistics when the connection reads the schema, and reads it
#: again only once the schema has changed: an ANALYZE is not such a change. The connections
#: kept open (the loop's reader above all) planned with the statistics of the empty tables
#: they were opened on: a `co` search's page walked every user of the tenant in page order,
#: keeping the trigram candidates, 1.7-2.1 ms at 10,000 users against 0.33 ms for reading
#: the candidates by rowid. A view created and dropped is a change of the schema and of
#: nothing else; every connection, of every process, reads the schema and the new
#: statistics with its next statement.
_SQLITE_RELOAD = (
    "CREATE VIEW definewtf_statistics_changed AS SELECT 1",
    "DROP VIEW definewtf_statistics_changed",
)


async def _analyze(tables: tuple[str, ...]) -> None:
    engine = current_engine()
    try:
        # SQLite writes the statistics into sqlite_stat1: one writer at a time, like any write.
        async with write_transaction():
            if is_sqlite(engine):
                for statement in (*(f"ANALYZE {table}" for table in tables), *_SQLITE_RELOAD):
                    await engine.run_ddl(statement)
            else:
                await engine.run_ddl(f"ANALYZE {', '.join(tables)}")
    except Exception:  # statistics are an optimisation: never fail anything for them
        log.exception("ANALYZE %s failed", ", ".join(tables))


#: This process's counts (every engine: a process serves one database).
STATISTICS = Statistics()
