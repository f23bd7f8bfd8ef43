"""Server-side counters of the benchmark's PostgreSQL database, read around a measured loop:
how many transactions a request costs (every statement the server runs outside an explicit
transaction is one), and how many credential rows it rewrites (`last_used_at`).

PostgreSQL's statistics are per backend until flushed: an idle backend flushes them at most
10 s later (PGSTAT_IDLE_INTERVAL), so a window waits that long before each reading.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

import asyncpg

#: A little more than PGSTAT_IDLE_INTERVAL.
FLUSH_WAIT_S = 11.0

_COUNTERS = """
SELECT
  (SELECT xact_commit + xact_rollback FROM pg_stat_database WHERE datname = current_database()),
  (SELECT coalesce(sum(n_tup_upd), 0) FROM pg_stat_user_tables
    WHERE relname IN ('scim_token', 'api_key'))
"""


async def _read(database_url: str) -> tuple[int, int]:
    conn = await asyncpg.connect(database_url)
    try:
        row = await conn.fetchrow(_COUNTERS)
    finally:
        await conn.close()
    assert row is not None
    return int(row[0]), int(row[1])


@dataclass
class Window:
    """What the server did between the two readings."""

    transactions: int = 0
    credential_updates: int = 0
    #: Transactions the two readings made themselves (one connection each).
    own: int = 2
    notes: list[str] = field(default_factory=list)

    def per_request(self, requests: int) -> tuple[float, float]:
        if requests < 1:
            return 0.0, 0.0
        return (
            round(max(0, self.transactions - self.own) / requests, 2),
            round(self.credential_updates / requests, 3),
        )


@asynccontextmanager
async def window(database_url: str | None) -> AsyncIterator[Window]:
    """Counters around the body; all zero (with a note) without a PostgreSQL database."""
    found = Window()
    if database_url is None:
        found.notes.append("server-side counters: PostgreSQL only")
        yield found
        return
    await asyncio.sleep(FLUSH_WAIT_S)
    transactions, updates = await _read(database_url)
    yield found
    await asyncio.sleep(FLUSH_WAIT_S)
    after_transactions, after_updates = await _read(database_url)
    found.transactions = after_transactions - transactions
    found.credential_updates = after_updates - updates


async def vacuum_like_autovacuum(database_url: str | None) -> str | None:
    """If the PostgreSQL server runs without autovacuum (this machine's does: `autovacuum =
    off`), do once what autovacuum would have done during a sync: VACUUM (ANALYZE) the run's
    database, so that visibility maps and statistics are as a production server keeps them.
    Index-only scans (deep pages, COUNT) otherwise visit every row's heap page. Returns the
    note to record, or None when autovacuum is on (or on SQLite)."""
    if database_url is None:
        return None
    conn = await asyncpg.connect(database_url)
    try:
        if await conn.fetchval("SHOW autovacuum") == "on":
            return None
        started = asyncio.get_running_loop().time()
        await conn.execute("VACUUM (ANALYZE)")
        took = asyncio.get_running_loop().time() - started
    finally:
        await conn.close()
    return (
        "autovacuum is off on this PostgreSQL server: VACUUM (ANALYZE) of the run's database "
        f"after this phase, as autovacuum would have done during a sync ({took:,.1f} s)"
    )
