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


#: Why the run's database is settled after its sync (the default reason).
AFTER_SYNC = "as autovacuum would have done during a sync"
#: Why a phase that compares servers settles ours first: it has been through every write phase
#: (at --quick, some 4,000 updates of 10,000 users), the other servers only through their
#: sync, and this PostgreSQL keeps every dead row version of those phases (autovacuum off).
AFTER_WRITES = "as autovacuum would have done during the write phases"


async def settle(database_url: str | None, reason: str = AFTER_SYNC) -> list[str]:
    """What a production server would have done by itself after a bulk load (or a run of
    writes: `reason`), done before the phases that measure it; the notes to record (none on
    SQLite).

    - VACUUM (ANALYZE), if the server runs without autovacuum (this machine's does:
      `autovacuum = off`): visibility maps and statistics as a production server keeps them.
      Index-only scans (deep pages, COUNT) otherwise visit every row's heap page.
    - CHECKPOINT: a 100,000-user sync writes about 1 GB of WAL, and the spread checkpoint it
      triggers at its end wrote the load's pages for the next three minutes, through the
      lookup, auth, update and list phases (02:53-02:56 on 2026-11-30: `userName eq` p50
      8.52 ms, then `externalId eq` 5.75 ms in the same phase). A 10,000-user sync triggers
      none, so the 100,000-user figures paid for it and the 10,000-user ones did not."""
    if database_url is None:
        return []
    notes = []
    conn = await asyncpg.connect(database_url)
    try:
        clock = asyncio.get_running_loop().time
        if await conn.fetchval("SHOW autovacuum") != "on":
            started = clock()
            await conn.execute("VACUUM (ANALYZE)")
            notes.append(
                "autovacuum is off on this PostgreSQL server: VACUUM (ANALYZE) of the run's"
                f" database, {reason} ({clock() - started:,.1f} s)"
            )
        started = clock()
        try:
            await conn.execute("CHECKPOINT")
        except asyncpg.InsufficientPrivilegeError:
            notes.append("no CHECKPOINT: the benchmark's role may not")
        else:
            notes.append(f"CHECKPOINT ({clock() - started:,.1f} s)")
    finally:
        await conn.close()
    return notes
