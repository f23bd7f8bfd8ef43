"""Trigram indexes for substring searches (`co`, `sw`, `ew`) on PostgreSQL.

A console's search box sends `userName co "…"`; LIKE '%…%' matches no B-tree, so every such
request read every live user of the tenant: 57 requests/s at 100,000 users, p50 268 ms
(bench/RESULTS.md). A GIN index of trigrams finds the few matching rows instead.

These are the only lookup indexes that do not begin with the tenant, on purpose: a GIN index
with the tenant as its first column (btree_gin) walks the tenant's whole posting list on every
search — 4.3 ms for 20,000 users, no faster than reading them, against 0.05 ms for the
trigrams alone (EXPLAIN ANALYZE). The tenant stays in every query's WHERE and filters the few
rows the trigrams find.

`fastupdate = off`: GIN otherwise queues new entries in a pending list that only VACUUM (or
autovacuum) merges, and the planner, pricing a scan of that list, keeps choosing the table
scan until then — right after an IdP's initial sync, when the console is searched most. A
user's trigrams go straight into the index instead (a few dozen entries per userName).

pg_trgm ships with PostgreSQL (contrib) and is a trusted extension: the database owner may
create it without superuser. Where it is missing or refused, the migration warns and carries
on without the indexes — substring searches then scan, as before — rather than keep the
service from starting. SQLite has no such index (m0014 gives it FTS5 trigram tables).
"""

from definewtf.ddl import pg_trigram_index, raw_migration

ID = "2026-11-29T01:30:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "trigram indexes for substring searches (PostgreSQL)"


STATEMENTS = [
    pg_trigram_index("app_user_user_name_trgm", "app_user", "user_name_ci"),
    pg_trigram_index("app_group_display_name_trgm", "app_group", "display_name_ci"),
]


async def forwards():
    return raw_migration(ID, DESCRIPTION, STATEMENTS, engines=("postgres",))
